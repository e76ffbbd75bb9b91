"""Check the readers' constants against measurement: ``--reader any`` against the default reader,
and predicted against measured seconds for every reader, side by side in one sweep.

For each demo sample (ophys 1000x256x256, ecephys 64 channels x 60 s), ``recommend`` is run
twice under ``same-region``: with the default reader (h5py-fsspec) and with ``--reader any``.
One sweep then measures both recommended layouts with every reader that reads them, on the
recommendation's own patterns (its seeded positions, ``--repeats`` times each), and the model
predicts each (layout, reader) on those same positions with the constants a recommendation
uses. Writes ``reports/reader_check.md`` (and ``.csv``):

    .venv/bin/python -m benchmarks.reader_check [--repeats 5]

What it shows: whether letting the model choose the reader loses (it did before the readers'
constants were measured: 27 kerchunk requests against 12, 0.6 s against 0.4 s), and how far
each reader's predicted seconds are from its measured ones (the target is within 25 %).
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
from pathlib import Path

import pandas as pd

import layoutbench as lb
from benchmarks._reports import ROOT, demo_sample, write_report
from layoutbench.generate import DATASET_PATHS
from layoutbench.plan.search import CodecFigures, score
from layoutbench.read.inspect import dataset_info
from layoutbench.recommender.dataset import _workload

REPORT = ROOT / "reports" / "reader_check.md"
HDF5_READERS = ["h5py-fsspec", "h5py-remfile", "kerchunk"]


def sample(kind: str) -> Path:
    return demo_sample(kind)


def check(kind: str, profile: str, repeats: int) -> tuple[pd.DataFrame, dict[str, str]]:
    path = sample(kind)
    info = dataset_info(path, DATASET_PATHS[kind])
    recs = {"default": lb.recommend(path, dataset=info.path, profile=profile),
            "any": lb.recommend(path, dataset=info.path, profile=profile, reader="any")}
    chosen = {role: r.datasets[0].recommended for role, r in recs.items()}
    dataset_rec = recs["default"].datasets[0]
    model = recs["default"].constants_source
    layouts = list({s.layout.name: s.layout for s in chosen.values()}.values())
    frame = lb.sweep(path, info.path, layouts=layouts, readers=HDF5_READERS, profile=profile,
                     patterns=[p.spec for p in dataset_rec.patterns], repeats=repeats,
                     progress=True)
    workload = _workload(dataset_rec.patterns, info, expected=False)
    from layoutbench.plan.model import shipped_constants
    from layoutbench.recommender.calibration import load_constants

    constants = load_constants() or shipped_constants()[0]
    prof = recs["default"].profile
    rows = []
    for lay in layouts:
        ratio_fig = next(s for s in chosen.values() if s.layout.name == lay.name)
        for reader in HDF5_READERS:
            mine = frame[(frame["layout"] == lay.name) & (frame["reader"] == reader)]
            if mine.empty:
                continue
            by = mine.groupby("pattern")["seconds"].median()  # the median of the repeats
            measured = workload.weighted([float(by[n]) for n in workload.names])
            figures = CodecFigures(ratio_fig.ratio, ratio_fig.decode_mbps)
            predicted = score(lay, reader, info.shape, info.itemsize, workload, figures, prof,
                              constants).seconds
            roles = [role for role, s in chosen.items()
                     if s.layout.name == lay.name and s.reader == reader]
            rows.append({"kind": kind, "layout": lay.name, "reader": reader,
                         "chosen_by": ",".join(roles), "measured_s": measured,
                         "predicted_s": predicted,
                         "error": predicted / measured - 1 if measured else float("nan"),
                         "requests": float(mine["requests"].mean())})
    return pd.DataFrame(rows), {"model": model}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", default="same-region")
    args = parser.parse_args()
    frames, model = [], ""
    for kind in ("ophys", "ecephys"):
        frame, meta = check(kind, args.profile, args.repeats)
        frames.append(frame)
        model = meta["model"]
    table = pd.concat(frames, ignore_index=True)
    lines = ["# Readers' constants checked against measurement", "",
             f"`benchmarks/reader_check.py --repeats {args.repeats}` under `{args.profile}`, "
             f"{dt.date.today():%Y-%m-%d}, {platform.machine()}; model constants: {model}.",
             "Seconds are the recommendation's weighted mean over its patterns (median of the "
             "repeats), both recommended layouts measured in one sweep with every HDF5 reader.",
             "", "| sample | layout | reader | chosen by | measured s | predicted s | error |"
             " requests |", "|---|---|---|---|---:|---:|---:|---:|"]
    for r in table.to_dict("records"):
        lines.append(f"| {r['kind']} | `{r['layout']}` | {r['reader']} | {r['chosen_by']} | "
                     f"{r['measured_s']:.3f} | {r['predicted_s']:.3f} | {r['error']:+.0%} | "
                     f"{r['requests']:.0f} |")
    lines.append("")
    for kind in ("ophys", "ecephys"):
        mine = table[table["kind"] == kind]
        d = mine[mine["chosen_by"].str.contains("default")]["measured_s"]
        a = mine[mine["chosen_by"].str.contains("any")]["measured_s"]
        if len(d) and len(a):
            lines.append(f"- {kind}: `--reader any` recommendation {float(a.iloc[0]):.3f} s, "
                         f"default {float(d.iloc[0]):.3f} s (any/default = "
                         f"{float(a.iloc[0]) / float(d.iloc[0]):.2f})")
    within = float((table["error"].abs() <= 0.25).mean())
    lines.append(f"- predicted within ±25 % of measured: {within:.0%} of (layout, reader) pairs")
    write_report(REPORT, lines, table)


if __name__ == "__main__":
    main()
