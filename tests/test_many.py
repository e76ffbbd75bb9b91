"""Many sources, many workers: a LocalCluster of 2 processes gives the serial run's figures case
for case, many files make one table and one JSON, and processes sharing a cache never write a
variant twice nor accept a half-written one."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from layoutbench.cli import main
from layoutbench.plan.layout import Layout
from layoutbench.plan.patterns import parse_spec
from layoutbench.run.executors import DaskExecutor, SerialExecutor
from layoutbench.run.sweep import run_sweep
from layoutbench.synthetic import generate_ophys
from layoutbench.write.cache_lock import entries, entry_lock, evict, parse_size
from layoutbench.write.rewrite import build_variant, cached_variant

DATA = "/acquisition/TwoPhotonSeries/data"
DETERMINISTIC = ("source", "layout", "reader", "pattern", "requests", "bytes_transferred",
                 "bytes_needed", "chunks_touched", "stored_bytes", "digest")


@pytest.fixture(scope="module")
def movies(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    d = tmp_path_factory.mktemp("many")
    out = []
    for i, shape in enumerate([(120, 64, 64), (96, 48, 64)]):
        path = d / f"movie{i}.nwb"
        generate_ophys(path, shape=shape, seed=10 + i)
        out.append(path)
    return out


@pytest.fixture(scope="module")
def cluster() -> Iterator[DaskExecutor]:
    """One LocalCluster of 2 worker processes for the module (it starts in a few seconds)."""
    executor = DaskExecutor(workers=2)
    try:
        yield executor
    finally:
        executor.close()


PATTERNS = [parse_spec("ophys-patch:frames=90,offsets=2"), parse_spec("ophys-frames")]


def _figures(rows: list) -> list[tuple]:
    return [tuple(getattr(r, k) if k != "layout" else r.layout.name for k in DETERMINISTIC)
            for r in rows]


def test_a_cluster_measures_what_the_serial_run_measures(s3, movies: list[Path],
                                                         cluster: DaskExecutor,
                                                         tmp_path: Path) -> None:
    kw = {"grid": "quick", "patterns": PATTERNS,
          "readers": ["h5py-remfile", "h5py-fsspec", "zarr"]}
    serial = run_sweep(movies, s3, "loopback", cache_dir=tmp_path / "a",
                       executor=SerialExecutor(), **kw)
    parallel = run_sweep(movies, s3, "loopback", cache_dir=tmp_path / "b", executor=cluster,
                         **kw)
    assert {r.source for r in serial} == {str(m) for m in movies}  # one table, both files
    assert _figures(parallel) == _figures(serial)  # case for case, in the plan's order
    assert all(r.requests > 0 for r in parallel)


def test_timed_steps_never_overlap_on_a_machine(cluster: DaskExecutor) -> None:
    from layoutbench.plan.work import Chain, Step

    chains = [Chain(f"c{i}", (Step("stamp", (0.3,), timed=True),)) for i in range(4)]
    spans = sorted(v for _, v in cluster.run(chains, {"stamp": _stamp}))
    assert len({pid for _, _, pid in spans}) == 2  # both workers took part...
    for (_, end, _), (start, _, _) in itertools.pairwise(spans):
        assert start >= end  # ...and no two timed steps ran at once


def _stamp(seconds: float) -> tuple[float, float, int]:
    start = time.time()
    time.sleep(seconds)
    return start, time.time(), os.getpid()


def test_recommend_many_files_is_one_json(movies: list[Path], cluster: DaskExecutor,
                                          tmp_path: Path) -> None:
    listing = tmp_path / "files.txt"
    listing.write_text(f"# the collection\n{movies[0]}\n\n{movies[1].name}\n")
    os.symlink(movies[1], tmp_path / movies[1].name)  # relative lines: beside the list
    out = tmp_path / "rec.json"
    result = CliRunner().invoke(main, ["recommend", f"@{listing}", "--min-mb", "0.5",
                                       "--format", "json", "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(out.read_text())
    assert doc == json.loads(result.stdout)
    assert [Path(f["file"]).name for f in doc["files"]] == [m.name for m in movies]
    summary = doc["summary"]
    assert summary["files"] == 2 and summary["datasets"] == 2
    assert summary["total_bytes"] == sum(m.stat().st_size for m in movies)
    assert summary["seconds_per_read_current"] >= summary["seconds_per_read_recommended"]
    # the same collection on the cluster: the same JSON (deterministic recommendations)
    from layoutbench.recommender.many import recommend_many

    options = {"patterns": [], "profile": "same-region", "threshold": 500_000}
    serial = recommend_many([str(m) for m in movies], options)
    assert recommend_many([str(m) for m in movies], options, executor=cluster) == serial


def test_apply_many_writes_one_output_each(movies: list[Path], tmp_path: Path) -> None:
    rec = tmp_path / "rec.json"
    code = CliRunner().invoke(main, ["recommend", str(movies[0].parent / "movie*.nwb"),
                                     "--min-mb", "0.5", "--min-gain", "1", "--format", "json",
                                     "-o", str(rec)]).exit_code
    assert code == 0
    result = CliRunner().invoke(main, ["apply", str(movies[0].parent / "movie*.nwb"),
                                       "--recommendation", str(rec), "-o",
                                       str(tmp_path / "out"), "--format", "json"])
    assert result.exit_code == 0, result.stderr
    written = json.loads(result.stdout)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [m.name for m in movies]
    assert [Path(w["output"]).name for w in written] == [m.name for m in movies]


@pytest.mark.parametrize(("args", "expected"), [
    # a glob that matches nothing
    (["recommend", "{tmp}/none-*.nwb"], "none-*.nwb: no file matches"),
    # a list file that does not exist
    (["sweep", "@{tmp}/missing.txt", "-o", "{tmp}/r.csv"], "no such list file"),
    # a list with no source in it
    (["measure", "@{tmp}/empty.txt", "-o", "{tmp}/r.csv"], "the list names no source"),
    # no worker at all
    (["sweep", "{movie}", "--workers", "0", "-o", "{tmp}/r.csv"], "--workers 0: expected at"),
    # a scheduler address that is not one
    (["recommend", "{movie}", "--scheduler-address", "nowhere"], "expected tcp://HOST:PORT"),
    # both ways of running at once
    (["apply", "{movie}", "--recommendation", "{tmp}/r.json", "-o", "{tmp}/o.nwb",
      "--workers", "2", "--scheduler-address", "tcp://127.0.0.1:1"], "give one"),
    # a cache limit that is not a size
    (["sweep", "{movie}", "--cache-limit", "lots", "-o", "{tmp}/r.csv"], "--cache-limit 'lots'"),
    # several files whose outputs would collide in -o DIR
    (["apply", "{movie}", "{tmp}/x/{name}", "--recommendation", "{tmp}/r.json", "-o",
      "{tmp}/o"], "the same name"),
])
def test_bad_many_input_is_one_line(movies: list[Path], tmp_path: Path, args: list[str],
                                    expected: str) -> None:
    (tmp_path / "empty.txt").write_text("# nothing\n")
    (tmp_path / "x").mkdir()
    os.symlink(movies[0], tmp_path / "x" / movies[0].name)
    (tmp_path / "r.json").write_text("{}")
    argv = [a.format(tmp=tmp_path, movie=movies[0], name=movies[0].name) for a in args]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and expected in lines[0], result.stderr


RACE = textwrap.dedent("""
    import json, logging, sys, time
    from pathlib import Path
    logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
    from layoutbench.plan.layout import Layout
    from layoutbench.write.rewrite import build_variant
    go = Path(sys.argv[3])
    while not go.exists():
        time.sleep(0.005)
    v = build_variant(Path(sys.argv[1]), sys.argv[2], "{data}",
                      Layout("hdf5", (30, 16, 16), "zstd", 3, shuffle=True))
    print(json.dumps(v.to_dict()))
""").format(data=DATA)


def test_two_processes_racing_on_one_variant_write_it_once(movies: list[Path],
                                                           tmp_path: Path) -> None:
    cache, go = tmp_path / "cache", tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", RACE, str(cache), str(movies[0]), str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    time.sleep(1.0)  # both are waiting at the start line
    go.touch()
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in outs]
    variants = [json.loads(o) for o, _ in outs]
    assert variants[0] == variants[1]  # the same verified variant, with the same proof
    wrote = sum(err.count("layoutbench.write.rewrite wrote") for _, err in outs)
    assert wrote == 1  # written once; the other process waited and reused it
    folder = Path(variants[0]["path"]).parent
    assert [p.name for p in folder.iterdir() if ".tmp-" in p.name] == []
    layout = Layout("hdf5", (30, 16, 16), "zstd", 3, shuffle=True)
    assert cached_variant(cache, movies[0], DATA, layout) is not None


def test_eviction_removes_the_oldest_and_never_an_entry_in_use(movies: list[Path],
                                                               tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    layouts = [Layout("hdf5", (30, c, c), "zstd", 3, shuffle=True) for c in (8, 16, 32)]
    built = [build_variant(cache, movies[0], DATA, lay) for lay in layouts]
    for i, v in enumerate(built):  # used in this order: 8 oldest, 32 newest
        os.utime(v.path + ".verified.json", (1000 + i, 1000 + i))
    sizes = {e.path.name: e.size for e in entries(cache)}
    assert list(sizes) == [Path(v.path).name for v in built]  # oldest first
    with entry_lock(built[0].path):  # another worker holds the oldest
        evict(cache, sizes[Path(built[0].path).name] + sizes[Path(built[2].path).name])
    left = [e.path.name for e in entries(cache)]
    assert left == [Path(built[0].path).name, Path(built[2].path).name]
    assert not Path(built[1].path).exists()  # data and proof both gone
    assert not Path(built[1].path + ".verified.json").exists()
    evict(cache, 0, keep=frozenset({built[2].path}))
    assert [e.path.name for e in entries(cache)] == [Path(built[2].path).name]


@pytest.mark.parametrize(("text", "expected"), [
    ("10GB", 10 * 10**9),  # decimal units, as disks are sold
    ("2GiB", 2 * 2**30),  # binary units
    ("500 MB", 500 * 10**6),  # a space is fine
    ("123", 123),  # plain bytes
    ("none", None),  # no limit
])
def test_sizes(text: str, expected: int | None) -> None:
    assert parse_size(text) == expected
