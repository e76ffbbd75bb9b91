"""Shared by the benchmark scripts that write a report: the demo samples they measure (generated
once into the user cache, fixed seeds) and how a report is written (markdown beside its CSV).
Not an asv suite (asv runs no function here)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from layoutbench.cache import cache_dir
from layoutbench.synthetic import GENERATORS

ROOT = Path(__file__).resolve().parents[1]


def demo_sample(kind: str, folder: str = "reader-constants") -> Path:
    """The demo-size sample of ``kind`` (seed 0), generated on first use."""
    work = cache_dir(folder)
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"{kind}.nwb"
    if not path.exists():
        GENERATORS[kind](path, seed=0, progress=True)
    return path


def provenance() -> str:
    """One line saying what made a report: the lock's digest and the versions of the packages
    results record (:func:`layoutbench.run.measure.versions`); ``tests/test_reports_current.py``
    compares them with the lock."""
    import hashlib

    from layoutbench.run.measure import versions

    digest = hashlib.sha256((ROOT / "requirements.lock").read_bytes()).hexdigest()[:12]
    found = [f"{name} {version}" for name, version in versions().items() if name != "machine"]
    return f"Made with `requirements.lock` {digest}: {', '.join(found)}."


def write_report(path: Path, lines: list[str], frame: pd.DataFrame) -> None:
    """``path`` (markdown) from ``lines`` and its data beside it as CSV; also printed. The
    :func:`provenance` line goes under the title."""
    path.parent.mkdir(exist_ok=True)
    lines = [*lines[:1], "", provenance(), *lines[1:]]
    path.write_text("\n".join(lines) + "\n")
    frame.to_csv(path.with_suffix(".csv"), index=False)
    print("\n".join(lines))
