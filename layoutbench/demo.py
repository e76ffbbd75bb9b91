"""The demo: the whole spine on generated samples, on the embedded S3, in a few minutes.

Each sample is recommended for first, then swept on the grid *and* the recommended layout
(label ``recommended``), so the rankings, the card and the charts tell one answer measured in
one run. Besides the two default samples, a small movie (:data:`SMALL_SHAPE`) shows the other
verdict: a file small enough that downloading it whole beats any rewrite.

Samples are generated with fixed seeds, so a second run reuses them and their verified
variants (the cache lives in the output folder) and only re-measures. It sweeps (``run/``) and
recommends (``recommender/``), so it sits above both, beside the API.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import pandas as pd

from layoutbench.atomic import write_json
from layoutbench.errors import UserError
from layoutbench.plan.layout import default_grid
from layoutbench.plan.profiles import NetworkProfile
from layoutbench.read.inspect import dataset_info
from layoutbench.recommender.source import recommend
from layoutbench.results import to_frame, write_results
from layoutbench.run.sweep import overhead, run_sweep
from layoutbench.store import EmbeddedS3
from layoutbench.synthetic import DATASET_PATHS, GENERATORS
from layoutbench.write.apply_plan import layouts_from_recommendation

log = logging.getLogger(__name__)

SAMPLES = ("ophys", "ecephys")

#: The counter-example's shape: a 91-frame movie (7.6 MB as neuroconv writes it), which a
#: same-region client downloads whole faster than it reads its patches from any rewritten layout.
SMALL_SHAPE = (91, 256, 256)


@dataclasses.dataclass(frozen=True)
class DemoResult:
    """One sample of the demo: its file, what ``recommend`` chose, and the sweep that measured
    the choice beside the grid (also written as ``NAME.recommendation.json`` and
    ``NAME.parquet`` in the output folder)."""

    name: str
    path: Path
    recommendation: dict[str, Any]
    frame: pd.DataFrame
    #: what the sweep spent beside its timed reads (:func:`layoutbench.run.sweep.overhead`)
    overhead: str


def _sample(out_dir: Path, kind: str, shape: tuple[int, ...] | None, progress: bool,
            name: str | None = None) -> Path:
    """The sample file for ``kind``: reused when it exists with the wanted shape."""
    if name is None:
        name = kind if shape is None else f"{kind}-{'x'.join(map(str, shape))}"
    path = out_dir / f"{name}.nwb"
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


def run_demo(out_dir: Path, profile: NetworkProfile, *, grid: str = "default",
             shapes: dict[str, tuple[int, ...]] | None = None, repeats: int = 3,
             small: tuple[int, ...] | None = SMALL_SHAPE, progress: bool = True
             ) -> list[DemoResult]:
    """Generate (or reuse) the samples; for each, recommend, then sweep the grid with the
    recommended layout ``repeats`` times per case; write ``NAME.recommendation.json`` and
    ``NAME.parquet``; return them in order.

    ``shapes`` overrides the generators' default shapes per kind (e.g. 512x512 frames);
    ``small`` is the shape of the small movie (``ophys-small.nwb``), where downloading wins, or
    ``None``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    shapes = shapes or {}
    samples = [(kind, _sample(out_dir, kind, shapes.get(kind), progress)) for kind in SAMPLES]
    if small is not None:
        samples.append(("ophys", _sample(out_dir, "ophys", small, progress, name="ophys-small")))
    done = []
    with EmbeddedS3() as s3:
        for kind, path in samples:
            rec = recommend(path, dataset=DATASET_PATHS[kind], profile=profile).to_dict()
            write_json(out_dir / f"{path.stem}.recommendation.json", rec, indent=1)
            chosen = rec["datasets"][0]
            info = dataset_info(path, chosen["path"])
            layouts = default_grid(kind, info.shape, info.itemsize, grid,
                                   recommended=layouts_from_recommendation(rec).get(info.path))
            log.info("sweeping %s under %s, with the recommended %s", path, profile.name,
                     chosen["recommended"]["name"])
            started = time.perf_counter()
            results = run_sweep(path, s3, profile, layouts=layouts,
                                cache_dir=out_dir / "cache", repeats=repeats, progress=progress)
            spent = overhead(results, time.perf_counter() - started)
            write_results(results, out_dir / f"{path.stem}.parquet")
            done.append(DemoResult(path.stem, path, rec, to_frame(results), spent))
    return done
