"""What a dataset of a source is and how it is stored today (:class:`DatasetInfo`), as data.

:mod:`layoutbench.read.inspect` (HDF5) and :mod:`layoutbench.read.inspect_zarr` (Zarr) read it
from a file; the planner, the recommendation and the sweeps speak it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from layoutbench.plan.catalogue import KIND_NDIM
from layoutbench.plan.layout import Layout, kind_of


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
    #: ``"hdf5"``, or ``"zarr"`` for an array of a Zarr store (:mod:`.inspect_zarr`)
    format: str = "hdf5"
    #: Zarr v3 shard shape (``chunks`` are then the inner chunks)
    shards: tuple[int, ...] | None = None
    #: HDF5 contiguous or compact storage: ``(data offset, file size)``, where readers find it
    placement: tuple[int, int] | None = None

    @property
    def kind(self) -> str:
        """``ophys``/``ecephys``/``volume``: which access patterns and grid apply; ``other``
        for an array of another rank (1-d, 4-d and more: read by generic blocks).

        Decided by :func:`layoutbench.plan.layout.kind_of` from the axis labels, NWB type and shape.
        """
        kind = kind_of(self.neurodata_type, len(self.shape), self.axes)
        return kind if KIND_NDIM.get(kind) == len(self.shape) else "other"

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

        An HDF5 dataset without chunks is contiguous (:attr:`Layout.contiguous`, read where
        :attr:`placement` says); a compact one, stored in its object header, is modelled alike,
        at the file's start, where the opening reads leave the header.
        """
        chunks = self.chunks or tuple(max(1, n) for n in self.shape)
        return Layout(self.format, chunks, self.codec, self.level, shuffle=self.shuffle,
                      shards=self.shards, page_size=page_size, label=label,
                      contiguous=self.chunks is None and self.format == "hdf5")
