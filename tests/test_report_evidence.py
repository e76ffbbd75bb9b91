"""The data behind the report's plots, on hand-made tables: ratios to the baseline within one
run, the whole-file download line, Pareto fronts, costs, predicted against measured cases with
Spearman's rho, and the recommendation cards' measured speedup."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from report_data import BASE, WIDE, ZARR, recommendation, results_frame, row
from scipy import stats

from layoutbench.plan.layout import Layout
from layoutbench.plan.profiles import PROFILES
from layoutbench.plan.search import Scored
from layoutbench.reporting import evidence


def _pick(table: pd.DataFrame, **where: str) -> pd.Series:
    mask = np.ones(len(table), dtype=bool)
    for k, v in where.items():
        mask &= table[k] == v
    rows = table[mask]
    assert len(rows) == 1, where
    return rows.iloc[0]


def test_ratios_are_taken_within_each_profile_and_reader() -> None:
    table = evidence.summary(results_frame())
    same = {"profile": "same-region", "pattern": "ophys-patch"}
    # same reader: 4.0 s / 0.4 s, 240 MB / 13 MB
    wide = _pick(table, **same, layout=WIDE.name, reader="h5py-fsspec")
    assert wide["speedup"] == pytest.approx(10.0)
    assert wide["bytes_reduction"] == pytest.approx(240 / 13)
    # zarr cannot read the HDF5 baseline: the baseline's fastest reader (kerchunk, 2.0 s)
    zarr = _pick(table, **same, layout=ZARR.name, reader="zarr")
    assert zarr["speedup"] == pytest.approx(2.0 / 0.3)
    # the cross-region run is 3x slower throughout: the same ratios, never mixed with the other
    cross = _pick(table, profile="cross-region", pattern="ophys-patch", layout=WIDE.name,
                  reader="h5py-fsspec")
    assert cross["seconds"] == pytest.approx(1.2)
    assert cross["speedup"] == pytest.approx(10.0)
    base = table[table["layout"] == "neuroconv-default"]
    assert base["is_baseline"].all() and (base["speedup"] == 1.0).all()
    assert not table.loc[table["layout"] != "neuroconv-default", "is_baseline"].any()
    assert len(table) == 2 * 2 * 7  # profiles x patterns x (3 layouts x 2 readers + zarr)


def test_sources_are_kept_apart() -> None:
    rows = [row(BASE, "h5py-fsspec", "ophys-patch", seconds=4.0, requests=1, sent=100,
                chunks=1, stored=10, source="a.nwb"),
            row(BASE, "h5py-fsspec", "ophys-patch", seconds=1.0, requests=1, sent=100,
                chunks=1, stored=10, source="b.nwb"),
            row(WIDE, "h5py-fsspec", "ophys-patch", seconds=0.5, requests=1, sent=50,
                chunks=1, stored=10, source="b.nwb")]
    table = evidence.summary(pd.DataFrame(rows))
    assert _pick(table, source="b.nwb", layout=WIDE.name)["speedup"] == pytest.approx(2.0)


def test_cost_is_priced_like_the_recommender() -> None:
    scored = Scored(WIDE, "h5py-fsspec", 1.6, 0.4, requests=12, bytes_transferred=13e6,
                    stored_bytes=68_000_000)
    assert evidence.cost_per_1000(12, 13e6) == pytest.approx(scored.cost_per_1000())
    table = evidence.summary(results_frame())
    wide = _pick(table, profile="same-region", pattern="ophys-patch", layout=WIDE.name,
                 reader="h5py-fsspec")
    assert wide["cost_per_1000_reads_usd"] == pytest.approx(12 * 0.0004 + 13e6 / 1e9 * 90)


def test_whole_file_download_reference() -> None:
    table = evidence.summary(results_frame())
    group = table[(table["profile"] == "same-region") & (table["pattern"] == "ophys-patch")]
    ref = evidence.whole_file(group, PROFILES["same-region"])
    assert ref is not None
    assert ref.label == "neuroconv-default" and ref.stored_bytes == 80_000_000
    assert ref.seconds == pytest.approx(0.020 + 80e6 / 100e6)  # one GET: latency + size/bw
    unlimited = evidence.whole_file(group, PROFILES["loopback"])
    assert unlimited is not None and unlimited.seconds is None
    assert evidence.whole_file(group[~group["is_baseline"]], PROFILES["same-region"]) is None
    as_is = Layout("hdf5", (76, 64, 64), "gzip", 4, label="as-is")
    frame = pd.DataFrame([row(as_is, "h5py-remfile", "open", seconds=1.0, requests=9,
                              sent=10_000, chunks=0, stored=84_000_000)])
    ref = evidence.whole_file(evidence.summary(frame), PROFILES["same-region"])
    assert ref is not None and ref.label == "the file as it is"
    assert ref.stored_bytes == 84_000_000


def test_the_profile_of_each_run_comes_from_its_rows() -> None:
    nets = evidence.profiles(results_frame())
    assert nets["cross-region"].latency_ms == 80.0
    assert nets["cross-region"].bandwidth_mbps == 40.0


def test_pareto_front() -> None:
    x = [1, 2, 3, 2, 1, 4, np.nan]
    y = [5, 3, 1, 4, 5, 1, 0.1]
    # (1,5) twice: both on it; (2,3) and (3,1) on it; (2,4) beaten by (2,3); (4,1) by (3,1);
    # NaN never
    assert evidence.pareto_front(x, y).tolist() == [True, True, True, False, True, False,
                                                    False]
    assert evidence.pareto_front([], []).tolist() == []


def test_pareto_front_of_the_tradeoff_plot() -> None:
    table = evidence.summary(results_frame())
    group = table[(table["profile"] == "same-region") & (table["pattern"] == "ophys-patch")]
    front = group[evidence.pareto_front(group["stored_bytes"], group["seconds"])]
    # zarr is the smallest (64 MB, 0.3 s); WIDE by kerchunk the fastest (68 MB, 0.2 s); every
    # other case is bigger and slower than one of them
    expected = {(ZARR.name, "zarr"), (WIDE.name, "kerchunk")}
    assert set(zip(front["layout"], front["reader"], strict=True)) == expected
    cost = group[evidence.pareto_front(group["cost_per_1000_reads_usd"], group["seconds"])]
    assert set(zip(cost["layout"], cost["reader"], strict=True)) == expected


def test_spearman() -> None:
    assert evidence.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert evidence.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    a, b = [0.1, 0.4, 0.4, 2.0, 3.0], [0.2, 0.3, 0.5, 0.5, 4.0]
    assert evidence.spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic)
    assert math.isnan(evidence.spearman([1, 2], [1, 2]))  # too few to rank
    assert math.isnan(evidence.spearman([1, 1, 1], [1, 2, 3]))  # nothing to rank
    assert evidence.spearman([1, 2, np.nan, 3], [1, 2, 5, 3]) == pytest.approx(1.0)


def test_prediction_points_from_measure_and_sweep() -> None:
    points = evidence.prediction_points(results_frame(), [recommendation()])
    measured = points[points["origin"] == "recommend --measure"]
    assert sorted(measured["role"]) == ["alternative", "current", "recommended"]
    swept = points[points["origin"] == "sweep"]
    # the current layout is the grid's neuroconv-default (same chunks and codec, other label),
    # WIDE is recommended, NARROW an alternative; h5py-fsspec only, same-region only, 2 patterns
    assert len(swept) == 6
    assert set(swept["profile"]) == {"same-region"}
    cur = swept[(swept["role"] == "current") & (swept["pattern"] == "ophys-patch")].iloc[0]
    assert cur["layout"] == "neuroconv-default"
    assert (cur["predicted_seconds"], cur["measured_seconds"]) == (3.6, 4.0)
    # the model ranks all 9 cases as measured (ties included)
    assert evidence.spearman(points["predicted_seconds"],
                             points["measured_seconds"]) == pytest.approx(1.0)


def test_a_sweep_recommendation_row_is_matched_by_its_layout_not_its_label() -> None:
    rec = recommendation(measured=False)
    labelled = Layout("hdf5", WIDE.chunks, WIDE.codec, WIDE.level, shuffle=True,
                      label="recommended")
    frame = pd.DataFrame([row(labelled, "h5py-fsspec", "ophys-patch", seconds=0.5, requests=12,
                              sent=13_000_000, chunks=4, stored=68_000_000)])
    points = evidence.prediction_points(frame, [rec])
    assert points[["layout", "role", "predicted_seconds", "measured_seconds"]].values.tolist() \
        == [["recommended", "recommended", 0.45, 0.5]]
    # another shape of the same dataset path is another dataset: no match
    other = pd.DataFrame([row(labelled, "h5py-fsspec", "ophys-patch", seconds=0.5, requests=12,
                              sent=13_000_000, chunks=4, stored=1, shape=(10, 64, 64))])
    assert evidence.prediction_points(other, [rec]).empty


def test_measured_speedup_of_a_card() -> None:
    rec = recommendation()
    d = rec["datasets"][0]
    points = evidence.prediction_points(results_frame(), [rec])
    assert evidence.measured_speedup(d, points) == pytest.approx(3.0 / 0.25)  # --measure
    rec = recommendation(measured=False)
    points = evidence.prediction_points(results_frame(), [rec])
    # from the sweep, weighted like the prediction: (4.0 + 2.0) / 2 over (0.4 + 0.2) / 2
    assert evidence.measured_speedup(rec["datasets"][0], points) == pytest.approx(10.0)
    assert evidence.measured_speedup(rec["datasets"][0], points.iloc[0:0]) is None


def test_run_info() -> None:
    frame = results_frame()
    frame.loc[0, "timestamp"] = "2026-11-29T08:00:00+00:00"
    info = evidence.run_info(frame)
    assert info["machines"] == ["Linux x86_64, 2 CPUs"]
    assert info["versions"] == {"h5py": ["3.16.0"]}
    assert set(info["profiles"]) == {"same-region", "cross-region"}
    assert info["first"].startswith("2026-11-29T08:00") and info["last"].startswith("2026-11-30")
    assert info["sources"] == ["movie.nwb"] and info["rows"] == len(frame)


def test_a_contiguous_current_layout_is_not_taken_for_a_chunked_one() -> None:
    rec = recommendation(measured=False)
    d = rec["datasets"][0]
    d["current"] = {**d["current"], "chunks": [1000, 32, 32], "codec": "zstd", "level": 3,
                    "shuffle": True, "contiguous": True}
    points = evidence.prediction_points(results_frame(), [rec])
    assert "current" not in set(points["role"])  # WIDE rows have the same chunks, not storage
    assert {"recommended", "alternative"} <= set(points["role"])


def test_pattern_figure_draws_the_spread_and_stars_the_recommended_layout() -> None:
    from layoutbench.reporting import figures

    rec = Layout("hdf5", (1000, 32, 32), "zstd", 3, shuffle=True, label="recommended")
    rows = [row(BASE, "h5py-fsspec", "ophys-patch", seconds=s, requests=40, sent=9_000_000,
                chunks=12, stored=5_000_000) for s in (2.0, 2.2, 3.0)]  # three repeats
    rows += [row(rec, "h5py-fsspec", "ophys-patch", seconds=s, requests=8, sent=800_000,
                 chunks=4, stored=5_000_000) for s in (0.5, 0.4, 0.9)]
    table = evidence.summary(pd.DataFrame(rows))
    fig = figures.pattern_figure(table, None, {"h5py-fsspec": "#000"}, "t")
    seconds_bars = fig.data[0]
    assert list(seconds_bars.y) == list(table["layout"])
    # the median, then from the fastest to the slowest repeat
    assert list(seconds_bars.x) == [0.5, 2.2]
    assert seconds_bars.error_x.arrayminus == pytest.approx([0.1, 0.2])
    assert seconds_bars.error_x.array == pytest.approx([0.4, 0.8])
    ticks = dict(zip(fig.layout.yaxis.tickvals, fig.layout.yaxis.ticktext, strict=True))
    assert ticks["recommended"] == "<b>★ recommended</b>"
    assert ticks["neuroconv-default"].endswith("(baseline)")
    # measured once: no error bars (one sample has no spread)
    once = evidence.summary(pd.DataFrame([rows[0], rows[3]]))
    assert figures.pattern_figure(once, None, {}, "t").data[0].error_x.array is None


def test_the_workload_weighs_patterns_as_the_recommendation_does() -> None:
    table = evidence.summary(results_frame())
    runs = table[table["profile"] == "same-region"]
    weighed = evidence.workload(runs, [{"name": "ophys-patch", "weight": 3.0},
                                       {"name": "ophys-frames", "weight": 1.0}])
    assert len(weighed) == 7  # every (layout, reader) was measured on both patterns
    got = weighed.set_index(["layout", "reader"])
    # (3 x 0.4 + 1 x 0.2) / 4 against the baseline's (3 x 4.0 + 1 x 2.0) / 4, same reader
    assert got.loc[(WIDE.name, "h5py-fsspec"), "seconds"] == pytest.approx(0.35)
    assert got.loc[(WIDE.name, "h5py-fsspec"), "speedup"] == pytest.approx(10.0)
    # zarr cannot read the baseline: compared with its fastest reader (kerchunk, 1.75 s)
    assert got.loc[(ZARR.name, "zarr"), "speedup"] == pytest.approx(1.75 / 0.2625)
    assert bool(got.loc[(BASE.name, "kerchunk"), "is_baseline"])
    # one pattern: its own chart is the workload's; a pattern never measured: nothing
    assert evidence.workload(runs, [{"name": "ophys-patch", "weight": 1.0}]).empty
    assert evidence.workload(runs, [{"name": "ophys-patch", "weight": 1.0},
                                    {"name": "volume-planes", "weight": 1.0}]).empty


def test_rho_is_shown_only_over_enough_cases() -> None:
    from layoutbench.reporting.figures import RHO_MIN_CASES, prediction_figure

    points = evidence.prediction_points(results_frame(), [recommendation()])
    assert len(points) >= RHO_MIN_CASES
    _, rho = prediction_figure(points, {}, "all")
    assert rho == pytest.approx(1.0)
    # four cases agreeing perfectly happen by chance one time in 24: no coefficient
    fig, rho = prediction_figure(points.head(RHO_MIN_CASES - 1), {}, "few")
    assert math.isnan(rho) and "n/a (fewer than 5 cases" in fig.layout.title.text
