"""``layoutbench recommend``: the layout that reads fastest for a file's datasets and workload.

The recommender inspects metadata, measures codecs on a few MB of the file's own chunks
(:mod:`layoutbench.read.sampling`) and ranks candidates with the cost model (:mod:`.search`,
:mod:`.geometry`, :mod:`.model`); nothing is rewritten unless ``measure=True``, which rewrites a
slab of the dataset in the current and the best few layouts and measures them on the embedded
endpoint, reported beside the predictions.

The JSON it writes is the object of DESIGN.md §6, which ``layoutbench apply`` accepts.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from layoutbench.errors import UserError
from layoutbench.plan.dataset import DatasetInfo
from layoutbench.plan.decode import MEASURED_ON
from layoutbench.plan.geometry import chunks_touched
from layoutbench.plan.layout import Layout, neuroconv_chunks
from layoutbench.plan.model import CostConstants, shipped_constants
from layoutbench.plan.patterns import AccessPattern, as_patterns, default_patterns
from layoutbench.plan.profiles import NetworkProfile, as_profile
from layoutbench.plan.recommendation import DatasetRecommendation
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
from layoutbench.read.inspect import check_hdf5_file, info_in, open_hdf5, scan
from layoutbench.read.sampling import Sampler
from layoutbench.results import Recommendation
from layoutbench.run.cases import check_fits
from layoutbench.sources import Fetch, Source, SourceOptions, close_filesystem, fetcher, resolve

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
                           "zarr": "zarr", "zarr-obstore": "zarr"}
#: Alternatives reported beside the recommendation.
N_ALTERNATIVES = 4






# -- workload ---------------------------------------------------------------------------------
def workload_for(info: DatasetInfo, kind: str, specs: Sequence[AccessPattern]
                 ) -> tuple[tuple[AccessPattern, ...], tuple[str, ...]]:
    """The user's patterns that fit ``kind``, else the kind's defaults (with a note saying so)."""
    fitting = [p for p in specs if p.definition.kind in (kind, "any")
               and not p.definition.includes_open]
    if fitting:
        return tuple(fitting), ()
    notes = (f"no --pattern for {kind} data; using the defaults",) if specs else ()
    return tuple(default_patterns(kind)), notes


def _workload(patterns: Sequence[AccessPattern], info: DatasetInfo, *,
              expected: bool = True) -> Workload:
    """The workload the search scores: each pattern's expected cost over positions at random
    (:meth:`AccessPattern.expected`), or, with ``expected=False``, its own seeded positions
    (what a sweep measures, to compare a prediction with a measurement)."""
    names = tuple(p.label for p in patterns)
    weights = tuple(p.weight for p in patterns)
    if not expected:
        return Workload(names, weights,
                        tuple(tuple(p.selections(info.shape, info.rate)) for p in patterns))
    exp = [p.expected(info.shape, info.rate) for p in patterns]
    return Workload(names, weights, tuple(tuple(sels) for sels, _, _ in exp),
                    tuple(scale for _, scale, _ in exp), tuple(n for _, _, n in exp))


# -- one dataset -------------------------------------------------------------------------------
def _figures(samples: dict[Any, Any], layout: Layout) -> CodecFigures:
    from layoutbench.read.sampling import sample_key

    s = samples[sample_key(layout)]
    return CodecFigures(ratio=s.ratio, decode_mbps=s.decode_mbps)


def recommend_dataset(sample: Callable[[Sequence[Sequence[int]]], Sampler], info: DatasetInfo,
                      patterns: Sequence[AccessPattern], profile: NetworkProfile,
                      constraints: Constraints, constants: CostConstants,
                      readers: dict[str, tuple[str, ...]], kind: str) -> DatasetRecommendation:
    """Rank the search space for one dataset (see :mod:`layoutbench.plan.search` for the stages).

    ``sample(chunk_shapes)`` reads the dataset's sample once, shaped for every chunk shape the
    search may ask about (:class:`~layoutbench.read.sampling.Sampler`).
    """
    shape, itemsize = tuple(info.shape), info.itemsize
    workload = _workload(patterns, info)
    current = info.current_layout("current")
    extra = [] if current.contiguous else [current.chunks]
    if kind in ("ophys", "ecephys", "volume"):
        extra.append(neuroconv_chunks(kind, shape, itemsize))
    shapes = chunk_shapes(shape, itemsize, constraints, extra)
    probes = {fmt: Layout(fmt, current.chunks, *REFERENCE_CODEC[fmt][:2],
                          shuffle=REFERENCE_CODEC[fmt][2]) for fmt in constraints.formats()}
    sampler = sample([*shapes, current.chunks])
    samples = sampler.figures([*probes.values(), current])
    # the file's own ratio (stored bytes), decode speed from the sample of its codec
    cur_fig = CodecFigures(ratio=info.nbytes / max(1, info.storage_bytes),
                           decode_mbps=_figures(samples, current).decode_mbps)
    n_chunks = math.prod(-(-n // c) for n, c in zip(shape, current.chunks, strict=True))
    fmt = current.format  # an NWB-Zarr source's current layout is read by a zarr reader
    cur = score(current, DEFAULT_READERS[fmt] if len(readers[fmt]) > 1 else
                readers[fmt][0], shape, itemsize, workload, cur_fig, profile,
                constants, chunk_nbytes=info.storage_bytes / max(1, n_chunks),
                placement=info.placement)
    # stage 1: chunk shapes with the reference codec, per format
    stage1: list[Scored] = []
    cap = MAX_TOUCHED["remfile" if any("remfile" in r for r in readers["hdf5"]) else "other"]
    touched = {c: sum(chunks_touched(sel, c) for sels in workload.selections for sel in sels)
               for c in shapes}
    kept = [c for c in shapes if touched[c] <= max(cap, min(touched.values()))]
    log.debug("%s: %d chunk shapes, %d within %d chunks touched", info.path, len(shapes),
             len(kept), cap)
    for fmt, probe in probes.items():
        # the reference codec's ratio on each shape: chunk shape changes what compresses
        shaped = [replace(probe, chunks=chunks) for chunks in kept]
        samples.update(sampler.figures(shaped))
        for lay in shaped:
            ref = _figures(samples, lay)
            stage1 += [score(lay, r, shape, itemsize, workload, ref, profile, constants)
                       for r in readers[fmt]]
    best_shapes = list(dict.fromkeys(s.layout.chunks for s in rank(stage1)))[:STAGE1_KEEP]
    # stage 2: every codec on the best shapes, with ratios and speeds measured on this file
    layouts = [lay for fmt in constraints.formats() for chunks in best_shapes
               for lay in codec_layouts(fmt, chunks, shape, itemsize)]
    samples.update(sampler.figures([replace(lay, shards=None) for lay in layouts]))
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
    elif cur.seconds < constraints.min_gain * best.seconds:
        notes.append(f"the best candidate, {best.layout.name}, is predicted "
                     f"{cur.seconds / best.seconds:.2f}x faster, less than the minimum gain "
                     f"({constraints.min_gain:g}x): keep the current layout")
        best = cur
    alternatives = tuple([s for s in distinct_geometries(ranked, N_ALTERNATIVES + 1)
                          if s is not best][:N_ALTERNATIVES])
    return DatasetRecommendation(info, kind, tuple(patterns), cur, best, alternatives,
                                 tuple(notes))


# -- the file ----------------------------------------------------------------------------------
@dataclass
class _Opened:
    """An open source: its HDF5 file, how to fetch byte ranges of it (remote only), its name,
    and the counters of what reaching it cost (remote only)."""

    file: Any
    fetch: Fetch | None
    label: str
    endpoint: Any = None
    counts: str = "gateway"
    #: the source is a local Zarr store (NWB-Zarr); ``file`` is its root group
    zarr: bool = False

    def scan(self, threshold: int) -> tuple[list[DatasetInfo], list[dict[str, str]]]:
        """The datasets worth a recommendation (and the others, with why not)."""
        if self.zarr:
            from layoutbench.read.inspect_zarr import scan_zarr

            return scan_zarr(self.label, threshold)
        return scan(self.file, self.label, threshold)

    def info(self, dataset: str) -> DatasetInfo:
        if self.zarr:
            from layoutbench.read.inspect_zarr import zarr_dataset_info

            return zarr_dataset_info(self.label, dataset)
        return info_in(self.file, self.label, dataset)


@contextlib.contextmanager
def _open(src: Source) -> Iterator[_Opened]:
    """A local file as it is; a remote one through the counting gateway (or counted by its
    client, :mod:`layoutbench.store.reach`), with concurrent range reads for the samples. A
    local Zarr store (an NWB-Zarr folder) is opened with zarr."""
    from layoutbench.read.inspect_zarr import is_zarr, open_store

    if is_zarr(src):
        if not src.is_local:
            raise UserError(f"{src.url}: recommend reads a Zarr store (NWB-Zarr) from this "
                            "machine; copy it here first")
        import zarr

        yield _Opened(zarr.open_group(store=open_store(src), mode="r"), None,
                      str(Path(src.given)), zarr=True)
        return
    if src.is_local:
        import h5py

        with h5py.File(check_hdf5_file(src.given), "r") as f:
            yield _Opened(f, None, str(Path(src.given)))
        return
    from layoutbench.store.reach import reach

    with reach(src) as where, open_hdf5(where.source, identity=where.identity,
                                        label=src.url) as f:
        fs = where.source.filesystem()
        try:
            yield _Opened(f, fetcher(fs, where.source.path), src.url, where.endpoint,
                          where.counts)
        finally:
            close_filesystem(fs)


def recommend(source: str | os.PathLike[str] | Source, *, dataset: str | None = None,
              patterns: str | AccessPattern | Sequence[str | AccessPattern] | None = (),
              profile: str | NetworkProfile,
              constraints: Constraints | None = None, constants: CostConstants | None = None,
              reader: str | None = None, threshold: int = DEFAULT_THRESHOLD,
              prices: dict[str, float] | None = None, measure: bool = False,
              options: SourceOptions | None = None, progress: bool = False) -> Recommendation:
    """Recommend a layout for each dataset of ``source`` over ``threshold`` bytes (or
    ``dataset``). ``source`` is a path or a URL (``options`` say how to reach it): a remote file
    is read for its metadata and a bounded sample of chunks only, and what that cost is in
    :attr:`Recommendation.spent`.

    ``constants`` default to the stored calibration (``layoutbench calibrate``), else the
    model's defaults; ``reader`` overrides the reader scored for its format, and ``"any"``
    makes the reader part of the recommendation (the current layout is still scored with the
    default HDF5 reader, what users get today).
    """
    import time

    from layoutbench.read.readers import get_reader
    from layoutbench.run.calibration import load_constants
    from layoutbench.run.recommend_measure import measure_dataset

    t0 = time.perf_counter()
    src = resolve(source, options)
    profile = as_profile(profile)
    specs = as_patterns(patterns)
    constraints = constraints or Constraints()
    if constraints.format not in ("hdf5", "zarr", "any"):
        raise UserError(f"--storage {constraints.format!r}: expected hdf5, zarr or any")
    stored = load_constants() if constants is None else None
    if constants is not None:
        source = "given by the caller"
    elif stored is not None:
        constants, source = stored, "calibrated on this machine (layoutbench calibrate)"
    else:
        constants, source = shipped_constants()
    readers: dict[str, tuple[str, ...]] = {fmt: (name,) for fmt, name in DEFAULT_READERS.items()}
    if reader == "any":  # the reader is part of the recommendation
        readers = {fmt: tuple(n for n, f in READER_FORMATS_MODELLED.items() if f == fmt)
                   for fmt in readers}
    elif reader is not None:
        for fmt in get_reader(reader).formats:
            readers[fmt] = (reader,)
    results = []
    skipped: list[dict[str, str]] = []
    spent: dict[str, Any] | None = None
    with _open(src) as opened:
        if measure and opened.zarr:
            raise UserError(f"{opened.label}: --measure rewrites a slab of an HDF5 source; for an "
                            "NWB-Zarr folder, compare layouts with `layoutbench sweep`")
        if dataset is not None:
            infos = [opened.info(dataset)]
        else:
            infos, skipped = opened.scan(threshold)
        for info in infos:
            kind = info.kind
            chosen, notes = workload_for(info, kind, specs)
            check_fits(info, chosen)
            log.info("recommending %s %s (%s) for %s", info.path, info.shape, kind,
                     ", ".join(pt.label for pt in chosen))
            dset = opened.file[info.path.strip("/")] if opened.zarr else opened.file[info.path]

            def sample(shapes: Sequence[Sequence[int]], dset: Any = dset) -> Sampler:
                return Sampler(dset, shapes, fetch=opened.fetch)

            rec = recommend_dataset(sample, info, chosen, profile, constraints, constants,
                                    readers, kind)
            rec = replace(rec, notes=notes + rec.notes)
            if measure:
                rec = replace(rec, measured=measure_dataset(
                    dset, opened.fetch, rec, profile, constants, progress=progress))
            results.append(rec)
        if opened.endpoint is not None:
            stats = opened.endpoint.stats()
            spent = {"requests": stats.requests, "bytes": stats.bytes_sent,
                     "seconds": round(time.perf_counter() - t0, 3), "counts": opened.counts}
            log.info("reading %s cost %d requests, %.1f MB, %.1f s", src.url, stats.requests,
                     stats.bytes_sent / 1e6, spent["seconds"])
    return Recommendation(opened.label, profile, constraints, tuple(results), tuple(skipped),
                          calibrated=stored is not None
                          or (source.startswith("given") and constants.n_rows > 0),
                          prices=prices or {}, spent=spent, decode=MEASURED_ON,
                          constants_source=source)
