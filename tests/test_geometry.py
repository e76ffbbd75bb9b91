"""Geometry: the chunks named for a selection cover it exactly, and read plans keep their
invariants (property-based); the plans' request counts are checked against measurements in
tests/test_model_measured.py."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from layoutbench.plan.geometry import (
    CONCURRENCY,
    H5_CACHE_BYTES,
    H5_CACHE_SLOTS,
    READAHEAD_BLOCK,
    READER_MODES,
    REMFILE_BLOCK,
    SHARD_COALESCE_GAP,
    SHARD_COALESCE_MAX,
    chunk_selection,
    chunks_touched,
    coalesce,
    iter_chunk_indices,
    morton_order,
    normalise,
    plan_reads,
    selection_size,
)
from layoutbench.plan.h5sim import BTree, Readahead, Remfile
from layoutbench.plan.layout import Layout


@st.composite
def arrays_and_selections(draw: st.DrawFn) -> tuple:
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.integers(1, 12)) for _ in range(ndim))
    chunks = tuple(draw(st.integers(1, n + 2)) for n in shape)
    sel = []
    for n in shape:
        a = draw(st.integers(0, n))
        b = draw(st.integers(a, n))
        sel.append(slice(a, b))
    return shape, chunks, tuple(sel)


@settings(max_examples=300, deadline=None)
@given(arrays_and_selections())
def test_chunks_cover_selection_exactly(case: tuple) -> None:
    shape, chunks, sel = case
    sel = normalise(sel, shape)
    covered = np.zeros(shape, dtype=np.int32)
    wanted = np.zeros(shape, dtype=bool)
    wanted[sel] = True
    indices = list(iter_chunk_indices(sel, chunks))
    assert len(indices) == chunks_touched(sel, chunks)
    for idx in indices:
        region = chunk_selection(idx, chunks, shape)
        covered[region] += 1
        assert wanted[region].any(), "every named chunk intersects the selection"
    assert (covered[wanted] == 1).all(), "every selected element is in exactly one named chunk"
    assert int(wanted.sum()) == selection_size(sel)


def test_known_case() -> None:
    # a 4x4 selection straddling a chunk corner of an 8x8-chunked array touches four chunks
    assert chunks_touched((slice(6, 10), slice(6, 10)), (8, 8)) == 4
    assert chunks_touched((slice(0, 8), slice(0, 8)), (8, 8)) == 1
    assert chunks_touched((slice(3, 3), slice(0, 8)), (8, 8)) == 0


# -- read plans ---------------------------------------------------------------------------------
HDF5_READERS = ("h5py-fsspec", "h5py-remfile", "kerchunk")


@st.composite
def planned_cases(draw: st.DrawFn) -> tuple:
    """A small array, a chunking with edges, a few selections and a stored size per chunk."""
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.integers(1, 40)) for _ in range(ndim))
    chunks = tuple(draw(st.integers(1, n)) for n in shape)
    sels = []
    for _ in range(draw(st.integers(1, 3))):
        sel = []
        for n in shape:
            a = draw(st.integers(0, n - 1))
            sel.append(slice(a, draw(st.integers(a + 1, n))))
        sels.append(tuple(sel))
    seed = draw(st.integers(0, 2**16))
    return shape, chunks, sels, seed


def _sizes(seed: int, top: int):
    """Deterministic pseudo-random stored sizes (1..top bytes) per chunk index."""
    return lambda idx: 1 + hash((seed, *idx)) % top


@settings(max_examples=150, deadline=None)
@given(planned_cases(), st.sampled_from(["zarr", *HDF5_READERS]), st.integers(100, 300_000))
def test_plan_invariants(case: tuple, reader: str, top: int) -> None:
    shape, chunks, sels, seed = case
    fmt = "zarr" if reader == "zarr" else "hdf5"
    layout = Layout(fmt, chunks, "zstd")
    sizes = _sizes(seed, top)
    plan = plan_reads(sels, shape, 2, layout, reader, sizes)
    touched = [list(iter_chunk_indices(normalise(s, shape), chunks)) for s in sels]
    assert plan.chunks_touched == sum(len(t) for t in touched)
    assert plan.bytes_needed == 2 * sum(selection_size(normalise(s, shape)) for s in sels)
    assert plan.bytes_decoded == plan.chunks_read * layout.chunk_nbytes(2)
    if reader in ("zarr", "kerchunk"):
        # one GET per chunk per selection, ``CONCURRENCY`` at a time, nothing cached
        assert plan.requests == plan.chunks_read == plan.chunks_touched
        assert plan.bytes_transferred == sum(sizes(c) for t in touched for c in t)
        assert plan.rounds == sum(-(-len(t) // CONCURRENCY) for t in touched)
        assert plan.serial_bytes <= plan.bytes_transferred
    else:
        # serial: every request is a round; each file read makes at most one request
        assert plan.rounds == plan.requests and plan.serial_bytes == plan.bytes_transferred
        # every distinct chunk is fetched at least once; the chunk cache only saves repeats
        assert len({c for t in touched for c in t}) <= plan.chunks_read <= plan.chunks_touched
        assert plan.requests <= plan.chunks_read + plan.index_requests + 1
        if reader == "h5py-fsspec":  # a fetch is a read plus at most one readahead block
            assert plan.bytes_transferred <= plan.requests * READAHEAD_BLOCK + sum(
                sizes(c) for t in touched for c in t) + plan.index_requests * 4096


@settings(max_examples=150, deadline=None)
@given(planned_cases(), st.integers(1, 4))
def test_sharded_plan_groups_chunks_by_shard(case: tuple, factor: int) -> None:
    """Each touched shard costs one GET when wanted whole, else its index plus its wanted inner
    chunks' ranges merged (zarr >= 3.3): with the default 1 MiB gap, small shards' wanted chunks
    are one request; without merging (a negative gap, zarr 3.1's reads) one request each."""
    shape, chunks, sels, seed = case
    shards = tuple(c * factor for c in chunks)
    layout = Layout("zarr", chunks, "zstd", shards=shards)
    merged = plan_reads(sels, shape, 2, layout, "zarr", _sizes(seed, 1000))
    apart = plan_reads(sels, shape, 2, layout, "zarr", _sizes(seed, 1000), coalescing=(-1, 0))
    whole, partial, inner_wanted = 0, 0, 0
    for sel in sels:
        by_shard: dict[tuple, set] = {}
        for c in iter_chunk_indices(normalise(sel, shape), chunks):
            by_shard.setdefault(tuple(i // factor for i in c), set()).add(c)
        for inner in by_shard.values():
            if len(inner) == factor ** len(shape):
                whole += 1
            else:
                partial, inner_wanted = partial + 1, inner_wanted + len(inner)
    assert merged.requests == whole + 2 * partial
    assert apart.requests == whole + partial + inner_wanted
    assert merged.index_requests == apart.index_requests == partial
    assert merged.chunks_read == merged.chunks_touched
    # merging fetches the unwanted chunks in between: never fewer bytes
    assert merged.bytes_transferred >= apart.bytes_transferred


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 400)), max_size=30),
       st.integers(0, 600), st.integers(1, 3000))
def test_coalesce_is_zarrs(ranges: list, gap: int, max_bytes: int) -> None:
    """The model merges ranges exactly as zarr's own planner (``coalesce_ranges``) does."""
    from zarr.abc.store import RangeByteRequest
    from zarr.core._coalesce import coalesce_ranges

    spans = [(a, a + n) for a, n in ranges]
    groups, _ = coalesce_ranges([RangeByteRequest(a, b) for a, b in spans], max_gap_bytes=gap,
                                max_coalesced_bytes=max_bytes)
    theirs = [(g[0][1].start, max(r.end for _, r in g)) for g in groups]
    assert coalesce(spans, gap, max_bytes) == theirs


@pytest.mark.parametrize("per", [
    (4, 4),          # a square: the textbook Z
    (12, 8, 8),      # not powers of two: the order skips coordinates outside the shard
    (1, 16, 3),      # an axis of one chunk takes no bit
    (5,),            # 1-d: plain order
    (8, 1, 2, 3),    # 4-d
])
def test_morton_order_is_zarrs(per: tuple[int, ...]) -> None:
    """Inner chunks lie in a shard in zarr's write order (Morton), which the model follows."""
    from zarr.core.indexing import morton_order_coords

    assert [tuple(int(i) for i in c) for c in morton_order(per)] == \
        [tuple(c) for c in morton_order_coords(per)]


def test_shard_merging_limits_are_zarrs_defaults() -> None:
    """The model's merging limits are zarr's defaults, and the zarr readers set those."""
    import zarr

    from layoutbench.read import readers

    assert zarr.config.get("array.sharding_coalesce_max_gap_bytes") == SHARD_COALESCE_GAP
    assert zarr.config.get("array.sharding_coalesce_max_bytes") == SHARD_COALESCE_MAX
    for name in ("zarr", "zarr-obstore"):
        opts = readers.READERS[name].options
        assert opts["array.sharding_coalesce_max_gap_bytes"] == SHARD_COALESCE_GAP
        assert opts["array.sharding_coalesce_max_bytes"] == SHARD_COALESCE_MAX
        assert opts["async.concurrency"] == CONCURRENCY


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 20_000), st.integers(1, 4), st.integers(0, 2**16))
def test_btree_nodes_and_chunks_tile_the_file(n: int, ndim: int, seed: int) -> None:
    """The simulated HDF5 file has no gap and no overlap: root, chunks and every B-tree node
    follow one another, and every chunk's lookup path names nodes that exist."""
    tree = BTree(n, ndim)
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 5000, n)
    offsets, addr, eof = tree.layout(sizes, 1000)
    spans = sorted([(int(o), int(s)) for o, s in zip(offsets, sizes, strict=True)]
                   + [(a, tree.node_size) for a in addr.values()])
    assert spans[0][0] == 1000
    for (a, la), (b, _) in itertools.pairwise(spans):
        assert a + la == b
    assert spans[-1][0] + spans[-1][1] == eof
    assert len(addr) == sum(tree.counts)
    for lin in {0, n - 1, n // 2, int(rng.integers(0, n))}:
        path = tree.path(lin)
        assert len(path) == len(tree.counts) and all(node in addr for node in path)


def test_known_plans() -> None:
    # tests/test_sweep.py's measured cases: a zarr selection touching 4 chunks is 4 GETs;
    # sharded, the shard index plus those 4 inner chunks' ranges, merged into one (zarr 3.4),
    # and 4 apart without merging (zarr 3.1)
    shape, sel = (120, 128, 128), [(slice(5, 15), slice(8, 24), slice(0, 16))]
    plain = plan_reads(sel, shape, 2, Layout("zarr", (10, 16, 16)), "zarr", 1000.0)
    assert (plain.requests, plain.rounds, plain.bytes_transferred) == (4, 1, 4000)
    sharded = Layout("zarr", (10, 16, 16), shards=(120, 64, 64))
    assert plan_reads(sel, shape, 2, sharded, "zarr", 1000.0).requests == 2  # merged
    assert plan_reads(sel, shape, 2, sharded, "zarr", 1000.0, coalescing=(-1, 0)).requests == 5
    # 25 chunks at zarr's concurrency of 10: three rounds
    wide = plan_reads([(slice(0, 10), slice(0, 80), slice(0, 80))], shape, 2,
                      Layout("zarr", (10, 16, 16)), "zarr", 1000.0)
    assert (wide.requests, wide.rounds) == (25, 3)
    # neuroconv-style frames: one 10-frame read inside one chunk; its B-tree root lies in the
    # block read when the file was opened, so the chunk is the only request
    frames = plan_reads([(slice(40, 50), slice(None), slice(None))], shape, 2,
                        Layout("hdf5", (76, 128, 128), "gzip"), "h5py-fsspec", 1e6)
    assert (frames.requests, frames.index_requests) == (1, 0)
    # the HDF5 chunk cache: reading the same one-chunk selection twice fetches it once
    twice = plan_reads([(slice(0, 5), slice(0, 5), slice(0, 5))] * 2, shape, 2,
                       Layout("hdf5", (10, 16, 16), "zstd"), "h5py-fsspec", 3000.0)
    assert twice.chunks_read == 1 and twice.chunks_touched == 2


def test_edge_chunks_are_estimated_pro_rata() -> None:
    # 25 = 2 * 10 + 5: the last chunk holds half the elements, so half the mean stored bytes;
    # uncompressed chunks are stored whole, padding included
    layout = Layout("zarr", (10,), "zstd")
    plan = plan_reads([(slice(20, 25),)], (25,), 4, layout, "zarr", 30.0)
    assert plan.bytes_transferred == 15
    raw = plan_reads([(slice(20, 25),)], (25,), 4, Layout("zarr", (10,), "none"), "zarr", 1.0)
    assert raw.bytes_transferred == 40


def test_readahead_and_remfile_models() -> None:
    ra = Readahead(10**7)
    ra.read(100, 1000)  # inside the block read when opening
    assert ra.requests == 0
    ra.read(100_000, 10)  # outside: the read plus one block
    assert (ra.requests, ra.nbytes) == (1, 10 + READAHEAD_BLOCK)
    ra.read(100_005, READAHEAD_BLOCK + 100)  # starts inside, ends beyond: the rest is fetched
    assert (ra.requests, ra.start) == (2, 100_010 + READAHEAD_BLOCK)
    rf = Remfile(50 * REMFILE_BLOCK)
    for block in range(1, 50):  # walking forward: loads of 2, 4, 7, 12, 21, then 36 blocks
        rf.read(block * REMFILE_BLOCK, 10)
    assert rf.requests == 6 and rf.nbytes == 49 * REMFILE_BLOCK  # the last one cut at EOF


def test_reader_constants_mirror_readers() -> None:
    """The plan's numbers are the readers' settings: a change there must show here."""
    from layoutbench.read import readers

    assert set(readers.READERS) <= set(READER_MODES)
    assert readers.H5pyFsspec.options["block_size"] == READAHEAD_BLOCK
    assert readers.H5pyFsspec.options["cache_type"] == "readahead"
    for name in ("h5py-remfile", "pynwb-remfile"):
        opts = readers.READERS[name].options
        assert opts["min_chunk_size"] == REMFILE_BLOCK and opts["max_threads"] == 1
    for name in ("zarr", "kerchunk"):
        opts = readers.READERS[name].options
        assert opts["async.concurrency"] == CONCURRENCY and opts["s3fs.max_concurrency"] == 1
    assert readers.H5_CHUNK_CACHE == {"rdcc_nbytes": H5_CACHE_BYTES,
                                      "rdcc_nslots": H5_CACHE_SLOTS}


def test_plan_rejects_readers_of_another_format() -> None:
    with pytest.raises(ValueError, match="does not read zarr"):
        plan_reads([], (10,), 1, Layout("zarr", (5,)), "h5py-fsspec", 10.0)
    with pytest.raises(ValueError, match="unknown reader"):
        plan_reads([], (10,), 1, Layout("hdf5", (5,)), "netcdf", 10.0)
