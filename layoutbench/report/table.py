"""Ranked tables of a sweep: per pattern, layouts × readers from fastest to slowest.

Every ratio is taken between rows of the same run and the same reader, because timings are
only comparable side by side (DESIGN.md §3).
"""

from __future__ import annotations

from typing import Any

#: What rows are compared with: neuroconv's default for data sweeps, the file as it is for
#: whole-file (``open``) sweeps and ``measure``, h5py's automatic chunks for arrays of no known
#: kind. The first one present in a (dataset, pattern) group is used.
BASELINES = ("neuroconv-default", "as-is", "h5py-auto")


def ranked(frame: Any) -> Any:
    """Median over repeats per (pattern, layout, reader), with ratios to the baseline.

    ``speedup`` is the baseline's seconds over this row's: the baseline read by the same reader
    when it has that reader, else by its fastest reader (a Zarr reader cannot read the HDF5
    baseline); ``bytes_reduction`` likewise for bytes.
    """
    keys = ["dataset", "pattern", "layout", "reader"]
    agg = frame.groupby(keys, as_index=False).agg(
        seconds=("seconds", "median"),
        requests=("requests", "max"),
        bytes_transferred=("bytes_transferred", "max"),
        bytes_needed=("bytes_needed", "max"),
        read_amplification=("read_amplification", "max"),
        chunks_touched=("chunks_touched", "max"),
        compression_ratio=("compression_ratio", "max"),
        open_seconds=("open_seconds", "median"),
        profile=("profile", "first"),
    )
    present = agg.groupby(["dataset", "pattern"])["layout"].agg(set)
    chosen = {key: next((b for b in BASELINES if b in names), None)
              for key, names in present.items()}
    agg["baseline"] = [chosen[(r.dataset, r.pattern)] for r in agg.itertuples()]
    base = agg[agg["layout"] == agg["baseline"]]
    by_reader = {(r.dataset, r.pattern, r.reader): r for r in base.itertuples()}
    best: dict[tuple[str, str], Any] = {}
    for r in base.sort_values("seconds").itertuples():
        best.setdefault((r.dataset, r.pattern), r)  # the fastest reader of the baseline
    speed, reduction = [], []
    for r in agg.itertuples():
        b = by_reader.get((r.dataset, r.pattern, r.reader)) or best.get((r.dataset, r.pattern))
        speed.append(b.seconds / r.seconds if b is not None and r.seconds else float("nan"))
        reduction.append(
            b.bytes_transferred / r.bytes_transferred
            if b is not None and r.bytes_transferred else float("nan")
        )
    agg["speedup"] = speed
    agg["bytes_reduction"] = reduction
    return agg.sort_values(["dataset", "pattern", "seconds"]).reset_index(drop=True)


def ranked_table(frame: Any, top: int | None = None) -> str:
    """Plain-text ranked tables, one block per (dataset, pattern)."""
    table = ranked(frame)
    blocks = []
    for (dataset, pattern), group in table.groupby(["dataset", "pattern"], sort=False):
        rows = group.head(top) if top else group
        header = (f"{pattern}  on {dataset}  [{rows['profile'].iloc[0]}]  "
                  f"(×: vs {rows['baseline'].iloc[0]} by the same reader, or by its fastest)")
        lines = [header, f"{'#':>3} {'layout':<42} {'reader':<13} {'seconds':>8} {'×':>6} "
                 f"{'MB sent':>9} {'×less':>6} {'requests':>8} {'ampl.':>6} {'ratio':>5}"]
        for i, r in enumerate(rows.itertuples(), 1):
            lines.append(
                f"{i:>3} {r.layout:<42} {r.reader:<13} {r.seconds:>8.3f} {r.speedup:>6.1f} "
                f"{r.bytes_transferred / 1e6:>9.2f} {r.bytes_reduction:>6.1f} {r.requests:>8d} "
                f"{r.read_amplification:>6.1f} {r.compression_ratio:>5.2f}"
            )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
