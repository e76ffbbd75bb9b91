"""What ``recommend`` answers: per dataset, the current layout, the recommendation and the
alternatives, each with predicted requests, bytes, seconds and cost.

:meth:`Recommendation.to_dict` is the JSON of DESIGN.md §6 (what ``apply`` takes and
``--format json`` prints); the ``repr`` is the CLI's table (:func:`render_table`, which also
renders that JSON as read back from a file). The same figures as a pandas table, one row per
(dataset, candidate), are :meth:`layoutbench.results.Recommendation.to_frame`: pandas is no part
of the pure ``plan/``, so the table is added one layer up, on the class ``recommend`` returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from layoutbench.plan.dataset import DatasetInfo
from layoutbench.plan.patterns import AccessPattern
from layoutbench.plan.profiles import NetworkProfile
from layoutbench.plan.search import Constraints, Scored
from layoutbench.plan.verdict import describe as describe_verdict


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
    #: with ``--reader any``, when the chosen reader beats the format's default one and when
    #: not (:func:`layoutbench.recommender.reader_choice.reader_choice`); None otherwise
    reader_choice: dict[str, Any] | None = None
    #: keep, rewrite or download the whole file, for one read of the workload, with the
    #: break-evens (:func:`layoutbench.plan.verdict.verdict`); None when the file's size is
    #: not known
    verdict: dict[str, Any] | None = None

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
            "reader_choice": self.reader_choice, "verdict": self.verdict,
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

    def __repr__(self) -> str:
        return render_table(self.to_dict())


# -- the CLI's table ---------------------------------------------------------------------------
def _fmt_bytes(n: float) -> str:
    return f"{n / 1e6:,.1f} MB" if n >= 1e5 else f"{n / 1e3:,.1f} kB"


def render_table(rec: dict[str, Any]) -> str:
    """One block per dataset: current, recommended and alternatives with predicted figures."""
    constants = "calibrated" if rec["calibrated"] else (
        "shipped" if "reader table" in rec.get("model_constants", "") else "default")
    lines = [f"{rec['file']}  (profile {rec['profile']}, {constants} model constants)"]
    if not rec["datasets"]:
        lines.append("no dataset over the size threshold: nothing to recommend")
    for d in rec["datasets"]:
        pats = ", ".join(f"{p['name']}@{p['weight']:g}" for p in d["patterns"])
        lines += ["", f"{d['path']}  {d['neurodata_type'] or '-'}  {tuple(d['shape'])} "
                  f"{d['dtype']}  [{pats}]"]
        head = (f"  {'':12} {'layout':42} {'reader':13} {'seconds':>8} {'×':>6} {'requests':>9} "
                f"{'transferred':>12} {'stored':>11} {'$/1000':>8}")
        lines.append(head)
        rows = [("current", d["current"]), ("recommended", d["recommended"])]
        rows += [("alternative", a) for a in d["alternatives"]]
        for tag, r in rows:
            speed = "" if tag == "current" else f"{r['speedup_vs_current']:.1f}"
            lines.append(f"  {tag:12} {r['name']:42} {r['reader']:13} {r['seconds']:8.3f} "
                         f"{speed:>6} {r['requests']:9.1f} {_fmt_bytes(r['bytes_transferred']):>12}"
                         f" {_fmt_bytes(r['stored_bytes']):>11} "
                         f"{r['cost_per_1000_reads_usd']:8.4f}")
        for m in d.get("measured") or []:
            lines.append(f"  measured on {tuple(m['shape'])}: {m['layout']:42} {m['reader']:13} "
                         f"predicted {m['predicted_seconds']:.3f} s / measured "
                         f"{m['measured_seconds']:.3f} s; requests {m['predicted_requests']:g} / "
                         f"{m['measured_requests']:g}")
        lines += [f"  note: {n}" for n in d["notes"]]
        if d.get("verdict"):
            lines.append(f"  {describe_verdict(d['verdict'])}")
    for s in rec.get("skipped", []):
        lines.append(f"skipped {s['path']}: {s['reason']}")
    spent = rec.get("spent")
    if spent:
        lines.append(f"reading the remote file cost {spent['requests']} requests, "
                     f"{_fmt_bytes(spent['bytes'])}, {spent['seconds']:.1f} s "
                     f"(counted by the {spent['counts']})")
    return "\n".join(lines)
