"""How the CPU time and memory of ``layoutbench recommend`` grow with the file: ophys movies of
0.25, 1, 4 and 10 GB (raw; neuroconv's layout, seed 0), each recommended once in a fresh
process, timed by the process's own CPU seconds (user + system, from ``os.wait4``) rather than
the clock, so that other work on the machine changes the figures little. It writes
``reports/recommend_scaling.md`` and its CSV; the SHA-256 of each recommendation's JSON is
recorded too, so that a run on changed code shows whether the answers stayed the same:

    .venv/bin/python -m benchmarks.recommend_scaling [--sizes 0.25,1] [--repeats 3]

The movies are generated once into the user cache (``recommend-scaling``): the 10 GB one takes
minutes and ~7 GB of disk. ``--code DIR`` times the package found in ``DIR`` instead (e.g. an
older checkout, for a before/after comparison).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmarks._reports import ROOT, write_report
from layoutbench.cache import cache_dir

REPORT = ROOT / "reports" / "recommend_scaling.md"
#: Raw sizes of the movies, in GB (10^9 bytes).
SIZES = (0.25, 1.0, 4.0, 10.0)


def movie(size_gb: float) -> Path:
    """The ophys movie of ``size_gb`` raw GB (seed 0), generated on first use."""
    work = cache_dir("recommend-scaling")
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"ophys-{size_gb:g}GB.nwb"
    if not path.exists():
        import layoutbench as lb

        print(f"generating {path} ...", flush=True)
        lb.generate("ophys", path, size=int(size_gb * 1e9), seed=0, progress=True)
    return path


#: The child: ``layoutbench`` itself, reporting its peak resident set (VmHWM) on stderr as it
#: exits. The kernel's ``ru_maxrss`` would not do: it keeps the high-water mark of the process
#: before ``exec``, which is this script's own.
CHILD = """
import atexit, sys
def _peak():
    with open("/proc/self/status") as f:
        kb = [line.split()[1] for line in f if line.startswith("VmHWM:")]
    sys.stderr.write(f"\\nPEAK_RSS_KB {kb[0] if kb else 'nan'}\\n")
atexit.register(_peak)
from layoutbench.cli import main
main(prog_name="layoutbench")
"""


def run_once(path: Path, code: Path | None) -> dict[str, float | str]:
    """``recommend`` on ``path`` in a fresh interpreter: its CPU seconds, wall seconds, peak
    resident memory and the digest of the JSON it printed."""
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code), env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-c", CHILD, "-q", "recommend", str(path), "--format", "json"]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=code or ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        err.seek(0)
        messages = err.read().decode(errors="replace")
        if proc.returncode:
            raise RuntimeError(f"recommend {path} exited with {proc.returncode}: {messages}")
        out.seek(0)
        digest = hashlib.sha256(out.read()).hexdigest()[:16]
    peak = [line.split()[1] for line in messages.splitlines() if line.startswith("PEAK_RSS_KB")]
    return {"cpu_s": usage.ru_utime + usage.ru_stime, "user_s": usage.ru_utime,
            "sys_s": usage.ru_stime, "wall_s": wall,
            "peak_rss_mb": float(peak[-1]) / 1024 if peak else float("nan"),
            "json_sha256": digest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(f"{s:g}" for s in SIZES),
                        help="raw sizes of the movies in GB, comma-separated")
    parser.add_argument("--repeats", type=int, default=1, help="runs per movie (min is kept)")
    parser.add_argument("--code", type=Path, default=None,
                        help="time the layoutbench package in this directory")
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args()
    rows = []
    for size in (float(s) for s in args.sizes.split(",")):
        path = movie(size)
        runs = [run_once(path, args.code) for _ in range(args.repeats)]
        best = min(runs, key=lambda r: r["cpu_s"])
        digests = {r["json_sha256"] for r in runs}
        if len(digests) > 1:
            raise RuntimeError(f"{path}: the recommendation changed between runs: {digests}")
        rows.append({"size_gb": size, "file_bytes": path.stat().st_size, **best})
        print(f"{size:g} GB: {best['cpu_s']:.2f} s CPU, {best['peak_rss_mb']:.0f} MB",
              flush=True)
    frame = pd.DataFrame(rows)
    lines = [
        "# `recommend` CPU time by file size",
        "",
        "`layoutbench -q recommend MOVIE --format json` on ophys movies (neuroconv's layout, "
        "seed 0) in a fresh process each, by `benchmarks/recommend_scaling.py"
        f"{' --code ' + str(args.code) if args.code else ''}`; CPU is the child's user + "
        f"system seconds (the least of {args.repeats} run(s)), memory its peak resident set.",
        "",
        "| raw GB | file MB | CPU s | wall s | peak RSS MB | JSON sha256 |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(f"| {r['size_gb']:g} | {r['file_bytes'] / 1e6:.0f} | {r['cpu_s']:.2f} | "
                     f"{r['wall_s']:.2f} | {r['peak_rss_mb']:.0f} | `{r['json_sha256']}` |")
    write_report(args.out, lines, frame)


if __name__ == "__main__":
    main()
