"""recommend: the search space (pure), the recommendation for real files, the CLI contract."""

from __future__ import annotations

import json
import math
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from layoutbench.cli import main
from layoutbench.plan.patterns import parse_spec
from layoutbench.plan.profiles import get_profile
from layoutbench.plan.search import Constraints, axis_options, chunk_shapes, shard_for
from layoutbench.recommender.source import recommend
from layoutbench.store import EmbeddedS3
from layoutbench.synthetic import generate_ecephys, generate_ophys
from layoutbench.write.apply_plan import layouts_from_recommendation


@pytest.fixture(autouse=True)
def _no_stored_calibration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Results must not depend on constants a developer calibrated on this machine."""
    monkeypatch.setenv("LAYOUTBENCH_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize(("n", "extra", "expected"), [
    (1000, (), [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000]),  # powers of two + whole axis
    (256, (76,), [1, 2, 4, 8, 16, 32, 64, 76, 128, 256]),       # a neuroconv shape joins
    (1, (), [1]),                                                # a singleton axis
    (5, (64,), [1, 2, 4, 5]),                                    # extras are clipped
])
def test_axis_options(n: int, extra: tuple[int, ...], expected: list[int]) -> None:
    assert axis_options(n, *extra) == expected


def test_chunk_shapes_respect_size_bounds() -> None:
    c = Constraints(max_chunk_mb=1.0, min_chunk_kb=64)
    shapes = chunk_shapes((1000, 256, 256), 2, c, extra=[(76, 256, 256)])
    assert shapes and all(64 * 1024 <= math.prod(s) * 2 <= 1e6 for s in shapes)
    assert (1000, 16, 16) in shapes and (76, 256, 256) not in shapes  # 10 MB: over the cap


@pytest.mark.parametrize(("chunks", "shape", "expected"), [
    ((1000, 16, 16), (1000, 256, 256), (1000, 128, 128)),  # ~64 MB of small chunks
    ((1000, 256, 256), (1000, 256, 256), None),            # one big chunk: nothing to group
])
def test_shard_for(chunks: tuple[int, ...], shape: tuple[int, ...],
                   expected: tuple[int, ...] | None) -> None:
    shards = shard_for(chunks, shape, 2)
    assert shards == expected
    if shards is not None:
        assert all(s % c == 0 for s, c in zip(shards, chunks, strict=True))


@pytest.fixture(scope="module")
def ophys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rec") / "ophys.nwb"
    generate_ophys(path, shape=(400, 128, 128), seed=1)
    return path


def test_recommendation_beats_neuroconv_default(ophys: Path) -> None:
    rec = recommend(ophys, patterns=[parse_spec("ophys-patch")],
                    profile=get_profile("same-region"), threshold=1_000_000)
    (d,) = rec.datasets
    assert d.kind == "ophys" and d.current.layout.codec == "gzip"
    assert d.recommended.layout.format == "hdf5"  # the default constraint
    assert d.speedup > 2  # whole frames (128x128) vs a 32x32 patch: several times fewer bytes
    assert d.recommended.ratio >= 0.9 * d.current.ratio
    assert math.prod(d.recommended.layout.chunks) * 2 <= 10e6
    out = rec.to_dict()
    assert set(out) >= {"file", "profile", "datasets"}
    entry = out["datasets"][0]
    assert set(entry) >= {"path", "neurodata_type", "shape", "dtype", "current", "patterns",
                          "recommended", "alternatives"}
    for key in ("format", "chunks", "shards", "codec", "level", "shuffle", "requests",
                "bytes_transferred", "seconds", "stored_bytes", "cost_per_1000_reads_usd",
                "speedup_vs_current"):
        assert key in entry["recommended"]
    # apply accepts exactly this object
    layouts = layouts_from_recommendation(json.loads(json.dumps(out)))
    assert layouts[d.info.path].chunks == d.recommended.layout.chunks


def test_weights_change_the_objective(ophys: Path) -> None:
    profile = get_profile("same-region")
    patch = recommend(ophys, patterns=[parse_spec("ophys-patch")], profile=profile,
                      threshold=1_000_000).datasets[0]
    frames = recommend(ophys, patterns=[parse_spec("ophys-frames")], profile=profile,
                       threshold=1_000_000).datasets[0]
    assert patch.recommended.layout.chunks != frames.recommended.layout.chunks


def test_zarr_allowed(ophys: Path) -> None:
    rec = recommend(ophys, patterns=[parse_spec("ophys-patch")], profile=get_profile("home"),
                    constraints=Constraints(format="zarr"), threshold=1_000_000)
    assert rec.datasets[0].recommended.layout.format == "zarr"
    assert rec.datasets[0].recommended.reader == "zarr"


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cli_json_and_neuroconv(ophys: Path, tmp_path: Path) -> None:
    out = tmp_path / "rec.json"
    code, stdout, _ = _run("recommend", str(ophys), "--min-mb", "1", "--format", "json",
                           "--pattern", "ophys-patch@2", "--pattern", "ophys-frames", "-o",
                           str(out))
    assert code == 0
    rec = json.loads(stdout)
    assert json.loads(out.read_text()) == rec
    assert [p["weight"] for p in rec["datasets"][0]["patterns"]] == [2.0, 1.0]
    code, stdout, _ = _run("recommend", str(ophys), "--min-mb", "1", "--format", "neuroconv")
    assert code == 0
    (cfg,) = json.loads(stdout).values()
    assert set(cfg) >= {"chunk_shape", "buffer_shape", "compressors", "compressor_options"}
    assert "compression_method" not in cfg  # deprecated by neuroconv 0.10
    assert all(b % c == 0 or b == s for b, c, s in
               zip(cfg["buffer_shape"], cfg["chunk_shape"], cfg["full_shape"], strict=True))


def test_cli_nothing_over_threshold(ophys: Path) -> None:
    code, stdout, _ = _run("recommend", str(ophys), "--min-mb", "100000")
    assert code == 0
    assert "nothing to recommend" in stdout


def test_plain_hdf5_with_strings_and_compounds(tmp_path: Path) -> None:
    path = tmp_path / "plain.h5"
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        walk = np.cumsum(rng.integers(-3, 4, size=(200_000, 8)), axis=0).astype(np.int16)
        f.create_dataset("signals", data=walk, chunks=(10_000, 8), compression="gzip")
        f.create_dataset("labels", data=np.array([b"x" * 64] * 40_000))
        f.create_dataset("events", data=np.zeros(100_000, dtype=[("t", "f8"), ("id", "i8")]))
    code, stdout, _ = _run("recommend", str(path), "--min-mb", "1", "--format", "json")
    assert code == 0
    rec = json.loads(stdout)
    assert [d["path"] for d in rec["datasets"]] == ["/signals"]
    assert rec["datasets"][0]["kind"] == "ecephys"  # a 2-D array of a non-NWB file
    skipped = {s["path"]: s["reason"] for s in rec["skipped"]}
    assert "compound" in skipped["/events"] and "string" in skipped["/labels"]


@pytest.mark.parametrize(("args", "message"), [
    (["--format", "any"], "use --storage any"),        # the storage constraint is --storage
    (["--format", "yaml"], "not one of table, json"),  # an unknown output
    (["--storage", "tiff"], "tiff"),                   # an unknown storage format
    (["--pattern", "nope"], "nope"),                                    # unknown pattern
    (["--max-chunk-mb", "0"], "--max-chunk-mb"),                        # impossible bound
])
def test_cli_bad_options(ophys: Path, args: list[str], message: str) -> None:
    code, _, stderr = _run("recommend", str(ophys), *args)
    assert code == 2
    assert message in stderr and "Traceback" not in stderr


def test_cli_missing_file(tmp_path: Path) -> None:
    code, _, stderr = _run("recommend", str(tmp_path / "none.nwb"))
    assert code == 2 and "none.nwb" in stderr


def test_measure_reports_predicted_beside_measured(tmp_path: Path) -> None:
    path = tmp_path / "ecephys.nwb"
    generate_ecephys(path, shape=(90_000, 16), seed=2)
    rec = recommend(path, patterns=[parse_spec("ecephys-window")],
                    profile=get_profile("loopback"), threshold=1_000_000, measure=True)
    rows = rec.datasets[0].measured
    assert [r["layout"] for r in rows][:2] == ["current", rec.datasets[0].recommended.layout.name]
    for r in rows:
        assert r["measured_requests"] > 0 and r["predicted_requests"] > 0
        assert r["measured_bytes"] > 0


def test_calibrate_then_recommend_uses_the_constants(ophys: Path, tmp_path: Path,
                                                     s3: EmbeddedS3) -> None:
    from layoutbench.plan.layout import Layout
    from layoutbench.results import write_results
    from layoutbench.run.sweep import run_sweep

    layouts = [Layout("hdf5", (400, 32, 32), "zstd", 3, shuffle=True),
               Layout("hdf5", (1, 128, 128), "gzip", 4)]
    rows = run_sweep(ophys, s3, get_profile("same-region"), layouts=layouts,
                     readers=["h5py-fsspec"], patterns=[parse_spec("ophys-patch:offsets=2")],
                     cache_dir=tmp_path / "variants")
    results = write_results(rows, tmp_path / "r.parquet")
    code, stdout, stderr = _run("calibrate", str(results))
    assert code == 0, stderr
    assert "fitted on 2 rows" in stdout
    code, stdout, _ = _run("recommend", str(ophys), "--min-mb", "1", "--format", "json")
    assert json.loads(stdout)["calibrated"] is True
    code, _, stderr = _run("calibrate", str(tmp_path / "missing.parquet"))
    assert code == 2 and "missing.parquet" in stderr


def test_named_readers_are_the_only_ones_chosen_among(ophys: Path) -> None:
    """`--readers h5py-fsspec --readers h5py-remfile`: the recommendation chooses among those
    two (kerchunk and the Zarr readers are not among them)."""
    rec = recommend(ophys, patterns=[parse_spec("ophys-patch")], profile=get_profile(
        "cross-region"), readers=["h5py-fsspec", "h5py-remfile"], threshold=1_000_000)
    d = rec.datasets[0]
    assert {s.reader for s in (d.recommended, *d.alternatives)} <= {"h5py-fsspec",
                                                                     "h5py-remfile"}
    assert d.current.reader == "h5py-fsspec"


def test_reader_any_recommends_the_reader_too(ophys: Path) -> None:
    rec = recommend(ophys, patterns=[parse_spec("ophys-patch")],
                    profile=get_profile("cross-region"), readers="any", threshold=1_000_000)
    d = rec.datasets[0]
    assert d.current.reader == "h5py-fsspec"  # what users get today
    scored = {s.reader for s in (d.recommended, *d.alternatives)}
    assert len(scored) > 1 or d.recommended.reader != "h5py-fsspec"  # readers compete
    fixed = recommend(ophys, patterns=[parse_spec("ophys-patch")],
                      profile=get_profile("cross-region"), threshold=1_000_000).datasets[0]
    assert d.recommended.seconds <= fixed.recommended.seconds  # a choice can only gain
    if d.recommended.reader == "kerchunk":  # references cannot express hdf5plugin's LZ4
        assert d.recommended.layout.codec != "lz4"
    # another reader than the default: when it pays is said, against the default's own best
    choice = d.to_dict()["reader_choice"]
    if d.recommended.reader != "h5py-fsspec":
        assert choice["default"]["reader"] == "h5py-fsspec"
        assert choice["seconds"]["as given"]["chosen"] <= choice["seconds"]["as given"]["default"]
        assert {"a busy client (a quarter of its CPU)", "sessions of 1 selection",
                "sessions of 30 selections"} <= set(choice["seconds"])
        # the default reader's best is at least as fast as what the default recommendation
        # found (its shapes are kept among the finalists)
        assert choice["seconds"]["as given"]["default"] <= fixed.recommended.seconds * 1.05
    else:
        assert choice is None


def test_an_already_good_layout_is_kept(tmp_path: Path) -> None:
    from layoutbench.plan.layout import Layout

    path = tmp_path / "good.nwb"
    generate_ophys(path, shape=(400, 128, 128), seed=1,
                   layout=Layout("hdf5", (400, 32, 32), "zstd", 3, shuffle=True))
    rec = recommend(path, patterns=[parse_spec("ophys-patch")],
                    profile=get_profile("same-region"), threshold=1_000_000,
                    constraints=Constraints(max_chunk_mb=0.1))  # only smaller chunks allowed
    d = rec.datasets[0]
    assert d.recommended is d.current  # every candidate reads slower: no rewrite is advised
    assert any("keep it" in n for n in d.notes)
    assert d.alternatives and all(a.seconds >= d.current.seconds for a in d.alternatives)
