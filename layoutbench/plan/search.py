"""Candidate layouts for one dataset, and their ranking by the cost model (pure: no I/O).

Exhaustive rewriting does not scale, and neither does scoring every codec on every chunk
shape, so the search runs in three stages, each scored by
:func:`layoutbench.plan.geometry.plan_reads` and :func:`layoutbench.plan.model.predict_seconds`:

1. every chunk shape of the space (powers of two per axis, the whole axis, and the current and
   neuroconv shapes), each with one reference codec, ranked by weighted seconds;
2. the best shapes with every codec of the format (and Zarr shards), under the user's
   constraints (format, largest chunk, compression no worse than a fraction of the current);
3. the best dozen of those again, their stored size measured on the full sample (the first
   two stages use a quick one, enough to rank but a few percent less exact).

What the codecs do to *this* file's data is an input: the stored size measured by
:mod:`layoutbench.read.sampling` (the file's own data cut at the candidate's chunk shape and
encoded with its codec), the decode speed from that size through the shipped table
(:mod:`layoutbench.plan.decode`); this module only combines numbers.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from layoutbench.plan.geometry import ReadPlan, Selection, plan_reads, stored_overhead
from layoutbench.plan.layout import Layout
from layoutbench.plan.model import CostConstants, predict_seconds
from layoutbench.plan.profiles import NetworkProfile
from layoutbench.plan.reader_facts import default_reader

#: The reader a recommendation is scored for, per format, unless the user names one
#: (:func:`.reader_facts.default_reader`).
DEFAULT_READERS = {fmt: default_reader(fmt) for fmt in ("hdf5", "zarr")}

#: Codecs searched per format: (codec, level, shuffle). The hdf5plugin LZ4 filter is left out:
#: kerchunk references cannot express it (layoutbench.read.refs), so a file using it could not be
#: opened through references.
CODECS: dict[str, tuple[tuple[str, int | None, bool], ...]] = {
    "hdf5": (("zstd", 3, True), ("zstd", 1, True), ("zstd", 9, True), ("gzip", 4, True),
             ("gzip", 4, False), ("blosc-zstd", 5, True), ("blosc-lz4", 5, True),
             ("none", None, False)),
    "zarr": (("zstd", 3, False), ("blosc-zstd", 5, True),
             ("blosc-lz4", 5, True), ("gzip", 4, False)),
}
#: The codec every chunk shape is first scored with (stage 1), per format (Zarr v3 shuffles
#: only inside Blosc).
REFERENCE_CODEC = {"hdf5": ("zstd", 3, True), "zarr": ("blosc-zstd", 5, True)}

#: S3 Standard list prices (us-east-1, 2026): GET per 1,000 requests and internet egress per GB.
GET_PRICE_PER_1000 = 0.0004
EGRESS_PRICE_PER_GB = 0.09


@dataclass(frozen=True)
class Constraints:
    """What the user allows; the defaults suit NWB archives (HDF5, chunks no bigger than
    neuroconv's 10 MB, compression no worse than 0.9 of the file's current ratio, and a
    rewrite only when it is predicted at least 1.2x faster: below that, a prediction's error
    and a rewrite's risk outweigh the gain)."""

    format: str = "hdf5"
    max_chunk_mb: float = 10.0
    min_chunk_kb: float = 64.0
    min_ratio_vs_current: float = 0.9
    min_gain: float = 1.2

    def formats(self) -> tuple[str, ...]:
        return ("hdf5", "zarr") if self.format == "any" else (self.format,)

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "max_chunk_mb": self.max_chunk_mb,
                "min_chunk_kb": self.min_chunk_kb,
                "min_ratio_vs_current": self.min_ratio_vs_current, "min_gain": self.min_gain}


@dataclass(frozen=True)
class Workload:
    """The patterns a dataset is read with: selections per pattern and relative weights.

    ``scales`` multiply each pattern's cost on its selections (default 1): an expected cost is
    taken over more positions than the pattern reads (:meth:`AccessPattern.expected`), in
    ``sessions`` of that many selections, each read by a cold reader (default: all at once).
    """

    names: tuple[str, ...]
    weights: tuple[float, ...]
    selections: tuple[tuple[Selection, ...], ...]
    scales: tuple[float, ...] = ()
    sessions: tuple[int, ...] = ()

    def scale(self, i: int) -> float:
        return self.scales[i] if self.scales else 1.0

    def groups(self, i: int) -> list[tuple[Selection, ...]]:
        """Pattern ``i``'s selections, as the cold reader sessions that read them."""
        sels = self.selections[i]
        n = self.sessions[i] if self.sessions else len(sels)
        return [sels[j:j + n] for j in range(0, len(sels), max(n, 1))] or [sels]

    def weighted(self, values: Sequence[float]) -> float:
        """Weighted mean: weights are relative frequencies of the patterns."""
        total = sum(self.weights)
        return sum(w * v for w, v in zip(self.weights, values, strict=True)) / total


@dataclass(frozen=True)
class CodecFigures:
    """A codec's measured behaviour on this file: compression ratio and decode speed."""

    ratio: float
    decode_mbps: float


@dataclass(frozen=True)
class Scored:
    """A layout with its predicted cost under a workload and profile."""

    layout: Layout
    reader: str
    ratio: float
    seconds: float
    requests: float
    bytes_transferred: float
    stored_bytes: int
    per_pattern: tuple[dict[str, Any], ...] = field(default=())
    decode_mbps: float = math.nan

    def cost_per_1000(self, get_price: float = GET_PRICE_PER_1000,
                      egress_per_gb: float = EGRESS_PRICE_PER_GB) -> float:
        """US dollars for 1,000 pattern reads (weighted mix): GET requests plus egress."""
        return 1000 * (self.requests * get_price / 1000 + self.bytes_transferred / 1e9
                       * egress_per_gb)

    def metrics(self, **prices: float) -> dict[str, Any]:
        return {"requests": round(self.requests, 2),
                "bytes_transferred": round(self.bytes_transferred),
                "seconds": round(self.seconds, 4), "stored_bytes": self.stored_bytes,
                "compression_ratio": round(self.ratio, 3),
                "cost_per_1000_reads_usd": round(self.cost_per_1000(**prices), 6),
                "reader": self.reader, "per_pattern": list(self.per_pattern)}


# -- the space of chunk shapes ----------------------------------------------------------------
def axis_options(n: int, *extra: int) -> list[int]:
    """Powers of two below ``n``, ``n`` itself (the whole axis) and ``extra`` (clipped)."""
    opts = {1 << k for k in range(max(1, n).bit_length()) if (1 << k) < n}
    opts.add(n)
    opts.update(min(max(1, e), n) for e in extra)
    return sorted(opts)


def chunk_shapes(shape: Sequence[int], itemsize: int, constraints: Constraints,
                 extra: Sequence[Sequence[int]] = ()) -> list[tuple[int, ...]]:
    """Every chunk shape of the search space within the size bounds (``extra``: the current and
    neuroconv shapes, added per axis and as whole shapes)."""
    shape = tuple(int(n) for n in shape)
    lo = constraints.min_chunk_kb * 1024
    hi = constraints.max_chunk_mb * 1e6
    per_axis = [axis_options(n, *(e[a] for e in extra)) for a, n in enumerate(shape)]
    out = []
    smallest = min(lo, math.prod(shape) * itemsize)  # a small dataset may be one chunk
    for chunks in itertools.product(*per_axis):
        nbytes = math.prod(chunks) * itemsize
        if smallest <= nbytes <= hi:
            out.append(tuple(chunks))
    for e in extra:
        clipped = tuple(min(max(1, c), n) for c, n in zip(e, shape, strict=True))
        if clipped not in out and math.prod(clipped) * itemsize <= hi:
            out.append(clipped)
    return out


def shard_for(chunks: Sequence[int], shape: Sequence[int], itemsize: int,
              target_bytes: float = 64e6) -> tuple[int, ...] | None:
    """A Zarr v3 shard grouping small chunks into objects of about ``target_bytes``: doubling
    the shard along the axis where it holds the fewest chunks, without passing the array.
    ``None`` when chunks are already large (a shard would hold one chunk)."""
    shard = [int(c) for c in chunks]
    grid_max = [-(-n // c) * c for n, c in zip(shape, chunks, strict=True)]
    while math.prod(shard) * itemsize * 2 <= target_bytes:
        growable = [a for a in range(len(shard)) if shard[a] * 2 <= grid_max[a]]
        if not growable:
            break
        a = min(growable, key=lambda i: (shard[i] // chunks[i], -shape[i]))
        shard[a] *= 2
    return tuple(shard) if tuple(shard) != tuple(chunks) else None


# -- scoring ----------------------------------------------------------------------------------
def score(layout: Layout, reader: str, shape: Sequence[int], itemsize: int, workload: Workload,
          figures: CodecFigures, profile: NetworkProfile, constants: CostConstants,
          chunk_nbytes: float | Callable[[tuple[int, ...]], int] | None = None, *,
          placement: tuple[int, int] | None = None) -> Scored:
    """Predicted requests, bytes and seconds of ``workload`` on ``layout`` read by ``reader``
    (``placement``: where a contiguous dataset lies in its file, see :func:`plan_reads`)."""
    inner = math.prod(layout.chunks) * itemsize
    nbytes = chunk_nbytes if chunk_nbytes is not None else inner / figures.ratio
    secs, requests, sent = [], [], []
    for i in range(len(workload.names)):
        plans: list[ReadPlan] = [plan_reads(group, shape, itemsize, layout, reader, nbytes,
                                            placement=placement) for group in workload.groups(i)]
        f = workload.scale(i)
        secs.append(sum(predict_seconds(p, profile, constants, figures.decode_mbps)
                        for p in plans) * f)
        requests.append(sum(p.requests for p in plans) * f)
        sent.append(sum(p.bytes_transferred for p in plans) * f)
    stored = stored_data(layout, shape, itemsize, figures.ratio) + stored_overhead(layout, shape)
    per = tuple({"name": n, "requests": round(r, 2), "bytes_transferred": round(b),
                 "seconds": round(t, 4)}
                for n, r, b, t in zip(workload.names, requests, sent, secs, strict=True))
    return Scored(layout, reader, figures.ratio, workload.weighted(secs),
                  workload.weighted(requests), workload.weighted(sent), stored, per,
                  figures.decode_mbps)


def stored_data(layout: Layout, shape: Sequence[int], itemsize: int, ratio: float) -> int:
    """Bytes of a layout's chunks on the store. HDF5 and Zarr store edge chunks whole, padded
    with the fill value: a compressor makes the padding all but free, but uncompressed
    chunks keep it, so an uncompressed layout stores every chunk at full size."""
    if layout.codec == "none" and not layout.contiguous:
        n_chunks = math.prod(-(-int(n) // int(c)) for n, c in zip(shape, layout.chunks,
                                                                   strict=True))
        return n_chunks * math.prod(layout.chunks) * itemsize
    return int(math.prod(shape) * itemsize / ratio)


def codec_layouts(fmt: str, chunks: tuple[int, ...], shape: Sequence[int], itemsize: int
                  ) -> list[Layout]:
    """Every codec of ``fmt`` on ``chunks``; for Zarr also each sharded variant."""
    out = []
    for codec, level, shuffle in CODECS[fmt]:
        out.append(Layout(fmt, chunks, codec, level, shuffle=shuffle))
        if fmt == "zarr":
            shards = shard_for(chunks, shape, itemsize)
            if shards is not None:
                out.append(Layout(fmt, chunks, codec, level, shuffle=shuffle, shards=shards))
    return out


def rank(candidates: Sequence[Scored]) -> list[Scored]:
    """Fastest first; ties go to fewer stored bytes, then fewer requests, then the name and
    reader, so equal inputs always rank alike (never by the order candidates came in)."""
    return sorted(candidates, key=lambda s: (round(s.seconds, 6), s.stored_bytes, s.requests,
                                             s.layout.name, s.reader))


def distinct_geometries(ranked: Sequence[Scored], n: int) -> list[Scored]:
    """The best ``n`` of ``ranked`` with distinct (format, chunks, shards): alternatives that
    differ in how data is cut, not only in codec, tell the user more."""
    seen: set[tuple[Any, ...]] = set()
    out = []
    for s in ranked:
        key = (s.layout.format, s.layout.chunks, s.layout.shards)
        if key not in seen:
            seen.add(key)
            out.append(s)
            if len(out) == n:
                break
    return out
