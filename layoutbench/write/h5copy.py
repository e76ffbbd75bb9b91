"""Object-level HDF5 copying: every link of a file, and attributes and references re-pointed.

What :mod:`.repack` and :mod:`.apply` share when they rebuild a file in another file:
:func:`scan_links` lists every link (hard, soft, external) in link order, so a copy can re-create
each as it was; :class:`ReferenceMapper` re-points object and region references by path, since
raw reference tokens are addresses in the source file; :func:`copy_attributes` copies every
attribute with its exact HDF5 type.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

import numpy as np

from layoutbench.write.blocks import VerificationError


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


def copy_attributes(src_obj: Any, dst_obj: Any, refs: ReferenceMapper | None) -> None:
    """Every attribute, in the source's order, with its exact HDF5 type and dataspace.

    Low-level on purpose: ``attrs[k] = v`` would pick a type from the numpy value (a
    fixed-length string may become variable-length, an ``int32`` an ``int64``) and lose
    empty (null dataspace) attributes; hdmf and the dimension-scale API read these types.
    Without ``refs`` (a copy of one object alone), attributes holding references are left
    out: what they point to is not in the copy.
    """
    from h5py import h5a, h5s, h5t

    for name in src_obj.attrs:  # creation order where tracked, like HDF5's own index
        attr = src_obj.attrs.get_id(name)
        if refs is None and has_references(attr.dtype):
            continue
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
        new.write(np.ascontiguousarray(value if refs is None else refs.array(value)),
                  mtype=mtype)
