"""Results on disk: one row per case, Parquet for ``.parquet`` and CSV for ``.csv``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from layoutbench.atomic import atomic_output
from layoutbench.errors import UserError
from layoutbench.plan.measurement import Measurement

FORMATS = {".parquet": "parquet", ".csv": "csv"}


def results_format(path: Path) -> str:
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise UserError(f"{path}: results must end in .parquet or .csv") from None


def to_frame(measurements: Sequence[Measurement]) -> Any:
    """A pandas DataFrame with one row per measurement (columns as DESIGN.md §3)."""
    import pandas as pd

    return pd.DataFrame([m.to_dict() for m in measurements])


def write_results(measurements: Sequence[Measurement], path: str | os.PathLike[str]) -> Path:
    """Write atomically (temporary name, then rename), so a crash leaves no partial table."""
    p = Path(path)
    fmt = results_format(p)
    p.parent.mkdir(parents=True, exist_ok=True)
    frame = to_frame(measurements)
    with atomic_output(p) as tmp:
        if fmt == "parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)
    return p


def read_results(path: str | os.PathLike[str]) -> Any:
    """Read a results table written by :func:`write_results` as a DataFrame."""
    import pandas as pd

    p = Path(path)
    fmt = results_format(p)
    if not p.exists():
        raise UserError(f"{p}: no such file")
    return pd.read_parquet(p) if fmt == "parquet" else pd.read_csv(p)
