"""Small hand-made results tables and recommendations for the report's tests.

Rows are built through :class:`~layoutbench.plan.measurement.Measurement` so they carry exactly
the columns a sweep writes; figures are chosen by hand so every ratio, front and rank
correlation the tests assert can be worked out on paper.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from layoutbench.plan.layout import Layout
from layoutbench.plan.measurement import Measurement
from layoutbench.plan.profiles import get_profile
from layoutbench.plan.verdict import verdict

DATASET = "/acquisition/TwoPhotonSeries/data"
SHAPE = (1000, 64, 64)
PROFILES = {"same-region": (20.0, 100.0), "cross-region": (80.0, 40.0)}

BASE = Layout("hdf5", (76, 64, 64), "gzip", 4, label="neuroconv-default")
NARROW = Layout("hdf5", (1000, 16, 16), "zstd", 3, shuffle=True)
WIDE = Layout("hdf5", (1000, 32, 32), "zstd", 3, shuffle=True)
ZARR = Layout("zarr", (1000, 16, 16), "blosc-zstd", 5, shuffle=True)


def row(layout: Layout, reader: str, pattern: str, *, seconds: float, requests: int, sent: int,
        chunks: int, stored: int, profile: str = "same-region", source: str = "movie.nwb",
        dataset: str = DATASET, shape: tuple[int, ...] = SHAPE,
        timestamp: str = "2026-11-30T12:00:00+00:00", machine: str = "Linux x86_64, 2 CPUs",
        error: str | None = None) -> dict[str, Any]:
    """One results row (the dict a sweep writes)."""
    latency, bandwidth = PROFILES.get(profile, (0.0, None))
    return Measurement(
        layout=layout, reader=reader, reader_options={}, pattern=pattern, pattern_params={},
        profile=profile, profile_params={"name": profile, "latency_ms": latency,
                                         "bandwidth_mbps": bandwidth},
        dataset=dataset, shape=shape, dtype="uint16", requests=requests,
        bytes_transferred=sent, bytes_needed=sent // 2, read_amplification=2.0,
        read_amplification_raw=2.0, chunks_touched=chunks, seconds=seconds, open_requests=2,
        open_bytes=1000, open_seconds=0.05, stored_bytes=stored, compression_ratio=1.6,
        write_seconds=1.0, digest="d", versions={"h5py": "3.16.0", "machine": machine},
        timestamp=timestamp, source=source, rate=30.0, error=error,
    ).to_dict()


def sweep_rows(profile: str = "same-region", slow: float = 1.0,
               patterns: tuple[str, ...] = ("ophys-patch", "ophys-frames")) -> list[dict]:
    """A small sweep: the baseline and two HDF5 layouts by two readers, and a Zarr layout."""
    out = []
    for pattern in patterns:
        f = 1.0 if pattern == "ophys-patch" else 0.5
        for reader, r in (("h5py-fsspec", 1.0), ("kerchunk", 0.5)):
            out += [
                row(BASE, reader, pattern, seconds=4.0 * r * f * slow, requests=40,
                    sent=240_000_000, chunks=40, stored=80_000_000, profile=profile),
                row(NARROW, reader, pattern, seconds=0.8 * r * f * slow, requests=30,
                    sent=8_000_000, chunks=16, stored=66_000_000, profile=profile),
                row(WIDE, reader, pattern, seconds=0.4 * r * f * slow, requests=12,
                    sent=13_000_000, chunks=4, stored=68_000_000, profile=profile),
            ]
        out.append(row(ZARR, "zarr", pattern, seconds=0.3 * f * slow, requests=16,
                       sent=7_000_000, chunks=16, stored=64_000_000, profile=profile))
    return out


def results_frame() -> pd.DataFrame:
    """Two profiles of the same file: 2 × 2 (profile, pattern) groups."""
    return pd.DataFrame(sweep_rows("same-region") + sweep_rows("cross-region", slow=3.0))


def _candidate(layout: Layout, reader: str, seconds: dict[str, float], speedup: float | None,
               stored: int) -> dict[str, Any]:
    mean = sum(seconds.values()) / len(seconds)
    return {"name": layout.name, "format": layout.format, "chunks": list(layout.chunks),
            "shards": None, "codec": layout.codec, "level": layout.level,
            "shuffle": layout.shuffle, "page_size": None, "requests": 20.0,
            "bytes_transferred": 9_000_000, "seconds": mean, "stored_bytes": stored,
            "compression_ratio": 1.6, "cost_per_1000_reads_usd": 0.82, "reader": reader,
            "per_pattern": [{"name": p, "requests": 20, "bytes_transferred": 9_000_000,
                             "seconds": s} for p, s in seconds.items()],
            **({} if speedup is None else {"speedup_vs_current": speedup})}


def recommendation(measured: bool = True) -> dict[str, Any]:
    """A ``recommend --format json`` object for the file of :func:`results_frame`: current =
    the baseline's layout, recommended = WIDE, one alternative = NARROW; with ``measured``,
    the entries ``recommend --measure`` adds (predicted beside measured)."""
    current = _candidate(Layout("hdf5", (76, 64, 64), "gzip", 4, label="current"),
                         "h5py-fsspec", {"ophys-patch": 3.6, "ophys-frames": 1.8}, None,
                         80_000_000)
    best = _candidate(WIDE, "h5py-fsspec", {"ophys-patch": 0.45, "ophys-frames": 0.2}, 8.0,
                      68_000_000)
    alt = _candidate(NARROW, "h5py-fsspec", {"ophys-patch": 0.7, "ophys-frames": 0.45}, 4.0,
                     66_000_000)
    entries = [("current", 2.7, 3.0), (WIDE.name, 0.33, 0.25), (NARROW.name, 0.57, 0.60)]
    return {
        "file": "movie.nwb", "profile": "same-region",
        "profile_params": {"name": "same-region", "latency_ms": 20.0, "bandwidth_mbps": 100.0},
        "calibrated": False, "prices": {},
        "datasets": [{
            "path": DATASET, "neurodata_type": "TwoPhotonSeries", "kind": "ophys",
            "shape": list(SHAPE), "dtype": "uint16", "current": current,
            "patterns": [{"name": "ophys-patch", "weight": 1.0},
                         {"name": "ophys-frames", "weight": 1.0}],
            "recommended": best, "alternatives": [alt], "notes": [],
            "verdict": verdict(current["seconds"], best["seconds"], 38_000_000,
                               get_profile("same-region")),
            "measured": [{"layout": name, "reader": "h5py-fsspec", "shape": list(SHAPE),
                          "predicted_seconds": p, "measured_seconds": m,
                          "predicted_requests": 20.0, "measured_requests": 21.0,
                          "predicted_bytes": 9_000_000, "measured_bytes": 9_100_000}
                         for name, p, m in entries] if measured else [],
        }],
        "skipped": [], "spent": None,
    }


def write_inputs(folder: Any) -> tuple[Any, Any]:
    """The results table (Parquet) and the recommendation (JSON) in ``folder``."""
    results = folder / "sweep.parquet"
    results_frame().to_parquet(results, index=False)
    rec = folder / "movie.recommendation.json"
    rec.write_text(json.dumps(recommendation()))
    return results, rec
