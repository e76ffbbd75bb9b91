"""The faults table: how each reader fares when S3 misbehaves, over at least 200 pattern runs.

Every reader reads the demo samples (ophys 1000x256x256, ecephys 64 channels x 60 s; as
neuroconv writes them, and the zarr reader a Zarr copy) through the gateway injecting the
issue's fault mix, ``503=0.05,500=0.02,reset=0.02,truncate=0.01,stall=0.01`` per request, and
each run is classed as a correct result (the digest of the data), a clean error (the reader
gave up, and said so) or wrong data (a digest that is not the data's). Writes
``reports/faults.md`` and ``reports/faults.csv``:

    .venv/bin/python benchmarks/faults.py [--repeats 50] [--seed 1]

It takes about an hour on the 2-core machine: stalls last 12 s (past the readers' 10 s read
timeout) and botocore backs off between retries.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
from pathlib import Path

import pandas as pd

import layoutbench as lb
from benchmarks._reports import provenance
from layoutbench.cache import cache_dir
from layoutbench.plan.layout import neuroconv_default
from layoutbench.plan.reader_facts import swept
from layoutbench.read.inspect import dataset_info
from layoutbench.run.faulty import outcome
from layoutbench.synthetic import DATASET_PATHS, GENERATORS

SPEC = "503=0.05,500=0.02,reset=0.02,truncate=0.01,stall=0.01"
SAMPLES = {
    "ophys": (["ophys-frames", "ophys-patch:offsets=1,frames=250"],
              lb.Layout("zarr", (1000, 32, 32), "blosc-zstd", 5, shuffle=True)),
    "ecephys": (["ecephys-window", "ecephys-channel-filter:channels=1,seconds=5"],
                lb.Layout("zarr", (262144, 1), "zstd", 3)),
}
REPORTS = Path(__file__).resolve().parents[1] / "reports"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    work = cache_dir("faults")
    work.mkdir(parents=True, exist_ok=True)
    frames = []
    for kind, (patterns, zarr_layout) in SAMPLES.items():
        path = work / f"{kind}.nwb"
        if not path.exists():
            GENERATORS[kind](path, seed=0, progress=True)
        info = dataset_info(path, DATASET_PATHS[kind])
        baseline = neuroconv_default(kind, info.shape, info.itemsize)  # the file's own
        for layout, readers in ((baseline, swept(fmt="hdf5")), (zarr_layout, swept(fmt="zarr"))):
            frames.append(lb.sweep(path, DATASET_PATHS[kind], layouts=[layout],
                                   patterns=patterns, readers=list(readers), profile="loopback",
                                   repeats=args.repeats, faults=SPEC, fault_seed=args.seed,
                                   cache_dir=work / "variants", progress=True))
    rows = pd.concat(frames, ignore_index=True)
    rows["outcome"] = [outcome(lb.Measurement.from_dict(r)) for r in rows.to_dict("records")]
    REPORTS.mkdir(exist_ok=True)
    rows.drop(columns=["versions", "reader_options"]).to_csv(REPORTS / "faults.csv", index=False)
    table = (rows.groupby(["reader", "outcome"]).size().unstack(fill_value=0)
             .reindex(columns=["correct", "clean error", "wrong data", "bug"], fill_value=0))
    table["runs"] = table.sum(axis=1)
    errors = (rows[rows["outcome"] == "clean error"].groupby("reader")["error"]
              .agg(lambda e: "; ".join(sorted({x.split(":")[0] for x in e}))))
    lines = [
        "# Faults: what each reader does when S3 misbehaves",
        "",
        f"Fault mix per request: `{SPEC}` (seed {args.seed}); demo samples as neuroconv "
        "writes them (zarr: a Zarr copy); patterns "
        + ", ".join(f"`{p}`" for p, _ in [(p, 0) for k in SAMPLES for p in SAMPLES[k][0]])
        + f"; {args.repeats} repeats each.",
        f"Measured {dt.date.today()} on {platform.node()} ({platform.machine()}).",
        provenance(),
        "Reproduce: `.venv/bin/python -m benchmarks.faults`.",
        "",
        "| reader | runs | correct | clean error | wrong data | bug | errors seen |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for reader, r in table.iterrows():
        lines.append(f"| {reader} | {r['runs']} | {r['correct']} | {r['clean error']} | "
                     f"{r['wrong data']} | {r['bug']} | {errors.get(reader, '')} |")
    injected = rows["error"].notna().sum()
    lines += ["", f"{len(rows)} runs, {injected} ended in an error; wrong data: "
              f"{int(table['wrong data'].sum())}."]
    (REPORTS / "faults.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if int(table["bug"].sum()):  # an exception no fault explains fails the benchmark
        raise SystemExit(f"{int(table['bug'].sum())} run(s) raised an exception that is no "
                         "I/O failure: see the rows whose error starts with 'bug'")


if __name__ == "__main__":
    main()
