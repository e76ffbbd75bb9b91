"""Compressed size and decode cost of candidate codecs, measured on the file's own data.

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
from layoutbench.sources import Fetch

log = logging.getLogger(__name__)

#: Decoding is repeated until it has taken at least this long (then the fastest pass counts).
MIN_DECODE_SECONDS = 0.02
MAX_DECODE_PASSES = 5

SampleKey = tuple[str, str, int | None, bool, tuple[int, ...]]


@dataclass(frozen=True, slots=True)
class CodecSample:
    """One candidate codec on one chunk shape, measured on ``blocks`` blocks of the source.

    ``ratio`` is uncompressed / compressed bytes over all blocks; ``decode_mbps`` the decoded
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
    #: ``"table"`` (estimated from the bytes, :mod:`layoutbench.plan.decode`) or ``"timed"``
    decode_source: str = "table"

    @property
    def ratio(self) -> float:
        stored = self.compressed_bytes * self.correction
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
                "decode_source": self.decode_source, "correction": self.correction}


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


def _measure_zarr(layout: Layout, blocks: list[np.ndarray], timed: bool) -> tuple[int, float]:
    codec = _zarr_codec(layout, blocks[0].dtype.itemsize)
    raw = [np.ascontiguousarray(b).astype(b.dtype.newbyteorder("<"), copy=False).tobytes()
           for b in blocks]
    if codec is None:
        def copy() -> None:
            for r in raw:
                np.frombuffer(r, blocks[0].dtype).copy()

        return sum(map(len, raw)), _time_passes(copy) if timed else math.nan
    encoded = [codec.encode(r) for r in raw]

    def decode() -> None:
        for e in encoded:
            codec.decode(e)

    return sum(len(e) for e in encoded), _time_passes(decode) if timed else math.nan


def _measure_hdf5(layout: Layout, blocks: list[np.ndarray], timed: bool) -> tuple[int, float]:
    """Through HDF5's own filter pipeline, in an in-memory file: the blocks stacked along the
    first axis into one dataset whose chunk is the block, so each block is one chunk."""
    import h5py

    from layoutbench.codecs import ensure_hdf5_filters, h5py_filter_kwargs

    ensure_hdf5_filters()
    kw = h5py_filter_kwargs(layout)
    stacked = np.concatenate(blocks, axis=0)
    with h5py.File(io.BytesIO(), "w", rdcc_nbytes=0) as f:  # no chunk cache: every read decodes
        d = f.create_dataset("sample", data=stacked, chunks=blocks[0].shape, **kw)
        stored = int(d.id.get_storage_size())
        out = np.empty(stacked.shape, stacked.dtype)

        def decode() -> None:
            d.read_direct(out)

        return stored, _time_passes(decode) if timed else math.nan


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
        self._by_block: dict[tuple[int, ...], list[np.ndarray]] = {}
        self._figures: dict[SampleKey, CodecSample] = {}
        log.debug("sampled %d windows of %s (%.1f MB of values, %.1f MB fetched) in %.2fs",
                  len(self.regions), self.places.region,
                  sum(r.nbytes for r in self.regions) / 1e6, self.places.fetched_bytes / 1e6,
                  time.perf_counter() - t0)

    def blocks(self, chunks: Sequence[int]) -> list[np.ndarray]:
        """The blocks a chunk shape is sampled as: as many as :attr:`compress_bytes` allows,
        spread over every window (:func:`~.sample_regions.block_starts`)."""
        block = block_shape(chunks, self.places.region, self.itemsize, self.max_block_bytes)
        if block not in self._by_block:
            count = max(1, self.compress_bytes // (math.prod(block) * self.itemsize))
            self._by_block[block] = [
                np.ascontiguousarray(self.regions[w][tuple(slice(s, s + b) for s, b
                                                           in zip(start, block, strict=True))])
                for w, start in block_starts(self.places.region, block, len(self.regions),
                                             count)]
        return self._by_block[block]

    def figures(self, layouts: Sequence[Layout]) -> dict[SampleKey, CodecSample]:
        """Every distinct (format, codec, level, shuffle, chunk shape) among ``layouts``, each
        measured once (later calls reuse earlier figures)."""
        for key in dict.fromkeys(sample_key(lay) for lay in layouts):
            if key not in self._figures:
                self._figures[key] = self._measure(key)
        return {sample_key(lay): self._figures[sample_key(lay)] for lay in layouts}

    def _measure(self, key: SampleKey) -> CodecSample:
        fmt, codec, level, shuffle, chunks = key
        blocks = self.blocks(chunks)
        block = tuple(blocks[0].shape)
        layout = Layout(fmt, block, codec, level, shuffle=shuffle)
        measure = _measure_hdf5 if fmt == "hdf5" else _measure_zarr
        stored, seconds = measure(layout, blocks, self.timed)
        raw = sum(b.nbytes for b in blocks)
        if not self.timed:
            seconds = decode_seconds(fmt, codec, shuffle, raw, stored, len(blocks))
        return CodecSample(format=fmt, codec=codec, level=level, shuffle=shuffle,
                           chunks=chunks, block=block, blocks=len(blocks), raw_bytes=raw,
                           compressed_bytes=stored, decode_seconds=seconds,
                           correction=self.correction if codec != "none" else 1.0,
                           decode_source="timed" if self.timed else "table")


def sample_codecs(path: str | os.PathLike[str], dataset: str, layouts: Sequence[Layout], *,
                  compress_bytes: int = COMPRESS_BYTES, timed: bool = False,
                  **options: Any) -> dict[SampleKey, CodecSample]:
    """:class:`Sampler` figures of ``layouts`` for ``dataset`` of a local HDF5 file."""
    import h5py

    with h5py.File(path, "r", rdcc_nbytes=64 * 2**20, rdcc_nslots=10007) as f:
        sampler = Sampler(f[dataset], [lay.chunks for lay in layouts],
                          compress_bytes=compress_bytes, timed=timed, **options)
    return sampler.figures(layouts)
