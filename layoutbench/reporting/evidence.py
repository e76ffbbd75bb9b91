"""The data behind every plot of the HTML report: pure pandas on results tables.

Each function here answers one question a plot asks, on a results table (the columns of
:meth:`~layoutbench.plan.measurement.Measurement.to_dict`) or a recommendation's JSON, so it can
be tested on a hand-made table without a browser. Ratios to the baseline come from
:func:`layoutbench.reporting.table.ranked` (one definition for the terminal tables and the plots);
prices are those of the recommender (:mod:`layoutbench.plan.search`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from layoutbench.plan.profiles import NetworkProfile
from layoutbench.plan.search import EGRESS_PRICE_PER_GB, GET_PRICE_PER_1000
from layoutbench.plan.verdict import download_seconds
from layoutbench.reporting.table import BASELINES, baseline_ratios, ranked

#: Columns that tell runs apart beyond the dataset: rows are only compared within one.
CONTEXT = ("source", "profile")
#: What one group of the report shows (a section: one pattern of one dataset of one run).
GROUP = (*CONTEXT, "dataset", "pattern")
#: Layout fields that identify a layout whatever its label (``recommended``, ``as-is``, ...).
LAYOUT_FIELDS = ("format", "chunks", "shards", "codec", "level", "shuffle", "contiguous")


def cost_per_1000(requests: Any, bytes_transferred: Any, get_price: float = GET_PRICE_PER_1000,
                  egress_per_gb: float = EGRESS_PRICE_PER_GB) -> Any:
    """US dollars for 1,000 reads: GET requests plus internet egress, at the recommender's list
    prices (the same formula as :meth:`layoutbench.plan.search.Scored.cost_per_1000`, so a
    measured case and a prediction are priced alike). Works on scalars and Series."""
    return requests * get_price + 1000 * bytes_transferred / 1e9 * egress_per_gb


def failed(frame: pd.DataFrame) -> pd.Series:
    """Rows of cases that produced no valid figures: an ``error`` (a clean failure under
    injected faults, or wrong data). Their seconds and counts describe a failure, not a
    layout, so no plot or ratio may use them."""
    if "error" not in frame.columns:
        return pd.Series(False, index=frame.index)
    err = frame["error"]
    return err.notna() & (err.astype(str).str.len() > 0)


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (source, profile, dataset, pattern, layout, reader): medians over repeats,
    ratios to the baseline of the same run (:func:`ranked`), and the cost per 1,000 reads.

    Groups come in the order the input first shows them (the order of the files given), each
    from fastest to slowest.
    """
    frame = frame.assign(**{c: (frame[c].astype(object).where(frame[c].notna(), "?")
                                if c in frame.columns else "?") for c in CONTEXT})
    out = ranked(frame, by=CONTEXT)
    first = {k: i for i, k in enumerate(
        frame[list(GROUP)].drop_duplicates().itertuples(index=False, name=None))}
    out["_order"] = [first.get(k, len(first))
                     for k in out[list(GROUP)].itertuples(index=False, name=None)]
    out = (out.sort_values(["_order", "seconds"], kind="stable").drop(columns="_order")
           .reset_index(drop=True))
    if "stored_bytes" not in out.columns:
        out["stored_bytes"] = np.nan
    out["cost_per_1000_reads_usd"] = cost_per_1000(out["requests"], out["bytes_transferred"])
    out["is_baseline"] = out["layout"] == out["baseline"]
    return out


#: Figures a workload weighs like its patterns (a weighted mean over them).
_WEIGHED = ("seconds", "seconds_min", "seconds_max", "bytes_transferred", "requests",
            "chunks_touched", "cost_per_1000_reads_usd")


def workload(runs: pd.DataFrame, patterns: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The workload as a recommendation weighs it: one row per (layout, reader) measured on
    every pattern of ``patterns`` (a recommendation's ``[{"name", "weight"}]``), each figure
    the weighted mean over the patterns (the spread: the weighted means of the fastest and
    slowest repeats), ratios to the baseline's weighted seconds and bytes by the same reader
    (else its fastest). ``runs``: the :func:`summary` rows of one run and dataset. Empty when
    the workload has fewer than two patterns (its pattern's own chart is the workload's) or
    no (layout, reader) was measured on all of them."""
    weights = {str(p["name"]): float(p["weight"]) for p in patterns}
    mine = runs[runs["pattern"].isin(weights)]
    if len(weights) < 2 or mine.empty:
        return mine.iloc[0:0]
    total = sum(weights.values())
    share = mine["pattern"].map(weights) / total
    cols = [c for c in _WEIGHED if c in mine.columns]
    parts = mine[cols].mul(share, axis=0).assign(layout=mine["layout"], reader=mine["reader"],
                                                 pattern=mine["pattern"])
    agg = parts.groupby(["layout", "reader"], sort=False).agg(
        **{c: (c, "sum") for c in cols}, patterns=("pattern", "nunique"))
    extra = mine.groupby(["layout", "reader"], sort=False).agg(
        stored_bytes=("stored_bytes", "max"), repeats=("repeats", "min"),
        is_baseline=("is_baseline", "any"))
    out = agg.join(extra).reset_index()
    out = out[out["patterns"] == len(weights)].drop(columns="patterns")
    speed, fewer = baseline_ratios(out, out[out["is_baseline"]])
    return out.assign(speedup=speed, bytes_reduction=fewer).sort_values(
        "seconds").reset_index(drop=True)


def profiles(frame: pd.DataFrame) -> dict[str, NetworkProfile]:
    """The network profile of each profile name in the results (``profile_params``)."""
    out: dict[str, NetworkProfile] = {}
    if "profile_params" not in frame.columns:
        return out
    for name, params in frame.groupby("profile")["profile_params"].first().items():
        try:
            d = json.loads(params) if isinstance(params, str) else dict(params)
            out[str(name)] = NetworkProfile.from_dict(d)
        except (TypeError, ValueError, KeyError):
            continue
    return out


@dataclass(frozen=True, slots=True)
class Download:
    """Downloading the whole file once with one plain GET: the reference a layout must beat.

    ``stored_bytes`` is the size of the baseline variant (or of the file as it is);
    ``seconds`` is what the profile makes of one request of that size (latency plus bytes over
    the per-connection bandwidth; ``None`` for unlimited bandwidth, where it means nothing).
    """

    label: str
    stored_bytes: float
    seconds: float | None


def whole_file(group: pd.DataFrame, profile: NetworkProfile | None) -> Download | None:
    """The download reference of one group of :func:`summary` (its baseline's stored size)."""
    base = group[group["is_baseline"]] if "is_baseline" in group else group.iloc[0:0]
    stored = base["stored_bytes"].max() if not base.empty else math.nan
    if not (isinstance(stored, int | float | np.number) and math.isfinite(stored) and stored > 0):
        return None
    name = str(base["layout"].iloc[0])
    label = "the file as it is" if name == "as-is" else name
    seconds = None
    if profile is not None and profile.bytes_per_second:
        seconds = download_seconds(float(stored), profile)
    return Download(label, float(stored), seconds)


def pareto_front(x: Sequence[float] | pd.Series, y: Sequence[float] | pd.Series) -> np.ndarray:
    """Which points no other point beats on both axes (smaller is better on each).

    A point is on the front when no other has ``x <= x_i`` and ``y <= y_i`` with one of them
    strict; equal points are all on it. Points with a NaN are never on it.
    """
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    ok = np.isfinite(xs) & np.isfinite(ys)
    front = np.zeros(len(xs), dtype=bool)
    best_y = math.inf
    order = sorted(np.flatnonzero(ok), key=lambda i: (xs[i], ys[i]))
    k = 0
    while k < len(order):  # one x at a time: points with equal x compete on y only
        same = [i for i in order[k:] if xs[i] == xs[order[k]]]
        low = min(ys[i] for i in same)
        if low < best_y:
            for i in same:
                front[i] = ys[i] == low
            best_y = low
        k += len(same)
    return front


def spearman(a: Sequence[float] | pd.Series, b: Sequence[float] | pd.Series) -> float:
    """Spearman's rank correlation (average ranks for ties); NaN below 3 paired finite values
    or when either side is constant, where no ranking can be compared."""
    frame = pd.DataFrame({"a": np.asarray(a, dtype=float), "b": np.asarray(b, dtype=float)})
    frame = frame[np.isfinite(frame["a"]) & np.isfinite(frame["b"])]
    if len(frame) < 3 or frame["a"].nunique() < 2 or frame["b"].nunique() < 2:
        return math.nan
    return float(frame["a"].rank().corr(frame["b"].rank()))


# -- recommendations --------------------------------------------------------------------------
def _layout_key(d: Mapping[str, Any]) -> tuple[Any, ...]:
    def norm(k: str, v: Any) -> Any:
        if k == "contiguous":  # absent from JSON written before contiguous layouts existed
            return bool(v)
        return tuple(v) if isinstance(v, list) else v

    return tuple(norm(k, d.get(k)) for k in LAYOUT_FIELDS)


def _candidates(d: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    return [("current", d["current"]), ("recommended", d["recommended"]),
            *(("alternative", a) for a in d.get("alternatives") or [])]


PREDICTION_COLUMNS = ("file", "dataset", "profile", "layout", "reader", "pattern", "role",
                      "origin", "predicted_seconds", "measured_seconds", "predicted_requests",
                      "measured_requests", "predicted_bytes", "measured_bytes")


def prediction_points(frame: pd.DataFrame, recs: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Predicted beside measured figures, one row per case both sides have.

    Two origins: the ``measured`` entries of ``recommend --measure`` (weighted over the
    recommendation's patterns, on the slab it measured), and results rows of the same dataset
    (path and shape) and profile whose layout is one of the recommendation's candidates
    (``sweep --recommendation`` measures the recommended one under the label ``recommended``;
    a grid may hold others, e.g. the current layout as ``neuroconv-default``), paired with the
    candidate's per-pattern prediction.
    """
    rows: list[dict[str, Any]] = []
    for rec in recs:
        for d in rec.get("datasets", []):
            roles = {(c["name"], c.get("reader")): role for role, c in _candidates(d)}
            for m in d.get("measured") or []:
                rows.append({"file": rec.get("file"), "dataset": d["path"],
                             "profile": rec.get("profile"), "layout": m["layout"],
                             "reader": m["reader"], "pattern": "weighted mix",
                             "role": roles.get((m["layout"], m["reader"]), "alternative"),
                             "origin": "recommend --measure",
                             **{k: m.get(k) for k in PREDICTION_COLUMNS if k.startswith(
                                 ("predicted_", "measured_"))}})
            rows += _sweep_points(frame, rec, d)
    return pd.DataFrame(rows, columns=list(PREDICTION_COLUMNS))


def _sweep_points(frame: pd.DataFrame, rec: Mapping[str, Any], d: Mapping[str, Any]
                  ) -> list[dict[str, Any]]:
    if frame.empty or "layout_json" not in frame.columns:
        return []
    shape = "x".join(str(n) for n in d["shape"])
    mine = frame[(frame["dataset"] == d["path"]) & (frame["profile"] == rec.get("profile"))]
    if "shape" in mine.columns:
        mine = mine[mine["shape"].astype(str) == shape]
    if mine.empty:
        return []
    keys = [_layout_key(json.loads(s)) for s in mine["layout_json"]]
    mine = mine.assign(_key=keys)
    out = []
    for role, c in _candidates(d):
        hit = mine[(mine["_key"] == _layout_key(c)) & (mine["reader"] == c.get("reader"))]
        per = {p["name"]: p for p in c.get("per_pattern") or []}
        for (pattern, layout), cases in hit.groupby(["pattern", "layout"]):
            p = per.get(pattern)
            if p is None:
                continue
            out.append({"file": rec.get("file"), "dataset": d["path"],
                        "profile": rec.get("profile"), "layout": layout, "reader": c["reader"],
                        "pattern": pattern, "role": role, "origin": "sweep",
                        "predicted_seconds": p["seconds"],
                        "measured_seconds": float(cases["seconds"].median()),
                        "predicted_requests": p["requests"],
                        "measured_requests": float(cases["requests"].max()),
                        "predicted_bytes": p["bytes_transferred"],
                        "measured_bytes": float(cases["bytes_transferred"].max())})
    return out


def measured_seconds(d: Mapping[str, Any], points: pd.DataFrame, file: str | None = None
                     ) -> dict[str, float] | None:
    """Measured seconds of the current and the recommended layout (each with the reader it was
    recommended for), when both were measured side by side: from ``recommend --measure`` if it
    ran, else from results rows covering every pattern of the recommendation (weighted like
    the prediction). ``None`` when neither is there. ``file``: the recommendation's, when
    several files hold a dataset of this path (a demo's two movies)."""
    mine = points[(points["dataset"] == d["path"])
                  & ((points["file"] == file) if file is not None else True)]
    secs = [_measured(mine[mine["origin"] == "recommend --measure"], role, d[role]["reader"])
            for role in ("current", "recommended")]
    if None in secs:
        sweep = mine[mine["origin"] == "sweep"]
        secs = [_measured(sweep, role, d[role]["reader"], d["patterns"])
                for role in ("current", "recommended")]
    if secs[0] is None or not secs[1]:
        return None
    return {"current": secs[0], "recommended": secs[1]}


def measured_speedup(d: Mapping[str, Any], points: pd.DataFrame, file: str | None = None
                     ) -> float | None:
    """Current over recommended :func:`measured_seconds` (``None`` where not measured)."""
    secs = measured_seconds(d, points, file)
    return None if secs is None else secs["current"] / secs["recommended"]


def _measured(points: pd.DataFrame, role: str, reader: str,
              patterns: Sequence[Mapping[str, Any]] | None = None) -> float | None:
    rows = points[(points["role"] == role) & (points["reader"] == reader)]
    if rows.empty:
        return None
    if patterns is None:
        return float(rows["measured_seconds"].iloc[0])
    by = rows.groupby("pattern")["measured_seconds"].median()
    if not all(p["name"] in by.index for p in patterns):
        return None
    total = sum(float(p["weight"]) for p in patterns)
    return sum(float(p["weight"]) * float(by[p["name"]]) for p in patterns) / total


# -- what was measured where ------------------------------------------------------------------
def run_info(frame: pd.DataFrame) -> dict[str, Any]:
    """Profiles, package versions, machines, dates and sources of a results table: what a
    reader of the report needs to know before comparing its figures with others."""
    versions: dict[str, set[str]] = {}
    machines: set[str] = set()
    for text in frame["versions"].dropna().unique() if "versions" in frame else []:
        try:
            d = json.loads(text) if isinstance(text, str) else dict(text)
        except (TypeError, ValueError):
            continue
        for k, v in d.items():
            if k == "machine":
                machines.add(str(v))
            else:
                versions.setdefault(str(k), set()).add(str(v))
    stamps = (pd.to_datetime(frame["timestamp"], errors="coerce", utc=True).dropna()
              if "timestamp" in frame else pd.Series([], dtype="datetime64[ns, UTC]"))
    return {
        "profiles": {name: p.to_dict() for name, p in sorted(profiles(frame).items())},
        "versions": {k: sorted(v) for k, v in sorted(versions.items())},
        "machines": sorted(machines),
        "first": stamps.min().isoformat() if not stamps.empty else None,
        "last": stamps.max().isoformat() if not stamps.empty else None,
        "sources": sorted(str(s) for s in frame["source"].dropna().unique())
        if "source" in frame else [],
        "rows": len(frame),
    }


def baselines_present(table: pd.DataFrame) -> list[str]:
    """Which of :data:`BASELINES` the summary compares with (for the report's legend)."""
    names = set(table["baseline"].dropna())
    return [b for b in BASELINES if b in names]
