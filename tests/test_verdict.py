"""Keep, rewrite or download: the verdict picks the fastest for one read of the workload and
its break-evens are where the options cost the same."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from layoutbench.plan.profiles import get_profile
from layoutbench.plan.verdict import describe, download_seconds, verdict

SAME_REGION = get_profile("same-region")  # 20 ms, 100 MB/s


def test_download_is_one_get_on_one_connection() -> None:
    assert download_seconds(10**8, SAME_REGION) == pytest.approx(0.02 + 1.0)
    assert download_seconds(10**9, get_profile("loopback")) == 0.0  # unlimited bandwidth


@pytest.mark.parametrize(("keep", "rewrite", "size", "winner"), [
    (2.3, 0.29, 37_800_000, "rewrite"),  # a 38 MB movie, patches: the rewrite wins...
    (2.3, 0.29, 10_000_000, "download"),  # ...a 10 MB one is faster downloaded
    (0.10, 0.29, 10**9, "keep"),  # the layout as written is already the fastest
])
def test_the_fastest_option_wins(keep: float, rewrite: float, size: int, winner: str) -> None:
    v = verdict(keep, rewrite, size, SAME_REGION)
    assert v["winner"] == winner
    assert v["seconds"][winner] == min(v["seconds"].values())
    assert f"{winner} wins" in describe(v)


@given(st.floats(0.03, 100), st.floats(0.03, 100), st.integers(10**5, 10**11))
def test_break_evens_are_where_the_costs_meet(keep: float, rewrite: float, size: int) -> None:
    v = verdict(keep, rewrite, size, SAME_REGION)
    best = min(keep, rewrite)
    # n reads by ranges cost as much as one download at the break-even
    assert v["download_pays_after_reads"] * best == pytest.approx(
        download_seconds(size, SAME_REGION), rel=1e-3)
    # a file of the break-even size downloads in the time of one read by ranges
    assert download_seconds(v["download_wins_under_bytes"], SAME_REGION) == pytest.approx(
        best, rel=1e-6)


def test_a_kept_layout_offers_no_rewrite() -> None:
    v = verdict(0.5, 0.5, 10**9, SAME_REGION, rewrite_is_keep=True)
    assert set(v["seconds"]) == {"keep", "download"} and v["winner"] == "keep"
