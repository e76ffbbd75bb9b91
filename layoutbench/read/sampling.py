"""Compressed size of candidate layouts, measured on the file's own data; decode cost from it.

How well a codec compresses depends on the data (noise, dynamic range, correlation along each
axis) far more than on anything a table could say, so the cost model never assumes it: a few MB
of chunk-shaped blocks from places spread over the dataset (:mod:`.sample_regions`, the same
places for a file and its remote copy) are compressed with each candidate codec by the very
implementations the writers use (HDF5's filters through h5py and hdf5plugin for HDF5 layouts;
for Zarr layouts the numcodecs codecs zarr-python 3 wraps, configured as
:func:`layoutbench.codecs.zarr_compressors` does). Compressed sizes are deterministic.

Decode speed is not timed here: a wall clock on a shared machine made recommendations change
from run to run. It comes from the bytes through :mod:`layoutbench.plan.decode` (a shipped
table); ``timed=True`` measures it instead (``benchmarks/decode_table.py`` builds the table so).

Reading is bounded whatever the file size: a 10 GB recording costs the same few reads as a
100 MB one, and a remote file's source chunks are fetched together, concurrently.
"""

from __future__ import annotations

import io
import itertools
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from layoutbench.codecs import ensure_hdf5_filters
from layoutbench.plan.decode import decode_seconds
from layoutbench.plan.layout import Layout
from layoutbench.read.sample_regions import (
    COMPRESS_BYTES,
    FETCH_BYTES,
    MAX_BLOCK_BYTES,
    N_WINDOWS,
    WINDOW_BYTES,
    block_shape,
    block_starts,
    plan_places,
    read_places,
    source_correction,
    stored_chunks,
)
from layoutbench.store.sources import Fetch

log = logging.getLogger(__name__)

#: Decoding is repeated until it has taken at least this long (then the fastest pass counts).
MIN_DECODE_SECONDS = 0.02
MAX_DECODE_PASSES = 5

SampleKey = tuple[str, str, int | None, bool, tuple[int, ...]]

#: Raw bytes each chunk shape compresses in the search's first stage (one codec, every shape).
QUICK_BYTES = 256 * 2**10
#: Blocks every figure is measured on at least (a chunk is halved to fit the budget so many
#: times): one block is one place, and places differ by several percent.
MIN_BLOCKS = 4
#: Block sets kept in memory (each up to the compress budget).
KEEP_BLOCK_SETS = 4


@dataclass(frozen=True, slots=True)
class CodecSample:
    """One candidate codec on one chunk shape, measured on ``blocks`` blocks of the source.

    ``ratio`` is the whole dataset's uncompressed / stored bytes, estimated from the blocks
    (corrected for the windows' bias and for edge chunks); ``decode_mbps`` the decoded
    (uncompressed) MB per second, 1 MB = 10**6 bytes; ``block`` the shape actually compressed
    (the chunk shape, clipped to the dataset and to the read budget).
    """

    format: str
    codec: str
    level: int | None
    shuffle: bool
    chunks: tuple[int, ...]
    block: tuple[int, ...]
    blocks: int
    raw_bytes: int
    compressed_bytes: int
    decode_seconds: float
    #: scale of the compressed bytes for the whole dataset (the source codec's bias of the
    #: sampled windows, :func:`~.sample_regions.source_correction`)
    correction: float = 1.0
    #: stored bytes of the whole chunk grid (edge chunks padded, as written) over the stored
    #: bytes were every byte of the array stored like the interior blocks
    edge_factor: float = 1.0
    #: ``"table"`` (estimated from the bytes, :mod:`layoutbench.plan.decode`) or ``"timed"``
    decode_source: str = "table"

    @property
    def ratio(self) -> float:
        stored = self.compressed_bytes * self.correction * self.edge_factor
        return self.raw_bytes / stored if stored else math.inf

    @property
    def decode_mbps(self) -> float:
        return self.raw_bytes / 1e6 / self.decode_seconds if self.decode_seconds > 0 else math.inf

    def chunk_nbytes(self, itemsize: int) -> float:
        """Estimated stored bytes of one whole chunk (what :func:`plan_reads` takes)."""
        return math.prod(self.chunks) * itemsize / self.ratio

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "codec": self.codec, "level": self.level,
                "shuffle": self.shuffle, "chunks": list(self.chunks), "block": list(self.block),
                "blocks": self.blocks, "ratio": self.ratio, "decode_mbps": self.decode_mbps,
                "decode_source": self.decode_source, "correction": self.correction,
                "edge_factor": self.edge_factor}


def sample_key(layout: Layout) -> SampleKey:
    """What a sample depends on: format, codec, level, shuffle, chunk shape (not the label,
    shards or page size, which change where bytes go but not how they compress)."""
    return (layout.format, layout.codec, layout.level, layout.shuffle, layout.chunks)


# -- codecs -------------------------------------------------------------------------------------
def _zarr_codec(layout: Layout, itemsize: int) -> Any:
    """The numcodecs codec zarr-python 3 runs for the layout's compressor (None: uncompressed)."""
    import numcodecs

    level = int(layout.level or 0)
    if layout.codec == "none":
        return None
    if layout.codec == "zstd":
        return numcodecs.Zstd(level=level, checksum=False)
    if layout.codec == "gzip":
        return numcodecs.GZip(level=level)
    cname = layout.codec.split("-", 1)[1]
    return numcodecs.Blosc(cname=cname, clevel=level, blocksize=0, typesize=itemsize,
                           shuffle=numcodecs.Blosc.SHUFFLE if layout.shuffle
                           else numcodecs.Blosc.NOSHUFFLE)


def _time_passes(decode: Callable[[], None]) -> float:
    """Fastest full pass over the blocks, repeating until the clock is meaningful."""
    best, total, passes = math.inf, 0.0, 0
    while passes < MAX_DECODE_PASSES and (passes < 2 or total < MIN_DECODE_SECONDS):
        t0 = time.perf_counter()
        decode()
        dt = time.perf_counter() - t0
        best, total, passes = min(best, dt), total + dt, passes + 1
    return best


def _measure_zarr(layout: Layout, blocks: list[np.ndarray], timed: bool
                  ) -> tuple[list[int], float]:
    """Compressed size of each block with the numcodecs codec zarr runs, and (``timed``) the
    fastest pass decoding them all."""
    codec = _zarr_codec(layout, blocks[0].dtype.itemsize)
    raw = [np.ascontiguousarray(b).astype(b.dtype.newbyteorder("<"), copy=False).tobytes()
           for b in blocks]
    if codec is None:
        def copy() -> None:
            for r in raw:
                np.frombuffer(r, blocks[0].dtype).copy()

        return [len(r) for r in raw], _time_passes(copy) if timed else math.nan
    encoded = [codec.encode(r) for r in raw]

    def decode() -> None:
        for e in encoded:
            codec.decode(e)

    return [len(e) for e in encoded], _time_passes(decode) if timed else math.nan


def _measure_hdf5(layout: Layout, blocks: list[np.ndarray], timed: bool
                  ) -> tuple[list[int], float]:
    """Through HDF5's own filter pipeline, in an in-memory file: the blocks stacked along the
    first axis into one dataset whose chunk is the block, so each block is one chunk."""
    import h5py

    from layoutbench.codecs import ensure_hdf5_filters, h5py_filter_kwargs

    ensure_hdf5_filters()
    kw = h5py_filter_kwargs(layout)
    stacked = np.concatenate(blocks, axis=0)
    first = blocks[0].shape[0]
    sizes = [0] * len(blocks)
    with h5py.File(io.BytesIO(), "w", rdcc_nbytes=0) as f:  # no chunk cache: every read decodes
        d = f.create_dataset("sample", data=stacked, chunks=blocks[0].shape, **kw)

        def add(info: Any) -> None:
            sizes[info.chunk_offset[0] // first] = int(info.size)

        d.id.chunk_iter(add)
        out = np.empty(stacked.shape, stacked.dtype)

        def decode() -> None:
            d.read_direct(out)

        return sizes, _time_passes(decode) if timed else math.nan


def edge_classes(shape: Sequence[int], chunks: Sequence[int]
                 ) -> list[tuple[int, tuple[float, ...]]]:
    """The chunks of a grid by kind: (how many, per axis the fraction of the chunk that holds
    data). The first is the interior (every fraction 1); the others lie at the array's far
    edges, where HDF5 and Zarr store a whole chunk padded with the fill value."""
    per_axis = []
    for n, c in zip(shape, chunks, strict=True):
        c = min(int(c), int(n))
        options = [(n // c, 1.0)] if n // c else []
        if n % c:
            options.append((1, (n % c) / c))
        per_axis.append(options)
    out = []
    for combo in itertools.product(*per_axis):
        count = math.prod(k for k, _ in combo)
        if count:
            out.append((count, tuple(f for _, f in combo)))
    return out


# -- the entry point ----------------------------------------------------------------------------
class Sampler:
    """The sampled values of one dataset, read once, and the codec figures measured on them.

    ``candidate_chunks`` are every chunk shape the caller may ask about (the search space):
    the places are shaped after all of them, so later questions need no new read.
    """

    def __init__(self, dset: Any, candidate_chunks: Sequence[Sequence[int]], *,
                 fetch: Fetch | None = None, window_bytes: int = WINDOW_BYTES,
                 n_windows: int = N_WINDOWS, fetch_bytes: int = FETCH_BYTES,
                 compress_bytes: int = COMPRESS_BYTES, max_block_bytes: int = MAX_BLOCK_BYTES,
                 timed: bool = False) -> None:
        ensure_hdf5_filters()  # the source itself may use plugin filters
        t0 = time.perf_counter()
        chunk_map = stored_chunks(dset)
        self.shape, self.itemsize = tuple(dset.shape), dset.dtype.itemsize
        self.places = plan_places(self.shape, self.itemsize, dset.chunks,
                                  {k: v[1] for k, v in chunk_map.items()}, candidate_chunks,
                                  window_bytes=window_bytes, n_windows=n_windows,
                                  fetch_bytes=fetch_bytes)
        self.regions = read_places(dset, self.places, chunk_map, fetch)
        self.correction = source_correction(self.shape, self.itemsize, dset.chunks,
                                            {k: v[1] for k, v in chunk_map.items()}, self.places)
        self.compress_bytes, self.max_block_bytes = compress_bytes, max_block_bytes
        self.timed = timed
        self._by_block: dict[tuple[tuple[int, ...], int], list[np.ndarray]] = {}
        self._figures: dict[tuple[SampleKey, int], CodecSample] = {}
        log.debug("sampled %d windows of %s (%.1f MB of values, %.1f MB fetched) in %.2fs",
                  len(self.regions), self.places.region,
                  sum(r.nbytes for r in self.regions) / 1e6, self.places.fetched_bytes / 1e6,
                  time.perf_counter() - t0)

    def blocks(self, chunks: Sequence[int], compress_bytes: int | None = None
               ) -> list[np.ndarray]:
        """The blocks a chunk shape is sampled as: the chunk itself (halved along its longest
        axis while over :attr:`max_block_bytes`, or while fewer than :data:`MIN_BLOCKS` fit the
        budget), as many as ``compress_bytes`` (default
        :attr:`compress_bytes`) allows, each cut from the windows (spread over every window,
        :func:`~.sample_regions.block_starts`).

        A chunk longer than a window along some axis (a time series of a whole recording
        from windows of a few source chunks) is assembled from pieces of several windows laid
        end to end, so the codec still sees a chunk of the real size: how well a codec
        compresses depends on how much it sees at once (its headers, its window, Blosc's
        blocks) as well as on the values. The last few block sets are kept: the codecs of one
        chunk shape are measured one after another."""
        budget = self.compress_bytes if compress_bytes is None else compress_bytes
        target = block_shape(chunks, self.shape, self.itemsize,
                             min(self.max_block_bytes, budget // MIN_BLOCKS))
        count = max(1, budget // (math.prod(target) * self.itemsize))
        key = (target, count)
        if key not in self._by_block:
            while len(self._by_block) >= KEEP_BLOCK_SETS:
                del self._by_block[next(iter(self._by_block))]
            self._by_block[key] = self._assemble(target, count)
        return self._by_block[key]

    def _assemble(self, target: tuple[int, ...], count: int) -> list[np.ndarray]:
        """``count`` blocks of ``target`` shape; where a window is shorter than ``target``,
        each block is pieces at one place of the windows, taken from window after window in
        the order the windows lie (the same pixels later in the movie, the same electrode
        later in the recording): what a longer window would have held, but for the jumps
        between windows."""
        window = self.places.region
        n_windows = len(self.regions)
        piece = tuple(min(t, w) for t, w in zip(target, window, strict=True))
        reps = [-(-t // p) for t, p in zip(target, piece, strict=True)]
        per_block = math.prod(reps)
        cells_per_block = -(-per_block // max(1, n_windows - 1)) + 1
        cells = [start for _, start in block_starts(window, piece, 1, count * cells_per_block)]
        count = min(count, len(cells) // cells_per_block)
        if count == 0:  # a window holds too few places for one whole chunk: the piece alone
            return [np.ascontiguousarray(self.regions[w][tuple(
                slice(s, s + p) for s, p in zip(start, piece, strict=True))])
                for w, start in block_starts(window, piece, n_windows, 1)]
        order = sorted(range(n_windows), key=lambda i: self.places.starts[i])
        blocks = []
        for j in range(count):
            mine = cells[j * cells_per_block:(j + 1) * cells_per_block]
            whole = np.empty([r * p for r, p in zip(reps, piece, strict=True)],
                             self.regions[0].dtype)
            visits = [0] * n_windows
            for k, idx in enumerate(itertools.product(*(range(r) for r in reps))):
                # window after window in depth (time) order, back and forth: each jump is
                # between neighbouring windows, never from the last back to the first; a
                # window visited again gives a piece from another place (never the same one)
                w = order[_bounce(j + k, n_windows)]
                start = mine[visits[w]]
                visits[w] += 1
                whole[tuple(slice(i * p, (i + 1) * p) for i, p in zip(idx, piece, strict=True))] \
                    = self.regions[w][tuple(slice(s, s + p) for s, p in
                                            zip(start, piece, strict=True))]
            blocks.append(np.ascontiguousarray(whole[tuple(slice(0, t) for t in target)]))
        return blocks

    def figures(self, layouts: Sequence[Layout], *, quick: bool = False
                ) -> dict[SampleKey, CodecSample]:
        """Every distinct (format, codec, level, shuffle, chunk shape) among ``layouts``, each
        measured once (later calls reuse earlier figures). ``quick`` measures on
        :data:`QUICK_BYTES` only: enough to rank hundreds of chunk shapes by one codec (the
        search's first stage), a few percent less exact than the full sample."""
        budget = QUICK_BYTES if quick else self.compress_bytes
        for key in dict.fromkeys(sample_key(lay) for lay in layouts):
            if (key, budget) not in self._figures:
                self._figures[key, budget] = self._measure(key, budget)
        return {sample_key(lay): self._figures[sample_key(lay), budget] for lay in layouts}

    def _measure(self, key: SampleKey, budget: int) -> CodecSample:
        """One codec on one chunk shape: the blocks' compressed size (and the decode cost
        from it); in full (not quick) measurements also the chunks at the array's edges,
        padded as the writers pad them, each kind weighed by how many chunks it is."""
        fmt, codec, level, shuffle, chunks = key
        blocks = self.blocks(chunks, budget)
        block = tuple(blocks[0].shape)
        classes = edge_classes(self.shape, chunks)
        edges = classes[1:] if budget > QUICK_BYTES and classes[0][1] == (1.0,) * len(block) \
            else []
        padded = [_padded(b, fractions) for _, fractions in edges for b in blocks[:MIN_BLOCKS]]
        layout = Layout(fmt, block, codec, level, shuffle=shuffle)
        measure = _measure_hdf5 if fmt == "hdf5" else _measure_zarr
        # (the decode is timed on the blocks alone: the figures are per block of data)
        sizes, seconds = measure(layout, blocks, self.timed)
        if padded:
            sizes = sizes + measure(layout, padded, False)[0]
        stored = sum(sizes[:len(blocks)])
        raw = sum(b.nbytes for b in blocks)
        edge_factor = 1.0
        if edges:
            # every chunk as the blocks (per chunk of the interior), against the grid's kinds
            per_block = stored / len(blocks)
            k = min(len(blocks), MIN_BLOCKS)
            grid = classes[0][0] * per_block + sum(
                n * sum(sizes[len(blocks) + i * k:len(blocks) + (i + 1) * k]) / k
                for i, (n, _) in enumerate(edges))
            # (a block may be a part of its chunk: both sides count chunks of the same blocks)
            clipped = [min(int(c), n) for c, n in zip(chunks, self.shape, strict=True)]
            edge_factor = grid / (per_block * math.prod(self.shape) / math.prod(clipped))
        if not self.timed:
            seconds = decode_seconds(fmt, codec, shuffle, raw, stored, len(blocks))
        return CodecSample(format=fmt, codec=codec, level=level, shuffle=shuffle,
                           chunks=chunks, block=block, blocks=len(blocks), raw_bytes=raw,
                           compressed_bytes=stored, decode_seconds=seconds,
                           correction=self.correction if codec != "none" else 1.0,
                           edge_factor=edge_factor,
                           decode_source="timed" if self.timed else "table")


def _bounce(m: int, n: int) -> int:
    """The ``m``-th step of a walk back and forth over ``0 .. n-1`` (0, 1, .., n-1, n-2, ..)."""
    if n <= 1:
        return 0
    m %= 2 * n - 2
    return m if m < n else 2 * n - 2 - m


def _padded(block: np.ndarray, fractions: Sequence[float]) -> np.ndarray:
    """``block`` as an edge chunk holding ``fractions`` of it along each axis: the rest is the
    fill value (0), as HDF5 and Zarr write a partial chunk."""
    out = np.zeros_like(block)
    keep = tuple(slice(0, max(1, round(f * n))) for f, n in zip(fractions, block.shape,
                                                                 strict=True))
    out[keep] = block[keep]
    return out


def sample_codecs(path: str | os.PathLike[str], dataset: str, layouts: Sequence[Layout], *,
                  compress_bytes: int = COMPRESS_BYTES, timed: bool = False,
                  **options: Any) -> dict[SampleKey, CodecSample]:
    """:class:`Sampler` figures of ``layouts`` for ``dataset`` of a local HDF5 file."""
    import h5py

    with h5py.File(path, "r", rdcc_nbytes=64 * 2**20, rdcc_nslots=10007) as f:
        sampler = Sampler(f[dataset], [lay.chunks for lay in layouts],
                          compress_bytes=compress_bytes, timed=timed, **options)
    return sampler.figures(layouts)
