"""The read plans against the gateway's counts: predicted requests (and bytes) equal measured.

Each case writes a small variant, uploads it to the embedded S3 (loopback profile: counts do
not depend on the network, and loopback is fast), opens it with every reader of its format
exactly as a sweep does, runs patterns, and compares the gateway's request and byte counts with
:func:`plan_reads`. Two plans are checked: one given each chunk's exact stored size (read from
the local variant; the plan itself stays pure), which must match requests *and* bytes for every
reader, and one given only the mean chunk size from the variant's compression ratio (what the
recommender has before a variant exists), which must still match requests exactly for the
readers whose requests do not depend on chunk sizes (zarr, kerchunk) and within a quarter for the
HDF5 readers, whose block sharing depends on where each chunk ends.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from layoutbench.plan.geometry import SHARD_COALESCE_GAP, SHARD_COALESCE_MAX, plan_reads
from layoutbench.plan.layout import Layout
from layoutbench.plan.patterns import parse_spec
from layoutbench.read.readers import get_reader
from layoutbench.run.measure import measure_case
from layoutbench.run.sweep_jobs import upload_variant, variant_target
from layoutbench.store import get_profile
from layoutbench.write.rewrite import Variant, write_variant

OPHYS = "/acquisition/TwoPhotonSeries/data"
ECEPHYS = "/acquisition/ElectricalSeries/data"
READERS = {"hdf5": ("h5py-fsspec", "h5py-remfile", "kerchunk"), "zarr": ("zarr", "zarr-obstore")}
#: zarr's shard read merging, (max gap, max bytes), as the zarr readers set it: None = zarr's
#: defaults (1 MiB, 16 MiB); a case may set others, to check the model follows the limits
GAP, MAX = "array.sharding_coalesce_max_gap_bytes", "array.sharding_coalesce_max_bytes"
OPHYS_PATTERNS = ("ophys-patch:frames=60,offsets=3", "ophys-frames")


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from layoutbench.synthetic import generate_ecephys, generate_ophys

    root = tmp_path_factory.mktemp("measured")
    generate_ophys(root / "ophys.nwb", shape=(120, 128, 128), seed=3)
    generate_ecephys(root / "ecephys.nwb", shape=(60000, 16), seed=1)
    return {"ophys": root / "ophys.nwb", "ecephys": root / "ecephys.nwb"}


def exact_sizes(variant: Variant) -> Callable[[tuple[int, ...]], int]:
    """Stored bytes of each chunk of a local variant, by chunk grid index."""
    layout = variant.layout
    if layout.format == "hdf5":
        with h5py.File(variant.path) as f:
            d = f[variant.dataset]
            sizes = {}
            for i in range(d.id.get_num_chunks()):
                info = d.id.get_chunk_info(i)
                sizes[tuple(o // c for o, c in zip(info.chunk_offset, d.chunks,
                                                    strict=True))] = int(info.size)
        return sizes.__getitem__
    root = os.path.join(variant.path, variant.dataset.strip("/"), "c")
    if layout.shards is None:
        return lambda idx: os.path.getsize(os.path.join(root, *map(str, idx)))
    per = tuple(s // c for s, c in zip(layout.shards, layout.chunks, strict=True))
    n = math.prod(per)
    indexes: dict[tuple[int, ...], np.ndarray] = {}

    def inner(idx: tuple[int, ...]) -> int:
        shard = tuple(i // p for i, p in zip(idx, per, strict=True))
        if shard not in indexes:  # the shard index: (offset, nbytes) per inner chunk, at the end
            with open(os.path.join(root, *map(str, shard)), "rb") as fh:
                fh.seek(-(16 * n + 4), 2)
                indexes[shard] = np.frombuffer(fh.read(16 * n), "<u8").reshape((*per, 2))
        return int(indexes[shard][tuple(i % p for i, p in zip(idx, per, strict=True))][1])

    return inner


CASES = [
    # neuroconv's whole-frame chunks: 2 chunks, a one-leaf B-tree inside the opening read
    ("ophys", Layout("hdf5", (76, 128, 128), "gzip", 4), OPHYS_PATTERNS),
    # narrow time-series chunks: one chunk per patch column, many partial reads
    ("ophys", Layout("hdf5", (120, 32, 32), "zstd", shuffle=True), OPHYS_PATTERNS),
    # small chunks (~10 kB): readahead serves neighbours; 768 chunks make a two-level B-tree
    ("ophys", Layout("hdf5", (10, 16, 16), "zstd"), OPHYS_PATTERNS),
    # edge chunks on every axis (120 = 2*50+20, 128 = 2*48+32), uncompressed (full-size edges)
    ("ophys", Layout("hdf5", (50, 48, 48), "none"), OPHYS_PATTERNS),
    # Blosc-LZ4 cubes larger than the readahead block, edge chunks along time
    ("ophys", Layout("hdf5", (64, 64, 64), "blosc-lz4", shuffle=True), OPHYS_PATTERNS),
    # 7,680 tiny chunks: a three-level B-tree whose nodes sit between the chunks they index
    ("ophys", Layout("hdf5", (4, 8, 8), "zstd"),
     ("ophys-patch:frames=40,offsets=2,patch=16x16", "ophys-frames:frames=4")),
    # one frame per chunk, gzip: the chunk cache and readahead across frames
    ("ophys", Layout("hdf5", (1, 128, 128), "gzip", 4, shuffle=True), OPHYS_PATTERNS),
    # 2-d electrophysiology: one channel over time, and all channels for a window
    ("ecephys", Layout("hdf5", (16384, 4), "zstd", shuffle=True),
     ("ecephys-channel-filter:channels=3,seconds=1", "ecephys-window:seconds=0.5")),
    # Zarr: one GET per chunk, edge chunks stored full-size
    ("ophys", Layout("zarr", (10, 48, 48), "zstd"), OPHYS_PATTERNS),
    ("ophys", Layout("zarr", (120, 32, 32), "blosc-zstd", shuffle=True), OPHYS_PATTERNS),
    ("ecephys", Layout("zarr", (30000, 16), "gzip", 4),
     ("ecephys-channel-filter:channels=3,seconds=1", "ecephys-window:seconds=0.5")),
    # sharded: index + the wanted inner chunks merged into one range (all within 1 MiB);
    # a shard wanted whole is one GET (frames)
    ("ophys", Layout("zarr", (10, 16, 16), "blosc-lz4", shards=(120, 64, 64)), OPHYS_PATTERNS),
    # one 3.9 MB uncompressed shard: Morton order puts frames 0-79 and 80-119 over 1 MiB apart,
    # so a patch's chunks merge into one range or two
    ("ophys", Layout("zarr", (10, 16, 16), "none", shards=(120, 128, 128)), OPHYS_PATTERNS),
    # edge shards (120 = 80 + 40, 128 = 96 + 32): inner chunks outside the array are not stored
    ("ophys", Layout("zarr", (20, 32, 32), "zstd", shards=(80, 96, 96)), OPHYS_PATTERNS),
    # small merging limits (4 KiB gap, 48 KiB per request): many ranges, split by both limits
    ("ophys", Layout("zarr", (10, 16, 16), "zstd", shards=(120, 128, 128)), OPHYS_PATTERNS,
     (4096, 48 * 1024)),
    # 2-d: one channel's inner chunks are far apart in a shard of all channels
    ("ecephys", Layout("zarr", (4096, 2), "blosc-zstd", shuffle=True, shards=(32768, 16)),
     ("ecephys-channel-filter:channels=3,seconds=1", "ecephys-window:seconds=0.5"),
     (16 * 1024, 1 << 20)),
]


@pytest.mark.parametrize(("kind", "layout", "patterns", "coalescing"),
                         [(*c, None)[:4] for c in CASES],
                         ids=[f"{c[0]}-{c[1].name}" + (f"-merge{c[3][0]}-{c[3][1]}"
                                                       if len(c) > 3 else "") for c in CASES])
def test_predicted_requests_equal_measured(s3, sources: dict[str, Path], tmp_path: Path,
                                           kind: str, layout: Layout,
                                           patterns: tuple[str, ...],
                                           coalescing: tuple[int, int] | None) -> None:
    dataset = OPHYS if kind == "ophys" else ECEPHYS
    variant = write_variant(sources[kind], dataset, layout,
                            tmp_path / f"v{'.h5' if layout.format == 'hdf5' else '.zarr'}")
    key = f"case/{variant.layout.name}"
    upload_variant(s3, variant, key)
    target = variant_target(s3, key, variant, tmp_path / "cache")
    itemsize = int(np.dtype(variant.dtype).itemsize)
    sizes = exact_sizes(variant)
    # what sampling estimates: stored bytes of one whole chunk, from the chunks alone (the
    # variant's file also holds the B-tree, which for tiny chunks is a good part of it)
    grid = [range(-(-n // c)) for n, c in zip(variant.shape, variant.layout.chunks, strict=True)]
    data_bytes = sum(sizes(tuple(int(i) for i in idx)) for idx in np.ndindex(*map(len, grid)))
    mean = data_bytes * variant.layout.chunk_nbytes(itemsize) / variant.nbytes
    rate = 30000.0 if kind == "ecephys" else None
    profile = get_profile("loopback")
    wrong = []
    merge = {"coalescing": coalescing} if coalescing is not None else {}
    for name in READERS[layout.format]:
        reader = get_reader(name)
        if coalescing is not None:  # the reader sets zarr's config from its options
            reader.options = {**reader.options, GAP: coalescing[0], MAX: coalescing[1]}
        reader.prepare(target)
        for spec in patterns:
            pattern = parse_spec(spec)
            m = measure_case(s3, variant, target, reader, pattern, profile, rate=rate)
            if layout.format == "zarr":  # the merging limits in force, recorded with the row
                assert (m.reader_options[GAP], m.reader_options[MAX]) == \
                    (coalescing or (SHARD_COALESCE_GAP, SHARD_COALESCE_MAX))
            sels = pattern.selections(variant.shape, rate)
            exact = plan_reads(sels, variant.shape, itemsize, variant.layout, name, sizes,
                               **merge)
            estimated = plan_reads(sels, variant.shape, itemsize, variant.layout, name, mean,
                                   **merge)
            got = (m.requests, m.bytes_transferred)
            if (exact.requests, exact.bytes_transferred) != got:
                wrong.append(f"{name} {spec}: measured {got}, exact plan "
                             f"{(exact.requests, exact.bytes_transferred)}")
            # without exact sizes, which reads share a readahead block (or remfile block) is
            # estimated: close, not exact; zarr's and kerchunk's requests do not depend on sizes
            tolerance = 0 if name in ("zarr", "zarr-obstore", "kerchunk") \
                else max(1, m.requests // 4)
            if abs(estimated.requests - m.requests) > tolerance:
                wrong.append(f"{name} {spec}: measured {m.requests} requests, mean-size plan "
                             f"{estimated.requests}")
            assert exact.bytes_needed == m.bytes_needed
            assert exact.chunks_touched == m.chunks_touched
    assert not wrong, "\n".join(wrong)


CONTIGUOUS = [
    # a patch over many frames: one 64-byte read per row, one readahead/remfile miss per frame
    ("ophys", "ophys-patch:frames=60,offsets=3,patch=32x32"),
    # whole frames: one read each, sequential (remfile's runs grow)
    ("ophys", "ophys-frames:frames=10"),
    # one channel: a 2-byte read per sample; each miss serves 512 samples of the readahead
    ("ecephys", "ecephys-channel-filter:channels=2,seconds=1"),
    # all channels for a window: one read of the window
    ("ecephys", "ecephys-window:seconds=0.5"),
]


@pytest.mark.parametrize(("kind", "spec"), CONTIGUOUS, ids=[c[1] for c in CONTIGUOUS])
def test_contiguous_requests_equal_measured(s3, sources: dict[str, Path], tmp_path: Path,
                                            kind: str, spec: str) -> None:
    from layoutbench.plan.contiguous import CONTIGUOUS_OFFSET

    dataset = OPHYS if kind == "ophys" else ECEPHYS
    with h5py.File(sources[kind]) as f:
        shape = f[dataset].shape
    layout = Layout("hdf5", shape, "none", contiguous=True)
    variant = write_variant(sources[kind], dataset, layout, tmp_path / "v.h5")
    with h5py.File(variant.path) as f:
        d = f[dataset]
        assert d.chunks is None
        placement = (int(d.id.get_offset()), int(f.id.get_filesize()))
    assert placement[0] == CONTIGUOUS_OFFSET  # where the model puts a variant's data
    upload_variant(s3, variant, "case/contiguous")
    target = variant_target(s3, "case/contiguous", variant, tmp_path / "cache")
    itemsize = int(np.dtype(variant.dtype).itemsize)
    rate = 30000.0 if kind == "ecephys" else None
    pattern = parse_spec(spec)
    sels = pattern.selections(variant.shape, rate)
    got, want = {}, {}
    for name in ("h5py-fsspec", "h5py-remfile", "kerchunk"):
        reader = get_reader(name)
        reader.prepare(target)
        m = measure_case(s3, variant, target, reader, pattern, get_profile("loopback"),
                         rate=rate)
        plan = plan_reads(sels, variant.shape, itemsize, variant.layout, name,
                          variant.nbytes, placement=placement)
        got[name] = (m.requests, m.bytes_transferred)
        want[name] = (plan.requests, plan.bytes_transferred)
    assert got == want
