"""Measure the readers' cost constants on the embedded endpoint and write the shipped table.

The cost model's per-reader constants (seconds per request round beyond the network's latency,
per read call, and how much of decoding the reader overlaps) are what the emulated network does
not explain. Without them the model priced a kerchunk or zarr request like an h5py one and
``--reader any`` chose readers that measured slower. This fits them, by the model's own
least squares (:func:`layoutbench.plan.model.fit_constants`), on a sweep of the demo samples
(ophys 1000x256x256, ecephys 64 channels x 60 s) across the layouts a recommendation may choose
between (the baseline, the quick grid, each recommendation and its alternatives for the
default reader and for ``--reader any``) and every reader, under the default ``same-region``
profile, decode speeds taken from the shipped decode table as the recommender takes them.
It writes ``layoutbench/plan/reader_table.py`` and ``reports/reader_constants.md`` (predicted
against measured, per reader, on the rows fitted):

    .venv/bin/python -m benchmarks.reader_constants [--repeats 3]

About 15 minutes on the 2-core machine; run it on an idle one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import pprint
from pathlib import Path

import numpy as np
import pandas as pd

import layoutbench as lb
from benchmarks._reports import ROOT, demo_sample, write_report
from layoutbench.plan.layout import default_grid, neuroconv_default
from layoutbench.plan.model import (
    CostConstants,
    fit_constants,
    plan_for_measurement,
    predict_seconds,
    usable,
)
from layoutbench.read.inspect import dataset_info
from layoutbench.read.sampling import sample_codecs, sample_key
from layoutbench.run.measure import versions
from layoutbench.synthetic import DATASET_PATHS

TABLE = ROOT / "layoutbench" / "plan" / "reader_table.py"
REPORT = ROOT / "reports" / "reader_constants.md"
READERS = ["h5py-fsspec", "h5py-remfile", "kerchunk", "zarr", "zarr-obstore"]


def sample(kind: str) -> Path:
    return demo_sample(kind)


def candidate_layouts(path: Path, kind: str, profile: str) -> list[lb.Layout]:
    """What a recommendation chooses between on this file: baseline, quick grid, and the
    recommended and alternative layouts for the default reader and for any reader."""
    info = dataset_info(path, DATASET_PATHS[kind])
    layouts = [neuroconv_default(kind, info.shape, info.itemsize),
               *default_grid(kind, info.shape, info.itemsize, "quick")]
    for reader, storage in ((None, "hdf5"), ("any", "any")):
        rec = lb.recommend(path, dataset=info.path, profile=profile, readers=reader,
                           storage=storage).datasets[0]
        layouts += [s.layout for s in (rec.recommended, *rec.alternatives)
                    if s is not rec.current]
    unique = {lay.fitted(info.shape).name: lay.fitted(info.shape) for lay in layouts}
    return list(unique.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", default="same-region")
    args = parser.parse_args()
    rows, mbps = [], {}
    for kind in ("ophys", "ecephys"):
        path = sample(kind)
        layouts = candidate_layouts(path, kind, args.profile)
        print(f"{kind}: {len(layouts)} layouts x {len(READERS)} readers", flush=True)
        frame = lb.sweep(path, DATASET_PATHS[kind], layouts=layouts, readers=READERS,
                         profile=args.profile, repeats=args.repeats, progress=True)
        samples = sample_codecs(path, DATASET_PATHS[kind], layouts)
        for lay in layouts:
            mbps[(kind, lay.name)] = samples[sample_key(lay)].decode_mbps
        for rec in frame.to_dict("records"):
            m = lb.Measurement.from_dict(rec)
            if usable(m):
                rows.append((kind, m))
    measurements = [m for _, m in rows]
    constants = fit_constants(
        measurements, decode_mbps=lambda m: mbps.get((_kind(m), m.layout.name)))
    write_table(constants)
    report_fit(rows, constants, mbps, args)


def _kind(m: lb.Measurement) -> str:
    return "ophys" if m.dataset == DATASET_PATHS["ophys"] else "ecephys"


def write_table(constants: CostConstants) -> None:
    v = versions()
    where = (f"layoutbench reader table ({platform.machine()}, {v.get('python', '')}, "
             f"h5py {v.get('h5py', '')}, fsspec {v.get('fsspec', '')}, zarr {v.get('zarr', '')}, "
             f"{dt.date.today():%Y-%m-%d})")
    # pprint wraps long strings and dicts within ruff's line length
    table = pprint.pformat(constants.to_dict(), width=96, sort_dicts=False)
    measured_on = pprint.pformat(where, width=84)
    TABLE.write_text(
        '"""The readers\' cost constants, measured on the embedded endpoint: what a '
        "recommendation\n"
        "uses unless ``layoutbench calibrate`` measured this machine.\n\n"
        "Written by ``benchmarks/reader_constants.py`` (do not edit by hand); "
        "``reports/reader_constants.md``\nshows how well they predict the rows they were "
        'fitted on.\n"""\n\n'
        "from __future__ import annotations\n\n"
        "from typing import Any\n\n"
        f"#: Where and how the table was measured (recorded in every recommendation).\n"
        f"MEASURED_ON = {measured_on}\n\n"
        "#: :meth:`layoutbench.plan.model.CostConstants.to_dict` of the fit.\n"
        f"TABLE: dict[str, Any] = {table}\n")


def report_fit(rows: list[tuple[str, lb.Measurement]], constants: CostConstants,
               mbps: dict[tuple[str, str], float], args: argparse.Namespace) -> None:
    from layoutbench.plan.profiles import NetworkProfile

    out = []
    for kind, m in rows:
        plan = plan_for_measurement(m)
        profile = NetworkProfile.from_dict(m.profile_params)
        predicted = predict_seconds(plan, profile, constants, mbps.get((kind, m.layout.name)))
        out.append({"kind": kind, "reader": m.reader, "layout": m.layout.name,
                    "pattern": m.pattern, "measured": m.seconds, "predicted": predicted})
    frame = pd.DataFrame(out)
    frame["error"] = frame["predicted"] / frame["measured"] - 1
    summary = frame.groupby("reader").agg(
        rows=("error", "size"),
        median_abs_error=("error", lambda e: float(np.median(np.abs(e)))),
        within_25=("error", lambda e: float(np.mean(np.abs(e) <= 0.25))))
    lines = [
        "# Reader constants",
        "",
        f"Fitted by `benchmarks/reader_constants.py --repeats {args.repeats}` under "
        f"`{args.profile}` on {dt.date.today():%Y-%m-%d} ({platform.machine()}, "
        f"{len(frame)} rows).",
        "",
        "| reader | request overhead (ms) | read-call overhead (ms) | decode factor |",
        "|---|---:|---:|---:|",
    ]
    for r in sorted(constants.request_overhead_s):
        lines.append(f"| {r} | {constants.request_overhead_s[r] * 1e3:.2f} | "
                     f"{constants.read_overhead_s.get(r, 0) * 1e3:.2f} | "
                     f"{constants.decode_factor.get(r, 1.0):.2f} |")
    lines += ["", f"latency factor {constants.latency_factor:.3f}, transfer factor "
              f"{constants.transfer_factor:.3f}, rms log error {constants.rms_log_error:.3f}",
              "", "| reader | rows | median abs error | within ±25% |", "|---|---:|---:|---:|"]
    for reader, s in summary.iterrows():
        lines.append(f"| {reader} | {s['rows']} | {s['median_abs_error']:.1%} | "
                     f"{s['within_25']:.0%} |")
    write_report(REPORT, lines, frame)


if __name__ == "__main__":
    main()
