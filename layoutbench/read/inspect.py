"""Look inside a source NWB/HDF5 file: which datasets, of what type, stored how.

Everything a user can get wrong about their input (a missing file, a file that is not HDF5, a
dataset path that does not exist) is detected here and raised as :class:`UserError` with a
one-line message naming the file, so the CLI can print it without a traceback. What it reads
is a :class:`~layoutbench.plan.dataset.DatasetInfo` (a pure noun of ``plan/``).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from layoutbench.errors import InputNotFoundError, UserError
from layoutbench.h5threads import gc_paused
from layoutbench.plan.dataset import DatasetInfo
from layoutbench.read.h5checks import open_error, unusable
from layoutbench.store.sources import ObjectIdentity, Source, resolve

__all__ = ["UserError", "check_hdf5_file", "dataset_info", "list_datasets"]


def check_hdf5_file(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` as a Path if it is an existing HDF5 file; raise :class:`UserError` if not."""
    import h5py

    p = Path(path)
    if not p.exists():
        raise InputNotFoundError(f"{p}: no such file")
    if p.is_dir():
        raise UserError(f"{p}: is a directory, expected an NWB/HDF5 file")
    try:
        ok = h5py.is_hdf5(p)
    except OSError as exc:
        raise UserError(f"{p}: cannot be read ({exc.strerror or exc})") from None
    if not ok:
        raise UserError(f"{p}: not an HDF5/NWB file (no HDF5 signature)")
    try:  # a truncated or locked file passes the signature check: open it to know
        h5py.File(p, "r").close()
    except OSError as exc:
        raise open_error(str(p), exc) from None
    return p


def _neurodata_type(obj: Any) -> str | None:
    for candidate in (obj, obj.parent):
        nt = candidate.attrs.get("neurodata_type")
        if nt is not None:
            return nt.decode() if isinstance(nt, bytes) else str(nt)
    return None


def _rate(dset: Any) -> float | None:
    parent = dset.parent
    if "starting_time" in parent:
        rate = parent["starting_time"].attrs.get("rate")
        if rate is not None:
            return float(rate)
    return None


_BLOSC_CNAMES = ("blosclz", "lz4", "lz4hc", "snappy", "zlib", "zstd")


def _codec(dset: Any) -> tuple[str, int | None, bool]:
    """(codec, level, shuffle) from the dataset's HDF5 filter pipeline, in Layout's terms."""
    filters = dset._filters
    shuffle = "shuffle" in filters
    if "gzip" in filters:
        return "gzip", int(filters["gzip"]), shuffle
    if "32015" in filters:  # zstd
        opts = filters["32015"]
        return "zstd", int(opts[0]) if opts else 3, shuffle
    if "32004" in filters:  # lz4
        return "lz4", None, shuffle
    if "32001" in filters:  # blosc: (..., clevel, shuffle, compressor)
        opts = filters["32001"]
        cname = _BLOSC_CNAMES[opts[6]] if len(opts) > 6 else "lz4"
        codec = "blosc-zstd" if cname == "zstd" else "blosc-lz4"
        return codec, int(opts[4]) if len(opts) > 4 else 5, bool(len(opts) > 5 and opts[5])
    return "none", None, shuffle


def _axes(dset: Any) -> tuple[str, ...] | None:
    """The dataset's HDF5 dimension labels, or ``None`` if no axis is labelled."""
    labels = tuple(str(dim.label) for dim in dset.dims)
    return labels if any(labels) else None


def describe_dataset(dset: Any, file: str) -> DatasetInfo:
    """:class:`DatasetInfo` of an open h5py dataset, usable or not (``apply`` re-chunks an
    empty, growable dataset too)."""
    return _info(file, dset)


def _info(file: str, dset: Any) -> DatasetInfo:
    codec, level, shuffle = _codec(dset)
    return DatasetInfo(
        file=str(file),
        path=dset.name,
        shape=tuple(int(n) for n in dset.shape),
        dtype=str(dset.dtype),
        chunks=None if dset.chunks is None else tuple(int(c) for c in dset.chunks),
        compression=dset.compression,
        compression_opts=dset.compression_opts,
        neurodata_type=_neurodata_type(dset),
        rate=_rate(dset),
        storage_bytes=int(dset.id.get_storage_size()),
        codec=codec,
        level=level,
        shuffle=shuffle,
        axes=_axes(dset),
        placement=_placement(dset),
    )


def _placement(dset: Any) -> tuple[int, int] | None:
    """Data offset and file size of an unchunked dataset (offset 0 when compact or not yet
    allocated), which the cost of reading it by ranges depends on."""
    if dset.chunks is not None:
        return None
    offset = dset.id.get_offset()
    return (int(offset or 0), int(dset.file.id.get_filesize()))


@contextlib.contextmanager
def open_hdf5(source: str | os.PathLike[str] | Source, *,
              identity: ObjectIdentity | None = None, label: str | None = None
              ) -> Iterator[Any]:
    """An open read-only ``h5py.File`` of a local or remote source.

    A remote file is read through a block cache
    (:meth:`layoutbench.store.sources.Source.open`), with the garbage collector paused (see
    :mod:`layoutbench.h5threads`). A missing file, a folder or bytes that are not HDF5 are a
    :class:`UserError` naming the source (or ``label``, the public name of a file read
    through a gateway).
    """
    import h5py

    src = resolve(source)
    if src.is_local:
        p = check_hdf5_file(src.given)
        with h5py.File(p, "r") as f:
            yield f
        return
    with gc_paused(), src.open(identity=identity) as fobj:
        try:
            f = h5py.File(fobj, "r")
        except OSError as exc:
            raise open_error(label or src.url, exc) from None
        try:
            yield f
        finally:
            f.close()


def _label(source: Source) -> str:
    """How a source is named in DatasetInfo and messages (a local path as the user gave it)."""
    return str(Path(source.given)) if source.is_local else source.url


def _numeric(f: Any, min_bytes: int) -> list[Any]:
    """The usable numeric N-d datasets of an open file with at least ``min_bytes`` (see
    :func:`~layoutbench.read.h5checks.unusable`), largest first."""
    return [d for d in _datasets(f, min_bytes) if unusable(d) is None]


def _datasets(f: Any, min_bytes: int) -> list[Any]:
    """Every N-d dataset of an open file with at least ``min_bytes``, largest first."""
    import h5py

    found: list[Any] = []

    def visit(_name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset) and obj.shape \
                and math.prod(obj.shape) * obj.dtype.itemsize >= min_bytes:
            found.append(obj)

    f.visititems(visit)
    return sorted(found, key=lambda d: math.prod(d.shape) * d.dtype.itemsize, reverse=True)


def scan(f: Any, label: str, min_bytes: int = 0) -> tuple[list[DatasetInfo], list[dict[str, str]]]:
    """One walk of an open file: its numeric datasets of at least ``min_bytes`` (largest first)
    and the others that size that no layout search applies to (strings, compounds), with why."""
    infos, skipped = [], []
    for d in _datasets(f, min_bytes):
        if d.dtype.kind not in "iufb":
            what = "compound" if d.dtype.names else "string/object"
            skipped.append({"path": d.name, "reason": f"{what} dtype: no chunk/codec search "
                                                      "for it"})
        elif why := unusable(d):
            skipped.append({"path": d.name, "reason": why})
        else:
            infos.append(_info(label, d))
    return infos, skipped


def list_datasets(source: str | os.PathLike[str] | Source, min_bytes: int = 0, *,
                  identity: ObjectIdentity | None = None, label: str | None = None
                  ) -> list[DatasetInfo]:
    """Every numeric dataset of at least ``min_bytes`` (uncompressed), largest first.

    ``label`` names the file in the results and messages (default: the source itself).
    """
    src = resolve(source)
    with open_hdf5(src, identity=identity, label=label) as f:
        return [_info(label or _label(src), d) for d in _numeric(f, min_bytes)]


def dataset_info(source: str | os.PathLike[str] | Source, dataset: str | None = None, *,
                 identity: ObjectIdentity | None = None, label: str | None = None
                 ) -> DatasetInfo:
    """Describe ``dataset`` of ``source``; without a dataset, the file's largest numeric array."""
    src = resolve(source)
    with open_hdf5(src, identity=identity, label=label) as f:
        return info_in(f, label or _label(src), dataset)


def info_in(f: Any, label: str, dataset: str | None) -> DatasetInfo:
    """:func:`dataset_info` in an open file named ``label``."""
    import h5py

    if dataset is None:
        candidates = _numeric(f, 0)
        if not candidates:
            others = [(d.name, unusable(d)) for d in _datasets(f, 0)]
            why = next((f" ({name} is {reason})" for name, reason in others if reason), "")
            raise UserError(f"{label}: contains no numeric dataset to benchmark{why}")
        return _info(label, candidates[0])
    link = f.get(dataset, getlink=True)
    if isinstance(link, h5py.ExternalLink):
        raise UserError(f"{label}: {dataset!r} is an external link to {link.filename}:"
                        f"{link.path}; give that file and dataset instead")
    try:
        obj = f.get(dataset)
    except (KeyError, OSError):  # a dangling soft link
        obj = None
    if not isinstance(obj, h5py.Dataset):
        what = "is a group, not a dataset" if obj is not None else "does not exist"
        hint = ", ".join(d.name for d in _numeric(f, 10**6)[:5])
        raise UserError(f"{label}: dataset {dataset!r} {what}"
                        + (f" (large datasets: {hint})" if hint else ""))
    if problem := unusable(obj):
        raise UserError(f"{label}: dataset {dataset!r} is {problem}")
    return _info(label, obj)
