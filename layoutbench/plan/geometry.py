"""Pure geometry of selections against chunk grids and of the reads that fetch them (no I/O).

The first half gives the deterministic figures a result row carries beside its measurements
(``bytes_needed``, ``chunks_touched``). The second, :func:`plan_reads`, turns the chunks a
pattern touches into the requests and bytes each reader sends for them (a :class:`ReadPlan`),
the input of the cost model (:mod:`layoutbench.plan.model`); for HDF5 readers it replays the chunk
reads through :mod:`.h5sim`. Like rechunker's ``algorithm`` module it decides without
touching data, so it is tested without a network and checked against one.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from layoutbench.plan.contiguous import CONTIGUOUS_OFFSET, plan_contiguous

# the HDF5 reader constants live with the simulation that uses them; re-exported as before
from layoutbench.plan.h5sim import BTREE_ENTRIES as BTREE_ENTRIES
from layoutbench.plan.h5sim import BTREE_KEEP as BTREE_KEEP
from layoutbench.plan.h5sim import H5_CACHE_BYTES as H5_CACHE_BYTES
from layoutbench.plan.h5sim import H5_CACHE_SLOTS as H5_CACHE_SLOTS
from layoutbench.plan.h5sim import H5_CACHE_W0 as H5_CACHE_W0
from layoutbench.plan.h5sim import READAHEAD_BLOCK as READAHEAD_BLOCK
from layoutbench.plan.h5sim import REMFILE_BLOCK as REMFILE_BLOCK
from layoutbench.plan.h5sim import REMFILE_CACHE_BLOCKS as REMFILE_CACHE_BLOCKS
from layoutbench.plan.h5sim import REMFILE_GROWTH as REMFILE_GROWTH
from layoutbench.plan.h5sim import REMFILE_MAX_BLOCKS as REMFILE_MAX_BLOCKS
from layoutbench.plan.h5sim import BTree, plan_hdf5
from layoutbench.plan.reader_facts import FACTS

if TYPE_CHECKING:
    from layoutbench.plan.layout import Layout

Selection = tuple[slice, ...]


def normalise(selection: Selection, shape: Sequence[int]) -> Selection:
    """Clip a selection to ``shape`` and make every bound explicit (step 1 only)."""
    if len(selection) != len(shape):
        raise ValueError(f"selection has {len(selection)} axes, array has {len(shape)}")
    out = []
    for s, n in zip(selection, shape, strict=True):
        start, stop, step = s.indices(n)
        if step != 1:
            raise ValueError("only contiguous (step 1) selections are supported")
        out.append(slice(start, max(start, stop)))
    return tuple(out)


def selection_shape(selection: Selection) -> tuple[int, ...]:
    return tuple(max(0, s.stop - s.start) for s in selection)


def selection_size(selection: Selection) -> int:
    """Number of elements selected."""
    return math.prod(selection_shape(selection))


def chunk_ranges(selection: Selection, chunks: Sequence[int]) -> tuple[range, ...]:
    """Per axis, the indices of the chunks the selection intersects."""
    out = []
    for s, c in zip(selection, chunks, strict=True):
        if s.stop <= s.start:
            out.append(range(0))
        else:
            out.append(range(s.start // c, (s.stop - 1) // c + 1))
    return tuple(out)


def chunks_touched(selection: Selection, chunks: Sequence[int]) -> int:
    """How many chunks a selection intersects (each must be fetched and decoded whole)."""
    return math.prod(len(r) for r in chunk_ranges(selection, chunks))


def iter_chunk_indices(selection: Selection, chunks: Sequence[int]) -> Iterator[tuple[int, ...]]:
    """The grid index of every chunk the selection intersects, in C order."""
    ranges = chunk_ranges(selection, chunks)
    if any(len(r) == 0 for r in ranges):
        return
    idx = [r.start for r in ranges]
    while True:
        yield tuple(idx)
        ax = len(idx) - 1
        while ax >= 0:
            idx[ax] += 1
            if idx[ax] < ranges[ax].stop:
                break
            idx[ax] = ranges[ax].start
            ax -= 1
        if ax < 0:
            return


def chunk_selection(index: Sequence[int], chunks: Sequence[int], shape: Sequence[int]
                    ) -> Selection:
    """The region of the array a chunk covers (edge chunks are clipped to the array)."""
    return tuple(
        slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(index, chunks, shape, strict=True)
    )


# -- reads: how each reader turns the chunks of a selection into requests ----------------------
#
# Everything below is a transcription of what the readers' libraries do, checked against logs of
# their reads and against the gateway's counts (tests/test_model_measured.py). Constants mirror
# the options readers.py declares (tests/test_geometry.py checks they agree); HDF5's B-tree, chunk
# cache and the readers' file objects are simulated in layoutbench.plan.h5sim, whose constants are
# re-exported here.

#: zarr's ``async.concurrency`` (zarr and kerchunk readers).
CONCURRENCY = 10
#: Offset of the chunk B-tree root in a variant written by :mod:`layoutbench.write.rewrite` (chunk 0
#: follows it), measured with h5py 3.16 / HDF5 2.0: the object header grows with the named
#: plugin filters (zstd, lz4) and shuffle. After opening, the first ``8 + READAHEAD_BLOCK`` bytes
#: (h5py-fsspec) or the first remfile block are already in the reader's cache.
H5_ROOT_OFFSET = 3464
_H5_HEADER_EXTRA = {(3, False): 32, (3, True): 56, (2, False): 8, (2, True): 32}

#: zarr's shard read merging (zarr >= 3.3), its config defaults: ranges of wanted inner chunks
#: at most this far apart are fetched in one request (``array.sharding_coalesce_max_gap_bytes``)
#: of at most this many bytes (``array.sharding_coalesce_max_bytes``). The zarr readers set
#: them explicitly (tests/test_geometry.py checks they are zarr's defaults).
SHARD_COALESCE_GAP = 1 << 20
SHARD_COALESCE_MAX = 16 << 20

#: How each reader requests, and what it reads (views of :mod:`.reader_facts`).
READER_MODES = {f.name: f.plan for f in FACTS}
READER_FORMATS = {f.name: f.format for f in FACTS}

ChunkBytes = float | int | Callable[[tuple[int, ...]], int]


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """What reading some selections costs in requests and bytes, before any clock runs.

    ``chunks_touched`` counts (selection, chunk) pairs like :class:`~layoutbench.run.measure.
    Measurement`; ``chunks_read`` those fetched (HDF5's chunk cache saves the others).
    ``rounds`` is the number of request round trips on the critical path (every request for a
    serial reader; batches of ``concurrency`` for zarr), ``serial_bytes`` the bytes that one
    connection's bandwidth has to carry on that path. ``index_requests`` are the requests made
    only for the chunk index (B-tree nodes, shard indexes) that missed every cache.
    """

    reader: str
    codec: str
    selections: int
    chunks_touched: int
    chunks_read: int
    requests: int
    index_requests: int
    bytes_transferred: int
    bytes_needed: int
    bytes_decoded: int
    concurrency: int
    rounds: int
    serial_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def plan_reads(selections: Sequence[Selection], shape: Sequence[int], itemsize: int,
               layout: Layout, reader: str, chunk_nbytes: ChunkBytes, *,
               placement: tuple[int, int] | None = None,
               coalescing: tuple[int, int] = (SHARD_COALESCE_GAP, SHARD_COALESCE_MAX)
               ) -> ReadPlan:
    """Requests and bytes ``reader`` needs for ``selections`` of an array stored in ``layout``.

    Parameters
    ----------
    selections
        Read one after another with the reader kept open (as :meth:`AccessPattern.run` does).
    chunk_nbytes
        Stored (compressed) bytes of one whole chunk (inner chunk when sharded), as sampled by
        :mod:`layoutbench.read.sampling`; edge chunks are taken pro rata to their valid elements
        (they are padded, and padding compresses to almost nothing). Or a callable giving the
        exact stored size of each chunk grid index, when the variant exists.
    placement
        For a contiguous layout, ``(data offset, file size)`` in the file as it is; by default
        where a contiguous variant written by :mod:`layoutbench.write.rewrite` puts its data.
    coalescing
        zarr's shard read merging, ``(max gap, max bytes)`` of one request: zarr's config
        (``array.sharding_coalesce_max_gap_bytes``, ``..._max_bytes``), which the zarr
        readers set to these defaults.
    """
    if reader not in READER_MODES:
        raise ValueError(f"unknown reader {reader!r} (modelled: {', '.join(READER_MODES)})")
    if READER_FORMATS.get(reader, "hdf5") != layout.format:
        raise ValueError(f"reader {reader} does not read {layout.format} layouts")
    shape = tuple(int(n) for n in shape)
    sels = [normalise(s, shape) for s in selections]
    sizes = _ChunkSizes(shape, layout, itemsize, chunk_nbytes)
    needed = sum(selection_size(s) for s in sels) * itemsize
    touched = sum(chunks_touched(s, layout.chunks) for s in sels)
    mode = READER_MODES[reader]
    if mode == "concurrent":  # kerchunk refers to a contiguous dataset as one chunk
        counts = _plan_concurrent(sels, layout, sizes, *coalescing)
    elif layout.contiguous:
        offset, size = placement or (CONTIGUOUS_OFFSET, CONTIGUOUS_OFFSET + sizes.raw)
        counts = plan_contiguous(sels, shape, itemsize, offset, size, mode)
    else:
        counts = _plan_hdf5(sels, shape, itemsize, layout, sizes, mode)
    return ReadPlan(reader=reader, codec=layout.codec, selections=len(sels),
                    chunks_touched=touched, bytes_needed=needed,
                    concurrency=CONCURRENCY if mode == "concurrent" else 1, **counts)


def stored_overhead(layout: Layout, shape: Sequence[int]) -> int:
    """Bytes of a rewritten variant that are not chunk data: HDF5's headers and chunk B-tree,
    Zarr's shard indexes (metadata documents, a few hundred bytes, are ignored). Subtracted from
    a variant's size, it leaves the chunks alone, e.g. to estimate a chunk's stored size."""
    grid = [-(-n // c) for n, c in zip(shape, layout.chunks, strict=True)]
    if layout.contiguous:
        return CONTIGUOUS_OFFSET
    if layout.format == "hdf5":
        tree = BTree(math.prod(grid), len(grid))
        return h5_root_offset(layout, len(grid)) + tree.node_size * sum(tree.counts)
    if layout.shards is None:
        return 0
    per = [s // c for s, c in zip(layout.shards, layout.chunks, strict=True)]
    n_shards = math.prod(-(-g // p) for g, p in zip(grid, per, strict=True))
    return n_shards * (16 * math.prod(per) + 4)


class _ChunkSizes:
    """Stored bytes per chunk grid index: exact (callable) or pro rata to valid elements."""

    def __init__(self, shape: tuple[int, ...], layout: Layout, itemsize: int,
                 chunk_nbytes: ChunkBytes) -> None:
        self.chunks = layout.chunks
        self.grid = tuple(-(-n // c) for n, c in zip(shape, self.chunks, strict=True))
        self.raw = layout.chunk_nbytes(itemsize)
        self.exact = chunk_nbytes if callable(chunk_nbytes) else None
        self.uncompressed = layout.codec == "none"
        self.mean = float(self.raw if self.uncompressed or callable(chunk_nbytes) else chunk_nbytes)
        # valid fraction of each chunk along each axis (edge chunks are partly padding)
        self.fractions = _valid_fractions(shape, tuple(self.chunks))
        #: what decides every size when they are not given chunk by chunk (see :meth:`all`)
        self.key = None if self.exact is not None else (
            shape, tuple(self.chunks), self.raw, self.mean, self.uncompressed)

    def __call__(self, index: tuple[int, ...]) -> int:
        if self.exact is not None:
            return int(self.exact(index))
        if self.uncompressed:
            return self.raw
        frac = math.prod(float(f[i]) for f, i in zip(self.fractions, index, strict=True))
        return max(1, round(self.mean * frac))

    def many(self, indices: np.ndarray) -> np.ndarray:
        """:meth:`__call__` of many chunk grid indexes (an ``(n, ndim)`` array) at once."""
        if self.exact is not None:
            return np.array([int(self.exact(tuple(int(i) for i in g))) for g in indices],
                            np.int64)
        if self.uncompressed:
            return np.full(len(indices), self.raw, np.int64)
        frac = np.ones(len(indices))
        for ax, f in enumerate(self.fractions):  # in __call__'s order: the same rounding
            frac = frac * f[indices[:, ax]]
        return np.maximum(1, np.round(self.mean * frac)).astype(np.int64)

    def all(self) -> np.ndarray:
        """Every chunk's size in C order (HDF5 writes them, and so stores them, in that order).

        Memoised by :attr:`key` (read-only arrays): a search asks for the sizes of one layout
        once per reader session, and on a large file a grid has ~10^5 chunks."""
        if self.key is None:
            return self._all()
        found = _SIZES_MEMO.get(self.key)
        if found is None:
            if len(_SIZES_MEMO) >= _MEMO_SIZES["sizes"]:
                _SIZES_MEMO.clear()
            found = _SIZES_MEMO[self.key] = self._all()
            found.flags.writeable = False
        return found

    def _all(self) -> np.ndarray:
        if self.exact is not None:
            return np.array([int(self.exact(idx)) for idx in np.ndindex(*self.grid)], np.int64)
        if self.uncompressed:
            return np.full(math.prod(self.grid), self.raw, np.int64)
        frac = np.ones(1)
        for f in self.fractions:
            frac = np.multiply.outer(frac, f).ravel()
        return np.maximum(1, np.round(self.mean * frac)).astype(np.int64)


#: Memoised chunk sizes (a whole grid each, reused by the sessions of one layout's workload,
#: scored in a row) and chunk accesses (reused across the codecs of a chunk shape); each is
#: emptied when it holds this many entries.
_MEMO_SIZES = {"sizes": 16, "accesses": 4096}
_SIZES_MEMO: dict[tuple[Any, ...], np.ndarray] = {}
_ACCESSES_MEMO: dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray]] = {}


@functools.lru_cache(maxsize=1024)
def _valid_fractions(shape: tuple[int, ...], chunks: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """Per axis, the fraction of each chunk inside the array (edge chunks are partly padding);
    the same for every codec of a chunk shape, so computed once."""
    out = []
    for n, c in zip(shape, chunks, strict=True):
        f = np.minimum(c, n - np.arange(-(-n // c)) * c) / c
        f.flags.writeable = False
        out.append(f)
    return tuple(out)


# -- zarr and kerchunk: one request per chunk, ``CONCURRENCY`` at a time ------------------------
def _plan_concurrent(sels: list[Selection], layout: Layout, sizes: _ChunkSizes, gap: int,
                     max_bytes: int) -> dict[str, int]:
    """zarr-python 3 fetches each chunk with one GET (kerchunk: one ranged GET of the original
    HDF5 object), ``async.concurrency`` at a time, and caches nothing between reads.

    A shard is read whole (one GET) when every inner chunk is wanted. Otherwise zarr (>= 3.3)
    reads its index (a suffix GET), then merges the byte ranges of the wanted inner chunks,
    in the order they lie in the shard, into requests (``Store.get_ranges``: a range at most
    ``gap`` bytes after the current request's end joins it while the request stays within
    ``max_bytes``; the bytes in between are fetched too), sent ``CONCURRENCY`` at a time.
    Shards are worked on concurrently, like chunks.
    """
    out = dict.fromkeys(("requests", "index_requests", "bytes_transferred", "bytes_decoded",
                         "rounds", "serial_bytes", "chunks_read"), 0)
    offsets = _ShardOffsets(layout, sizes) if layout.shards is not None else None
    for sel in sels:
        chunks = list(iter_chunk_indices(sel, layout.chunks))
        out["chunks_read"] += len(chunks)
        out["bytes_decoded"] += len(chunks) * sizes.raw
        # (requests, requests in sequence, bytes) per independent task: a chunk, or a shard
        tasks: list[tuple[int, int, int]] = []
        if offsets is None:
            tasks = [(1, 1, int(n)) for n in sizes.many(np.array(chunks, np.int64).reshape(
                len(chunks), len(layout.chunks)))]
        else:
            by_shard: dict[tuple[int, ...], list[tuple[int, ...]]] = {}
            for c in chunks:
                by_shard.setdefault(tuple(i // p for i, p in zip(c, offsets.per, strict=True)),
                                    []).append(c)
            for shard, inner in by_shard.items():
                if len(inner) == offsets.n_inner:  # zarr's _is_total_shard: one GET of it
                    tasks.append((1, 1, offsets.stored(shard) + offsets.index_bytes))
                    continue
                spans = coalesce(offsets.ranges(shard, inner), gap, max_bytes)
                tasks.append((1 + len(spans), 1 + -(-len(spans) // CONCURRENCY),
                              offsets.index_bytes + sum(e - s for s, e in spans)))
                out["index_requests"] += 1
        out["requests"] += sum(n for n, _, _ in tasks)
        out["bytes_transferred"] += sum(b for _, _, b in tasks)
        for start in range(0, len(tasks), CONCURRENCY):
            batch = tasks[start:start + CONCURRENCY]
            out["rounds"] += max(d for _, d, _ in batch)
            out["serial_bytes"] += max(b for _, _, b in batch)
    return out


def coalesce(ranges: Sequence[tuple[int, int]], gap: int, max_bytes: int
             ) -> list[tuple[int, int]]:
    """Byte ranges ``[start, end)`` merged as zarr's ``coalesce_ranges`` merges them: sorted by
    start, a range joins the current request when it begins at most ``gap`` bytes after the
    request's end and the merged request spans at most ``max_bytes``."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges, key=lambda r: r[0]):  # stable, as zarr sorts
        if merged and start - merged[-1][1] <= gap:
            first, last = merged[-1]
            if max(last, end) - first <= max_bytes:
                merged[-1] = (first, max(last, end))
                continue
        merged.append((start, end))
    return merged


def morton_order(per: Sequence[int]) -> np.ndarray:
    """Local coordinates of a shard's inner chunks in the order zarr writes them (its default
    ``subchunk_write_order``, Morton/Z order: the bits of the coordinates interleaved, the
    first axis's bit lowest at each level), as an ``(n, ndim)`` array."""
    coords = np.indices(tuple(per)).reshape(len(per), -1).T
    bits = [(int(p) - 1).bit_length() for p in per]
    code = np.zeros(len(coords), np.int64)
    out_bit = 0
    for level in range(max(bits, default=0)):
        for ax, b in enumerate(bits):
            if level < b:
                code |= ((coords[:, ax] >> level) & 1) << out_bit
                out_bit += 1
    return coords[np.argsort(code, kind="stable")]


class _ShardOffsets:
    """Where each inner chunk lies in its shard: stored in Morton order, back to back from byte
    0 (the index at the end); inner chunks wholly outside the array are not stored."""

    def __init__(self, layout: Layout, sizes: _ChunkSizes) -> None:
        assert layout.shards is not None
        self.sizes = sizes
        self.per = tuple(s // c for s, c in zip(layout.shards, layout.chunks, strict=True))
        self.n_inner = math.prod(self.per)
        self.index_bytes = 16 * self.n_inner + 4  # (offset, length) per inner chunk + crc32c
        self._order = morton_order(self.per)
        self._flat = np.ravel_multi_index(tuple(self._order.T), self.per)
        self._cache: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}

    def _layout_of(self, shard: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """(start, end) of every inner chunk by its flat local index (-1: not stored)."""
        found = self._cache.get(shard)
        if found is None:
            glob = self._order + np.array(shard) * np.array(self.per)
            inside = np.all(glob < np.array(self.sizes.grid), axis=1)
            vals = self.sizes.many(glob[inside])
            ends = np.cumsum(vals)
            starts = np.full(self.n_inner, -1, np.int64)
            stops = np.full(self.n_inner, -1, np.int64)
            stops[self._flat[inside]] = ends
            starts[self._flat[inside]] = ends - vals
            if len(self._cache) > 4096:
                self._cache.clear()
            found = self._cache[shard] = (starts, stops)
        return found

    def ranges(self, shard: tuple[int, ...], inner: Sequence[tuple[int, ...]]
               ) -> list[tuple[int, int]]:
        starts, stops = self._layout_of(shard)
        local = np.array(inner) - np.array(shard) * np.array(self.per)
        flat = np.ravel_multi_index(tuple(local.T), self.per)
        return list(zip(starts[flat].tolist(), stops[flat].tolist(), strict=True))

    def stored(self, shard: tuple[int, ...]) -> int:
        """Bytes of the shard's inner chunks (the whole object less its index)."""
        return int(max(0, self._layout_of(shard)[1].max()))


# -- HDF5: the chunk reads of each selection, simulated through h5py by h5sim --------------------
def h5_root_offset(layout: Layout, ndim: int) -> int:
    """Where a rewritten variant's chunk B-tree root lies (see :data:`H5_ROOT_OFFSET`)."""
    named = layout.codec in ("zstd", "lz4")
    return H5_ROOT_OFFSET + (_H5_HEADER_EXTRA[(min(max(ndim, 2), 3), layout.shuffle)]
                             if named else 0)


def _plan_hdf5(sels: list[Selection], shape: tuple[int, ...], itemsize: int, layout: Layout,
               sizes: _ChunkSizes, mode: str) -> dict[str, int]:
    """HDF5 through h5py: for each selection, its chunks in C order, each with the bytes of it
    the selection wants, replayed by :func:`.h5sim.plan_hdf5` through the B-tree, the
    chunk cache and the reader's file object."""
    lins, wanted = _all_chunk_accesses(sels, tuple(layout.chunks), sizes.grid, itemsize)
    return plan_hdf5(lins, wanted, sizes.all(), sizes.grid, sizes.raw,
                     h5_root_offset(layout, len(shape)), mode, sizes_key=sizes.key)


def _all_chunk_accesses(sels: list[Selection], chunks: tuple[int, ...], grid: tuple[int, ...],
                        itemsize: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_chunk_accesses` of every selection, concatenated; memoised, as every codec of
    a chunk shape reads the same chunks."""
    key = (tuple(sels), chunks, grid, itemsize)
    found = _ACCESSES_MEMO.get(key)
    if found is None:
        parts = [_chunk_accesses(sel, chunks, grid, itemsize) for sel in sels]
        lins = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
        wanted = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
        if len(_ACCESSES_MEMO) >= _MEMO_SIZES["accesses"]:
            _ACCESSES_MEMO.clear()
        found = _ACCESSES_MEMO[key] = (lins, wanted)
    return found


#: Up to this many chunks, a selection's chunk accesses are listed in Python: quicker than the
#: dozen numpy calls of the outer products (most selections touch a handful of chunks).
_FEW_CHUNKS = 64


def _chunk_accesses(sel: Selection, chunks: Sequence[int], grid: Sequence[int], itemsize: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(linear chunk indices, bytes of each the selection wants), the chunks in C order: the
    overlap of a box with a chunk is the product of the per-axis overlaps, computed per axis
    and combined as outer sums (indices) and outer products (bytes), or, for a few chunks,
    one by one (a search plans thousands of selections)."""
    axes = []
    for s, c in zip(sel, chunks, strict=True):
        if s.stop <= s.start:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        axes.append(range(s.start // c, (s.stop - 1) // c + 1))
    if math.prod(len(r) for r in axes) <= _FEW_CHUNKS:
        return _few_chunk_accesses(sel, chunks, grid, itemsize, axes)
    lins = np.zeros(1, np.int64)
    wanted = np.full(1, itemsize, np.int64)
    stride = 1
    for s, c, r, g in zip(reversed(sel), reversed(list(chunks)), reversed(axes),
                          reversed(list(grid)), strict=True):
        i = np.arange(r.start, r.stop, dtype=np.int64)
        overlap = np.minimum(s.stop, (i + 1) * c) - np.maximum(s.start, i * c)
        lins = np.add.outer(i * stride, lins).ravel()
        wanted = np.multiply.outer(overlap, wanted).ravel()
        stride *= g
    return lins, wanted


def _few_chunk_accesses(sel: Selection, chunks: Sequence[int], grid: Sequence[int],
                        itemsize: int, axes: list[range]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_chunk_accesses` chunk by chunk (``axes``: the chunk indices along each axis)."""
    lins, wanted = [0], [itemsize]
    stride = 1
    for s, c, r, g in zip(reversed(sel), reversed(list(chunks)), reversed(axes),
                          reversed(list(grid)), strict=True):
        steps = [(i * stride, min(s.stop, (i + 1) * c) - max(s.start, i * c)) for i in r]
        lins = [at + lin for at, _ in steps for lin in lins]
        wanted = [n * w for _, n in steps for w in wanted]
        stride *= g
    return np.array(lins, np.int64), np.array(wanted, np.int64)
