"""Compressed size and decode speed of candidate codecs, measured on the file's own data.

How well a codec compresses and how fast it decodes depend on the data (noise, dynamic range,
correlation along each axis) far more than on anything a table could say, so the cost model
never assumes them: a few MB of chunk-shaped blocks are read from places spread over the
dataset, compressed with each candidate codec by the very implementations the writers use
(HDF5's filters through h5py and hdf5plugin for HDF5 layouts; for Zarr layouts the numcodecs
codecs zarr-python 3 wraps, configured as :func:`layoutbench.codecs.zarr_compressors` does),
and decoded again under a clock.

Reading is bounded by ``budget_bytes`` whatever the file size: a 10 GB recording costs the same
few reads as a 100 MB one. Only local files are read (h5py, any source layout).
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

from layoutbench.plan.layout import Layout

log = logging.getLogger(__name__)

#: Default total bytes read from the source, and the number of places they come from.
BUDGET_BYTES = 8 * 2**20
N_BLOCKS = 8
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

    @property
    def ratio(self) -> float:
        return self.raw_bytes / self.compressed_bytes if self.compressed_bytes else math.inf

    @property
    def decode_mbps(self) -> float:
        return self.raw_bytes / 1e6 / self.decode_seconds if self.decode_seconds > 0 else math.inf

    def chunk_nbytes(self, itemsize: int) -> float:
        """Estimated stored bytes of one whole chunk (what :func:`plan_reads` takes)."""
        return math.prod(self.chunks) * itemsize / self.ratio

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "codec": self.codec, "level": self.level,
                "shuffle": self.shuffle, "chunks": list(self.chunks), "block": list(self.block),
                "blocks": self.blocks, "ratio": self.ratio, "decode_mbps": self.decode_mbps}


def sample_key(layout: Layout) -> SampleKey:
    """What a sample depends on: format, codec, level, shuffle, chunk shape (not the label,
    shards or page size, which change where bytes go but not how they compress)."""
    return (layout.format, layout.codec, layout.level, layout.shuffle, layout.chunks)


# -- where to read ------------------------------------------------------------------------------
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


def _measure_zarr(layout: Layout, blocks: list[np.ndarray]) -> tuple[int, float]:
    codec = _zarr_codec(layout, blocks[0].dtype.itemsize)
    raw = [np.ascontiguousarray(b).astype(b.dtype.newbyteorder("<"), copy=False).tobytes()
           for b in blocks]
    if codec is None:
        def copy() -> None:
            for r in raw:
                np.frombuffer(r, blocks[0].dtype).copy()

        return sum(map(len, raw)), _time_passes(copy)
    encoded = [codec.encode(r) for r in raw]

    def decode() -> None:
        for e in encoded:
            codec.decode(e)

    return sum(len(e) for e in encoded), _time_passes(decode)


def _measure_hdf5(layout: Layout, blocks: list[np.ndarray]) -> tuple[int, float]:
    """Through HDF5's own filter pipeline, in an in-memory file: each block one chunk."""
    import h5py

    from layoutbench.codecs import ensure_hdf5_filters, h5py_filter_kwargs

    ensure_hdf5_filters()
    kw = h5py_filter_kwargs(layout)
    with h5py.File(io.BytesIO(), "w", rdcc_nbytes=0) as f:  # no chunk cache: every read decodes
        dsets = []
        for i, b in enumerate(blocks):
            d = f.create_dataset(str(i), data=b, chunks=b.shape, **kw)
            dsets.append(d)
        stored = sum(int(d.id.get_chunk_info(0).size) for d in dsets)
        outs = [np.empty(b.shape, b.dtype) for b in blocks]

        def decode() -> None:
            for d, out in zip(dsets, outs, strict=True):
                d.read_direct(out)

        return stored, _time_passes(decode)


# -- the entry point ----------------------------------------------------------------------------
def sample_codecs(path: str | os.PathLike[str], dataset: str, layouts: Sequence[Layout], *,
                  budget_bytes: int = BUDGET_BYTES, n_blocks: int = N_BLOCKS
                  ) -> dict[SampleKey, CodecSample]:
    """Measure every distinct (format, codec, level, shuffle, chunk shape) among ``layouts``.

    Reads at most about ``budget_bytes`` from ``dataset`` of the local HDF5 file ``path``
    (``n_blocks`` places, one read each), shared by every candidate; identical candidates are
    measured once. Returns the samples keyed by :func:`sample_key`.
    """
    import h5py

    from layoutbench.codecs import ensure_hdf5_filters

    ensure_hdf5_filters()  # the source itself may use plugin filters
    keys = list(dict.fromkeys(sample_key(lay) for lay in layouts))
    if not keys:
        return {}
    t0 = time.perf_counter()
    with h5py.File(path, "r", rdcc_nbytes=64 * 2**20, rdcc_nslots=10007) as f:
        src = f[dataset]
        shape, itemsize = tuple(src.shape), src.dtype.itemsize
        region = region_shape(shape, [k[4] for k in keys], itemsize,
                              max(itemsize, budget_bytes // max(1, n_blocks)))
        starts = region_starts(shape, region, n_blocks, src.chunks)
        regions = [src[tuple(slice(s, s + r) for s, r in zip(st, region, strict=True))]
                   for st in starts]
    read_seconds = time.perf_counter() - t0
    by_block: dict[tuple[int, ...], list[np.ndarray]] = {}
    out: dict[SampleKey, CodecSample] = {}
    for key in keys:
        fmt, codec, level, shuffle, chunks = key
        block = tuple(min(c, r) for c, r in zip(chunks, region, strict=True))
        if block not in by_block:
            by_block[block] = [np.ascontiguousarray(reg[tuple(slice(0, b) for b in block)])
                               for reg in regions]
        blocks = by_block[block]
        layout = Layout(fmt, block, codec, level, shuffle=shuffle)
        measure = _measure_hdf5 if fmt == "hdf5" else _measure_zarr
        stored, seconds = measure(layout, blocks)
        out[key] = CodecSample(format=fmt, codec=codec, level=level, shuffle=shuffle,
                               chunks=chunks, block=block, blocks=len(blocks),
                               raw_bytes=sum(b.nbytes for b in blocks), compressed_bytes=stored,
                               decode_seconds=seconds)
    log.debug("sampled %d codec candidates on %d blocks of %s (%.1f MB read in %.2fs, %.2fs "
             "total)", len(out), len(regions), region, sum(r.nbytes for r in regions) / 1e6,
             read_seconds, time.perf_counter() - t0)
    return out
