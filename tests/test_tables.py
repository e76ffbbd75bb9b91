"""The shipped tables are current: the package versions they record having been measured with
are the ones the lock pins, and no entry was made by hand (each has its fit's sample count)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from layoutbench.plan import decode, decode_fit, reader_table

LOCK = Path(__file__).resolve().parents[1] / "requirements.lock"


def _pins() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        name, sep, version = line.partition("==")
        if sep:
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


@pytest.mark.parametrize("measured_on", [
    decode_fit.MEASURED_ON,  # the decode table (benchmarks/decode_table.py)
    reader_table.MEASURED_ON,  # the readers' constants (benchmarks/reader_constants.py)
], ids=["decode", "readers"])
def test_recorded_versions_are_the_locks(measured_on: str) -> None:
    pins = _pins()
    recorded = {name.lower(): version for name, version in
                re.findall(r"([A-Za-z][\w-]*) (\d[\w.]*)", measured_on) if name.lower() in pins}
    assert recorded, measured_on  # it names packages of the lock at all
    stale = {n: (v, pins[n]) for n, v in recorded.items() if v != pins[n]}
    assert not stale, f"measured with {stale} (recorded, locked): re-run the table's script"


def test_every_decode_entry_was_fitted() -> None:
    assert set(decode.TABLE) == set(decode_fit.FIT)
    for key, (samples, _fit_rms, held_out_rms) in decode_fit.FIT.items():
        assert samples >= 6, key  # a fit, not an entry written by hand
        assert held_out_rms < 1.0, key  # within e (2.7x) on samples it was not fitted on
