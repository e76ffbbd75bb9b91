"""The verdict: rewrite the file, keep it as it is, or download it whole (pure: no I/O).

A rewrite is not the only answer. For a small file, or a session that reads much of it,
fetching the whole object once beats any layout read by ranges: one request at the profile's
bandwidth, then every read is local. Which wins depends on the file's size and on how many
reads of the workload a session makes, so the verdict says both: the seconds of one read of
the workload kept, rewritten and downloaded, and the break-evens (after how many reads a
download pays, and above which file size the rewrite wins a one-read session).

The download is costed as one GET on one connection of the profile (latency + size /
bandwidth); a tool that downloads with several connections would do better, and reading the
local copy (decoding the workload's chunks) is not counted: the download figure is a floor.
"""

from __future__ import annotations

import math
from typing import Any

from layoutbench.plan.profiles import NetworkProfile


def download_seconds(nbytes: float, profile: NetworkProfile) -> float:
    """One GET of ``nbytes`` under ``profile`` (one connection; also the report's
    "download once" line)."""
    bps = profile.bytes_per_second
    return profile.latency_s + (nbytes / bps if bps else 0.0)


def verdict(keep_s: float, rewrite_s: float, file_bytes: int, profile: NetworkProfile,
            rewrite_is_keep: bool = False) -> dict[str, Any]:
    """Which of keeping, rewriting and downloading reads one workload fastest, and the
    break-evens (``rewrite_is_keep``: the recommendation is to keep the layout)."""
    download = download_seconds(file_bytes, profile)
    options = {"keep": keep_s, "download": download}
    if not rewrite_is_keep:
        options["rewrite"] = rewrite_s
    winner = min(options, key=lambda k: (options[k], k))
    best_remote = min(keep_s, rewrite_s)
    # reads of the workload in one session after which the download has paid for itself
    after = download / best_remote if best_remote > 0 else math.inf
    # the file size under which a one-read session is faster downloading the file
    bps = profile.bytes_per_second
    under = max(0.0, best_remote - profile.latency_s) * bps if bps else math.inf
    return {"winner": winner, "file_bytes": int(file_bytes),
            "seconds": {k: round(v, 4) for k, v in options.items()},
            "download_pays_after_reads": None if math.isinf(after) else float(f"{after:.4g}"),
            "download_wins_under_bytes": None if math.isinf(under) else int(under)}


def describe(v: dict[str, Any]) -> str:
    """One line: the winner, the three figures and the break-evens."""
    s = v["seconds"]
    parts = [f"{k} {s[k]:.3f} s" for k in ("rewrite", "keep", "download") if k in s]
    size = v["file_bytes"] / 1e6
    line = (f"verdict for one read of the workload: {', '.join(parts)} "
            f"(the whole {size:,.1f} MB file): {v['winner']} wins")
    after, under = v["download_pays_after_reads"], v["download_wins_under_bytes"]
    if v["winner"] == "download":
        return line + "; reading by ranges does not pay for a file this small"
    if after is not None:
        line += f"; downloading pays from {math.ceil(after)} reads per session on"
    if under is not None:
        line += f", and for files under {under / 1e6:,.1f} MB"
    return line
