"""The demo: the whole spine on generated samples, on the embedded S3, in a few minutes.

Samples are generated with fixed seeds, so a second run reuses them and their verified
variants (the cache lives in the output folder) and only re-measures.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from layoutbench.results import to_frame, write_results

log = logging.getLogger(__name__)

SAMPLES = ("ophys", "ecephys")


def _sample(out_dir: Path, kind: str) -> Path:
    from layoutbench.generate import GENERATORS
    from layoutbench.inspect import check_hdf5_file

    path = out_dir / f"{kind}.nwb"
    try:
        check_hdf5_file(path)
        log.info("reusing sample %s", path)
    except Exception:
        log.warning("generating %s sample %s", kind, path)
        GENERATORS[kind](path, seed=0, progress=True)
    return path


def run_demo(out_dir: Path, profile: Any, *, grid: str = "default") -> list[Any]:
    """Generate (or reuse) the samples, sweep each, write ``KIND.parquet``; return the frames."""
    from layoutbench.store import EmbeddedS3
    from layoutbench.sweep import run_sweep

    out_dir.mkdir(parents=True, exist_ok=True)
    samples = {kind: _sample(out_dir, kind) for kind in SAMPLES}
    frames = []
    with EmbeddedS3() as s3:
        for kind, path in samples.items():
            log.warning("sweeping %s under %s", path, profile.name)
            results = run_sweep(path, s3, profile, grid=grid, cache_dir=out_dir / "cache",
                                progress=True)
            write_results(results, out_dir / f"{kind}.parquet")
            frames.append(to_frame(results))
    return frames
