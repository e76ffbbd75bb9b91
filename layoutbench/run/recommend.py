"""``layoutbench recommend``: the layout that reads fastest for a file's datasets and workload.

The recommender inspects metadata, measures codecs on a few MB of the file's own chunks
(:mod:`layoutbench.read.sampling`) and ranks candidates with the cost model (:mod:`.search`,
:mod:`.geometry`, :mod:`.model`); nothing is rewritten unless ``measure=True``, which rewrites a
slab of the dataset in the current and the best few layouts and measures them on the embedded
endpoint, reported beside the predictions.

The JSON it writes is the object of DESIGN.md §6, which ``layoutbench apply`` accepts.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from layoutbench.errors import UserError
from layoutbench.plan.geometry import chunks_touched
from layoutbench.plan.layout import Layout, neuroconv_chunks
from layoutbench.plan.model import CostConstants
from layoutbench.plan.patterns import KIND_NDIM, AccessPattern, as_patterns, default_patterns
from layoutbench.plan.profiles import NetworkProfile, as_profile
from layoutbench.plan.search import (
    DEFAULT_READERS,
    REFERENCE_CODEC,
    CodecFigures,
    Constraints,
    Scored,
    Workload,
    chunk_shapes,
    codec_layouts,
    distinct_geometries,
    rank,
    score,
)
from layoutbench.read.inspect import DatasetInfo, check_hdf5_file, list_datasets
from layoutbench.run.recommendation import DatasetRecommendation, Recommendation

log = logging.getLogger(__name__)

#: Datasets smaller than this are not worth a new layout (DESIGN: default 10 MB).
DEFAULT_THRESHOLD = 10_000_000
#: Chunk shapes kept from stage 1 for the codec search.
STAGE1_KEEP = 8
#: Stage 1 skips chunk shapes that make a workload touch more chunks than this (summed over its
#: patterns): thousands of chunk reads lose to tens whatever the codec, and simulating HDF5's
#: reads of each costs more than the rest of the search. remfile's growing sequential reads
#: can make many small chunks cheap, so its cap is higher.
MAX_TOUCHED = {"remfile": 40_000, "other": 4_000}
#: Readers the model predicts, by the format they read (``--reader any`` scores them all;
#: pynwb-remfile reads data as h5py-remfile does).
READER_FORMATS_MODELLED = {"h5py-fsspec": "hdf5", "h5py-remfile": "hdf5", "kerchunk": "hdf5",
                           "zarr": "zarr"}
#: Alternatives reported beside the recommendation.
N_ALTERNATIVES = 4






# -- workload ---------------------------------------------------------------------------------
def dataset_kind(info: DatasetInfo) -> str:
    """``ophys``/``ecephys``/``volume`` when the array has that kind's rank, else ``other``."""
    kind = info.kind
    return kind if KIND_NDIM.get(kind) == len(info.shape) else "other"


def workload_for(info: DatasetInfo, kind: str, specs: Sequence[AccessPattern]
                 ) -> tuple[tuple[AccessPattern, ...], tuple[str, ...]]:
    """The user's patterns that fit ``kind``, else the kind's defaults (with a note saying so)."""
    fitting = [p for p in specs if p.definition.kind in (kind, "any")
               and not p.definition.includes_open]
    if fitting:
        return tuple(fitting), ()
    notes = (f"no --pattern for {kind} data; using the defaults",) if specs else ()
    return tuple(default_patterns(kind)), notes


def _workload(patterns: Sequence[AccessPattern], info: DatasetInfo) -> Workload:
    return Workload(tuple(p.label for p in patterns), tuple(p.weight for p in patterns),
                    tuple(tuple(p.selections(info.shape, info.rate)) for p in patterns))


# -- one dataset -------------------------------------------------------------------------------
def _figures(samples: dict[Any, Any], layout: Layout) -> CodecFigures:
    from layoutbench.read.sampling import sample_key

    s = samples[sample_key(layout)]
    return CodecFigures(ratio=s.ratio, decode_mbps=s.decode_mbps)


def recommend_dataset(path: str | os.PathLike[str], info: DatasetInfo,
                      patterns: Sequence[AccessPattern], profile: NetworkProfile,
                      constraints: Constraints, constants: CostConstants,
                      readers: dict[str, tuple[str, ...]], kind: str) -> DatasetRecommendation:
    """Rank the search space for one dataset (see :mod:`layoutbench.plan.search` for the stages)."""
    from layoutbench.read.sampling import sample_codecs

    shape, itemsize = tuple(info.shape), info.itemsize
    workload = _workload(patterns, info)
    current = info.current_layout("current")
    extra = [current.chunks]
    if kind in ("ophys", "ecephys", "volume"):
        extra.append(neuroconv_chunks(kind, shape, itemsize))
    shapes = chunk_shapes(shape, itemsize, constraints, extra)
    probes = {fmt: Layout(fmt, current.chunks, *REFERENCE_CODEC[fmt][:2],
                          shuffle=REFERENCE_CODEC[fmt][2]) for fmt in constraints.formats()}
    samples = sample_codecs(path, info.path, [*probes.values(), current])
    # the file's own ratio (stored bytes), decode speed from the sample of its codec
    cur_fig = CodecFigures(ratio=info.nbytes / max(1, info.storage_bytes),
                           decode_mbps=_figures(samples, current).decode_mbps)
    n_chunks = math.prod(-(-n // c) for n, c in zip(shape, current.chunks, strict=True))
    cur = score(current, DEFAULT_READERS["hdf5"] if len(readers["hdf5"]) > 1 else
                readers["hdf5"][0], shape, itemsize, workload, cur_fig, profile,
                constants, chunk_nbytes=info.storage_bytes / max(1, n_chunks))
    # stage 1: chunk shapes with the reference codec, per format
    stage1: list[Scored] = []
    cap = MAX_TOUCHED["remfile" if any("remfile" in r for r in readers["hdf5"]) else "other"]
    touched = {c: sum(chunks_touched(sel, c) for sels in workload.selections for sel in sels)
               for c in shapes}
    kept = [c for c in shapes if touched[c] <= max(cap, min(touched.values()))]
    log.debug("%s: %d chunk shapes, %d within %d chunks touched", info.path, len(shapes),
             len(kept), cap)
    for fmt, probe in probes.items():
        ref = _figures(samples, probe)
        for chunks in kept:
            stage1 += [score(replace(probe, chunks=chunks), r, shape, itemsize, workload, ref,
                             profile, constants) for r in readers[fmt]]
    best_shapes = list(dict.fromkeys(s.layout.chunks for s in rank(stage1)))[:STAGE1_KEEP]
    # stage 2: every codec on the best shapes, with ratios and speeds measured on this file
    layouts = [lay for fmt in constraints.formats() for chunks in best_shapes
               for lay in codec_layouts(fmt, chunks, shape, itemsize)]
    samples.update(sample_codecs(path, info.path, [replace(lay, shards=None) for lay in layouts]))
    floor = constraints.min_ratio_vs_current * cur_fig.ratio
    scored, notes = [], []
    for lay in layouts:
        fig = _figures(samples, replace(lay, shards=None))
        if fig.ratio < floor:
            continue
        scored += [score(lay, r, shape, itemsize, workload, fig, profile, constants)
                   for r in readers[lay.format]]
    if not scored:
        notes.append(f"no candidate compresses to {constraints.min_ratio_vs_current:g}x of the "
                     f"current ratio ({cur_fig.ratio:.2f}); keeping the current layout")
        scored = [cur]
    ranked = rank(scored)
    best = ranked[0]
    if best.seconds >= cur.seconds:  # never recommend a rewrite that reads slower
        notes.append("the current layout is already as fast as any candidate: keep it")
        best = cur
    alternatives = tuple([s for s in distinct_geometries(ranked, N_ALTERNATIVES + 1)
                          if s is not best][:N_ALTERNATIVES])
    return DatasetRecommendation(info, kind, tuple(patterns), cur, best, alternatives,
                                 tuple(notes))


# -- measuring the best candidates -------------------------------------------------------------
#: Datasets larger than this are measured on a slab of their first axis, not whole.
SLAB_BYTES = 512 * 10**6


def _write_slab(path: Path, info: DatasetInfo, out: Path) -> Path:
    """The first rows of the dataset (at most :data:`SLAB_BYTES`) at the same path, in the
    current storage, with the sampling rate NWB keeps beside it, so patterns resolve alike."""
    import h5py
    import numpy as np

    from layoutbench.write.rewrite import block_shape, iter_blocks

    rows = max(1, min(info.shape[0], SLAB_BYTES // max(1, info.nbytes // info.shape[0])))
    shape = (rows, *info.shape[1:])
    with h5py.File(path, "r") as src, h5py.File(out, "w") as dst:
        s = src[info.path]
        d = dst.create_dataset(info.path, shape=shape, dtype=s.dtype,
                               chunks=tuple(min(c, n) for c, n in zip(s.chunks or shape, shape,
                                                                          strict=True)),
                               compression=s.compression, compression_opts=s.compression_opts,
                               shuffle=s.shuffle)
        for key, value in s.parent.attrs.items():
            d.parent.attrs[key] = value
        if info.rate is not None:
            dst.create_dataset(f"{s.parent.name}/starting_time", data=np.float64(0.0))
            dst[f"{s.parent.name}/starting_time"].attrs["rate"] = info.rate
        for sel in iter_blocks(shape, block_shape(shape, s.chunks or shape, s.dtype.itemsize)):
            d[sel] = s[sel]
    return out


def measure_dataset(path: str | os.PathLike[str], rec: DatasetRecommendation,
                    profile: NetworkProfile, constants: CostConstants, *, top: int = 3,
                    cache_dir: str | os.PathLike[str] | None = None,
                    progress: bool = False) -> tuple[dict[str, Any], ...]:
    """Rewrite the current and the ``top`` best layouts (of a slab, for big datasets), measure
    them on the embedded endpoint under ``profile`` and return predicted beside measured."""
    import tempfile

    import pandas as pd

    from layoutbench.read.inspect import dataset_info
    from layoutbench.run.sweep import run_sweep
    from layoutbench.store import EmbeddedS3

    info = rec.info
    candidates = [rec.current, rec.recommended, *rec.alternatives][:top + 1]
    with tempfile.TemporaryDirectory(prefix="layoutbench-measure-") as tmp:
        src = Path(path)
        if info.nbytes > SLAB_BYTES:
            src = _write_slab(Path(path), info, Path(tmp) / "slab.h5")
        slab = dataset_info(src, info.path)
        workload = _workload(rec.patterns, slab)
        readers = sorted({c.reader for c in candidates})
        with EmbeddedS3() as s3:
            rows = run_sweep(src, s3, profile, dataset=info.path,
                             layouts=[c.layout for c in candidates], readers=readers,
                             patterns=list(rec.patterns), cache_dir=cache_dir or tmp,
                             progress=progress)
    frame = pd.DataFrame([r.to_dict() for r in rows])
    out = []
    for c in candidates:
        mine = frame[(frame["layout"] == c.layout.name) & (frame["reader"] == c.reader)]
        if mine.empty:
            continue
        ratio = float(mine["compression_ratio"].iloc[0])
        predicted = score(c.layout, c.reader, slab.shape, slab.itemsize, workload,
                          CodecFigures(ratio, c.decode_mbps), profile, constants)
        by_pattern = mine.set_index("pattern")
        measured = [by_pattern.loc[name] for name in workload.names]
        out.append({
            "layout": c.layout.name, "reader": c.reader, "shape": list(slab.shape),
            "predicted_seconds": round(predicted.seconds, 4),
            "measured_seconds": round(workload.weighted([m["seconds"] for m in measured]), 4),
            "predicted_requests": round(predicted.requests, 2),
            "measured_requests": workload.weighted([m["requests"] for m in measured]),
            "predicted_bytes": round(predicted.bytes_transferred),
            "measured_bytes": round(workload.weighted([m["bytes_transferred"]
                                                       for m in measured])),
        })
    return tuple(out)


# -- the file ----------------------------------------------------------------------------------
def _non_numeric(path: Path, threshold: int) -> list[dict[str, str]]:
    """Datasets over the threshold that no layout search applies to (strings, compounds)."""
    import h5py

    out: list[dict[str, str]] = []
    with h5py.File(path, "r") as f:

        def visit(name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Dataset) and obj.shape and obj.dtype.kind not in "iufb":
                nbytes = math.prod(obj.shape) * obj.dtype.itemsize
                if nbytes >= threshold:
                    what = "compound" if obj.dtype.names else "string/object"
                    out.append({"path": "/" + name,
                                "reason": f"{what} dtype: no chunk/codec search for it"})

        f.visititems(visit)
    return out


def recommend(path: str | os.PathLike[str], *, dataset: str | None = None,
              patterns: str | AccessPattern | Sequence[str | AccessPattern] | None = (),
              profile: str | NetworkProfile,
              constraints: Constraints | None = None, constants: CostConstants | None = None,
              reader: str | None = None, threshold: int = DEFAULT_THRESHOLD,
              prices: dict[str, float] | None = None, measure: bool = False,
              progress: bool = False) -> Recommendation:
    """Recommend a layout for each dataset of ``path`` over ``threshold`` bytes (or ``dataset``).

    ``constants`` default to the stored calibration (``layoutbench calibrate``), else the
    model's defaults; ``reader`` overrides the reader scored for its format, and ``"any"``
    makes the reader part of the recommendation (the current layout is still scored with the
    default HDF5 reader, what users get today).
    """
    from layoutbench.read.inspect import dataset_info
    from layoutbench.read.readers import get_reader
    from layoutbench.run.calibration import load_constants

    p = check_hdf5_file(path)
    profile = as_profile(profile)
    specs = as_patterns(patterns)
    constraints = constraints or Constraints()
    if constraints.format not in ("hdf5", "zarr", "any"):
        raise UserError(f"--format {constraints.format!r}: expected hdf5, zarr or any")
    stored = load_constants() if constants is None else None
    constants = constants or stored or CostConstants()
    readers: dict[str, tuple[str, ...]] = {fmt: (name,) for fmt, name in DEFAULT_READERS.items()}
    if reader == "any":  # the reader is part of the recommendation
        readers = {fmt: tuple(n for n, f in READER_FORMATS_MODELLED.items() if f == fmt)
                   for fmt in readers}
    elif reader is not None:
        for fmt in get_reader(reader).formats:
            readers[fmt] = (reader,)
    if dataset is not None:
        infos = [dataset_info(p, dataset)]
        skipped: list[dict[str, str]] = []
    else:
        infos = list_datasets(p, min_bytes=threshold)
        skipped = _non_numeric(p, threshold)
    results = []
    for info in infos:
        kind = dataset_kind(info)
        chosen, notes = workload_for(info, kind, specs)
        log.info("recommending %s %s (%s) for %s", info.path, info.shape, kind,
                 ", ".join(pt.label for pt in chosen))
        rec = recommend_dataset(p, info, chosen, profile, constraints, constants, readers, kind)
        rec = replace(rec, notes=notes + rec.notes)
        if measure:
            rec = replace(rec, measured=measure_dataset(p, rec, profile, constants,
                                                        progress=progress))
        results.append(rec)
    return Recommendation(str(p), profile, constraints, tuple(results), tuple(skipped),
                          calibrated=stored is not None or constants.n_rows > 0,
                          prices=prices or {})
