"""What ``layoutbench report`` reads: results tables and recommendations, checked on the way in.

A report drawn from the wrong file would look like evidence and be none, so every input is
checked for what the report relies on (the results columns; a recommendation's datasets with
their current and recommended layouts), and a wrong one is a :class:`UserError` naming the
file and what is missing, before anything is written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from layoutbench.errors import InputNotFoundError, UserError
from layoutbench.results import read_results

#: Columns every plot and ratio needs (those of Measurement.to_dict since the first sweeps).
REQUIRED = ("layout", "reader", "pattern", "profile", "dataset", "requests",
            "bytes_transferred", "bytes_needed", "read_amplification", "chunks_touched",
            "seconds", "compression_ratio", "open_seconds")


def load_results(paths: Sequence[str | os.PathLike[str]]) -> pd.DataFrame:
    """Every results table in one frame, with ``results`` (the file it came from) and
    ``source`` filled in for rows that do not name their source (older tables), so rows of
    different files are never taken for one run."""
    if not paths:
        raise UserError("no results table given")
    frames = []
    for path in paths:
        p = Path(path)
        frame = read_results(p)
        missing = [c for c in REQUIRED if c not in frame.columns]
        if missing:
            raise UserError(f"{p}: not a layoutbench results table (no column "
                            f"{', '.join(missing)})")
        if frame.empty:
            raise UserError(f"{p}: has no rows")
        frame = frame.assign(results=p.name)
        if "source" not in frame.columns:
            frame["source"] = None
        frame["source"] = frame["source"].where(frame["source"].notna(), str(p))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def load_recommendation(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON of ``layoutbench recommend --format json``; :class:`UserError` if ``path`` is
    missing, not JSON, or not a recommendation."""
    p = Path(path)
    if p.suffix.lower() != ".json":
        raise UserError(f"{p}: a recommendation must be a .json file "
                        "(layoutbench recommend --format json)")
    try:
        obj = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputNotFoundError(f"{p}: no such file") from None
    except OSError as exc:
        raise UserError(f"{p}: cannot be read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise UserError(f"{p}: not valid JSON ({exc})") from None
    problem = _not_a_recommendation(obj)
    if problem:
        raise UserError(f"{p}: not a recommendation of layoutbench recommend --format json "
                        f"({problem})")
    return dict(obj)


def _not_a_recommendation(obj: Any) -> str:
    if not isinstance(obj, dict):
        return "not a JSON object"
    for key in ("file", "profile", "datasets"):
        if key not in obj:
            return f"no {key!r}"
    if not isinstance(obj["datasets"], list):
        return "'datasets' is not a list"
    for i, d in enumerate(obj["datasets"]):
        if not isinstance(d, dict):
            return f"dataset {i} is not an object"
        for key in ("path", "shape", "dtype", "current", "recommended", "patterns"):
            if key not in d:
                return f"dataset {i} has no {key!r}"
        for role in ("current", "recommended"):
            c = d[role]
            if not isinstance(c, dict) or not {"name", "format", "chunks", "codec",
                                               "seconds"} <= set(c):
                return f"dataset {i}: {role!r} is not a scored layout"
    return ""
