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

The object-level helpers at the end (:func:`scan_links`, :class:`ReferenceMapper`,
:func:`copy_attributes`) serve :mod:`layoutbench.apply`, which must rebuild a file object by
object because it replaces some of its datasets, and shares :func:`verify_same_file`.
"""

from __future__ import annotations

import logging
import os
import posixpath
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from layoutbench.codecs import ensure_hdf5_filters
from layoutbench.inspect import check_hdf5_file, dataset_info
from layoutbench.layout import Layout
from layoutbench.rewrite import (
    Variant,
    VerificationError,
    block_shape,
    iter_blocks,
    mark_verified,
    source_id,
)

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
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    t0 = time.perf_counter()
    try:
        with h5py.File(src_path, "r") as src, h5py.File(tmp, "w", **_file_kwargs(page_size)) as dst:
            src.copy(src["/"], dst, name=_TMP_ROOT, expand_refs=True)
            for name in list(dst[_TMP_ROOT]):
                dst.move(f"{_TMP_ROOT}/{name}", name)
            del dst[_TMP_ROOT]
            for key, value in src["/"].attrs.items():
                dst.attrs[key] = _map_attr(value, src, dst)
            _remap_compound_references(src, dst)
        verify_same_file(src_path, tmp)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
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


def _attrs_equal(a: Any, b: Any, fa: Any, fb: Any) -> bool:
    """Equal values; references by the path (and region) they point to, floats bit for bit."""
    import h5py

    if isinstance(a, h5py.Reference):
        if not (isinstance(b, h5py.Reference) and bool(a) == bool(b)):
            return False
        if not a:
            return True
        if fa[a].name != fb[b].name:
            return False
        if isinstance(a, h5py.RegionReference):
            return isinstance(b, h5py.RegionReference) and _region(a, fa) == _region(b, fb)
        return True
    if isinstance(a, np.ndarray | np.void) and a.dtype.names:
        return (isinstance(b, np.ndarray | np.void) and a.dtype == b.dtype
                and np.shape(a) == np.shape(b) and _structured_equal(a, b, fa, fb))
    if isinstance(a, np.ndarray) and a.dtype.kind == "O":
        b = np.asarray(b)
        return a.shape == b.shape and all(
            _attrs_equal(x, y, fa, fb) for x, y in zip(a.ravel(), b.ravel(), strict=True))
    if isinstance(a, np.ndarray | np.generic) and a.dtype.kind in "fc":
        return (isinstance(b, np.ndarray | np.generic) and a.dtype == b.dtype
                and np.shape(a) == np.shape(b) and a.tobytes() == b.tobytes())  # NaN == NaN
    return bool(np.array_equal(a, b)) if isinstance(a, np.ndarray) else bool(a == b)


def _region(ref: Any, f: Any) -> tuple[Any, ...]:
    """The selection a region reference holds, comparable across files (the serialised
    dataspace is not: its encoding version varies)."""
    from h5py import h5r, h5s

    space = h5r.get_region(ref, f.id)
    kind = space.get_select_type()
    sel = (space.get_select_hyper_blocklist().tolist() if kind == h5s.SEL_HYPERSLABS else
           space.get_select_elem_pointlist().tolist() if kind == h5s.SEL_POINTS else None)
    return space.get_simple_extent_dims(), kind, sel


def _same_attr_type(a: Any, b: Any, key: str) -> bool:
    """Same HDF5 type (``H5Tequal``: string sets, reference kinds, ...) and shape."""
    ia, ib = a.attrs.get_id(key), b.attrs.get_id(key)
    return bool(ia.shape == ib.shape and ia.get_type().equal(ib.get_type()))


def verify_same_file(source: str | os.PathLike[str], copy: str | os.PathLike[str],
                     budget: int = 128 * 2**20, *,
                     on_block: Callable[[int], None] | None = None) -> None:
    """Raise :class:`VerificationError` unless ``copy`` holds the same objects, data and attrs.

    Datasets are compared block by block (bounded memory: about twice ``budget``), bit for
    bit; references (in datasets or attributes) are compared by the path of the object they
    point to (and the selection of region references), since their raw tokens necessarily
    differ between files. Attributes must have the same names in the same order (creation
    order where tracked), types, shapes and values. ``on_block`` is called with the number
    of bytes of each dataset block compared, for a progress bar.
    """
    import h5py

    with h5py.File(source, "r") as fa, h5py.File(copy, "r") as fb:
        names_a: list[str] = []
        fa.visit(names_a.append)
        names_b: set[str] = set()
        fb.visit(names_b.add)
        missing = sorted(set(names_a) - names_b)
        if missing or len(names_b) != len(set(names_a)):
            raise VerificationError(
                f"{copy}: objects differ from {source} (missing: {missing[:5]})")
        for name in ["/", *names_a]:
            a, b = fa[name], fb[name]
            keys = list(a.attrs)
            if keys != list(b.attrs) or not all(
                _same_attr_type(a, b, k)
                and _attrs_equal(a.attrs[k], b.attrs[k], fa, fb) for k in keys
            ):
                raise VerificationError(f"{copy}: attributes of {name} differ")
            if isinstance(a, h5py.Dataset):
                _compare_dataset(a, b, fa, fb, name, budget, on_block)


def _compare_dataset(a: Any, b: Any, fa: Any, fb: Any, name: str, budget: int,
                     on_block: Callable[[int], None] | None = None) -> None:
    import h5py

    if a.shape != b.shape or a.dtype != b.dtype:
        raise VerificationError(f"{name}: shape/dtype differ ({a.shape}/{a.dtype} vs "
                                f"{b.shape}/{b.dtype})")
    if a.shape is None:  # an empty (null dataspace) dataset holds nothing to compare
        return
    ref_like = h5py.check_dtype(ref=a.dtype) is not None or a.dtype.kind in "OV"
    if a.shape == () or a.size == 0:
        va, vb = a[()], b[()]
        same = _attrs_equal(va, vb, fa, fb) if ref_like else _same_bytes(va, vb)
        if not same:
            raise VerificationError(f"{name}: values differ")
        return
    # blocks of whole chunks of the copy (each decoded once), trailing axes split if needed
    unit = b.chunks or a.chunks or (1,) * a.ndim
    for sel in iter_blocks(a.shape, block_shape(a.shape, unit, a.dtype.itemsize, budget)):
        va, vb = a[sel], b[sel]
        same = _structured_equal(va, vb, fa, fb) if ref_like else _same_bytes(va, vb)
        if not same:
            raise VerificationError(f"{name}: values differ in block {sel}")
        if on_block is not None:
            on_block(va.nbytes)
        del va, vb  # free this block before the next is read: two blocks alive, not four


def _same_bytes(va: Any, vb: Any, step: int = 16 * 2**20) -> bool:
    """Bitwise equality without copying the blocks (NaNs equal NaNs with the same payload)."""
    xa = np.ascontiguousarray(va).reshape(-1).view(np.uint8)
    xb = np.ascontiguousarray(vb).reshape(-1).view(np.uint8)
    if xa.size != xb.size:
        return False
    return all(np.array_equal(xa[i:i + step], xb[i:i + step]) for i in range(0, xa.size, step))


def _structured_equal(va: Any, vb: Any, fa: Any, fb: Any) -> bool:
    va, vb = np.asarray(va), np.asarray(vb)  # a compound scalar's field may be a bare object
    if va.dtype.names:
        return all(_structured_equal(va[n], vb[n], fa, fb) for n in va.dtype.names)
    flat_a, flat_b = np.ravel(va), np.ravel(vb)
    if flat_a.dtype.kind != "O":
        return _same_bytes(flat_a, flat_b)
    return len(flat_a) == len(flat_b) and all(
        _attrs_equal(x, y, fa, fb) for x, y in zip(flat_a, flat_b, strict=True))


# -- object-level copying, shared with layoutbench.apply ------------------------------------
def encode_name(text: str) -> bytes:
    """A link or attribute name as HDF5 bytes (undecodable bytes round-trip)."""
    return text.encode("utf-8", "surrogateescape")


@dataclass(frozen=True, slots=True)
class LinkEntry:
    """One link of a file, as :func:`scan_links` finds it.

    ``key`` identifies the object a hard link points to (its address in the file), so that
    several hard links to one object are recognised; ``target``/``file`` are a soft or
    external link's value.
    """

    path: str
    link: str  # "hard", "soft", "external" or "other" (user-defined)
    kind: str | None = None  # "group", "dataset" or "datatype" for hard links
    key: int | None = None
    target: str | None = None
    file: str | None = None
    cset: int = 0  # character set of the link name (ASCII or UTF-8)
    shape: tuple[int, ...] | None = None
    maxshape: tuple[int | None, ...] | None = None
    dtype: str | None = None


def _key(obj: Any) -> int:
    from h5py import h5o

    return int(h5o.get_info(obj.id).addr)


def _link_names(group: Any) -> list[tuple[bytes, int, int]]:
    """(name, link type, name cset) of a group's links, in creation order where tracked."""
    from h5py import h5, h5p

    found: list[tuple[bytes, int, int]] = []

    def add(name: bytes, info: Any) -> None:  # h5py reuses ``info``: copy its fields now
        found.append((name, info.type, info.cset))

    tracked = group.id.get_create_plist().get_link_creation_order() & h5p.CRT_ORDER_TRACKED
    try:
        group.id.links.iterate(add, info=True,
                               idx_type=h5.INDEX_CRT_ORDER if tracked else h5.INDEX_NAME)
    except (KeyError, ValueError, RuntimeError):  # tracked but not indexed
        found.clear()
        group.id.links.iterate(add, info=True)
    return found


def scan_links(f: Any) -> list[LinkEntry]:
    """Every link below the root of the open h5py file ``f``, depth first, in link order.

    Unlike ``visit`` (each object once, soft and external links skipped) this lists every
    link, so a copy can re-create hard links to one object and soft/external links as such.
    A group is entered at its first hard link only.
    """
    import h5py
    from h5py import h5l

    entries: list[LinkEntry] = []
    seen = {_key(f["/"])}

    def walk(group: Any, prefix: str) -> None:
        for raw, link_type, cset in _link_names(group):
            name = raw.decode("utf-8", "surrogateescape")
            path = posixpath.join(prefix, name)
            if link_type == h5l.TYPE_SOFT:
                target = group.id.links.get_val(raw).decode("utf-8", "surrogateescape")
                entries.append(LinkEntry(path, "soft", target=target, cset=cset))
            elif link_type == h5l.TYPE_EXTERNAL:
                file, obj = (v.decode("utf-8", "surrogateescape")
                             for v in group.id.links.get_val(raw))
                entries.append(LinkEntry(path, "external", target=obj, file=file, cset=cset))
            elif link_type != h5l.TYPE_HARD:
                entries.append(LinkEntry(path, "other", cset=cset))
            else:
                obj = group[name]
                kind = ("group" if isinstance(obj, h5py.Group) else
                        "dataset" if isinstance(obj, h5py.Dataset) else "datatype")
                key = _key(obj)
                ds = kind == "dataset"
                entries.append(LinkEntry(
                    path, "hard", kind, key, cset=cset,
                    shape=tuple(obj.shape) if ds and obj.shape is not None else None,
                    maxshape=tuple(obj.maxshape) if ds and obj.maxshape is not None else None,
                    dtype=obj.dtype.str if ds else None,
                ))
                if key not in seen:
                    seen.add(key)
                    if kind == "group":
                        walk(obj, path)

    walk(f["/"], "/")
    return entries


def link_structure(entries: list[LinkEntry]) -> list[tuple[Any, ...]]:
    """Entries comparable across files: each address replaced by the object's first path."""
    first: dict[int | None, str] = {}
    out = []
    for e in entries:
        alias = first.setdefault(e.key, e.path) if e.key is not None else None
        out.append((e.path, e.link, e.kind, alias, e.target, e.file, e.cset, e.shape,
                    e.maxshape, e.dtype))
    return out


def has_references(dt: np.dtype) -> bool:
    """Whether values of ``dt`` hold references (directly, in fields, arrays or vlen items)."""
    import h5py

    if dt.names:
        return any(has_references(dt[n]) for n in dt.names)
    if dt.subdtype is not None:
        return has_references(dt.subdtype[0])
    if h5py.check_dtype(ref=dt) is not None:
        return True
    base = h5py.check_dtype(vlen=dt)
    return isinstance(base, np.dtype) and has_references(base)


class ReferenceMapper:
    """Re-points references into ``src`` at the object of the same path in ``dst``.

    Raw reference tokens are file addresses, meaningless in another file; paths are not, as
    long as ``dst`` has the same tree. Region references keep their selection.
    """

    def __init__(self, src: Any, dst: Any) -> None:
        self.src, self.dst = src, dst

    def one(self, ref: Any) -> Any:
        import h5py
        from h5py import h5r

        if not ref:
            return ref
        obj = self.src[ref]
        if obj.name is None:
            raise VerificationError(f"a reference points at an unlinked object ({obj})")
        if isinstance(ref, h5py.RegionReference):
            space = h5r.get_region(ref, self.src.id)
            return h5r.create(self.dst.id, encode_name(obj.name), h5r.DATASET_REGION, space)
        return self.dst[obj.name].ref

    def array(self, arr: np.ndarray) -> np.ndarray:
        """A copy of ``arr`` with every reference (also in fields and vlen items) re-pointed."""
        import h5py

        dt = arr.dtype
        if not has_references(dt):
            return arr
        out = np.empty(arr.shape, dtype=dt)
        if dt.names:
            out[...] = arr
            for n in dt.names:
                out[n] = self.array(np.asarray(arr[n]))
            return out
        base = None if h5py.check_dtype(ref=dt) else h5py.check_dtype(vlen=dt)
        for idx, value in np.ndenumerate(arr):
            out[idx] = self.one(value) if base is None else self.array(np.asarray(value, base))
        return out


def copy_attributes(src_obj: Any, dst_obj: Any, refs: ReferenceMapper) -> None:
    """Every attribute, in the source's order, with its exact HDF5 type and dataspace.

    Low-level on purpose: ``attrs[k] = v`` would pick a type from the numpy value (a
    fixed-length string may become variable-length, an ``int32`` an ``int64``) and lose
    empty (null dataspace) attributes; hdmf and the dimension-scale API read these types.
    """
    from h5py import h5a, h5s, h5t

    for name in src_obj.attrs:  # creation order where tracked, like HDF5's own index
        attr = src_obj.attrs.get_id(name)
        space = attr.get_space()
        new = h5a.create(dst_obj.id, encode_name(name), attr.get_type().copy(), space)
        if space.get_simple_extent_type() == h5s.NULL:
            continue
        dtype, shape = attr.dtype, attr.shape
        mtype = h5t.py_create(dtype)
        if dtype.subdtype is not None:  # top-level array type: numpy sees extra axes
            dtype, shape = dtype.subdtype[0], shape + dtype.subdtype[1]
        value = np.zeros(shape, dtype=dtype)
        attr.read(value, mtype=mtype)
        new.write(np.ascontiguousarray(refs.array(value)), mtype=mtype)


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
        tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
        try:
            shutil.copyfile(source, tmp)
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
    info = dataset_info(source, dataset)
    variant = Variant(path=str(out), layout=layout, source_id=source_id(source, info.path),
                      dataset=info.path, shape=info.shape, dtype=info.dtype,
                      stored_bytes=out.stat().st_size, write_seconds=time.perf_counter() - t0,
                      verify_seconds=0.0, dataset_bytes=info.storage_bytes or None)
    mark_verified(variant)
    return variant
