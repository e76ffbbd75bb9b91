"""``recommend --measure``: the current layout and the best candidates measured side by side.

The dataset (a slab of its first rows when it is big) is copied as it is stored
(:func:`layoutbench.write.extract.extract_dataset`, raw chunks, from a local or a remote file),
measured as it is (:func:`layoutbench.run.measure_source.measure_source`: the user's layout,
not a rewrite of it) and rewritten in the recommended and alternative layouts
(:func:`layoutbench.run.sweep.run_sweep`), all on one embedded endpoint under the profile, and
the measured figures are reported beside the predicted ones.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from layoutbench.plan.model import CostConstants
from layoutbench.plan.profiles import NetworkProfile
from layoutbench.plan.recommendation import DatasetRecommendation
from layoutbench.plan.search import CodecFigures, score
from layoutbench.recommender.dataset import _workload
from layoutbench.store.sources import Fetch

#: Datasets larger than this are measured on a slab of their first axis, not whole.
SLAB_BYTES = 512 * 10**6


def measure_dataset(dset: Any, fetch: Fetch | None, rec: DatasetRecommendation,
                    profile: NetworkProfile, constants: CostConstants, *, top: int = 3,
                    cache_dir: str | Path | None = None,
                    progress: bool = False) -> tuple[dict[str, Any], ...]:
    """Measure the current layout as it is and the ``top`` best candidates rewritten, on a copy
    of the open dataset ``dset`` (a slab of it, for big datasets; ``fetch`` reads a remote
    file's ranges), on the embedded endpoint under ``profile``; predicted beside measured."""
    import tempfile

    import pandas as pd

    from layoutbench.read.inspect import dataset_info
    from layoutbench.run.measure_source import measure_source
    from layoutbench.run.sweep import run_sweep
    from layoutbench.store import EmbeddedS3
    from layoutbench.write.extract import extract_dataset

    info = rec.info
    candidates = [rec.current, rec.recommended, *rec.alternatives][:top + 1]
    rewritten = [c for c in candidates if c is not rec.current]
    with tempfile.TemporaryDirectory(prefix=f"layoutbench-measure-{os.getpid()}-") as tmp:
        rows = max(1, min(info.shape[0], SLAB_BYTES // max(1, info.nbytes // info.shape[0])))
        slab_path = extract_dataset(dset, Path(tmp) / "slab.h5",
                                    rows=None if rows == info.shape[0] else rows, fetch=fetch)
        slab = dataset_info(slab_path, info.path)
        workload = _workload(rec.patterns, slab, expected=False)  # the measured positions
        with EmbeddedS3() as s3:
            measured = measure_source(str(slab_path), dataset=info.path,
                                      patterns=list(rec.patterns),
                                      readers=[rec.current.reader], profile=profile,
                                      endpoint=s3, cache_dir=Path(tmp) / "refs")
            if rewritten:
                measured += run_sweep(slab_path, s3, profile, dataset=info.path,
                                      layouts=[c.layout for c in rewritten],
                                      readers=sorted({c.reader for c in rewritten}),
                                      patterns=list(rec.patterns),
                                      cache_dir=cache_dir or tmp, progress=progress)
    frame = pd.DataFrame([r.to_dict() for r in measured])
    out = []
    for c in candidates:
        name = "as-is" if c is rec.current else c.layout.name
        mine = frame[(frame["layout"] == name) & (frame["reader"] == c.reader)]
        if mine.empty:
            continue
        ratio = float(mine["compression_ratio"].iloc[0])
        figures = CodecFigures(ratio if math.isfinite(ratio) else c.ratio, c.decode_mbps)
        predicted = score(c.layout, c.reader, slab.shape, slab.itemsize, workload, figures,
                          profile, constants,
                          placement=slab.placement if c is rec.current else None)
        by_pattern = mine.set_index("pattern")
        got = [by_pattern.loc[p] for p in workload.names]
        out.append({
            "layout": c.layout.name, "reader": c.reader, "shape": list(slab.shape),
            "predicted_seconds": round(predicted.seconds, 4),
            "measured_seconds": round(workload.weighted([m["seconds"] for m in got]), 4),
            "predicted_requests": round(predicted.requests, 2),
            "measured_requests": workload.weighted([m["requests"] for m in got]),
            "predicted_bytes": round(predicted.bytes_transferred),
            "measured_bytes": round(workload.weighted([m["bytes_transferred"] for m in got])),
        })
    return tuple(out)
