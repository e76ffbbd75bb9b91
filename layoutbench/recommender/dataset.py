"""One dataset's recommendation: its workload, and the search over chunk shapes and codecs.

Stage 1 scores chunk shapes with a reference codec, stage 2 every codec on the best shapes
(both on a quick sample), stage 3 the best of those on the full sample,
with stored sizes measured on the file's own data cut at each candidate's chunk shape
(:class:`~layoutbench.read.sampling.Sampler`) and decode speeds from them through the shipped
table (:mod:`layoutbench.plan.decode`); the candidates are ranked by the cost model
(:mod:`layoutbench.plan.search`, :mod:`~layoutbench.plan.geometry`,
:mod:`~layoutbench.plan.model`) and the verdict (keep or rewrite) is a
:class:`~layoutbench.plan.recommendation.DatasetRecommendation`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from layoutbench.interrupts import checkpoint
from layoutbench.plan.dataset import DatasetInfo
from layoutbench.plan.geometry import chunks_touched
from layoutbench.plan.layout import Layout, neuroconv_chunks
from layoutbench.plan.model import CostConstants
from layoutbench.plan.patterns import AccessPattern, default_patterns
from layoutbench.plan.profiles import NetworkProfile
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
from layoutbench.read.sampling import Sampler, sample_key
from layoutbench.recommender.reader_choice import describe as describe_choice
from layoutbench.recommender.reader_choice import reader_choice

log = logging.getLogger(__name__)

#: Chunk shapes kept from stage 1 for the codec search.
STAGE1_KEEP = 8
#: With several readers, chunk shapes kept from stage 1 for the default reader besides.
DEFAULT_READER_KEEP = 3
#: Layouts of stage 2 (ranked on the quick sample) measured on the full sample in stage 3.
STAGE2_KEEP = 12
#: Stage 1 skips chunk shapes that make a workload touch more chunks than this (summed over its
#: patterns): thousands of chunk reads lose to tens whatever the codec, and simulating HDF5's
#: reads of each costs more than the rest of the search. remfile's growing sequential reads
#: can make many small chunks cheap, so its cap is higher.
MAX_TOUCHED = {"remfile": 40_000, "other": 4_000}
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
        samples.update(sampler.figures(shaped, quick=True))
        for lay in shaped:
            checkpoint()  # a signal swallowed by a finaliser is acted on here, not at the end
            ref = _figures(samples, lay)
            stage1 += [score(lay, r, shape, itemsize, workload, ref, profile, constants)
                       for r in readers[fmt]]
    best_shapes = list(dict.fromkeys(s.layout.chunks for s in rank(stage1)))[:STAGE1_KEEP]
    # with several readers, the default reader's own best shapes too: what `--reader any`
    # says of its choice is against the layout the default reader would have been given
    for fmt in probes:
        if len(readers[fmt]) > 1:
            mine = [s for s in rank(stage1) if s.reader == DEFAULT_READERS[fmt]]
            best_shapes += [c for c in dict.fromkeys(s.layout.chunks for s in mine)
                            if c not in best_shapes][:DEFAULT_READER_KEEP]
    # stage 2: every codec on the best shapes, on the quick sample (ranks codecs and shapes)
    layouts = [lay for fmt in constraints.formats() for chunks in best_shapes
               for lay in codec_layouts(fmt, chunks, shape, itemsize)]
    floor = constraints.min_ratio_vs_current * cur_fig.ratio

    def scored_with(chosen: Sequence[Layout], quick: bool) -> list[Scored]:
        figs = sampler.figures([replace(lay, shards=None) for lay in chosen], quick=quick)
        out = []
        for lay in chosen:
            checkpoint()
            fig = _figures(figs, replace(lay, shards=None))
            if fig.ratio >= floor:
                out += [score(lay, r, shape, itemsize, workload, fig, profile, constants)
                        for r in readers[lay.format]]
        return out

    # stage 3: the best of stage 2 again, with the stored size predicted as written (the full
    # sample, edge chunks included): only they pay for the full sample's compression
    quick_ranked = rank(scored_with(layouts, quick=True))
    finalists = list(dict.fromkeys(s.layout for s in quick_ranked))[:STAGE2_KEEP]
    finalists += [lay for lay in dict.fromkeys(  # the default reader's best, as above
        s.layout for s in quick_ranked if s.reader == DEFAULT_READERS[s.layout.format]
        and len(readers[s.layout.format]) > 1) if lay not in finalists][:DEFAULT_READER_KEEP]
    # (a codec kept out by the quick ratio is not tried again: the floor is a hard constraint)
    scored = scored_with(finalists, quick=False)
    notes: list[str] = []
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
    choice = None
    if best is not cur and len(readers[best.layout.format]) > 1:
        def rescore(s: Scored, pats: Sequence[AccessPattern], consts: CostConstants) -> Scored:
            fig = CodecFigures(ratio=s.ratio, decode_mbps=s.decode_mbps)
            return score(s.layout, s.reader, shape, itemsize, _workload(pats, info), fig,
                         profile, consts)

        default_reader = DEFAULT_READERS[best.layout.format]
        default = next((s for s in ranked if s.reader == default_reader), None)
        choice = reader_choice(best, default, patterns, constants, rescore)
        if choice is not None:
            notes.append(describe_choice(choice))
    return DatasetRecommendation(info, kind, tuple(patterns), cur, best, alternatives,
                                 tuple(notes), reader_choice=choice)
