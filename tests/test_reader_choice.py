"""``--reader any`` says when its reader pays: the chosen and the default reader scored again for
a busy client and for sessions of 1 and 30 selections, and the conditions where the default
reader wins named in the JSON and the notes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from layoutbench.plan.layout import Layout
from layoutbench.plan.model import CostConstants
from layoutbench.plan.patterns import AccessPattern, parse_spec
from layoutbench.plan.search import Scored
from layoutbench.recommender.reader_choice import (
    BUSY_FACTOR,
    busy_client,
    describe,
    reader_choice,
    with_count,
)

LAYOUT = Layout("hdf5", (100, 16, 16), "zstd", 3, shuffle=True)


def _scored(reader: str, seconds: float) -> Scored:
    return Scored(LAYOUT, reader, 2.0, seconds, 10, 1e6, 10**7)


def test_a_busy_client_pays_every_cpu_cost_longer() -> None:
    c = CostConstants(request_overhead_s={"kerchunk": 0.01}, read_overhead_s={"zarr": 0.02},
                      decode_factor={"kerchunk": 0.5})
    busy = busy_client(c, ["kerchunk", "h5py-fsspec"])
    assert busy.request_overhead_s["kerchunk"] == pytest.approx(0.01 * BUSY_FACTOR)
    assert busy.read_overhead_s["zarr"] == pytest.approx(0.02 * BUSY_FACTOR)
    assert busy.decode_factor["kerchunk"] == pytest.approx(0.5 * BUSY_FACTOR)
    assert busy.decode_factor["h5py-fsspec"] == pytest.approx(BUSY_FACTOR)  # 1 when absent
    assert busy.latency_factor == c.latency_factor  # the network is not the client


@pytest.mark.parametrize(("spec", "expected"), [
    ("ophys-patch", 30),  # offsets drawn at random: a count
    ("ecephys-channel-filter", 30),  # electrodes drawn at random: a count
    ("ecephys-channel-filter:channels=3+17+40", None),  # pinned electrodes: not a count
    ("ophys-frames", None),  # one place per run
])
def test_with_count(spec: str, expected: int | None) -> None:
    varied = with_count(parse_spec(spec), 30)
    assert (None if varied is None else varied.definition.count_of(varied.kwargs)) == expected


def test_the_conditions_where_the_default_reader_wins_are_named() -> None:
    patterns = [parse_spec("ophys-patch")]

    def rescore(s: Scored, pats: Sequence[AccessPattern], consts: CostConstants) -> Scored:
        # kerchunk: little network, much client CPU; h5py-fsspec: the other way round
        n = pats[0].definition.count_of(pats[0].kwargs)
        cpu = consts.read_overhead_s.get(s.reader, 0.0)
        per = {"kerchunk": 0.05 + 2 * cpu, "h5py-fsspec": 0.12 + 0.1 * cpu}[s.reader]
        return replace(s, seconds=n * per)

    base = CostConstants(read_overhead_s={"kerchunk": 0.01, "h5py-fsspec": 0.01})
    chosen, default = rescore(_scored("kerchunk", 0), patterns, base), \
        rescore(_scored("h5py-fsspec", 0), patterns, base)
    choice = reader_choice(chosen, default, patterns, base, rescore)
    assert choice is not None
    assert choice["default_wins_when"] == ["a busy client (a quarter of its CPU)"]
    assert set(choice["seconds"]) == {"as given", "a busy client (a quarter of its CPU)",
                                      "sessions of 1 selection", "sessions of 30 selections"}
    assert "h5py-fsspec reads faster for a busy client" in describe(choice)
    # the default reader chosen: nothing to say
    assert reader_choice(default, default, patterns, base, rescore) is None
