"""Ranked tables: ratios against the baseline read by the same reader (or its fastest)."""

from __future__ import annotations

import pandas as pd
import pytest

from layoutbench.reporting import ranked, ranked_table


def _row(layout: str, reader: str, seconds: float, sent: int) -> dict:
    return {"dataset": "/d", "pattern": "ophys-patch", "layout": layout, "reader": reader,
            "seconds": seconds, "requests": 1, "bytes_transferred": sent, "bytes_needed": 10,
            "read_amplification": 1.0, "chunks_touched": 1, "compression_ratio": 2.0,
            "open_seconds": 0.1, "profile": "same-region"}


def test_ratios_use_same_reader_else_fastest_baseline() -> None:
    frame = pd.DataFrame([
        _row("neuroconv-default", "h5py-fsspec", 4.0, 400),
        _row("neuroconv-default", "h5py-remfile", 2.0, 100),
        _row("narrow", "h5py-fsspec", 0.5, 20),
        _row("zarr-narrow", "zarr", 0.25, 10),
    ])
    table = ranked(frame).set_index(["layout", "reader"])
    # same reader: 4.0 / 0.5 and 400 / 20
    assert table.loc[("narrow", "h5py-fsspec"), "speedup"] == pytest.approx(8.0)
    assert table.loc[("narrow", "h5py-fsspec"), "bytes_reduction"] == pytest.approx(20.0)
    # no zarr baseline: compare with the fastest baseline reader (remfile, 2.0 s, 100 B)
    assert table.loc[("zarr-narrow", "zarr"), "speedup"] == pytest.approx(8.0)
    assert table.loc[("zarr-narrow", "zarr"), "bytes_reduction"] == pytest.approx(10.0)
    assert "zarr-narrow" in ranked_table(frame).splitlines()[2]  # fastest first


def test_open_sweeps_compare_with_the_file_as_it_is() -> None:
    frame = pd.DataFrame([
        {**_row("as-is", "pynwb-remfile", 3.0, 100), "pattern": "open"},
        {**_row("paged-4m", "pynwb-remfile", 1.0, 50), "pattern": "open"},
    ])
    table = ranked(frame).set_index("layout")
    assert table.loc["paged-4m", "speedup"] == pytest.approx(3.0)
    assert "vs as-is" in ranked_table(frame)
