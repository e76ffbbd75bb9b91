"""Prove that an NWB-Zarr export holds what its HDF5 NWB source holds, object by object.

HDF5 and Zarr store NWB differently (links, references, strings, attribute types), so the two
are compared as pynwb reads them: both files are read (the export with
``hdmf_zarr.NWBZarrIO(path, "r").read()``, as a user opens it), every object of the source is
found in the export by its object ID, with the same type, and every field of it is equal: numeric
datasets bit for bit, block by block (bounded memory); text and times by value; references by
the object ID they point to. The datasets ``apply`` re-laid out must also be stored as asked
(chunks, shards, codec). Any difference is a :class:`~layoutbench.write.blocks.VerificationError`.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from layoutbench.codecs import ensure_hdf5_filters, zarr_compressors
from layoutbench.plan.layout import Layout
from layoutbench.write.blocks import VerificationError, block_shape, iter_blocks, same_bytes

#: Non-numeric datasets are compared as values; larger ones than this are refused as a bug.
MAX_VALUE_ELEMENTS = 10_000_000


def _text(value: Any) -> Any:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _where(container: Any) -> str:
    return f"{type(container).__name__} {getattr(container, 'name', '?')!r}"


def _numeric(value: Any) -> bool:
    dtype = getattr(value, "dtype", None)
    try:
        dtype = np.dtype(dtype) if dtype is not None else None
    except TypeError:
        return False
    return dtype is not None and dtype.names is None and dtype.kind in "iufcb" \
        and hasattr(value, "shape")


def _same_array(a: Any, b: Any, where: str, budget: int) -> None:
    """Numeric arrays: equal shape and dtype, every element bit for bit, block by block."""
    shape = tuple(a.shape)
    if tuple(b.shape) != shape:
        raise VerificationError(f"{where}: shape {tuple(b.shape)} != source {shape}")
    if np.dtype(a.dtype) != np.dtype(b.dtype):
        raise VerificationError(f"{where}: dtype {b.dtype} != source {a.dtype}")
    if shape == ():
        if not same_bytes(np.asarray(b[()]), np.asarray(a[()])):
            raise VerificationError(f"{where}: value differs")
        return
    if 0 in shape:
        return
    itemsize = np.dtype(a.dtype).itemsize
    unit = getattr(a, "chunks", None) or (1,) * len(shape)
    for sel in iter_blocks(shape, block_shape(shape, unit, itemsize, budget // 2)):
        va = np.ascontiguousarray(a[sel])
        try:
            vb = np.ascontiguousarray(b[sel])
        except Exception as exc:  # a chunk that does not decode
            raise VerificationError(f"{where}: cannot decode block {sel}: {exc}") from exc
        if not same_bytes(vb, va):
            raise VerificationError(f"{where}: {int(np.count_nonzero(va != vb))} elements differ "
                                    f"in block {sel}")


def _values(value: Any) -> Any:
    """A non-numeric dataset as Python values (small: text, references, compound rows)."""
    shape = getattr(value, "shape", None)
    if shape is not None and math.prod(shape) > MAX_VALUE_ELEMENTS:
        raise VerificationError(f"a non-numeric dataset of shape {shape} is too large to compare")
    data = value[()] if shape == () else value[:]
    return data.tolist() if isinstance(data, np.ndarray) else data


def same(a: Any, b: Any, where: str, budget: int) -> None:
    """Raise :class:`VerificationError` unless ``b`` (export) holds what ``a`` (source) does."""
    from hdmf.container import AbstractContainer

    if isinstance(a, AbstractContainer) or isinstance(b, AbstractContainer):
        if getattr(a, "object_id", a) != getattr(b, "object_id", b):
            raise VerificationError(f"{where}: refers to {_where(b)}, the source to {_where(a)}")
        return
    if _numeric(a) and _numeric(b):
        _same_array(a, b, where, budget)
        return
    if hasattr(a, "shape") and hasattr(a, "__getitem__") and not isinstance(a, str | bytes):
        a = _values(a)
    if hasattr(b, "shape") and hasattr(b, "__getitem__") and not isinstance(b, str | bytes):
        b = _values(b)
    if isinstance(a, np.void):  # a compound row
        a = a.tolist()
    if isinstance(b, np.void):
        b = b.tolist()
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            raise VerificationError(f"{where}: keys {sorted(b)} != source {sorted(a)}")
        for key in a:
            same(a[key], b[key], f"{where}[{key!r}]", budget)
        return
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        if len(a) != len(b):
            raise VerificationError(f"{where}: {len(b)} items != source {len(a)}")
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{where}[{i}]", budget)
        return
    a, b = _text(a), _text(b)
    if isinstance(a, float | np.floating) and isinstance(b, float | np.floating) \
            and math.isnan(a) and math.isnan(b):
        return
    if isinstance(a, dt.datetime) and isinstance(b, str):  # a time kept as ISO 8601 text
        b = dt.datetime.fromisoformat(b)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not np.array_equal(np.asarray(a), np.asarray(b)):
            raise VerificationError(f"{where}: values differ")
        return
    if a != b:
        raise VerificationError(f"{where}: {b!r} != source {a!r}"[:300])


def _fields(container: Any) -> dict[str, Any]:
    from hdmf.container import Data

    out = dict(container.fields)
    if isinstance(container, Data):
        out["data"] = container.data
    return out


def check_zarr_storage(root: str | os.PathLike[str], planned: Mapping[str, Layout]) -> None:
    """The re-laid-out arrays are stored with the layout's chunks, shards and codec."""
    import zarr

    group = zarr.open_group(store=zarr.storage.LocalStore(os.fspath(root), read_only=True),
                            mode="r")
    for path, layout in planned.items():
        arr = group[path.strip("/")]
        assert isinstance(arr, zarr.Array)
        shards = getattr(arr, "shards", None)
        chunks = tuple(arr.chunks)
        want = [type(c).__name__ for c in zarr_compressors(layout) or []]
        have = [type(c).__name__ for c in arr.compressors]
        if chunks != layout.chunks or (tuple(shards) if shards else None) != layout.shards \
                or have != want:
            raise VerificationError(f"{root}: {path} stored with chunks {chunks}, shards "
                                    f"{shards}, codecs {have}; the layout asks {layout.name}")


def verify_nwb_zarr(source: str | os.PathLike[str], export: str | os.PathLike[str],
                    planned: Mapping[str, Layout], *, budget: int = 64 * 2**20) -> None:
    """Raise :class:`VerificationError` unless the NWB-Zarr folder ``export`` holds every object
    of the HDF5 NWB file ``source`` (see the module docstring), with ``planned`` layouts."""
    from hdmf_zarr import NWBZarrIO
    from pynwb import NWBHDF5IO

    ensure_hdf5_filters()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # namespace-version chatter
        with NWBHDF5IO(str(source), "r", load_namespaces=True) as a_io, \
                NWBZarrIO(str(export), "r") as b_io:
            a, b = a_io.read(), b_io.read()
            theirs = b.objects
            for oid, ca in a.objects.items():
                cb = theirs.get(oid)
                if cb is None:
                    raise VerificationError(f"{export}: {_where(ca)} (object {oid}) is missing")
                if type(cb) is not type(ca):
                    raise VerificationError(f"{export}: {_where(ca)} became {_where(cb)}")
                fa, fb = _fields(ca), _fields(cb)
                for name, va in fa.items():
                    if name not in fb:
                        raise VerificationError(f"{export}: {_where(ca)} has no {name!r}")
                    same(va, fb[name], f"{export}: {_where(ca)}.{name}", budget)
            extra = set(theirs) - set(a.objects)
            if extra:
                raise VerificationError(f"{export}: {len(extra)} object(s) the source does not "
                                        f"have, e.g. {_where(theirs[sorted(extra)[0]])}")
    check_zarr_storage(export, planned)
