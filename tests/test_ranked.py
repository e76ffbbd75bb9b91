"""Rows that say what happened: the ranked table leaves failed and fallback rows out of its
medians (and says so), shows the spread of repeats and marks rows the noise could swap, and
shows bytes that vary between repeats as a range."""

from __future__ import annotations

import pandas as pd
from report_data import BASE, NARROW, WIDE, row

from layoutbench.reporting.table import measured_rows, ranked, ranked_table


def _frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    if "fallback" not in frame:
        frame["fallback"] = None
    return frame


def _rows(**wide: object) -> list[dict]:
    common = {"requests": 10, "chunks": 4, "stored": 68_000_000}
    return [
        row(BASE, "h5py-fsspec", "ophys-patch", seconds=4.0, sent=240_000_000, **common),
        row(NARROW, "h5py-fsspec", "ophys-patch", seconds=0.8, sent=8_000_000, **common),
        row(WIDE, "h5py-fsspec", "ophys-patch", **{"seconds": 0.4, "sent": 13_000_000,
                                                     **common, **wide}),
    ]


def test_failed_rows_never_enter_a_median() -> None:
    failed = row(WIDE, "h5py-fsspec", "ophys-patch", seconds=60.0, requests=3, sent=1,
                 chunks=1, stored=1, error="ReadTimeoutError: injected")
    frame = _frame([*_rows(), failed])
    kept, left_out = measured_rows(frame)
    assert len(kept) == 3 and left_out == {"failed": 1}
    wide = ranked(frame).set_index("layout").loc[WIDE.name]
    assert wide["seconds"] == 0.4 and wide["repeats"] == 1
    assert "left out of the rankings: 1 row failed" in ranked_table(frame)


def test_fallback_rows_are_not_the_asked_readers_figures() -> None:
    fell_back = row(NARROW, "kerchunk", "ophys-patch", seconds=0.7, requests=9, sent=1,
                    chunks=1, stored=1)
    fell_back["fallback"] = "h5py-fsspec: kerchunk cannot read a compound dtype"
    frame = _frame([*_rows(), fell_back])
    assert "kerchunk" not in set(ranked(frame)["reader"])
    assert "1 row measured by the fallback reader" in ranked_table(frame)


def test_spread_and_varying_bytes_are_shown() -> None:
    # three repeats of each row; WIDE and NARROW overlap, remfile-like bytes vary on NARROW
    rows = []
    for i, (w, n) in enumerate([(0.4, 0.45), (0.5, 0.8), (0.9, 0.85)]):
        rows += [row(BASE, "h5py-fsspec", "ophys-patch", seconds=4.0 + i, sent=240_000_000,
                     requests=10, chunks=4, stored=1),
                 row(NARROW, "h5py-fsspec", "ophys-patch", seconds=n,
                     sent=8_000_000 if i else 3_350_000_000, requests=10, chunks=4, stored=1),
                 row(WIDE, "h5py-fsspec", "ophys-patch", seconds=w, sent=13_000_000,
                     requests=10, chunks=4, stored=1)]
    table = ranked(_frame(rows)).set_index("layout")
    assert table.loc[WIDE.name, "repeats"] == 3
    assert (table.loc[WIDE.name, "seconds_min"], table.loc[WIDE.name, "seconds_max"]) == (0.4,
                                                                                        0.9)
    assert table.loc[NARROW.name, "bytes_min"] == 8_000_000
    text = ranked_table(_frame(rows))
    first = next(line for line in text.splitlines() if WIDE.name in line)
    assert "~" in first  # WIDE (0.4-0.9 s) and NARROW (0.45-0.85 s): the noise could swap them
    narrow = next(line for line in text.splitlines() if NARROW.name in line)
    assert "8.00-3350.00" in narrow  # the range, not the largest value alone
