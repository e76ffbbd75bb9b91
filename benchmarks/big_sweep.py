"""A sweep of a big file on this machine, with its peaks: RSS of the command and of moto, and
disk (cache, moto's spooled objects in TMPDIR). Not an asv suite (asv runs no function here).

    .venv/bin/layoutbench generate ophys big.nwb --size 10GB
    .venv/bin/python benchmarks/big_sweep.py big.nwb --grid quick [--workdir DIR]

Prints one JSON object: wall seconds, peak RSS (command, moto), peak disk, and the slab the
results say the dataset was swept on.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def _tree_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):  # removed meanwhile
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def main() -> None:
    import pandas as pd
    import psutil

    parser = argparse.ArgumentParser()
    parser.add_argument("source")
    parser.add_argument("--grid", default="quick")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("extra", nargs="*", help="more sweep options (after --)")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="layoutbench-big-"))
    (work / "tmp").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "LAYOUTBENCH_CACHE": str(work / "cache"), "TMPDIR": str(work / "tmp")}
    out = work / "big.parquet"
    cmd = [sys.executable, "-m", "layoutbench", "sweep", args.source, "--grid", args.grid,
           "--repeats", "1", "-o", str(out), *args.extra]  # as its published figures were
    peaks = {"command_rss": 0, "moto_rss": 0, "disk": 0}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    stop = threading.Event()

    def sample() -> None:
        me = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                peaks["command_rss"] = max(peaks["command_rss"], me.memory_info().rss)
                for child in me.children(recursive=True):
                    if "_moto_launcher" in " ".join(child.cmdline()):
                        peaks["moto_rss"] = max(peaks["moto_rss"], child.memory_info().rss)
            except psutil.Error:
                pass
            peaks["disk"] = max(peaks["disk"], _tree_bytes(work))
            stop.wait(1.0)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    rc = proc.wait()
    stop.set()
    sampler.join()
    wall = time.perf_counter() - t0
    frame = pd.read_parquet(out) if out.exists() else None
    print(json.dumps({
        "command": " ".join(cmd), "exit": rc, "wall_seconds": round(wall, 1),
        "peak_rss_command_gb": round(peaks["command_rss"] / 1e9, 2),
        "peak_rss_moto_gb": round(peaks["moto_rss"] / 1e9, 2),
        "peak_disk_gb": round(peaks["disk"] / 1e9, 2),
        "rows": None if frame is None else len(frame),
        "slab": None if frame is None else sorted(frame["slab"].dropna().unique().tolist()),
        "shape": None if frame is None else sorted(frame["shape"].unique().tolist()),
    }, indent=1))
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
