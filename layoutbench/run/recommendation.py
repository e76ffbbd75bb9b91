"""What ``recommend`` answers: per dataset, the current layout, the recommendation and the
alternatives, each with predicted requests, bytes, seconds and cost.

:meth:`Recommendation.to_dict` is the JSON of DESIGN.md §6 (what ``apply`` takes and
``--format json`` prints); :meth:`Recommendation.to_frame` the same figures as a table, one row
per (dataset, candidate), for a notebook; the ``repr`` is the CLI's table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from layoutbench.plan.dataset import DatasetInfo
from layoutbench.plan.patterns import AccessPattern
from layoutbench.plan.profiles import NetworkProfile
from layoutbench.plan.search import Constraints, Scored

if TYPE_CHECKING:
    import pandas as pd

#: Columns of :meth:`Recommendation.to_frame`, in order.
FRAME_COLUMNS = ("path", "role", "layout", "format", "chunks", "shards", "codec", "level",
                 "shuffle", "reader", "seconds", "speedup_vs_current", "requests",
                 "bytes_transferred", "stored_bytes", "compression_ratio",
                 "cost_per_1000_reads_usd")


@dataclass(frozen=True)
class DatasetRecommendation:
    """One dataset's current layout, workload, recommendation and alternatives."""

    info: DatasetInfo
    kind: str
    patterns: tuple[AccessPattern, ...]
    current: Scored
    recommended: Scored
    alternatives: tuple[Scored, ...]
    notes: tuple[str, ...] = ()
    measured: tuple[dict[str, Any], ...] = ()

    @property
    def speedup(self) -> float:
        return self.current.seconds / self.recommended.seconds if self.recommended.seconds else 1

    def to_dict(self, **prices: float) -> dict[str, Any]:
        def layout_part(s: Scored) -> dict[str, Any]:
            lay = s.layout
            return {"name": lay.name, "format": lay.format, "chunks": list(lay.chunks),
                    "shards": None if lay.shards is None else list(lay.shards),
                    "codec": lay.codec, "level": lay.level, "shuffle": lay.shuffle,
                    "page_size": lay.page_size, "contiguous": lay.contiguous}

        def entry(s: Scored) -> dict[str, Any]:
            return {**layout_part(s), **s.metrics(**prices),
                    "speedup_vs_current": round(self.current.seconds / s.seconds, 3)
                    if s.seconds else None}

        return {
            "path": self.info.path, "neurodata_type": self.info.neurodata_type,
            "kind": self.kind, "shape": list(self.info.shape), "dtype": self.info.dtype,
            "current": {**layout_part(self.current), **self.current.metrics(**prices)},
            "patterns": [{"name": p.label, "weight": p.weight} for p in self.patterns],
            "recommended": entry(self.recommended),
            "keep": self.recommended is self.current,
            "alternatives": [entry(a) for a in self.alternatives],
            "notes": list(self.notes), "measured": list(self.measured),
        }

@dataclass(frozen=True, repr=False)
class Recommendation:
    """Every dataset's recommendation for one file, profile and set of constraints."""

    file: str
    profile: NetworkProfile
    constraints: Constraints
    datasets: tuple[DatasetRecommendation, ...]
    skipped: tuple[dict[str, str], ...] = ()
    calibrated: bool = False
    prices: dict[str, float] = field(default_factory=dict)
    #: what reading a remote file cost (requests, bytes, seconds, who counted); None if local
    spent: dict[str, Any] | None = None
    #: where decode speeds came from (the shipped table, :mod:`layoutbench.plan.decode`)
    decode: str = ""
    #: where the readers' constants came from (a calibration, or the shipped reader table)
    constants_source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "profile": self.profile.name,
                "profile_params": self.profile.to_dict(),
                "constraints": self.constraints.to_dict(), "calibrated": self.calibrated,
                "decode_speeds": self.decode, "model_constants": self.constants_source,
                "prices": self.prices,
                "datasets": [d.to_dict(**self.prices) for d in self.datasets],
                "skipped": list(self.skipped), "spent": self.spent}

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

    def __repr__(self) -> str:
        from layoutbench.report.recommendation import render_table

        return render_table(self.to_dict())
