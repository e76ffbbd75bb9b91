"""Results as tables: rows of Measurements on disk (Parquet for ``.parquet``, CSV for ``.csv``)
and as pandas frames, and a recommendation's figures as a frame.

Below ``run/`` (which writes results), ``report/`` (which reads them) and ``recommender/``
(which returns :class:`Recommendation`), so none of them imports another for a table.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layoutbench.atomic import atomic_output
from layoutbench.errors import InputNotFoundError, UserError
from layoutbench.plan import recommendation
from layoutbench.plan.measurement import Measurement

if TYPE_CHECKING:
    import pandas as pd

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
        raise InputNotFoundError(f"{p}: no such file")
    return pd.read_parquet(p) if fmt == "parquet" else pd.read_csv(p)


#: Columns of :meth:`Recommendation.to_frame`, in order.
FRAME_COLUMNS = ("path", "role", "layout", "format", "chunks", "shards", "codec", "level",
                 "shuffle", "reader", "seconds", "speedup_vs_current", "requests",
                 "bytes_transferred", "stored_bytes", "compression_ratio",
                 "cost_per_1000_reads_usd")


class Recommendation(recommendation.Recommendation):
    """What ``recommend`` returns (``layoutbench.Recommendation``): the pure noun of
    :mod:`layoutbench.plan.recommendation` (``to_dict``, the ``repr`` table) with its figures as
    a pandas table, which ``plan/`` cannot import."""

    def to_frame(self) -> pd.DataFrame:
        """One row per (dataset, candidate): the current layout, the recommendation and the
        alternatives with their predicted figures (columns :data:`FRAME_COLUMNS`)."""
        import pandas as pd

        rows = []
        for d in self.to_dict()["datasets"]:
            candidates = [("current", d["current"]), ("recommended", d["recommended"])]
            candidates += [("alternative", a) for a in d["alternatives"]]
            for role, c in candidates:
                row = {"path": d["path"], "role": role, "layout": c["name"],
                       "speedup_vs_current": c.get("speedup_vs_current", 1.0)}
                row.update({k: c.get(k) for k in FRAME_COLUMNS if k not in row})
                row["chunks"] = tuple(c["chunks"])
                row["shards"] = None if c["shards"] is None else tuple(c["shards"])
                rows.append(row)
        return pd.DataFrame(rows, columns=list(FRAME_COLUMNS))
