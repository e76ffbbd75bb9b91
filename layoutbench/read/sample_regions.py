"""Where a sample of a dataset is read, and reading it cheaply from a local or remote file.

The codec figures of :mod:`.sampling` need the dataset's own values from places spread over it,
cut into blocks shaped like each candidate's chunks. Which places is a pure function of the
dataset's shape, its chunking, its stored chunk sizes and the candidates' chunk shapes
(:func:`plan_places`), so a file and its remote copy are sampled at exactly the same places and
give the same figures.

What a sample costs is the source chunks it touches (each is fetched and decoded whole), so the
sample is read in a few **windows**: boxes aligned to the source's chunk grid, as large as the
candidates' chunks need (up to :data:`WINDOW_BYTES`), spread over the dataset, each read once.
Every candidate then cuts as many blocks of its own chunk shape as its budget allows from all
windows (:func:`block_starts`): a small chunk gets hundreds of blocks spread over every window,
a large one a few, each as close to the chunk's real shape as a window holds. One window of
whole frames thus serves every candidate, instead of a different read per chunk shape.

Reading (:func:`read_places`) takes the windows from an open ``h5py.Dataset``. A local file is
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
from layoutbench.store.sources import Fetch

#: Raw bytes of one window (a window of whole source chunks may hold more: a source chunk is
#: the smallest read), and at most how many windows.
WINDOW_BYTES = 16 * 2**20
N_WINDOWS = 6
#: Stored bytes of source chunks the windows may cost together (the first window always counts).
FETCH_BYTES = 40 * 10**6
#: Raw bytes each candidate compresses (its blocks from all windows together), and the largest
#: block: a chunk larger than that is sampled as its largest part that fits (halved along its
#: longest axis), which changes its ratio by a few percent at most (see tests/test_sampling.py).
COMPRESS_BYTES = 4 * 2**20
MAX_BLOCK_BYTES = 2**20

_PRIMES = (2, 3, 5, 7, 11, 13, 17, 19)
_GOLDEN = (math.sqrt(5) - 1) / 2


def halton(k: int, base: int) -> float:
    """The ``k``-th point (k >= 1) of the van der Corput sequence in ``base``: a low-discrepancy
    sequence in [0, 1); one base per axis gives the Halton sequence, which covers a box evenly
    in every dimension at once (unlike the diagonal a shared step would draw)."""
    f, r = 1.0, 0.0
    while k > 0:
        f /= base
        r += f * (k % base)
        k //= base
    return r


@dataclass(frozen=True, slots=True)
class Places:
    """The windows read: one shape (``region``) and where each starts, and their fetch cost."""

    region: tuple[int, ...]
    starts: tuple[tuple[int, ...], ...]
    fetched_bytes: int

    def selections(self) -> list[tuple[slice, ...]]:
        return [tuple(slice(s, s + r) for s, r in zip(st, self.region, strict=True))
                for st in self.starts]


def region_shape(shape: Sequence[int], chunk_shapes: Sequence[Sequence[int]], itemsize: int,
                 budget: int) -> tuple[int, ...]:
    """The elementwise largest chunk shape, halved along its longest axis until it fits
    ``budget`` bytes: every candidate's block fits in it as whole as the budget allows."""
    region = [max([1] + [min(c[a], n) for c in chunk_shapes]) for a, n in enumerate(shape)]
    while math.prod(region) * itemsize > budget and max(region) > 1:
        ax = int(np.argmax(region))
        region[ax] = max(1, region[ax] // 2)
    return tuple(region)


def window_shape(shape: Sequence[int], source_chunks: Sequence[int] | None,
                 chunk_shapes: Sequence[Sequence[int]], itemsize: int,
                 budget: int = WINDOW_BYTES) -> tuple[int, ...]:
    """A window: whole source chunks (a window never cuts a source chunk it pays for), one to
    start with, grown a source chunk at a time along the axis where it falls shortest of the
    largest candidate chunk, while it fits ``budget`` bytes. For a contiguous source, whole
    rows of the first axis (the only cheap reads of a contiguous dataset)."""
    shape = tuple(int(n) for n in shape)
    if source_chunks is None:
        row = math.prod(shape[1:]) * itemsize
        return (max(1, min(shape[0], budget // max(1, row))), *shape[1:])
    need = [max([1] + [min(int(c[a]), n) for c in chunk_shapes]) for a, n in enumerate(shape)]
    step = [min(int(c), n) for c, n in zip(source_chunks, shape, strict=True)]
    window = list(step)
    while True:
        short = [a for a in range(len(shape)) if window[a] < need[a]]
        if not short:
            break
        a = min(short, key=lambda i: (window[i] / need[i], i))
        grown = [*window[:a], min(shape[a], window[a] + step[a]), *window[a + 1:]]
        if math.prod(grown) * itemsize > budget:
            break
        window = grown
    return tuple(window)


def window_starts(shape: Sequence[int], window: Sequence[int], n: int) -> list[tuple[int, ...]]:
    """``n`` distinct, non-overlapping window origins spread over the dataset: the windows
    tile the array (a remainder shorter than a window at an axis's end is left out) and ``n``
    of the tiles are taken at the points of a rank-1 lattice, the midpoints of ``n`` equal
    strata along every axis (so the first and last parts of a recording are sampled as well
    as its middle), then any tiles left to reach ``n`` in Halton order.

    Windows never overlap: two that share most of their data (a tile ending at the array's
    end beside the last whole one) make the sample repeat itself, and a codec that finds the
    repeat (LZ4's matches across a block glued from both) predicts 8-13 % too much
    compression."""
    origins = [list(range(0, max(0, size - w) + 1, max(1, w)))
               for size, w in zip(shape, window, strict=True)]
    total = math.prod(len(o) for o in origins)
    n = min(n, total)
    found: dict[tuple[int, ...], None] = {}
    gens = [1]
    for a in range(1, len(shape)):
        g = max(1, round(n * _GOLDEN ** a))
        while math.gcd(g, n) != 1:
            g += 1
        gens.append(g)
    for k in range(n):
        found.setdefault(tuple(o[int(((k * g) % n + 0.5) / n * len(o))]
                               for g, o in zip(gens, origins, strict=True)))
    k = 0
    while len(found) < n:
        k += 1
        found.setdefault(tuple(o[int(halton(k, _PRIMES[a % len(_PRIMES)]) * len(o))]
                               for a, o in enumerate(origins)))
    return list(found)


def _touched(start: Sequence[int], region: Sequence[int], chunks: Sequence[int]
             ) -> list[tuple[int, ...]]:
    """Element offsets of the source chunks a box intersects."""
    ranges = [range(s // c * c, s + r, c) for s, r, c in zip(start, region, chunks, strict=True)]
    return [tuple(idx) for idx in itertools.product(*ranges)]


def plan_places(shape: Sequence[int], itemsize: int, source_chunks: Sequence[int] | None,
                stored: dict[tuple[int, ...], int], candidate_chunks: Sequence[Sequence[int]],
                *, window_bytes: int = WINDOW_BYTES, n_windows: int = N_WINDOWS,
                fetch_bytes: int = FETCH_BYTES) -> Places:
    """The windows to read (pure). ``stored`` maps each source chunk's element offset to its
    stored size (empty for a contiguous dataset). As many windows as ``fetch_bytes`` pays for
    at the source's mean stored size (at most ``n_windows``) are spread evenly over the
    dataset; one that costs more than its share is skipped; the first always counts."""
    shape = tuple(int(n) for n in shape)
    window = window_shape(shape, source_chunks, candidate_chunks, itemsize, window_bytes)
    raw = math.prod(window) * itemsize
    if source_chunks is None or not stored:
        per_window = raw
    else:  # a window's expected cost: the source's mean stored bytes per raw byte
        per_window = int(raw * sum(stored.values()) / (math.prod(shape) * itemsize))
    fits = max(1, min(n_windows, fetch_bytes // max(1, per_window)))
    kept: list[tuple[int, ...]] = []
    seen: set[tuple[int, ...]] = set()
    total = 0
    for st in window_starts(shape, window, fits):
        if source_chunks is None:
            need: list[tuple[int, ...]] = []
            cost = raw
        else:
            need = [c for c in _touched(st, window, source_chunks) if c not in seen]
            cost = sum(stored.get(c, 0) for c in need)
        if kept and total + cost > fetch_bytes:
            continue
        kept.append(st)
        total += cost
        seen.update(need)
    return Places(window, tuple(kept), total)


def source_correction(shape: Sequence[int], itemsize: int, source_chunks: Sequence[int] | None,
                      stored: dict[tuple[int, ...], int], places: Places) -> float:
    """How much more compressible the windows are than the whole dataset, as the source's own
    codec says: (stored / raw bytes of the windows' source chunks) / (stored / raw of all).

    Every source chunk's stored size is known exactly from the file's chunk index, so the
    sample's bias (windows that happen to fall where the recording is quiet, or a volume's
    bright depths) is known for the source codec; a candidate codec's bytes are scaled by the
    same factor (a control variate). 1 when the source tells nothing: contiguous, or with
    chunks never written."""
    if source_chunks is None or not stored or not places.starts:
        return 1.0
    grid = [range(0, n, c) for n, c in zip(shape, source_chunks, strict=True)]
    if len(stored) < math.prod(len(g) for g in grid):
        return 1.0

    def raw(offset: tuple[int, ...]) -> int:
        return math.prod(min(c, n - o) for o, c, n in
                         zip(offset, source_chunks, shape, strict=True)) * itemsize

    inside = {c for st in places.starts for c in _touched(st, places.region, source_chunks)}
    whole = sum(stored.values()) / (math.prod(shape) * itemsize)
    sampled = sum(stored[c] for c in inside) / max(1, sum(raw(c) for c in inside))
    return whole / sampled if sampled > 0 else 1.0


def block_shape(chunks: Sequence[int], window: Sequence[int], itemsize: int,
                max_bytes: int = MAX_BLOCK_BYTES) -> tuple[int, ...]:
    """The block a candidate chunk is sampled as: the chunk clipped to the window, halved along
    its longest axis while over ``max_bytes``."""
    block = [min(int(c), int(w)) for c, w in zip(chunks, window, strict=True)]
    while math.prod(block) * itemsize > max_bytes and max(block) > 1:
        ax = int(np.argmax(block))
        block[ax] = max(1, block[ax] // 2)
    return tuple(block)


def block_starts(window: Sequence[int], block: Sequence[int], n_windows: int, count: int
                 ) -> list[tuple[int, tuple[int, ...]]]:
    """Up to ``count`` blocks: (window index, start inside the window). Inside a window the
    blocks sit on the block grid (never overlapping), chosen along the Halton sequence, each
    window taking its own stretch of it; the windows are taken in turn, so every window
    contributes alike and the blocks spread over the whole dataset."""
    grid = [max(1, w // b) for w, b in zip(window, block, strict=True)]
    cells = math.prod(grid)
    per_window = min(cells, -(-count // max(1, n_windows)))
    lists: list[list[tuple[int, ...]]] = []
    for w in range(n_windows):
        if per_window == cells:
            lists.append([tuple(i) for i in itertools.product(*(range(g) for g in grid))])
            continue
        seen: dict[tuple[int, ...], None] = {}
        k = w * per_window
        while len(seen) < per_window:
            k += 1
            seen.setdefault(tuple(int(halton(k, _PRIMES[a % len(_PRIMES)]) * g)
                                  for a, g in enumerate(grid)))
        lists.append(list(seen))
    out = []
    for i in range(per_window):
        for w in range(n_windows):
            out.append((w, tuple(ci * b for ci, b in zip(lists[w][i], block, strict=True))))
            if len(out) == count:
                return out
    return out


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
    """The values of every window: sliced from a local ``dset``, or, with ``fetch``, from the
    raw source chunks fetched together and decoded by HDF5 in memory (see the module doc)."""
    sels = places.selections()
    if fetch is None:
        return [np.ascontiguousarray(dset[sel]) for sel in sels]
    if dset.chunks is None:  # contiguous, uncompressed: each window is one byte range
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
