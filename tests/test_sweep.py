"""End to end on the embedded S3: exact request counts, a small sweep, results on disk."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from layoutbench.plan.layout import Layout
from layoutbench.plan.measurement import Measurement
from layoutbench.plan.patterns import parse_spec
from layoutbench.read.reader_base import Target
from layoutbench.read.readers import get_reader
from layoutbench.results import read_results, write_results
from layoutbench.run.sweep import plan_cases, run_sweep
from layoutbench.store import get_profile
from layoutbench.write.rewrite import write_variant

DATA = "/acquisition/TwoPhotonSeries/data"


@pytest.fixture(scope="module")
def ophys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from layoutbench.synthetic import generate_ophys

    path = tmp_path_factory.mktemp("sweep") / "ophys.nwb"
    generate_ophys(path, shape=(120, 128, 128), seed=3)
    return path


def _target(s3, key: str, fmt: str) -> Target:
    return Target(s3.source(key), DATA, fmt)


def test_zarr_selection_touching_four_chunks_makes_four_requests(s3, ophys: Path,
                                                                 tmp_path: Path) -> None:
    layout = Layout("zarr", (10, 16, 16), "zstd")
    variant = write_variant(ophys, DATA, layout, tmp_path / "v.zarr")
    key = s3.upload_tree(variant.path, "known.zarr")
    with get_reader("zarr").open(_target(s3, key, "zarr")) as arr:
        s3.reset_counters()
        # frames 5..15 span time chunks 0-1; rows 8..24 span row chunks 0-1; cols 0..16: one
        block = arr[5:15, 8:24, 0:16]
        stats = s3.stats()
    with h5py.File(ophys) as f:
        assert np.array_equal(block, f[DATA][5:15, 8:24, 0:16])
    chunk_keys = [f"{key}/{DATA.strip('/')}/c/{t}/{y}/0" for t in (0, 1) for y in (0, 1)]
    expected_bytes = sum(s3.object_info(k)["size"] for k in chunk_keys)
    assert stats.requests == 4
    assert stats.bytes_sent == expected_bytes


@pytest.mark.parametrize("reader", ["zarr", "zarr-obstore"])
def test_sharded_zarr_reads_inner_chunks_by_range(s3, ophys: Path, tmp_path: Path,
                                                  reader: str) -> None:
    layout = Layout("zarr", (10, 16, 16), "zstd", shards=(120, 64, 64))
    variant = write_variant(ophys, DATA, layout, tmp_path / "s.zarr")
    key = s3.upload_tree(variant.path, "sharded.zarr")
    shard = s3.object_info(f"{key}/{DATA.strip('/')}/c/0/0/0")["size"]
    with get_reader(reader).open(_target(s3, key, "zarr")) as arr:
        s3.reset_counters()
        arr[5:15, 8:24, 0:16]
        stats = s3.stats()
    # one read of the shard index, then the 4 inner chunks' ranges merged into one read (zarr
    # >= 3.3: they lie within 1 MiB of one another), never the whole shard
    assert stats.requests == 2
    assert stats.bytes_sent < shard / 2


def test_small_sweep_end_to_end(s3, ophys: Path, tmp_path: Path) -> None:
    profile = get_profile("loopback")
    patterns = [parse_spec("ophys-patch:frames=120,offsets=2"), parse_spec("ophys-frames")]
    rows = run_sweep(ophys, s3, profile, grid="quick", patterns=patterns,
                     cache_dir=tmp_path / "cache")
    layouts = {m.layout.name for m in rows}
    assert {"neuroconv-default", "h5py-auto"} <= layouts
    readers = {(m.layout.format, m.reader) for m in rows}
    assert readers == {("hdf5", "h5py-remfile"), ("hdf5", "h5py-fsspec"), ("hdf5", "kerchunk"),
                       ("zarr", "zarr"), ("zarr", "zarr-obstore")}
    assert len({m.digest for m in rows if m.pattern.startswith("ophys-patch")}) == 1
    for m in rows:
        assert m.requests > 0 and m.bytes_transferred > 0
        assert m.bytes_needed == (2 * 120 * 32 * 32 * 2 if m.pattern.startswith("ophys-patch")
                                  else 10 * 128 * 128 * 2)
        assert m.profile == "loopback" and m.shape == (120, 128, 128)
    patch = {(m.layout.name, m.reader): m for m in rows if m.pattern.startswith("ophys-patch")}
    base = patch[("neuroconv-default", "h5py-fsspec")]
    narrow = patch[("h5-120x16x16-zstd3-shuf", "h5py-fsspec")]
    assert narrow.bytes_transferred * 3 < base.bytes_transferred
    # deterministic figures repeat exactly in a second run (variants come from the cache):
    # the file as written, one HDF5 and one Zarr variant, every reader of each
    some = [next(m.layout for m in rows if m.layout.name == "neuroconv-default"),
            narrow.layout, next(m.layout for m in rows if m.layout.format == "zarr")]
    again = run_sweep(ophys, s3, profile, layouts=some, patterns=patterns,
                      cache_dir=tmp_path / "cache")
    key = lambda m: (m.layout.name, m.reader, m.pattern)  # noqa: E731
    first = {key(m): (m.requests, m.bytes_transferred, m.chunks_touched) for m in rows
             if m.layout in some}
    second = {key(m): (m.requests, m.bytes_transferred, m.chunks_touched) for m in again}
    assert first == second
    # results round-trip through both on-disk formats
    for name in ("r.parquet", "r.csv"):
        frame = read_results(write_results(rows, tmp_path / name))
        assert {"layout", "layout_json", "reader", "pattern", "profile", "requests",
                "bytes_transferred", "bytes_needed", "read_amplification", "chunks_touched",
                "seconds", "stored_bytes", "compression_ratio", "write_seconds"} <= set(frame)
        back = [Measurement.from_dict(r) for r in frame.to_dict(orient="records")]
        assert [(b.layout, b.requests) for b in back] == [(m.layout, m.requests) for m in rows]


def test_plan_skips_incompatible_readers() -> None:
    layouts = [Layout("hdf5", (4,), "zstd"), Layout("zarr", (4,), "zstd")]
    readers = [get_reader("h5py-remfile"), get_reader("zarr")]
    cases = plan_cases(layouts, readers, [parse_spec("ecephys-window")])
    assert [(c.layout.format, c.reader) for c in cases] == [("hdf5", "h5py-remfile"),
                                                            ("zarr", "zarr")]


def test_progress_is_logged_without_a_bar(s3, ophys: Path, tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    """Without a progress bar (not a terminal), the log still counts the cases measured."""
    import logging

    layouts = [Layout("hdf5", (120, 32, 32), "zstd", shuffle=True)]
    with caplog.at_level(logging.INFO, logger="layoutbench.run.sweep"):
        rows = run_sweep(ophys, s3, get_profile("loopback"), layouts=layouts,
                         readers=["h5py-fsspec"], patterns=[parse_spec("ophys-frames")],
                         cache_dir=tmp_path / "cache", progress=False)
    n = len(rows)
    assert n >= 1 and f"{n} of {n} cases measured" in caplog.text


def test_a_sweep_cleans_what_killed_runs_left_anywhere_in_its_cache(s3, ophys: Path,
                                                                     tmp_path: Path) -> None:
    """A temporary of a dead process in another source's folder of the cache (a variant it was
    writing when SIGKILLed) is removed by the next sweep, whatever that sweep builds."""
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)  # a process that has exited
    cache = tmp_path / "cache"
    other = cache / "another-source"
    other.mkdir(parents=True)
    stale = other / f".h5-10x16x16-zstd3.h5.tmp-{pid}-0123abcd"
    stale.write_bytes(b"half a variant")
    mine = other / f".h5-10x16x16-zstd3.h5.tmp-{os.getpid()}-0123abcd"  # a live process's
    mine.write_bytes(b"being written")
    run_sweep(ophys, s3, get_profile("loopback"), readers=["h5py-fsspec"],
              layouts=[Layout("hdf5", (120, 32, 32), "zstd", shuffle=True)],
              patterns=[parse_spec("ophys-frames")], cache_dir=cache)
    assert not stale.exists() and mine.exists()


@pytest.mark.parametrize(("pattern", "timed"), [
    ("ophys-patch", 1.05),  # a data pattern: its run and the open before it are timed
    ("open", 1.0),          # opening is the pattern: its seconds hold the open already
])
def test_the_sweep_counts_its_timed_reads(pattern: str, timed: float) -> None:
    from report_data import BASE, row

    from layoutbench.run.sweep import overhead, timed_seconds

    m = Measurement.from_dict(row(BASE, "h5py-fsspec", pattern, seconds=1.0, requests=1,
                                  sent=1, chunks=1, stored=1))  # open_seconds 0.05
    assert timed_seconds([m, m]) == pytest.approx(2 * timed)
    assert overhead([m, m], 4 * timed) == (f"2 cases in {4 * timed:.1f} s, {2 * timed:.1f} s of "
                                           "them timed reads: 2.00x the timed reads")
