"""The cost model (pure), its calibration store, and codec sampling on a file's own data."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import h5py
import numpy as np
import pytest

from layoutbench.plan.geometry import ReadPlan
from layoutbench.plan.layout import Layout
from layoutbench.plan.measurement import Measurement
from layoutbench.plan.model import (
    CostConstants,
    fit_constants,
    plan_for_measurement,
    predict_seconds,
)
from layoutbench.plan.profiles import NetworkProfile, get_profile
from layoutbench.read.sampling import sample_codecs, sample_key
from layoutbench.recommender.calibration import (
    calibrate_from_results,
    default_path,
    load_constants,
    save_constants,
)
from layoutbench.results import read_results, write_results

SAME_REGION, HOME = get_profile("same-region"), get_profile("home")


def _plan(**kw: object) -> ReadPlan:
    base = dict(reader="h5py-fsspec", codec="zstd", selections=1, chunks_touched=10,
                chunks_read=10, requests=10, index_requests=0, bytes_transferred=10**7,
                bytes_needed=10**7, bytes_decoded=2 * 10**7, concurrency=1, rounds=10,
                serial_bytes=10**7)
    base.update(kw)
    return ReadPlan(**base)  # type: ignore[arg-type]


# -- prediction -----------------------------------------------------------------------------------
def test_more_latency_costs_more() -> None:
    plan = _plan()
    fast = predict_seconds(plan, NetworkProfile("a", 10, 100), decode_mbps=1000)
    slow = predict_seconds(plan, NetworkProfile("b", 50, 100), decode_mbps=1000)
    # ten serial requests, 40 ms more each
    assert slow - fast == pytest.approx(10 * 0.040)


def test_concurrency_pays_latency_per_round() -> None:
    serial = _plan(requests=30, rounds=30)
    concurrent = _plan(reader="zarr", requests=30, rounds=3, concurrency=10)
    s = predict_seconds(serial, SAME_REGION, decode_mbps=1000)
    c = predict_seconds(concurrent, SAME_REGION, decode_mbps=1000)
    assert s - c == pytest.approx(27 * SAME_REGION.latency_s)


def test_bandwidth_prices_the_critical_path_only() -> None:
    plan = _plan(bytes_transferred=4 * 10**8, serial_bytes=10**8)
    limited = predict_seconds(plan, NetworkProfile("a", 0, 100), decode_mbps=1e9)
    unlimited = predict_seconds(plan, NetworkProfile("b", 0, None), decode_mbps=1e9)
    assert limited - unlimited == pytest.approx(1.0, rel=1e-6)  # 100 MB at 100 MB/s


def test_decode_throughput_is_measured_never_assumed() -> None:
    plan = _plan(bytes_decoded=5 * 10**8)
    base = predict_seconds(_plan(bytes_decoded=0), SAME_REGION)
    assert predict_seconds(plan, SAME_REGION, decode_mbps=500) - base == pytest.approx(1.0)
    calibrated = CostConstants(decode_mbps={"zstd": 250})
    assert predict_seconds(plan, SAME_REGION, calibrated) - base == pytest.approx(2.0)
    assert predict_seconds(_plan(codec="none", bytes_decoded=10**9), SAME_REGION) == base
    with pytest.raises(ValueError, match="no decode throughput for codec 'zstd'"):
        predict_seconds(plan, SAME_REGION)


def test_constants_round_trip() -> None:
    c = CostConstants(latency_factor=1.1, request_overhead_s={"zarr": 0.002},
                      decode_mbps={"gzip": 300.0}, decode_factor={"kerchunk": 0.6}, n_rows=7,
                      rms_log_error=0.1)
    assert CostConstants.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    with pytest.raises(ValueError, match="unknown CostConstants keys"):
        CostConstants.from_dict({**c.to_dict(), "speed_of_light": 1.0})


# -- fitting --------------------------------------------------------------------------------------
LAYOUTS = [
    Layout("hdf5", (76, 64, 64), "gzip", 4),
    Layout("hdf5", (120, 16, 16), "zstd", shuffle=True),
    Layout("hdf5", (1, 64, 64), "blosc-lz4", shuffle=True),
    Layout("hdf5", (20, 32, 32), "none"),
    Layout("zarr", (120, 16, 16), "blosc-zstd", shuffle=True),
    Layout("zarr", (4, 64, 64), "zstd"),
    Layout("zarr", (10, 16, 16), "gzip", 4, shards=(120, 64, 64)),
]
READERS = {"hdf5": ("h5py-fsspec", "h5py-remfile", "kerchunk"), "zarr": ("zarr",)}
PATTERNS = ("ophys-patch:frames=120,offsets=3,patch=24x24", "ophys-frames:frames=6")
SHAPE = (120, 64, 64)


def _row(layout: Layout, reader: str, pattern: str, profile: NetworkProfile,
         seconds: float = 1.0, **kw: object) -> Measurement:
    ratio = 2.0 if layout.codec != "none" else 1.0
    nbytes = math.prod(SHAPE) * 2
    fields = dict(layout=layout, reader=reader, reader_options={}, pattern=pattern,
                  pattern_params={}, profile=profile.name, profile_params=profile.to_dict(),
                  dataset="/data", shape=SHAPE, dtype="uint16", requests=0, bytes_transferred=0,
                  bytes_needed=0, read_amplification=math.nan, read_amplification_raw=math.nan,
                  chunks_touched=0, seconds=seconds, open_requests=0, open_bytes=0,
                  open_seconds=0.0, stored_bytes=round(nbytes / ratio),
                  compression_ratio=nbytes / round(nbytes / ratio), write_seconds=0.0,
                  digest="", versions={}, timestamp="")
    fields.update(kw)
    return Measurement(**fields)  # type: ignore[arg-type]


TRUTH = CostConstants(
    request_overhead_s={"h5py-fsspec": 0.002, "h5py-remfile": 0.004, "kerchunk": 0.006,
                        "zarr": 0.003},
    read_overhead_s={"h5py-fsspec": 0.01, "h5py-remfile": 0.0, "kerchunk": 0.03, "zarr": 0.02},
    decode_mbps={"gzip": 300.0, "zstd": 1000.0, "blosc-lz4": 3000.0, "blosc-zstd": 2000.0,
                 "none": 8000.0})


def _synthetic(truth: CostConstants, sampled: dict | None = None) -> list[Measurement]:
    """Rows whose seconds the model with ``truth`` predicts exactly, on two networks."""
    rows = []
    for layout in LAYOUTS:
        for reader in READERS[layout.format]:
            for pattern in PATTERNS:
                for profile in (SAME_REGION, HOME):
                    row = _row(layout, reader, pattern, profile)
                    mbps = sampled.get(layout.codec) if sampled else None
                    t = predict_seconds(plan_for_measurement(row), profile, truth, mbps)
                    rows.append(dataclasses.replace(row, seconds=t))
    return rows


def test_fit_recovers_known_constants() -> None:
    rows = _synthetic(TRUTH)
    fitted = fit_constants(rows)
    assert fitted.n_rows == len(rows) and fitted.rms_log_error < 1e-6
    assert fitted.latency_factor == pytest.approx(1.0, abs=1e-6)
    assert fitted.transfer_factor == pytest.approx(1.0, abs=1e-6)
    for key in ("request_overhead_s", "read_overhead_s", "decode_mbps"):
        got, want = getattr(fitted, key), getattr(TRUTH, key)
        assert set(got) == set(want)
        for name in want:
            assert got[name] == pytest.approx(want[name], rel=1e-4, abs=1e-7), (key, name)


def test_fit_recovers_decode_factors_from_sampled_speeds() -> None:
    sampled = {"gzip": 350.0, "zstd": 1200.0, "blosc-lz4": 2500.0, "blosc-zstd": 1800.0,
               "none": 9000.0}
    truth = dataclasses.replace(TRUTH, decode_factor={"zarr": 0.5, "kerchunk": 0.6,
                                                      "h5py-fsspec": 1.0, "h5py-remfile": 1.2})
    rows = _synthetic(truth, sampled)
    fitted = fit_constants(rows, decode_mbps=lambda m: sampled[m.layout.codec])
    assert fitted.rms_log_error < 1e-6
    for reader, factor in truth.decode_factor.items():
        assert fitted.decode_factor[reader] == pytest.approx(factor, rel=1e-4)


def test_fit_skips_rows_it_cannot_use() -> None:
    good = _synthetic(TRUTH)
    bad = [dataclasses.replace(good[0], fallback="h5py-fsspec: unsupported"),
           dataclasses.replace(good[1], seconds=0.0),
           _row(LAYOUTS[0], "h5py-remfile", "open", SAME_REGION)]
    assert fit_constants(good + bad).n_rows == len(good)
    with pytest.raises(ValueError, match="no usable"):
        fit_constants(bad)


def test_rows_record_the_rate_their_time_based_pattern_used(tmp_path: Path) -> None:
    layout, shape = Layout("hdf5", (3000, 16), "zstd"), (60000, 16)
    window = "ecephys-window:seconds=1"
    rows = [_row(layout, "h5py-fsspec", window, SAME_REGION, shape=shape, rate=1000.0),
            _row(layout, "h5py-fsspec", window, SAME_REGION, shape=shape)]
    assert plan_for_measurement(rows[0]).bytes_needed == 1000 * 16 * 2  # the row's own rate
    assert plan_for_measurement(rows[0], rate=2000.0).bytes_needed == 2000 * 16 * 2  # override
    assert plan_for_measurement(rows[1]).bytes_needed == 30000 * 16 * 2  # none: the default
    for name in ("r.parquet", "r.csv"):  # a missing rate comes back as None, not NaN
        frame = read_results(write_results(rows, tmp_path / name))
        back = [Measurement.from_dict(r) for r in frame.to_dict(orient="records")]
        assert [b.rate for b in back] == [1000.0, None]
        frame = read_results(write_results(rows[1:], tmp_path / name))  # no rate at all
        assert Measurement.from_dict(frame.to_dict(orient="records")[0]).rate is None


# -- calibration storage --------------------------------------------------------------------------
def test_save_and_load_constants(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAYOUTBENCH_CACHE", str(tmp_path / "cache"))
    assert default_path() == tmp_path / "cache" / "calibration.json"
    assert load_constants() is None
    path = save_constants(TRUTH, source="unit test")
    assert path == default_path() and load_constants() == TRUTH
    assert [p.name for p in path.parent.iterdir()] == ["calibration.json"]  # no temp left
    path.write_text("{not json")
    assert load_constants() is None  # unreadable: ignored, the model runs uncalibrated
    path.write_text(json.dumps({"format": "something-else", "constants": {}}))
    assert load_constants(path) is None


def test_calibrate_from_results(tmp_path: Path) -> None:
    results = write_results(_synthetic(TRUTH), tmp_path / "r.parquet")
    fitted = calibrate_from_results(results)
    assert fitted.request_overhead_s["kerchunk"] == pytest.approx(0.006, rel=1e-3)
    assert fitted.decode_mbps["gzip"] == pytest.approx(300.0, rel=1e-3)


# -- sampling on the file's own data --------------------------------------------------------------
@pytest.fixture(scope="module")
def movie(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from layoutbench.synthetic import generate_ophys

    path = tmp_path_factory.mktemp("sampling") / "ophys.nwb"
    generate_ophys(path, shape=(120, 128, 128), seed=3)
    return path


def test_sampled_ratios_match_written_variants(movie: Path, tmp_path: Path) -> None:
    from layoutbench.write.rewrite import write_variant

    data = "/acquisition/TwoPhotonSeries/data"
    layouts = [Layout("hdf5", (120, 32, 32), "zstd", shuffle=True),
               Layout("hdf5", (10, 64, 64), "gzip", 4), Layout("hdf5", (10, 64, 64), "none"),
               Layout("zarr", (120, 32, 32), "blosc-zstd", shuffle=True)]
    budget = 2 * 2**20
    samples = sample_codecs(movie, data, layouts + layouts[:1], compress_bytes=budget)
    assert set(samples) == {sample_key(lay) for lay in layouts}  # duplicates measured once
    for layout in layouts:
        s = samples[sample_key(layout)]
        assert s.raw_bytes <= budget and 0 < s.decode_mbps < math.inf
        if layout.codec == "none":
            assert s.ratio == 1.0
            continue
        variant = write_variant(movie, data, layout, tmp_path / layout.name)
        if layout.format == "hdf5":  # the chunks alone, without the file's metadata
            with h5py.File(variant.path) as f:
                stored = f[data].id.get_storage_size()
        else:
            stored = variant.stored_bytes
        actual = variant.nbytes / stored
        assert s.ratio == pytest.approx(actual, rel=0.1), layout.name
        assert s.chunk_nbytes(2) == pytest.approx(
            np.prod(layout.chunks) * 2 / actual, rel=0.1)
