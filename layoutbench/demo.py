"""The demo: the whole spine on generated samples, on the embedded S3, in a few minutes.

Samples are generated with fixed seeds, so a second run reuses them and their verified
variants (the cache lives in the output folder) and only re-measures. It sweeps (``run/``) and
recommends (``recommender/``), so it sits above both, beside the API.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from layoutbench.results import to_frame, write_results

log = logging.getLogger(__name__)

SAMPLES = ("ophys", "ecephys")


def _sample(out_dir: Path, kind: str, shape: tuple[int, ...] | None, progress: bool) -> Path:
    """The sample file for ``kind``: reused when it exists with the wanted shape."""
    from layoutbench.errors import UserError
    from layoutbench.read.inspect import dataset_info
    from layoutbench.synthetic import DATASET_PATHS, GENERATORS

    path = out_dir / (f"{kind}.nwb" if shape is None else
                      f"{kind}-{'x'.join(map(str, shape))}.nwb")
    try:
        info = dataset_info(path, DATASET_PATHS[kind])
        if shape is None or info.shape == shape:
            log.debug("reusing sample %s", path)
            return path
    except UserError:
        pass
    log.info("generating %s sample %s", kind, path)
    GENERATORS[kind](path, shape=shape, seed=0, progress=progress)
    return path


def run_demo(out_dir: Path, profile: Any, *, grid: str = "default",
             shapes: dict[str, tuple[int, ...]] | None = None, progress: bool = True
             ) -> list[Any]:
    """Generate (or reuse) the samples, sweep each, write ``KIND.parquet``; return the frames.

    ``shapes`` overrides the generators' default shapes per kind (e.g. 512x512 frames).
    """
    from layoutbench.run.sweep import run_sweep
    from layoutbench.store import EmbeddedS3

    out_dir.mkdir(parents=True, exist_ok=True)
    shapes = shapes or {}
    samples = {kind: _sample(out_dir, kind, shapes.get(kind), progress) for kind in SAMPLES}
    frames = []
    with EmbeddedS3() as s3:
        for kind, path in samples.items():
            log.info("sweeping %s under %s", path, profile.name)
            results = run_sweep(path, s3, profile, grid=grid, cache_dir=out_dir / "cache",
                                progress=progress)
            write_results(results, out_dir / f"{kind}.parquet")
            frames.append(to_frame(results))
    return frames


def recommend_samples(out_dir: Path, profile: Any) -> list[dict[str, Any]]:
    """The recommendation for each demo sample (default patterns of its kind), also written as
    ``KIND.recommendation.json``, which ``layoutbench apply`` takes."""
    import json

    from layoutbench.recommender.source import recommend

    recs = []
    for kind in SAMPLES:
        matches = sorted(out_dir.glob(f"{kind}*.nwb"), key=lambda p: p.stat().st_mtime)
        if not matches:
            continue
        rec = recommend(matches[-1], profile=profile).to_dict()
        (out_dir / f"{kind}.recommendation.json").write_text(json.dumps(rec, indent=1) + "\n")
        recs.append(rec)
    return recs
