"""``apply`` for a Zarr recommendation: the whole NWB file exported as NWB-Zarr (hdmf-zarr).

NWB's way to store an NWB file in Zarr is hdmf-zarr's NWB-Zarr: the file read with pynwb and
exported with :class:`hdmf_zarr.NWBZarrIO`, object for object (groups, datasets, attributes,
links and references, as hdmf-zarr maps them; object IDs are kept). Here the recommended
datasets are given their Zarr layout on the way (chunks, codec and shards through
:class:`hdmf_zarr.ZarrDataIO`), and every other dataset keeps its chunks and the codecs
hdmf-zarr translates from its HDF5 filters.

Datasets are written block by block (an hdmf :class:`~hdmf.data_utils.GenericDataChunkIterator`
over the HDF5 dataset, blocks of whole shards or chunks), so memory stays bounded whatever the
file size; hdmf-zarr would otherwise load each dataset whole. The folder is written under a
temporary name, verified (:mod:`.verify_nwb`: every object pynwb reads equal, every numeric
dataset bit for bit, the recommended datasets stored as asked) and renamed into place only then.
"""

from __future__ import annotations

import logging
import math
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from layoutbench.atomic import atomic_output
from layoutbench.codecs import ensure_hdf5_filters, zarr_compressors
from layoutbench.errors import UserError
from layoutbench.interrupts import checkpoint
from layoutbench.outputs import check_destinations, check_space
from layoutbench.plan.layout import Layout
from layoutbench.read.inspect import describe_dataset
from layoutbench.write.apply_plan import (
    ApplyResult,
    DatasetChange,
    MadeFor,
    check_rechunkable,
)
from layoutbench.write.blocks import block_shape

log = logging.getLogger(__name__)

#: What an NWB-Zarr output's name ends with: a folder that tools must not take for HDF5.
ZARR_SUFFIX = ".zarr"
#: Datasets kept as they are but larger than this are also written block by block.
STREAM_BYTES = 16 * 2**20


def check_zarr_output(out: Path, overwrite: bool, src: Path | None = None) -> None:
    """An NWB-Zarr output name that can be written (one line naming the problem otherwise)."""
    if not out.name.endswith(ZARR_SUFFIX):
        raise UserError(f"{out}: the recommendation is Zarr, which apply writes as an NWB-Zarr "
                        f"folder; name it with {ZARR_SUFFIX!r} (e.g. {out.stem}.nwb.zarr)")
    if src is not None and out.resolve() == src.resolve():
        raise UserError(f"{out}: is the source; apply writes a new file, choose another output")
    if not out.parent.is_dir():
        raise UserError(f"{out}: folder {out.parent} does not exist")
    check_destinations([out], overwrite=overwrite)  # the message every command gives
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: is a file; an NWB-Zarr output is a folder")


def _requested(f: Any, layouts: Mapping[str, Layout], file: str,
               shapes: Mapping[str, MadeFor] | None) -> dict[str, Layout]:
    """Dataset path -> layout fitted to it; a bad request is a :class:`UserError`."""
    import h5py

    fitted: dict[str, Layout] = {}
    for raw, layout in layouts.items():
        path = "/" + raw.strip("/")
        obj = f.get(path)
        if not isinstance(obj, h5py.Dataset):
            what = "does not exist" if obj is None else "is a group, not a dataset"
            raise UserError(f"{file}: {path!r} {what}")
        shape = tuple(obj.shape or ())
        check_rechunkable(file, path, layout, shape, obj.dtype, shapes)
        if 0 in shape:
            raise UserError(f"{file}: {path} is empty (shape {shape}); nothing to re-chunk")
        fitted[path] = layout.fitted(shape)
    return fitted


def _blocks_class() -> type:
    """The chunk iterator class (hdmf imported only when exporting)."""
    from hdmf.data_utils import GenericDataChunkIterator

    class H5Blocks(GenericDataChunkIterator):
        """An HDF5 dataset read block by block; each block is an interruption point."""

        def __init__(self, data: Any, on_block: Callable[[int], Any] | None = None,
                     **kwargs: Any) -> None:
            self._dset = data
            self._on_block = on_block
            super().__init__(**kwargs)

        def _get_data(self, selection: tuple[slice, ...]) -> np.ndarray:
            checkpoint()  # Ctrl-C or SIGTERM stops here (layoutbench.interrupts)
            block = np.asarray(self._dset[selection])
            if self._on_block is not None:
                self._on_block(block.nbytes)
            return block

        def _get_maxshape(self) -> tuple[int, ...]:
            return tuple(self._dset.shape)

        def _get_dtype(self) -> np.dtype:
            return np.dtype(self._dset.dtype)

    return H5Blocks


def _fields(container: Any) -> Iterator[tuple[str | None, Any]]:
    """(field name, value) of a container's HDF5 datasets; ``None`` names a Data's own data."""
    import h5py
    from hdmf.container import Data

    if isinstance(container, Data):
        if isinstance(container.data, h5py.Dataset):
            yield None, container.data
        return
    for name, value in container.fields.items():
        if isinstance(value, h5py.Dataset):
            yield name, value


def configure(nwbfile: Any, fitted: Mapping[str, Layout], budget: int,
              on_block: Callable[[int], Any]) -> set[str]:
    """Give each dataset of ``nwbfile`` its Zarr settings for the export; the paths configured.

    A recommended dataset gets its layout; another numeric one over :data:`STREAM_BYTES` its
    own chunks and translated codecs (hdmf-zarr's :meth:`ZarrDataIO.from_h5py_dataset`), both
    written block by block. Smaller datasets are left to hdmf-zarr as they are.
    """
    from hdmf_zarr import ZarrDataIO

    blocks = _blocks_class()
    done: set[str] = set()
    for container in list(nwbfile.objects.values()):
        for name, dset in list(_fields(container)):
            path = dset.name
            if path in done:  # a second reference to it: hdmf-zarr links it
                continue
            layout = fitted.get(path)
            nbytes = math.prod(dset.shape or ()) * dset.dtype.itemsize
            if layout is None and (dset.dtype.kind not in "iufb" or not dset.shape
                                   or nbytes <= STREAM_BYTES):
                continue
            if layout is not None:
                kwargs: dict[str, Any] = {"chunks": layout.chunks,
                                          "compressors": zarr_compressors(layout) or False,
                                          "fillvalue": dset.fillvalue}
                if layout.shards:
                    kwargs["shards"] = layout.shards
                unit = layout.shards or layout.chunks
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # filters zarr has no codec for: dropped
                    kwargs = dict(ZarrDataIO.from_h5py_dataset(dset).io_settings)
                kwargs.pop("fill_value", None)
                kwargs["fillvalue"] = dset.fillvalue
                unit = tuple(kwargs.get("chunks") or dset.chunks or dset.shape)
                kwargs["chunks"] = unit
            itemsize = dset.dtype.itemsize
            chunk = tuple(kwargs["chunks"])
            iterator = {"buffer_shape": block_shape(dset.shape, unit, itemsize, budget),
                        "chunk_shape": chunk, "display_progress": False,
                        "on_block": on_block}
            if name is None:
                container.set_data_io(ZarrDataIO, kwargs, data_chunk_iterator_class=blocks,
                                      data_chunk_iterator_kwargs=iterator)
            else:
                container.set_data_io(name, ZarrDataIO, kwargs, data_chunk_iterator_class=blocks,
                                      data_chunk_iterator_kwargs=iterator)
            done.add(path)
    return done


def _tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def export_nwb_zarr(src_path: Path, layouts: Mapping[str, Layout], out: Path, *,
                    overwrite: bool = False, progress: bool = False, verify: bool = True,
                    block_bytes: int = 64 * 2**20,
                    shapes: Mapping[str, MadeFor] | None = None) -> ApplyResult:
    """Write the HDF5 NWB file ``src_path`` as the NWB-Zarr folder ``out`` with ``layouts``.

    See the module docstring; :func:`layoutbench.write.apply.apply_layouts` calls this when
    the layouts are Zarr ones. Memory is bounded by a few ``block_bytes``.

    Raises
    ------
    UserError
        An output name without ``.zarr``, an existing output (without ``overwrite``), a bad
        request (a path that is not a numeric dataset, another shape), or a dataset outside
        the NWB data model, which an NWB-Zarr export cannot carry.
    VerificationError
        The written folder differs from the source (nothing is left at ``out``).
    """
    import h5py
    from hdmf_zarr import NWBZarrIO
    from pynwb import NWBHDF5IO
    from tqdm.auto import tqdm

    from layoutbench.write.verify_nwb import verify_nwb_zarr

    ensure_hdf5_filters()
    check_zarr_output(out, overwrite, src_path)
    check_space(out, src_path.stat().st_size, "the NWB-Zarr folder")  # about the source's
    with h5py.File(src_path, "r") as f:
        fitted = _requested(f, layouts, str(src_path), shapes)
        infos = {p: describe_dataset(f[p], str(src_path)) for p in fitted}
    total = sum(i.nbytes for i in infos.values())
    log.info("exporting %s to NWB-Zarr with %d layout(s) -> %s", src_path.name, len(fitted),
             out.name)
    t0 = time.perf_counter()
    with atomic_output(out) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # namespace-version and cached-spec chatter
        with tqdm(total=total, unit="B", unit_scale=True, desc="apply", file=sys.stderr,
                  disable=not progress) as bar, \
                NWBHDF5IO(str(src_path), "r", load_namespaces=True) as src_io:
            nwbfile = src_io.read()
            done = configure(nwbfile, fitted, block_bytes, bar.update)
            lost = sorted(set(fitted) - done)
            if lost:
                raise UserError(f"{src_path}: {lost[0]} is not part of the NWB data pynwb reads "
                                "(no NWB type holds it), so an NWB-Zarr export cannot carry it")
            with NWBZarrIO(str(tmp), mode="w") as zio:
                zio.export(src_io=src_io, nwbfile=nwbfile, write_args={"link_data": False})
        write_seconds = time.perf_counter() - t0
        t1 = time.perf_counter()
        if verify:
            verify_nwb_zarr(src_path, tmp, fitted, budget=block_bytes)
        verify_seconds = time.perf_counter() - t1
        stored = _stored(tmp, fitted)
    changes = tuple(DatasetChange(
        path, info.shape, info.dtype, info.chunks, info.codec, info.level, info.shuffle,
        fitted[path], info.storage_bytes, stored[path], write_seconds)
        for path, info in infos.items())
    log.info("wrote %s in %.1fs%s", out, write_seconds,
             f", verified in {verify_seconds:.1f}s" if verify else " (not verified)")
    return ApplyResult(str(src_path), str(out), changes, None, src_path.stat().st_size,
                       _tree_bytes(out), write_seconds, verify_seconds, verify,
                       format="nwb-zarr")


def _stored(root: Path, fitted: Mapping[str, Layout]) -> dict[str, int]:
    """Stored bytes of each rewritten array (its chunk or shard objects)."""
    out = {}
    for path in fitted:
        folder = root.joinpath(*path.strip("/").split("/"), "c")
        out[path] = _tree_bytes(folder) if folder.is_dir() else 0
    return out


def zarr_layouts(layouts: Mapping[str, Layout], file: str) -> bool:
    """Whether ``layouts`` ask for NWB-Zarr (all Zarr) or HDF5 (all HDF5); mixing is refused:
    one file is either."""
    formats = {lay.format for lay in layouts.values()}
    if len(formats) > 1:
        names = ", ".join(sorted({f"{p} ({lay.format})" for p, lay in layouts.items()})[:4])
        raise UserError(f"{file}: the recommendation mixes HDF5 and Zarr layouts ({names}); one "
                        "output is either an HDF5 file or an NWB-Zarr folder: recommend with "
                        "--storage hdf5 or --storage zarr")
    return formats == {"zarr"}
