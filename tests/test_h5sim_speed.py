"""The memoised and vectorised HDF5 read simulation gives exactly what the step-by-step one
gives: :func:`layoutbench.plan.h5sim.plan_hdf5` against a transcription of it as it was before
it was optimised (B-tree addresses from :meth:`BTree.layout`'s dict, every read through
:meth:`Readahead.read` / :meth:`Remfile.read`, no memo), and the pieces it is made of against
their one-at-a-time counterparts. No timing here: ``benchmarks/recommend_scaling.py`` times."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from layoutbench.plan import geometry, h5sim
from layoutbench.plan.geometry import (
    _chunk_accesses,
    _ChunkSizes,
    chunk_selection,
    iter_chunk_indices,
    normalise,
)
from layoutbench.plan.h5sim import (
    BTREE_KEEP,
    REMFILE_BLOCK,
    BTree,
    Readahead,
    Remfile,
    btree,
    cache_misses,
    plan_hdf5,
)
from layoutbench.plan.layout import Layout


def reference_plan(lins: np.ndarray, wanted: np.ndarray, sizes: np.ndarray,
                   grid: tuple[int, ...], chunk_bytes: int, root: int, mode: str
                   ) -> dict[str, int]:
    """plan_hdf5 as it was: every node looked up in a dict, every read replayed one by one."""
    tree = BTree(len(sizes), len(grid))
    offsets, node_addr, eof = tree.layout(sizes, root)
    missed = cache_misses(lins, wanted, grid, chunk_bytes)
    at, order, where, length = [], [], [], []
    levels = len(tree.counts)
    idx = lins
    for level in range(levels):
        idx = np.minimum(idx // BTREE_KEEP, tree.counts[level] - 1)
        nodes, first = np.unique(idx, return_index=True)
        at.append(first)
        order.append(np.full(len(first), levels - 1 - level))
        where.append(np.array([node_addr[(level, int(n))] for n in nodes], np.int64))
        length.append(np.full(len(first), tree.node_size))
    misses = np.flatnonzero(missed)
    at.append(misses)
    order.append(np.full(len(misses), levels))
    where.append(offsets[lins[misses]].astype(np.int64))
    length.append(sizes[lins[misses]].astype(np.int64))
    n_index = sum(len(a) for a in at[:-1])
    is_index = np.zeros(n_index + len(misses), bool)
    is_index[:n_index] = True
    sequence = np.lexsort((np.concatenate(order), np.concatenate(at)))
    fobj: Readahead | Remfile = Readahead(eof) if mode == "readahead" else Remfile(eof)
    index_requests = 0
    for offset, size, index in zip(np.concatenate(where)[sequence].tolist(),
                                   np.concatenate(length)[sequence].tolist(),
                                   is_index[sequence].tolist(), strict=True):
        n = fobj.requests
        read_block_by_block(fobj, offset, size)
        index_requests += (fobj.requests - n) if index else 0
    chunks_read = int(missed.sum())
    return {"chunks_read": chunks_read, "requests": fobj.requests,
            "index_requests": index_requests, "bytes_transferred": fobj.nbytes,
            "bytes_decoded": chunks_read * chunk_bytes, "rounds": fobj.requests,
            "serial_bytes": fobj.nbytes}


def read_block_by_block(fobj: Readahead | Remfile, start: int, length: int) -> None:
    """A read as it was: remfile visits every block of it (loaded or not)."""
    if isinstance(fobj, Readahead):
        fobj.read(start, length)
        return
    first, last = start // REMFILE_BLOCK, (start + length - 1) // REMFILE_BLOCK
    for block in range(first, last + 1):
        fobj.visit(block, last - block + 1)


def reference_accesses(sel: tuple[slice, ...], chunks: tuple[int, ...], grid: tuple[int, ...],
                       shape: tuple[int, ...], itemsize: int) -> tuple[list[int], list[int]]:
    """Each chunk the selection touches, in C order, and the bytes of it the selection wants,
    chunk by chunk."""
    lins, wanted = [], []
    for index in iter_chunk_indices(sel, chunks):
        box = chunk_selection(index, chunks, shape)
        lins.append(int(np.ravel_multi_index(index, grid)))
        wanted.append(itemsize * math.prod(min(s.stop, b.stop) - max(s.start, b.start)
                                           for s, b in zip(sel, box, strict=True)))
    return lins, wanted


def _reads(grid: tuple[int, ...], boxes: list[tuple[slice, ...]], chunks: tuple[int, ...]
           ) -> tuple[np.ndarray, np.ndarray]:
    """The chunk reads of ``boxes`` one after another (the planner's input to plan_hdf5)."""
    shape = tuple(g * c for g, c in zip(grid, chunks, strict=True))
    parts = [reference_accesses(normalise(b, shape), chunks, grid, shape, 2) for b in boxes]
    return (np.array([x for p in parts for x in p[0]], np.int64),
            np.array([x for p in parts for x in p[1]], np.int64))


def _sizes(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, 300_000, n).astype(np.int64)


S = slice
CASES = [
    # one frame range across a small movie's chunks: increasing reads (the fast path)
    ((40, 4, 4), (10, 64, 64), [(S(0, 25), S(None), S(None))], 0),
    # the same frames twice: the second pass hits or misses the chunk cache (8 KiB chunks,
    # many fit in its 1 MiB)
    ((40, 4, 4), (10, 16, 16), [(S(0, 25), S(None), S(None))] * 2, 1),
    # chunks of 2 MiB: the cache holds one, a repeat hits only right after itself
    ((10, 2, 2), (4, 512, 256), [(S(0, 8), S(0, 600), S(None))] * 2, 2),
    # no read at all
    ((10, 2, 2), (4, 64, 64), [], 3),
    # a file of 64 chunks or fewer: the B-tree is its root alone
    ((8, 4, 2), (4, 8, 8), [(S(3, 20), S(0, 30), S(None)), (S(0, 2), S(5, 9), S(2, 5))], 4),
    # a tree of three levels (more than 64 × 57 chunks): frames across many leaves and nodes
    ((5000, 1, 1), (1, 32, 32), [(S(0, 4500), S(None), S(None)), (S(10, 20), S(None), S(None))],
     5),
    # a 1-d series read backwards then forwards: decreasing reads take the general path
    ((300,), (1000,), [(S(250_000, 260_000),), (S(10_000, 12_000),), (S(0, 300_000),)], 6),
    # a 2-d series, columns then rows: reads out of C order and repeated
    ((30, 40), (1000, 4), [(S(None), S(0, 4)), (S(0, 5000), S(None)), (S(None), S(8, 12))], 7),
]


@pytest.mark.parametrize("mode", ["readahead", "remfile"])
@pytest.mark.parametrize("case", CASES)
def test_plan_matches_reference(case: tuple, mode: str) -> None:
    grid, chunks, boxes, seed = case
    lins, wanted = _reads(grid, boxes, chunks)
    sizes = _sizes(math.prod(grid), seed)
    raw = math.prod(chunks) * 2
    expected = reference_plan(lins, wanted, sizes, grid, raw, 3464, mode)
    assert plan_hdf5(lins, wanted, sizes, grid, raw, 3464, mode) == expected
    # again, from the memo, by the sizes' bytes and by a key
    assert plan_hdf5(lins, wanted, sizes, grid, raw, 3464, mode) == expected
    key = ("case", seed)
    assert plan_hdf5(lins, wanted, sizes, grid, raw, 3464, mode, sizes_key=key) == expected
    assert plan_hdf5(lins, wanted, sizes, grid, raw, 3464, mode, sizes_key=key) == expected


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 5000), st.integers(1, 3), st.integers(0, 2**16),
       st.sampled_from([4096, 2**19, 2**21]), st.sampled_from(["readahead", "remfile"]))
def test_random_reads_match_reference(n: int, ndim: int, seed: int, chunk_bytes: int,
                                      mode: str) -> None:
    """Any sequence of chunk reads (sorted runs, repeats, jumps) on any grid."""
    rng = np.random.default_rng(seed)
    grid = (n,) + (1,) * (ndim - 1)
    k = int(rng.integers(0, 200))
    lins = rng.integers(0, n, k).astype(np.int64)
    if seed % 3 == 0:  # increasing, as one selection's reads are
        lins = np.unique(lins)
    wanted = rng.integers(1, chunk_bytes + 1, len(lins)).astype(np.int64)
    sizes = rng.integers(1, 4 * chunk_bytes, n).astype(np.int64)
    root = int(rng.integers(0, 10_000))
    expected = reference_plan(lins, wanted, sizes, grid, chunk_bytes, root, mode)
    assert plan_hdf5(lins, wanted, sizes, grid, chunk_bytes, root, mode) == expected


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 20_000), st.integers(1, 4), st.integers(0, 2**16))
def test_place_is_layout(n: int, ndim: int, seed: int) -> None:
    """BTree.place gives the addresses BTree.layout gives, as arrays per level."""
    tree = btree(n, ndim)
    assert btree(n, ndim) is tree  # built once
    sizes = np.random.default_rng(seed).integers(1, 5000, n).astype(np.int64)
    offsets, addr, eof = tree.layout(sizes, 1000)
    offsets2, levels, eof2 = tree.place(sizes, 1000)
    assert eof2 == eof and np.array_equal(offsets2, offsets)
    assert [len(a) for a in levels] == tree.counts
    assert {(lv, i): int(a) for lv, arr in enumerate(levels) for i, a in enumerate(arr)} == addr


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3_000_000), st.integers(1, 4_000_000)), max_size=60),
       st.lists(st.booleans(), min_size=60, max_size=60), st.integers(1, 4_000_000))
def test_replay_is_read_by_read(reads: list, flags: list, size: int) -> None:
    """The file objects' replay counts what their reads one by one count."""
    flags = flags[:len(reads)]
    for cls in (Readahead, Remfile):
        one, many = cls(size), cls(size)
        flagged = 0
        for (start, length), flag in zip(reads, flags, strict=True):
            before = one.requests
            read_block_by_block(one, start, length)
            flagged += (one.requests - before) if flag else 0
        got = many.replay([s for s, _ in reads], [n for _, n in reads], flags)
        assert (got, many.requests, many.nbytes) == (flagged, one.requests, one.nbytes)


@st.composite
def boxes(draw: st.DrawFn) -> tuple:
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.integers(1, 40)) for _ in range(ndim))
    chunks = tuple(draw(st.integers(1, n + 2)) for n in shape)
    sel = []
    for n in shape:
        a = draw(st.integers(0, n))
        sel.append(slice(a, draw(st.integers(a, n))))
    return shape, chunks, tuple(sel), draw(st.sampled_from([1, 2, 8]))


@settings(max_examples=150, deadline=None)
@given(boxes())
def test_chunk_accesses_chunk_by_chunk(case: tuple) -> None:
    """The outer-product chunk accesses (with single-chunk axes as shifts) are the chunks
    iter_chunk_indices names, in its order, with their overlaps."""
    shape, chunks, sel, itemsize = case
    grid = tuple(-(-n // c) for n, c in zip(shape, chunks, strict=True))
    lins, wanted = _chunk_accesses(sel, chunks, grid, itemsize)
    assert (lins.tolist(), wanted.tolist()) == reference_accesses(sel, chunks, grid, shape,
                                                                  itemsize)
    assert lins.dtype == np.int64 and wanted.dtype == np.int64


@pytest.mark.parametrize("shape,layout,nbytes", [
    # edge chunks along two axes, compressed: sizes pro rata, rounded
    ((101, 70, 33), Layout("hdf5", (10, 16, 16), "zstd", 3), 1234.5),
    # uncompressed: every chunk stored whole
    ((101, 70), Layout("hdf5", (10, 16), "none"), 999.0),
    # exact sizes from a callable (an existing variant)
    ((9, 9), Layout("hdf5", (4, 4), "gzip", 4), lambda idx: 100 + 7 * idx[0] + idx[1]),
])
def test_memoised_sizes_are_sizes(shape: tuple, layout: Layout, nbytes: object) -> None:
    """_ChunkSizes.all (memoised) is every chunk's size one by one, also when asked again."""
    for _ in range(2):
        sizes = _ChunkSizes(shape, layout, 2, nbytes)  # type: ignore[arg-type]
        expected = [sizes(idx) for idx in itertools.product(*(range(g) for g in sizes.grid))]
        assert sizes.all().tolist() == expected
    if not callable(nbytes):
        assert sizes.key in geometry._SIZES_MEMO
        assert not sizes.all().flags.writeable  # shared: nobody may change it


def test_memos_stay_bounded() -> None:
    """A long run empties the memos instead of growing without end."""
    for i in range(h5sim._MEMO_SIZES["access"] + 5):
        plan_hdf5(np.array([i], np.int64), np.array([1], np.int64), _sizes(3000, 0), (3000,),
                  1000, 3464 + i, "readahead")
    for name, size in h5sim._MEMO_SIZES.items():
        assert 0 < len(h5sim._MEMOS[name]) <= size


@pytest.mark.parametrize("seed", [0, 1])  # two random walks over a 3 GB file
def test_remfile_skips_loaded_blocks_exactly(seed: int) -> None:
    """Reads of up to 100 MB across a file larger than remfile's 1 GB of blocks, so that it
    drops its oldest half several times: skipping loaded blocks changes nothing."""
    rng = np.random.default_rng(seed)
    fast, slow = Remfile(3 * 10**9), Remfile(3 * 10**9)
    for _ in range(150):
        start, length = int(rng.integers(0, 3 * 10**9)), int(rng.integers(1, 10**8))
        fast.read(start, length)
        read_block_by_block(slow, start, length)
        assert (fast.requests, fast.nbytes, fast.last, fast.run) == (
            slow.requests, slow.nbytes, slow.last, slow.run)
    assert fast.loaded == slow.loaded and fast.order == slow.order
