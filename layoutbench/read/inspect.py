"""Look inside a source NWB/HDF5 file: which datasets, of what type, stored how.

Everything a user can get wrong about their input (a missing file, a file that is not HDF5, a
dataset path that does not exist) is detected here and raised as :class:`UserError` with a
one-line message naming the file, so the CLI can print it without a traceback.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layoutbench.errors import UserError
from layoutbench.plan.layout import Layout, kind_of

__all__ = ["DatasetInfo", "UserError", "check_hdf5_file", "dataset_info", "list_datasets"]


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """One array in a source file and how it is stored today."""

    file: str
    path: str
    shape: tuple[int, ...]
    dtype: str
    chunks: tuple[int, ...] | None
    compression: str | None
    compression_opts: Any
    neurodata_type: str | None
    rate: float | None
    storage_bytes: int
    codec: str = "none"
    level: int | None = None
    shuffle: bool = False
    #: HDF5 dimension labels, when the file names its axes (``None`` when none is labelled)
    axes: tuple[str, ...] | None = None

    @property
    def kind(self) -> str:
        """``ophys``/``ecephys``/``volume``: which access patterns and grid apply.

        Decided by :func:`layoutbench.plan.layout.kind_of` from the axis labels, NWB type and shape.
        """
        return kind_of(self.neurodata_type, len(self.shape), self.axes)

    @property
    def itemsize(self) -> int:
        import numpy as np

        return int(np.dtype(self.dtype).itemsize)

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.itemsize

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "path": self.path,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "chunks": None if self.chunks is None else list(self.chunks),
            "compression": self.compression,
            "neurodata_type": self.neurodata_type,
            "rate": self.rate,
            "storage_bytes": self.storage_bytes,
        }

    def current_layout(self, label: str = "current", page_size: int | None = None) -> Layout:
        """The file's own storage of this dataset as a :class:`Layout`.

        A contiguous dataset is described as one chunk of its whole shape, which is what a
        reader fetches to get any element of it.
        """
        chunks = self.chunks or tuple(max(1, n) for n in self.shape)
        return Layout("hdf5", chunks, self.codec, self.level, shuffle=self.shuffle,
                      page_size=page_size, label=label)


def check_hdf5_file(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` as a Path if it is an existing HDF5 file; raise :class:`UserError` if not."""
    import h5py

    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: no such file")
    if p.is_dir():
        raise UserError(f"{p}: is a directory, expected an NWB/HDF5 file")
    try:
        ok = h5py.is_hdf5(p)
    except OSError as exc:
        raise UserError(f"{p}: cannot be read ({exc.strerror or exc})") from None
    if not ok:
        raise UserError(f"{p}: not an HDF5/NWB file (no HDF5 signature)")
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


def _info(file: Path, dset: Any) -> DatasetInfo:
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
    )


def list_datasets(path: str | os.PathLike[str], min_bytes: int = 0) -> list[DatasetInfo]:
    """Every numeric dataset of at least ``min_bytes`` (uncompressed), largest first."""
    import h5py
    import numpy as np

    p = check_hdf5_file(path)
    found: list[DatasetInfo] = []
    with h5py.File(p, "r") as f:

        def visit(_name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Dataset) and obj.shape and obj.dtype.kind in "iufb":
                nbytes = math.prod(obj.shape) * np.dtype(obj.dtype).itemsize
                if nbytes >= min_bytes:
                    found.append(_info(p, obj))

        f.visititems(visit)
    return sorted(found, key=lambda d: d.nbytes, reverse=True)


def dataset_info(path: str | os.PathLike[str], dataset: str | None = None) -> DatasetInfo:
    """Describe ``dataset`` in ``path``; without a dataset, the file's largest numeric array."""
    import h5py

    p = check_hdf5_file(path)
    if dataset is None:
        candidates = list_datasets(p)
        if not candidates:
            raise UserError(f"{p}: contains no numeric dataset to benchmark")
        return candidates[0]
    with h5py.File(p, "r") as f:
        obj = f.get(dataset)
        if not isinstance(obj, h5py.Dataset):
            what = "is a group, not a dataset" if obj is not None else "does not exist"
            hint = ", ".join(d.path for d in list_datasets(p, min_bytes=10**6)[:5])
            raise UserError(
                f"{p}: dataset {dataset!r} {what}" + (f" (large datasets: {hint})" if hint else "")
            )
        if not obj.shape or obj.dtype.kind not in "iufb":
            raise UserError(f"{p}: dataset {dataset!r} is not a numeric N-d array ({obj.dtype})")
        return _info(p, obj)
