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
from layoutbench.layout import Layout, kind_of

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

    @property
    def kind(self) -> str:
        """``ophys``/``ecephys``/``volume``: which access patterns and grid apply."""
        return kind_of(self.neurodata_type, len(self.shape))

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

    def current_layout(self) -> Layout | None:
        """The file's own layout as a :class:`Layout`, when it is one we can express."""
        if self.chunks is None:
            return None
        codec = {None: "none", "gzip": "gzip"}.get(self.compression)
        if codec is None:
            return None
        level = self.compression_opts if codec == "gzip" else None
        return Layout("hdf5", self.chunks, codec, level, label="current")


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


def _info(file: Path, dset: Any) -> DatasetInfo:
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
