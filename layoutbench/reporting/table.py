"""Ranked tables of a sweep: per pattern, layouts × readers from fastest to slowest.

Every ratio is taken between rows of the same run and the same reader, because timings are
only comparable side by side (DESIGN.md §3).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: What rows are compared with: neuroconv's default for data sweeps, the file as it is for
#: whole-file (``open``) sweeps and ``measure``, h5py's automatic chunks for arrays of no known
#: kind. The first one present in a (dataset, pattern) group is used.
BASELINES = ("neuroconv-default", "as-is", "h5py-auto")


#: Figures of a case that repeats must agree on (counts), taken once; ``seconds`` and
#: ``open_seconds`` vary and are summarised by their median.
_COUNTS = ("requests", "bytes_transferred", "bytes_needed", "read_amplification",
           "chunks_touched", "compression_ratio")
#: Columns carried along when the table has them (older or hand-made tables may not).
_OPTIONAL = {"stored_bytes": "max", "open_requests": "max", "open_bytes": "max"}


def measured_rows(frame: Any) -> tuple[Any, dict[str, int]]:
    """The rows a ranking may use, and how many of each kind it leaves out: failed rows (an
    ``error``, under ``--faults``) never enter a median, and rows the fallback reader measured
    (their ``reader`` is the one asked for, which could not read the dataset) are not that
    reader's figures."""
    def empty(col: str) -> Any:
        if col not in frame.columns:
            return None
        values = frame[col]
        return values.isna() | (values.astype(str).str.len() == 0)

    keep, left_out = None, {}
    for col, name in (("error", "failed"), ("fallback", "measured by the fallback reader")):
        ok = empty(col)
        if ok is None:
            continue
        left_out[name] = int((~ok).sum())
        keep = ok if keep is None else keep & ok
    return (frame if keep is None else frame[keep]), {k: v for k, v in left_out.items() if v}


def ranked(frame: Any, by: Sequence[str] = ()) -> Any:
    """Median over repeats per (pattern, layout, reader), with ratios to the baseline.

    Only measured rows count (:func:`measured_rows`). Beside the median, ``seconds_min`` and
    ``seconds_max`` over the repeats and their number (``repeats``); counts that a repeat may
    change (remfile abandons a whole-object GET after a varying number of bytes) keep their
    largest value and their smallest as ``bytes_min``, so a range is never hidden.

    ``speedup`` is the baseline's seconds over this row's: the baseline read by the same reader
    when it has that reader, else by its fastest reader (a Zarr reader cannot read the HDF5
    baseline); ``bytes_reduction`` likewise for bytes. ``by`` names columns that tell runs
    apart beyond the dataset (``source``, ``profile``, for a report over several result
    files): rows are only ever compared with a baseline of the same run.
    """
    groups = [*by, "dataset", "pattern"]
    keys = [*groups, "layout", "reader"]
    frame, _ = measured_rows(frame)
    spec: dict[str, tuple[str, str]] = {"seconds": ("seconds", "median"),
                                        "seconds_min": ("seconds", "min"),
                                        "seconds_max": ("seconds", "max"),
                                        "repeats": ("seconds", "size"),
                                        "bytes_min": ("bytes_transferred", "min")}
    spec.update({c: (c, "max") for c in _COUNTS})
    spec["open_seconds"] = ("open_seconds", "median")
    spec.update({c: (c, how) for c, how in _OPTIONAL.items() if c in frame.columns})
    if "profile" not in keys:
        spec["profile"] = ("profile", "first")
    agg = frame.groupby(keys, as_index=False, dropna=False).agg(**spec)
    present = agg.groupby(groups, dropna=False)["layout"].agg(set)
    chosen = {_key(k): next((b for b in BASELINES if b in names), None)
              for k, names in present.items()}
    group_of = [tuple(getattr(r, g) for g in groups) for r in agg[groups].itertuples(index=False)]
    agg["baseline"] = [chosen[g] for g in group_of]
    agg["speedup"], agg["bytes_reduction"] = baseline_ratios(
        agg, agg[agg["layout"] == agg["baseline"]], groups)
    return agg.sort_values([*groups, "seconds"]).reset_index(drop=True)


def baseline_ratios(rows: Any, base: Any, groups: Sequence[str] = ()
                    ) -> tuple[list[float], list[float]]:
    """Per row: the baseline's seconds over the row's, and its bytes sent over the row's.

    ``base`` holds the baseline's rows; within the row's group (``groups``), the baseline read
    by the same reader is used when there is one, else the baseline's fastest reader (a Zarr
    reader cannot read the HDF5 baseline)."""
    def key(r: Any) -> tuple[Any, ...]:
        return tuple(getattr(r, g) for g in groups)

    by_reader = {(*key(r), r.reader): r for r in base.itertuples(index=False)}
    best: dict[tuple[Any, ...], Any] = {}
    for r in base.sort_values("seconds").itertuples(index=False):
        best.setdefault(key(r), r)  # the baseline's fastest reader
    speed, reduction = [], []
    for r in rows.itertuples(index=False):
        b = by_reader.get((*key(r), r.reader)) or best.get(key(r))
        speed.append(b.seconds / r.seconds if b is not None and r.seconds else float("nan"))
        reduction.append(
            b.bytes_transferred / r.bytes_transferred
            if b is not None and r.bytes_transferred else float("nan")
        )
    return speed, reduction


def _key(k: Any) -> tuple[Any, ...]:
    return k if isinstance(k, tuple) else (k,)


def ranked_table(frame: Any, top: int | None = None) -> str:
    """Plain-text ranked tables, one block per (dataset, pattern). With repeats, ``±`` is half
    the range of a row's seconds, and ``~`` marks a row whose range overlaps the next one's
    (the noise could swap them); bytes that differ between repeats show their range."""
    table = ranked(frame)
    _, left_out = measured_rows(frame)
    blocks = []
    for (dataset, pattern), group in table.groupby(["dataset", "pattern"], sort=False):
        rows = group.head(top) if top else group
        header = (f"{pattern}  on {dataset}  [{rows['profile'].iloc[0]}]  "
                  f"(×: vs {rows['baseline'].iloc[0]} by the same reader, or by its fastest)")
        lines = [header, f"{'#':>3} {'layout':<42} {'reader':<13} {'seconds':>8} {'±':>6} "
                 f"{'×':>6} {'MB sent':>9} {'×less':>6} {'requests':>8} {'ampl.':>6} "
                 f"{'ratio':>5}"]
        listed = list(rows.itertuples())
        for i, r in enumerate(listed, 1):
            nxt = listed[i] if i < len(listed) else None
            close = nxt is not None and r.repeats > 1 and nxt.seconds_min <= r.seconds_max
            spread = (f"{(r.seconds_max - r.seconds_min) / 2:>6.3f}" if r.repeats > 1
                      else f"{'':>6}")
            sent = (f"{r.bytes_transferred / 1e6:>9.2f}" if r.bytes_min == r.bytes_transferred
                    else f"{r.bytes_min / 1e6:.2f}-{r.bytes_transferred / 1e6:.2f}".rjust(9))
            lines.append(
                f"{i:>3} {r.layout:<42} {r.reader:<13} {r.seconds:>8.3f}{'~' if close else ' '}"
                f"{spread} {r.speedup:>6.1f} {sent} {r.bytes_reduction:>6.1f} "
                f"{r.requests:>8d} {r.read_amplification:>6.1f} {r.compression_ratio:>5.2f}"
            )
        blocks.append("\n".join(lines))
    if left_out:
        blocks.append("left out of the rankings: " + ", ".join(
            f"{n} row{'s' if n > 1 else ''} {why}" for why, n in left_out.items()))
    return "\n\n".join(blocks)
