"""Copy a whole HDF5/NWB file into a new file-space strategy (HDF5 paged aggregation).

Paged aggregation (``fs_strategy="page"``) packs metadata into a few pages that a page buffer
fetches in one request each, instead of the dozens of small reads an unpaged file costs to
open remotely. Here we produce the same file, object for object, in a paged layout, so that
opening it can be measured against the original.

NWB files are full of HDF5 object references (``DynamicTableRegion.table``, electrode groups,
``.specloc``). Copying the root's children one by one would leave those references pointing
into the source file, so the whole tree is copied with **one** ``H5Ocopy`` call with
``expand_refs`` (HDF5 then maps every reference inside the copied hierarchy to its copy), and
its children are re-linked to the root. Root attributes are not part of that copy; references
among them are re-pointed by path. The result is verified before it is used: every dataset bit
for bit and every attribute (references compared by the path they point to).

Verification is :func:`layoutbench.write.verify.verify_same_file`, shared with
:mod:`layoutbench.write.apply`.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from layoutbench.atomic import atomic_output
from layoutbench.codecs import ensure_hdf5_filters
from layoutbench.plan.layout import Layout
from layoutbench.read.inspect import check_hdf5_file, dataset_info
from layoutbench.write.blocks import iter_blocks
from layoutbench.write.rewrite import Variant, mark_verified, source_id
from layoutbench.write.verify import verify_same_file

log = logging.getLogger(__name__)

_TMP_ROOT = "__layoutbench_root__"


def _file_kwargs(page_size: int | None) -> dict[str, Any]:
    if not page_size:
        return {}
    return {"fs_strategy": "page", "fs_page_size": int(page_size), "fs_persist": True}


def _map_attr(value: Any, src: Any, dst: Any) -> Any:
    import h5py

    if isinstance(value, h5py.Reference) and value:
        return dst[src[value].name].ref
    return value


def repack_file(source: str | os.PathLike[str], out: str | os.PathLike[str], *,
                page_size: int | None) -> Path:
    """Write ``source`` to ``out`` with the given page size (``None``: unpaged), verified.

    Written under a temporary name and renamed into place only after verification.
    """
    import h5py

    ensure_hdf5_filters()
    src_path = check_hdf5_file(source)
    out = Path(out)
    t0 = time.perf_counter()
    with atomic_output(out) as tmp:
        with h5py.File(src_path, "r") as src, h5py.File(tmp, "w", **_file_kwargs(page_size)) as dst:
            src.copy(src["/"], dst, name=_TMP_ROOT, expand_refs=True)
            for name in list(dst[_TMP_ROOT]):
                dst.move(f"{_TMP_ROOT}/{name}", name)
            del dst[_TMP_ROOT]
            for key, value in src["/"].attrs.items():
                dst.attrs[key] = _map_attr(value, src, dst)
            _remap_compound_references(src, dst)
        verify_same_file(src_path, tmp)
    log.info("repacked %s -> %s (page size %s) in %.1fs", src_path.name, out.name, page_size,
             time.perf_counter() - t0)
    return out


def _reference_fields(dtype: Any) -> list[str]:
    import h5py

    return [n for n in (dtype.names or ()) if h5py.check_dtype(ref=dtype.fields[n][0])]


def _remap_compound_references(src: Any, dst: Any, budget: int = 64 * 2**20) -> None:
    """Re-point references stored inside compound datasets (e.g. NWB TimeSeriesReference).

    ``H5Ocopy`` with ``expand_refs`` remaps reference datasets and attributes, but copies
    reference fields of compound types verbatim, leaving tokens of the source file. Each such
    field is rewritten here, mapping every reference through the path of its target.
    """
    import h5py

    found: list[str] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset) and _reference_fields(obj.dtype):
            found.append(name)

    src.visititems(visit)
    for name in found:
        s_ds, d_ds = src[name], dst[name]
        if s_ds.shape == () or s_ds.size == 0:
            continue
        rows = max(1, budget // max(1, s_ds.dtype.itemsize * int(np.prod(s_ds.shape[1:]))))
        for sel in iter_blocks(s_ds.shape, (rows, *s_ds.shape[1:])):
            block = s_ds[sel]
            for field in _reference_fields(s_ds.dtype):
                flat = block[field].reshape(-1)
                for i, ref in enumerate(flat):
                    flat[i] = dst[src[ref].name].ref if ref else ref
                block[field] = flat.reshape(block[field].shape)
            d_ds[sel] = block
        log.debug("re-pointed references in compound dataset %s", name)


def file_layouts(source: str | os.PathLike[str], dataset: str | None,
                 page_sizes: tuple[int, ...] = (2**20, 4 * 2**20, 8 * 2**20)) -> list[Layout]:
    """Whole-file variants to compare for opening: the file as it is, then paged copies.

    Each is described by the dataset's own storage plus the file's page size, so result rows
    say both how the data and how the metadata are laid out.
    """
    info = dataset_info(source, dataset)
    return [info.current_layout("as-is")] + [
        info.current_layout(f"paged-{p // 2**20}m" if p % 2**20 == 0 else f"paged-{p}",
                            page_size=p)
        for p in page_sizes
    ]


def write_file_variant(source: str | os.PathLike[str], dataset: str, layout: Layout,
                       out: Path) -> Variant:
    """A whole-file variant: a byte copy for an unpaged layout, a verified paged repack else.

    The unpaged variant is the original file byte for byte (a repack would also compact its
    metadata and flatter the baseline).
    """
    import shutil

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if layout.page_size:
        repack_file(source, out, page_size=layout.page_size)
    else:
        with atomic_output(out) as tmp:
            shutil.copyfile(source, tmp)
    info = dataset_info(source, dataset)
    variant = Variant(path=str(out), layout=layout, source_id=source_id(source, info.path),
                      dataset=info.path, shape=info.shape, dtype=info.dtype,
                      stored_bytes=out.stat().st_size, write_seconds=time.perf_counter() - t0,
                      verify_seconds=0.0, dataset_bytes=info.storage_bytes or None)
    mark_verified(variant)
    return variant
