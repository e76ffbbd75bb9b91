"""Many files: a 4-file ``sweep --grid quick`` serially and with ``--workers 2``, side by side in
one run, and ``recommend`` over 20 files. Not an asv suite (asv runs no function here).

    .venv/bin/python benchmarks/collection.py [--workdir DIR] [--shape 600x256x256]

Prints one JSON object: wall seconds of each run and their ratio, whether the deterministic
columns agree, and the recommend figures. Samples are generated once into the work folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DETERMINISTIC = ["source", "layout", "reader", "pattern", "requests", "bytes_transferred",
                 "bytes_needed", "chunks_touched", "stored_bytes", "digest"]


def _run(args: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "layoutbench", "-q", *args], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    import pandas as pd

    from layoutbench.synthetic import generate_ophys

    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--shape", default="600x256x256", help="each sweep sample, TxYxX")
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--recommend-files", type=int, default=20)
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="layoutbench-collection-"))
    work.mkdir(parents=True, exist_ok=True)
    shape = tuple(int(v) for v in args.shape.split("x"))
    samples = []
    for i in range(max(args.files, args.recommend_files)):
        path = work / f"movie{i:02d}.nwb"
        if not path.exists():
            generate_ophys(path, shape=shape if i < args.files else (300, 128, 128), seed=i)
        samples.append(str(path))
    out: dict[str, object] = {"shape": list(shape), "files": args.files}
    # serial and --workers 2, each with its own empty cache: the whole work, side by side
    walls = {}
    for name, extra in (("serial", []), ("workers-2", ["--workers", "2"])):
        env = {**os.environ, "LAYOUTBENCH_CACHE": str(work / f"cache-{name}")}
        shutil.rmtree(work / f"cache-{name}", ignore_errors=True)
        walls[name] = _run(["sweep", *samples[:args.files], "--grid", "quick", "--repeats",
                            "1", "-o", str(work / f"{name}.parquet"), *extra], env)
    a = pd.read_parquet(work / "serial.parquet")[DETERMINISTIC]
    b = pd.read_parquet(work / "workers-2.parquet")[DETERMINISTIC]
    out.update({"sweep_serial_s": round(walls["serial"], 1),
                "sweep_workers2_s": round(walls["workers-2"], 1),
                "sweep_ratio": round(walls["serial"] / walls["workers-2"], 2),
                "rows": len(a), "deterministic_columns_equal": bool(a.equals(b))})
    env = {**os.environ, "LAYOUTBENCH_CACHE": str(work / "cache-rec")}
    many = samples[:args.recommend_files]
    for name, extra in (("serial", []), ("workers-2", ["--workers", "2"])):
        rec = work / f"rec-{name}.json"
        out[f"recommend_{len(many)}_files_{name}_s"] = round(_run(
            ["recommend", *many, "--min-mb", "1", "--format", "json", "-o", str(rec),
             *extra], env), 1)
    same = json.loads((work / "rec-serial.json").read_text()) == \
        json.loads((work / "rec-workers-2.json").read_text())
    out["recommend_same_json"] = same
    out["recommend_summary"] = json.loads((work / "rec-serial.json").read_text())["summary"]
    print(json.dumps(out, indent=1))
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
