"""The pure parts of ``benchmarks/validate.py`` (no generation, no sweep): the grid of layouts
built from a source's shape, and how regret, gains and misses are judged and summarised."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from benchmarks import validate


def _is_pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


@pytest.mark.parametrize("case", validate.cases() + validate.cases(quick=True),
                         ids=lambda c: f"{c.name}-{'x'.join(map(str, c.shape))}")
def test_grid_is_varied_and_valid(case: validate.Case) -> None:
    layouts = validate.grid(case.shape, 2)
    names = [lay.name for lay in layouts]
    assert len(layouts) >= 30
    assert len(set(names)) == len(names)  # distinct by name
    assert len(set(layouts)) == len(layouts)  # and as layouts (labels aside)
    for lay in layouts:
        lay.validate(case.shape)
        assert lay.fitted(case.shape) == lay  # already fitted: no chunk beyond the array
        assert math.prod(lay.chunks) * 2 <= 12e6  # no chunk far beyond neuroconv's 10 MB
    chunks = {lay.chunks for lay in layouts}
    whole = [c for c in chunks if any(n == s and c != tuple(case.shape)
                                      for n, s in zip(c, case.shape, strict=True))]
    npot = [c for c in chunks if any(not _is_pow2(n) and n != s
                                     for n, s in zip(c, case.shape, strict=True))]
    assert whole and npot
    for axis in range(len(case.shape)):  # every axis whole in some chunk shape
        assert any(c[axis] == case.shape[axis] for c in chunks)
    assert {lay.format for lay in layouts} == {"hdf5", "zarr"}
    assert {lay.codec for lay in layouts} >= {"zstd", "gzip", "blosc-lz4", "none"}
    assert any(lay.shards for lay in layouts)
    assert validate.grid(case.shape, 2)[:8] == layouts[:8]  # deterministic; quick's subset
    assert len({lay.format for lay in layouts[:8]}) == 2


def test_grid_small_n_and_two_dimensions() -> None:
    assert len(validate.grid((600, 512, 512), 2, n=8)) == 8
    assert validate.chunk_shapes((1000, 64), 2)[0] == (1000, 64)  # a small array: one chunk


def _measured() -> pd.DataFrame:
    return pd.DataFrame({
        "layout": ["as-written", "as-written", "a", "a", "b", "c"],
        "reader": ["h5py-fsspec", "kerchunk", "h5py-fsspec", "kerchunk", "zarr", "h5py-fsspec"],
        "seconds": [8.0, 6.0, 2.0, 1.5, 1.0, 3.0],
    })


def test_judge_regret_of_the_best_is_one() -> None:
    med = _measured()
    v = validate.judge(med, {"default": ("b", "zarr"), "any": ("b", "zarr")}, "as-written")
    assert v["best_layout"] == "b" and v["best_reader"] == "zarr"
    assert v["default_regret"] == 1.0
    assert v["default_gain"] == 8.0  # as written with the default reader, over the pick
    assert v["same_choice"] and not v["any_slower"]


def test_judge_regret_within_each_recommendations_space_and_over_the_grid() -> None:
    spaces = {"default": lambda lay, reader: reader == "h5py-fsspec",  # HDF5 for h5py
              "any": lambda lay, reader: lay != "b"}  # b outside the limits
    v = validate.judge(_measured(), {"default": ("a", "h5py-fsspec"), "any": ("c", "h5py-fsspec")},
                       "as-written", spaces)
    assert v["default_regret"] == pytest.approx(1.0)  # a is the best h5py-fsspec one
    assert v["default_regret_grid"] == pytest.approx(2.0)  # b (zarr) is the grid's best
    assert v["any_best_layout"] == "a" and v["any_best_reader"] == "kerchunk"
    assert v["any_regret"] == pytest.approx(2.0)  # 3.0 over a with kerchunk's 1.5
    assert v["any_regret_grid"] == pytest.approx(3.0)
    assert v["any_slower"] and v["any_over_default"] == pytest.approx(1.5)
    assert v["default_gain"] == pytest.approx(4.0)


def test_medians_take_the_median_of_repeats_and_drop_failures() -> None:
    frame = pd.DataFrame({
        "layout": ["a"] * 4, "reader": ["zarr"] * 4, "seconds": [1.0, 9.0, 2.0, 100.0],
        "requests": [3, 3, 3, 0], "bytes_transferred": [10, 10, 10, 0],
        "stored_bytes": [5] * 4, "compression_ratio": [2.0] * 4,
        "error": [None, None, None, "503"]})
    med = validate.medians(frame)
    assert len(med) == 1 and med["seconds"].iloc[0] == 2.0 and med["runs"].iloc[0] == 3


def _table() -> pd.DataFrame:
    return pd.DataFrame([
        {"case": "good", "profile": "same-region", "default_regret": 1.0, "any_regret": 1.0,
         "default_error": 0.1, "any_error": 0.1, "default_reader": "h5py-fsspec",
         "any_reader": "h5py-fsspec", "any_slower": False, "any_over_default": 1.0,
         "failed": None},
        {"case": "bad", "profile": "cross-region", "default_regret": 1.5, "any_regret": 1.2,
         "default_error": -0.4, "any_error": 0.05, "default_reader": "h5py-fsspec",
         "any_reader": "kerchunk", "any_slower": True, "any_over_default": 1.3,
         "failed_rows": 2, "failed": None},
        {"case": "broken", "profile": "same-region", "failed": "RuntimeError: boom"},
    ])


def test_summarize_lists_every_miss() -> None:
    pairs = pd.DataFrame({"case": ["good"] * 3 + ["bad"] * 2,
                          "reader": ["h5py-fsspec", "h5py-fsspec", "zarr", "zarr", "zarr"],
                          "error": [0.1, -0.2, 0.5, 0.6, -0.1]})
    lines, misses = validate.summarize(_table(), pairs)
    text = "\n".join(misses)
    assert "median regret 1.25 > 1.10" in text
    assert "bad / cross-region: regret 1.50 > 1.25" in text
    assert "good / same-region: regret" not in text
    assert "broken / same-region: no result (RuntimeError: boom)" in text
    assert "bad / cross-region: `--readers any` (kerchunk) measured 1.30x" in text
    assert "bad / cross-region: recommendation for h5py-fsspec predicted -40%" in text
    assert "grid predictions, zarr: median |error| 50% > 25%" in text
    assert "grid predictions, h5py-fsspec" not in text  # 15 % is within the goal
    assert "bad / cross-region: 2 measurement(s) failed" in text
    summary = "\n".join(lines)
    assert "worst 1.50 (bad / cross-region" in summary and "MISSED" in summary


def test_summarize_all_met() -> None:
    table = _table().iloc[:1]
    pairs = pd.DataFrame({"case": ["good"], "reader": ["zarr"], "error": [0.1]})
    lines, misses = validate.summarize(table, pairs)
    assert misses == []
    assert "median regret 1.00" in lines[0] and "MISSED" not in "\n".join(lines)


def test_cases_measure_other_positions_than_recommended() -> None:
    for case in validate.cases():
        assert case.measure.startswith(case.recommend + ",seed=")
        assert any(f"{key}={validate.POSITIONS}" in case.measure
                   for key in ("offsets", "channels", "cutouts"))
        assert case.seed != 0  # not the demo samples the model was fitted on
    names = [c.name for c in validate.cases()]
    assert names == [c.name for c in validate.cases(quick=True)]
    assert validate.parse_args(["--quick"]).profiles == ["same-region"]
    assert validate.parse_args([]).repeats == 3
