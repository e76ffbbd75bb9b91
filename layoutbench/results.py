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

    def _repr_html_(self) -> str:
        """The recommendation in a notebook: per dataset, the candidates' predicted figures as a
        table (the CLI table's columns), then the verdict and the notes."""
        from html import escape

        from layoutbench.plan.verdict import describe as describe_verdict

        d_all = self.to_dict()
        frame = self.to_frame()
        shown = {"role": "", "layout": "layout", "reader": "reader",
                 "seconds": "predicted seconds", "speedup_vs_current": "×",
                 "requests": "requests", "bytes_transferred": "MB sent",
                 "stored_bytes": "MB stored", "cost_per_1000_reads_usd": "$ / 1,000 reads"}
        parts = [f"<p><b>{escape(str(d_all['file']))}</b> · profile "
                 f"{escape(str(d_all['profile']))}</p>"]
        for d in d_all["datasets"]:
            mine = frame[frame["path"] == d["path"]][list(shown)].rename(columns=shown)
            for col in ("MB sent", "MB stored"):
                mine[col] = mine[col] / 1e6
            pats = ", ".join(f"{p['name']}@{p['weight']:g}" for p in d["patterns"])
            parts.append(f"<p><code>{escape(d['path'])}</code> {escape(str(tuple(d['shape'])))}"
                         f" {escape(str(d['dtype']))} · {escape(pats)}</p>")
            parts.append(mine.to_html(index=False, float_format=lambda v: f"{v:,.3f}",
                                      escape=True))
            if d.get("verdict"):
                parts.append(f"<p><b>{escape(describe_verdict(d['verdict']))}</b></p>")
            parts += [f"<p>note: {escape(str(n))}</p>" for n in d.get("notes", [])]
        return "\n".join(parts)
