"""Every shipped report says what it was made with, and that is what the lock pins: a figure in
``reports/`` measured with other package versions than the lock's is stale.

A report records versions as ``NAME VERSION`` pairs (the line ``benchmarks._reports.provenance``
writes, or its own). Reports known to be stale are listed in :data:`STALE` with what makes them
current; the list must shrink as they are regenerated (a listed report that has become current
fails too, so the list never lies)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REPORTS = sorted((ROOT / "reports").glob("*.md"))

#: Reports that are not current, and the command that makes them so.
STALE = {
    "reader_constants.md": "records no versions (its table, plan/reader_table.py, does, and "
                           "tests/test_tables.py checks them): python -m "
                           "benchmarks.reader_constants",
}


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        name, sep, version = line.partition("==")
        if sep:
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def problem(text: str, pins: dict[str, str]) -> str | None:
    """Why a report is not current, or ``None``."""
    recorded = {name.lower(): version for name, version in
                re.findall(r"\b([A-Za-z][\w-]*) (\d+(?:\.\d+)+)\b", text)
                if name.lower() in pins}
    if not recorded:
        return "records no package versions"
    stale = {n: v for n, v in recorded.items() if v != pins[n]}
    if stale:
        return "made with " + ", ".join(f"{n} {v} (lock: {pins[n]})" for n, v in stale.items())
    return None


@pytest.mark.parametrize("report", REPORTS, ids=[p.name for p in REPORTS])
def test_a_report_is_made_with_the_locks_versions(report: Path) -> None:
    why = problem(report.read_text(), _pins())
    if report.name in STALE:
        assert why is not None, f"{report.name} is current now: remove it from STALE"
    else:
        assert why is None, f"{report.name}: {why}"


def test_the_check_tells_current_from_stale() -> None:
    pins = {"zarr": "3.4.2", "h5py": "3.16.0"}
    assert problem("made with h5py 3.16.0, zarr 3.4.2", pins) is None
    assert problem("h5py 3.16.0, zarr 3.1.6", pins) == "made with zarr 3.1.6 (lock: 3.4.2)"
    assert problem("no versions here, only 3.14 seconds", pins) == "records no package versions"
