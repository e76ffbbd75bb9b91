"""Prove that a rewritten file holds what its source holds, object for object and bit for bit.

:func:`verify_same_file` compares two whole files (every object, attribute and dataset; references
by the path they point to), :func:`check_storage` that the datasets a rewrite planned are stored
as planned and everything else as it was. :mod:`.repack` and :mod:`.apply` run both before they
rename an output into place.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from layoutbench.codecs import h5py_filter_kwargs
from layoutbench.plan.layout import Layout
from layoutbench.write.blocks import VerificationError, block_shape, iter_blocks, same_bytes
from layoutbench.write.h5copy import link_structure, scan_links


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
        same = _attrs_equal(va, vb, fa, fb) if ref_like else same_bytes(va, vb)
        if not same:
            raise VerificationError(f"{name}: values differ")
        return
    # blocks of whole chunks of the copy (each decoded once), trailing axes split if needed
    unit = b.chunks or a.chunks or (1,) * a.ndim
    for sel in iter_blocks(a.shape, block_shape(a.shape, unit, a.dtype.itemsize, budget)):
        va, vb = a[sel], b[sel]
        same = _structured_equal(va, vb, fa, fb) if ref_like else same_bytes(va, vb)
        if not same:
            raise VerificationError(f"{name}: values differ in block {sel}")
        if on_block is not None:
            on_block(va.nbytes)
        del va, vb  # free this block before the next is read: two blocks alive, not four


def _structured_equal(va: Any, vb: Any, fa: Any, fb: Any) -> bool:
    va, vb = np.asarray(va), np.asarray(vb)  # a compound scalar's field may be a bare object
    if va.dtype.names:
        return all(_structured_equal(va[n], vb[n], fa, fb) for n in va.dtype.names)
    flat_a, flat_b = np.ravel(va), np.ravel(vb)
    if flat_a.dtype.kind != "O":
        return same_bytes(flat_a, flat_b)
    return len(flat_a) == len(flat_b) and all(
        _attrs_equal(x, y, fa, fb) for x, y in zip(flat_a, flat_b, strict=True))


def _filter_ids(ds: Any) -> tuple[int, ...]:
    plist = ds.id.get_create_plist()
    return tuple(plist.get_filter(i)[0] for i in range(plist.get_nfilters()))


def _expected_filters(layout: Layout, dtype: np.dtype) -> tuple[int, ...]:
    """The filter pipeline h5py itself builds for the layout (what rewrite.py writes)."""
    import io

    import h5py

    with h5py.File(io.BytesIO(), "w") as probe:
        return _filter_ids(probe.create_dataset("x", shape=layout.chunks, dtype=dtype,
                                                chunks=layout.chunks,
                                                **h5py_filter_kwargs(layout)))


def check_storage(src_path: Path, out: Path, planned: Sequence[tuple[str, Layout | None]],
                  retargeted: Mapping[str, str] | None = None) -> None:
    """Links, shapes, maxshapes and fill values as in the source; storage as planned.

    ``planned`` lists (dataset path, new layout or ``None`` for a verbatim copy): a rewritten
    dataset must have the layout's chunks and the filter pipeline h5py builds for it, a copied
    one the source's own. ``retargeted`` maps external links whose file name was rewritten for
    the output's folder to that new name.
    """
    import dataclasses

    import h5py

    moved = retargeted or {}
    with h5py.File(src_path, "r") as fa, h5py.File(out, "r") as fb:
        links = [dataclasses.replace(e, file=moved[e.path]) if e.path in moved else e
                 for e in scan_links(fa)]
        mine, theirs = link_structure(links), link_structure(scan_links(fb))
        if mine != theirs:
            diff = next(a for a, b in zip([*mine, None], [*theirs, None], strict=True)
                        if a != b)
            raise VerificationError(f"{out}: links differ from {src_path} near {diff}")
        for path, layout in planned:
            if not isinstance(fa[path], h5py.Dataset):
                continue
            a, b = fa[path], fb[path]
            if not a.dtype.hasobject and np.asarray(a.fillvalue).tobytes() != \
                    np.asarray(b.fillvalue).tobytes():
                raise VerificationError(f"{out}: {path}: fill value differs")
            expected = ((a.chunks, _filter_ids(a)) if layout is None
                        else (layout.chunks, _expected_filters(layout, a.dtype)))
            if (b.chunks, _filter_ids(b)) != expected:
                raise VerificationError(f"{out}: {path}: chunks/filters "
                                        f"{(b.chunks, _filter_ids(b))} != {expected}")
