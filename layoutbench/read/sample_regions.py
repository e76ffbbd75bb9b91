"""Where a sample of a dataset is read, and reading it cheaply from a local or remote file.

The codec figures of :mod:`.sampling` need a few MB of the dataset's own values from places
spread over it. Which places is a pure function of the dataset's shape, its chunking, its stored
chunk sizes and the candidates' chunk shapes (:func:`plan_places`), so a file and its remote
copy are sampled at exactly the same places and give the same figures. Two budgets bound the
sample: raw bytes (what is compressed again per candidate) and stored bytes (what must be
fetched: a place costs every source chunk it touches, whole).

Reading (:func:`read_places`) takes the places from an open ``h5py.Dataset``. A local file is
sliced; for a remote one, the raw bytes of every source chunk needed are fetched at once,
concurrently (``fetch``: fsspec's ``cat_ranges``), and decoded here by HDF5 itself, in an
in-memory file whose dataset has the source's creation properties (same filters), so the
values are bit for bit those h5py would read.
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from layoutbench.codecs import ensure_hdf5_filters
from layoutbench.sources import Fetch

#: Raw bytes compressed again per candidate (all places together), and the places.
BUDGET_BYTES = 8 * 2**20
N_PLACES = 8
#: Stored bytes of source chunks the places may cost together (the first place always counts).
FETCH_BYTES = 24 * 10**6

@dataclass(frozen=True, slots=True)
class Places:
    """The shape read at every place and where the places start."""

    region: tuple[int, ...]
    starts: tuple[tuple[int, ...], ...]
    fetched_bytes: int

    def selections(self) -> list[tuple[slice, ...]]:
        return [tuple(slice(s, s + r) for s, r in zip(st, self.region, strict=True))
                for st in self.starts]


def region_shape(shape: Sequence[int], chunk_shapes: Sequence[Sequence[int]], itemsize: int,
                 budget: int) -> tuple[int, ...]:
    """One read per place: the elementwise largest chunk shape, halved along its longest axis
    until it fits ``budget`` bytes, so each candidate's block is as chunk-shaped as the budget
    allows."""
    region = [max([1] + [min(c[a], n) for c in chunk_shapes]) for a, n in enumerate(shape)]
    while math.prod(region) * itemsize > budget and max(region) > 1:
        ax = int(np.argmax(region))
        region[ax] = max(1, region[ax] // 2)
    return tuple(region)


def region_starts(shape: Sequence[int], region: Sequence[int], n: int,
                  source_chunks: Sequence[int] | None) -> list[tuple[int, ...]]:
    """``n`` places spread over the dataset (low-discrepancy along every axis). A place that
    would straddle a source chunk boundary it could fit within moves back to that boundary, so
    a place usually costs one source chunk decode."""
    starts = []
    golden = (math.sqrt(5) - 1) / 2
    for k in range(n):
        start = []
        for a, (size, r) in enumerate(zip(shape, region, strict=True)):
            room = size - r
            frac = ((k + 0.5) / n + a * golden) % 1.0
            s = int(frac * (room + 1))
            if source_chunks and r <= source_chunks[a] < s % source_chunks[a] + r:
                s -= s % source_chunks[a]
            start.append(min(max(0, s), room))
        starts.append(tuple(start))
    return list(dict.fromkeys(starts))  # small datasets: places may coincide


def _touched(start: Sequence[int], region: Sequence[int], chunks: Sequence[int]
             ) -> list[tuple[int, ...]]:
    """Element offsets of the source chunks a place intersects."""
    ranges = [range(s // c * c, s + r, c) for s, r, c in zip(start, region, chunks, strict=True)]
    return [tuple(idx) for idx in itertools.product(*ranges)]


def plan_places(shape: Sequence[int], itemsize: int, source_chunks: Sequence[int] | None,
                stored: dict[tuple[int, ...], int], candidate_chunks: Sequence[Sequence[int]],
                *, budget_bytes: int = BUDGET_BYTES, n_places: int = N_PLACES,
                fetch_bytes: int = FETCH_BYTES) -> Places:
    """Where to read (pure). ``stored`` maps each source chunk's element offset to its stored
    size (empty for a contiguous dataset, whose places are whole rows of the first axis, one
    byte range each). Places are kept in order while the source chunks they need fit in
    ``fetch_bytes``."""
    shape = tuple(int(n) for n in shape)
    per_place = max(itemsize, budget_bytes // max(1, n_places))
    if source_chunks is None:  # contiguous: rows of axis 0 are the only cheap reads
        row = math.prod(shape[1:]) * itemsize
        region = (max(1, min(shape[0], per_place // max(1, row))), *shape[1:])
    else:
        region = region_shape(shape, candidate_chunks, itemsize, per_place)
    starts = region_starts(shape, region, n_places, source_chunks)
    kept: list[tuple[int, ...]] = []
    seen: set[tuple[int, ...]] = set()
    total = 0
    for st in starts:
        if source_chunks is None:
            cost = math.prod(region) * itemsize
        else:
            need = [c for c in _touched(st, region, source_chunks) if c not in seen]
            cost = sum(stored.get(c, 0) for c in need)
        if kept and total + cost > fetch_bytes:
            break
        kept.append(st)
        total += cost
        if source_chunks is not None:
            seen.update(need)
    return Places(tuple(region), tuple(kept), total)


def stored_chunks(dset: Any) -> dict[tuple[int, ...], tuple[int, int, int]]:
    """Element offset -> (byte offset, stored size, filter mask) of every allocated chunk of an
    HDF5 dataset; nothing for a Zarr array (read locally by slices: no fetch to budget)."""
    found: dict[tuple[int, ...], tuple[int, int, int]] = {}
    if not hasattr(dset, "id"):  # a zarr.Array (an NWB-Zarr source)
        return found

    def add(info: Any) -> None:
        found[tuple(info.chunk_offset)] = (int(info.byte_offset), int(info.size),
                                           int(info.filter_mask))

    if dset.chunks is not None:
        dset.id.chunk_iter(add)
    return found


def read_places(dset: Any, places: Places, chunk_map: dict[tuple[int, ...], tuple[int, int, int]],
                fetch: Fetch | None = None) -> list[np.ndarray]:
    """The values at every place: sliced from a local ``dset``, or, with ``fetch``, from the
    raw source chunks fetched together and decoded by HDF5 in memory (see the module doc)."""
    sels = places.selections()
    if fetch is None:
        return [np.ascontiguousarray(dset[sel]) for sel in sels]
    if dset.chunks is None:  # contiguous, uncompressed: each place is one byte range
        base = dset.id.get_offset()
        row = math.prod(dset.shape[1:]) * dset.dtype.itemsize
        ranges = [(base + sel[0].start * row, (sel[0].stop - sel[0].start) * row)
                  for sel in sels]
        blobs = fetch(ranges)
        return [np.frombuffer(b, dtype=dset.dtype).reshape(places.region).copy() for b in blobs]
    import h5py

    ensure_hdf5_filters()
    needed = sorted({c for st in places.starts for c in _touched(st, places.region, dset.chunks)
                     if c in chunk_map})
    blobs = fetch([chunk_map[c][:2] for c in needed])
    with h5py.File(io.BytesIO(), "w") as mem:
        copy = h5py.h5d.create(mem.id, b"sample", dset.id.get_type(), dset.id.get_space(),
                               dcpl=dset.id.get_create_plist())
        for offset, blob in zip(needed, blobs, strict=True):
            copy.write_direct_chunk(offset, blob, chunk_map[offset][2])
        arr = h5py.Dataset(copy)
        return [np.ascontiguousarray(arr[sel]) for sel in sels]
