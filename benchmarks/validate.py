"""Out-of-sample validation of ``layoutbench.recommend``: the recommendation measured against a
grid of layouts on files and patterns its constants and tables were never fitted on.

The model's constants and tables were fitted on the demo samples (ophys 1000x256x256 seed 0,
ecephys 64 channels x 60 s seed 0). Here every case is a source of another shape, seed and
layout, generated once into ``--work`` (a 512x512 movie in neuroconv's 10 MB gzip chunks, a
movie chunked one frame at a time, a contiguous 128-channel recording, a z-stack in slabs of
planes), read with a pattern whose parameters are not the defaults. For each case and profile:

* ``recommend`` is asked twice: as by default (HDF5, read by h5py-fsspec), and with
  ``--readers any --storage any`` (any format and reader);
* ``lb.sweep`` measures, ``--repeats`` times, the file as written (label ``as-written``),
  both recommended layouts and a grid of at least 30 layouts built from the source's shape
  (:func:`grid`: whole-axis chunks along each axis, non-power-of-two shapes, small and large
  chunks, HDF5 and Zarr, several codecs), with h5py-fsspec (HDF5) or zarr (Zarr), and each
  recommended layout with the reader it was recommended for. Every (layout, reader)'s rows are
  kept as soon as its batch is measured (:func:`measure_rows`), so an interrupted or extended
  run measures only what it lacks, and the file as written (the slowest) comes last;
* the measured positions are the pattern's with a seed other than the recommendation's and
  at least 30 of them (``offsets=30``, ``channels=30``, ``cutouts=30``): the recommendation
  costs a pattern on an even lattice of positions, whatever its seed, so the measurement is
  out of sample in positions as well as in data.

What it shows, per case: the regret (measured seconds of the recommended layout and reader
over the best measured (layout, reader) of the space that recommendation searched, and over
the whole grid), the error of the recommendation's own predicted seconds against the measured
ones, the gain over the file as written, and whether ``--readers any``'s choice measured slower
than the default recommendation; and over the whole grid, the error of the model's prediction
for the measured positions, per reader. Goals: median regret <= 1.10, worst <= 1.25,
per-reader median |error| <= 25 %; every miss is listed.
Writes ``reports/validate.md`` and ``reports/validate.csv`` (every (layout, reader) measured):

    .venv/bin/python -m benchmarks.validate [--repeats 3] [--profiles same-region,cross-region]
        [--cases neuroconv-512,...] [--work build/validate] [--quick]

``--quick`` is a smoke test (sources 1/10 to 1/8 of the size, 8 grid layouts, 6 positions, one
repeat, the first profile; about 3 minutes) and writes its report into the work folder
(``build/validate/quick/validate.md``) unless ``--out`` says otherwise. Each (layout,
reader)'s rows are kept in ``WORK/results`` and reused by a rerun (``--remeasure`` measures
again); a case's rewritten variants are removed once it is measured (``--keep-variants`` keeps
them).

The full run is long. With one repeat on the 2-core machine: ``same-region`` took 48 minutes
(about 17 of them generating, rewriting and opening), ``cross-region`` about 75 more, of which
the files as written (read last) were a third: 1,500 one-frame chunks read by h5py-fsspec are
15,000 requests of 80 ms. Run it case by case with ``--cases`` (several processes on distinct
cases share the work folder safely: each (layout, reader) is its own file), then once more for
the report, which then measures nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import logging
import math
import os
import platform
import shlex
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks._reports import ROOT, write_report
from layoutbench.atomic import atomic_output
from layoutbench.plan.layout import Layout
from layoutbench.run.measure import versions

log = logging.getLogger("benchmarks.validate")

REPORT = ROOT / "reports" / "validate.md"
WORK = ROOT / "build" / "validate"
PROFILES = ("same-region", "cross-region")
#: The reader a recommendation is made for unless told otherwise, and the readers measured.
DEFAULT_READER = "h5py-fsspec"
#: The grid is measured with each format's default reader; another reader ``--readers any``
#: chooses is measured on the layout it was chosen for (kerchunk reads a contiguous dataset
#: whole per read: 9 GB a run of the recording, hours for no information).
READERS = ("h5py-fsspec", "zarr")
#: Goals: median and worst regret, and the median |predicted / measured - 1| per reader.
GOAL_MEDIAN_REGRET = 1.10
GOAL_WORST_REGRET = 1.25
GOAL_ERROR = 0.25
#: What ``recommend`` allows by default (its search space, for the regret within it).
MAX_CHUNK_MB = 10.0
MIN_RATIO = 0.9
#: Grid size (full run) and the quick run's; positions measured (full run) and the quick run's.
GRID_SIZE = 36
QUICK_GRID = 8
POSITIONS = 30
QUICK_POSITIONS = 6


# -- cases --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """A generated source and the pattern it is read with.

    ``recommend`` is the SPEC given to ``recommend`` (its default seed), ``measure`` the same
    pattern at other positions (another seed), what the sweep measures.
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    seed: int
    layout: Layout
    recommend: str
    measure: str
    about: str

    def file_name(self) -> str:
        fmt = "x".join(map(str, self.shape))
        return f"{self.name}-{fmt}-s{self.seed}-{self.layout.derived_name}.nwb"


def _ophys_frames(height: int, width: int, mb: float = 10.0) -> int:
    """neuroconv's frames per chunk: whole frames, as many as fit in ``mb`` MB (uint16)."""
    return max(1, int(mb * 1e6 // (height * width * 2)))


def cases(quick: bool = False) -> list[Case]:
    """The validation cases; ``quick`` shrinks the sources (1/10 to 1/8), the patterns and the
    positions (:data:`QUICK_POSITIONS`)."""
    n = QUICK_POSITIONS if quick else POSITIONS
    frames = 60 if quick else 600
    movie = 120 if quick else 1500
    samples = 150_000 if quick else 1_200_000
    vol = (96, 192, 192) if quick else (192, 384, 384)
    cut = 48 if quick else 96
    patch_frames = 30 if quick else 200
    long_frames = 40 if quick else 500
    seconds = 0.5 if quick else 2
    spec1 = f"ophys-patch:patch=48x48,frames={patch_frames},offsets={n}"
    spec2 = f"ophys-patch:frames={long_frames},offsets={n}"
    spec3 = f"ecephys-channel-filter:channels={n},seconds={seconds}"
    spec4 = f"volume-cutout:size={cut}x{cut}x{cut},cutouts={n}"
    return [
        Case("neuroconv-512", "ophys", (frames, 512, 512), 11,
             Layout("hdf5", (_ophys_frames(512, 512), 512, 512), "gzip", 4), spec1,
             f"{spec1},seed=101", "512x512 movie in neuroconv's whole-frame ~10 MB gzip chunks"),
        Case("frames-1500", "ophys", (movie, 256, 256), 12,
             Layout("hdf5", (1, 256, 256), "gzip", 4), spec2, f"{spec2},seed=102",
             "longer 256x256 movie chunked one frame at a time (gzip)"),
        Case("ecephys-128", "ecephys", (samples, 128), 13,
             Layout("hdf5", (samples, 128), "none", contiguous=True), spec3,
             f"{spec3},seed=103", f"contiguous 128-channel recording, {samples // 30000} s"),
        Case("volume-384", "volume", vol, 14,
             Layout("hdf5", (4, *vol[1:]), "gzip", 4), spec4, f"{spec4},seed=104",
             "z-stack in gzip slabs of 4 whole planes"),
    ]


def source(case: Case, work: Path) -> Path:
    """The case's source, generated into ``work`` on first use (reused when present)."""
    from layoutbench.synthetic import generate_ecephys, generate_ophys, generate_volume

    generators: dict[str, Callable[..., Any]] = {
        "ophys": generate_ophys, "ecephys": generate_ecephys, "volume": generate_volume}
    path = work / case.file_name()
    if not path.exists():
        work.mkdir(parents=True, exist_ok=True)
        log.info("%s: generating %s %s", case.name, case.kind, case.shape)
        generators[case.kind](path, shape=case.shape, seed=case.seed, layout=case.layout)
    return path


# -- the grid -----------------------------------------------------------------------------------
def _fill(shape: Sequence[int], itemsize: int, fixed: Mapping[int, int], target: float
          ) -> tuple[int, ...]:
    """A chunk shape of about ``target`` bytes: ``fixed`` axes as given (clipped), the others
    as equal as the shape allows (an axis shorter than its share is taken whole)."""
    chunks = [0] * len(shape)
    budget = target / itemsize
    for a, v in fixed.items():
        chunks[a] = max(1, min(int(v), int(shape[a])))
        budget /= chunks[a]
    free = [a for a in range(len(shape)) if a not in fixed]
    while free:
        side = max(budget, 1.0) ** (1 / len(free))
        whole = [a for a in free if shape[a] <= side]
        if not whole:
            for a in free:
                chunks[a] = max(1, min(int(shape[a]), int(side)))
            break
        for a in whole:
            chunks[a] = int(shape[a])
            budget /= shape[a]
        free = [a for a in free if a not in whole]
    return tuple(chunks)


#: Non-power-of-two chunk shapes by rank (clipped to the shape).
NPOT = {3: ((500, 48, 48), (300, 96, 96), (48, 300, 300)),
        2: ((30_000, 48), (50_000, 12), (6_000, 96))}


def chunk_shapes(shape: Sequence[int], itemsize: int) -> list[tuple[int, ...]]:
    """Distinct chunk shapes for ``shape``, the most telling first: whole axes (each axis
    whole, the rest cut to 2 or 8 MB), balanced chunks of 64 kB to 8 MB, whole
    cross-sections (neuroconv's rule at 8 MB) and the non-power-of-two shapes of :data:`NPOT`."""
    shape = tuple(int(n) for n in shape)
    d = len(shape)
    npot = [tuple(min(c, n) for c, n in zip(chunks, shape, strict=True))
            for chunks in NPOT.get(d, ())]
    whole = {(a, mb): _fill(shape, itemsize, {a: shape[a]}, mb * 1e6)
             for a in range(d) for mb in (2, 8)}
    ordered = [whole[0, 2], _fill(shape, itemsize, {}, 512 * 1024), *npot[:1],
               whole[d - 1, 2], _fill(shape, itemsize, {a: shape[a] for a in range(1, d)}, 8e6),
               _fill(shape, itemsize, {}, 8e6), whole[0, 8], _fill(shape, itemsize, {}, 64 * 1024),
               *(whole[a, 2] for a in range(1, d - 1)), *npot[1:],
               _fill(shape, itemsize, {}, 2e6), whole[d - 1, 8],
               *(whole[a, 8] for a in range(1, d - 1))]
    return list(dict.fromkeys(ordered))


def _base(chunks: tuple[int, ...]) -> list[Layout]:
    return [Layout("hdf5", chunks, "zstd", 3, shuffle=True),
            Layout("zarr", chunks, "blosc-lz4", 5, shuffle=True)]


#: The other codecs, cycled over the chunk shapes: (format, codec, level, shuffle, sharded).
VARIANTS: tuple[tuple[str, str, int | None, bool, bool], ...] = (
    ("hdf5", "gzip", 4, False, False),  # what neuroconv writes
    ("zarr", "zstd", 3, False, False),
    ("hdf5", "none", None, False, False),
    ("zarr", "blosc-zstd", 5, True, True),
    ("hdf5", "blosc-lz4", 5, True, False),
    ("zarr", "gzip", 4, False, False),
    ("hdf5", "gzip", 4, True, False),
    ("zarr", "blosc-lz4", 5, True, True),
)


def _variant(i: int, chunks: tuple[int, ...], shape: Sequence[int], itemsize: int) -> Layout:
    """The ``i``-th other codec of :data:`VARIANTS` (cycled) on ``chunks``; a sharded Zarr
    layout is left unsharded where a shard would hold one chunk."""
    from layoutbench.plan.search import shard_for

    fmt, codec, level, shuffle, sharded = VARIANTS[i % len(VARIANTS)]
    shards = shard_for(chunks, shape, itemsize) if sharded else None
    return Layout(fmt, chunks, codec, level, shuffle=shuffle, shards=shards)


def grid(shape: Sequence[int], itemsize: int, n: int = GRID_SIZE) -> list[Layout]:
    """``n`` distinct layouts (by name) for an array of ``shape``, fitted to it (fewer only if
    the shape is too small to allow them): per chunk shape of
    :func:`chunk_shapes`, an HDF5 (zstd + shuffle) and a Zarr (Blosc LZ4 + shuffle) layout and
    one other codec of :data:`VARIANTS`, then more codecs on the same shapes until there are
    ``n`` (or the first ``n`` when the first pass gives more). The first layouts are the most
    varied, so ``grid(...)[:8]`` is a fair small grid."""
    shape = tuple(int(s) for s in shape)
    shapes = chunk_shapes(shape, itemsize)
    out: dict[str, Layout] = {}

    def add(lay: Layout) -> None:
        fitted = lay.fitted(shape)
        out.setdefault(fitted.name, fitted)

    for i, chunks in enumerate(shapes):
        for lay in [*_base(chunks), _variant(i, chunks, shape, itemsize)]:
            add(lay)
    for r in range(1, len(VARIANTS)):
        for i, chunks in enumerate(shapes):
            if len(out) >= n:
                return list(out.values())[:n]
            add(_variant(i + r, chunks, shape, itemsize))
    return list(out.values())[:n]


# -- judging ------------------------------------------------------------------------------------
def medians(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per measured (layout, reader): the median over repeats of seconds, requests and
    bytes sent; stored size and compression ratio (rows that failed are left out)."""
    ok = frame[frame["error"].isna()] if "error" in frame else frame
    return (ok.groupby(["layout", "reader"], sort=False)
            .agg(seconds=("seconds", "median"), requests=("requests", "median"),
                 bytes_transferred=("bytes_transferred", "median"),
                 stored_bytes=("stored_bytes", "first"),
                 compression_ratio=("compression_ratio", "first"), runs=("seconds", "size"))
            .reset_index())


def judge(med: pd.DataFrame, picks: Mapping[str, tuple[str, str]], as_written: str,
          spaces: Mapping[str, Callable[[str, str], bool]] | None = None) -> dict[str, Any]:
    """Regret, gain and the ``--readers any`` comparison for one case.

    ``med`` has one row per (layout, reader) with the measured ``seconds``; ``picks`` maps
    ``"default"`` and ``"any"`` to the (layout name, reader) each recommendation chose;
    ``as_written`` is the name of the file's own layout (its gain is over that layout read by
    the default reader). ``spaces[role](layout, reader)`` says whether a row lies within the
    space that role's recommendation searched (the format, readers and limits it was asked
    for): ``{role}_regret`` is over the best measured row of that space, the question the
    recommendation answers; ``{role}_regret_grid`` is over the best of the whole grid. A role
    without a space is judged on the whole grid.
    """
    def seconds(layout: str, reader: str) -> float:
        hit = med[(med["layout"] == layout) & (med["reader"] == reader)]["seconds"]
        return float(hit.iloc[0]) if len(hit) else math.nan

    best = med.loc[med["seconds"].idxmin()]
    out: dict[str, Any] = {"best_layout": best["layout"], "best_reader": best["reader"],
                           "best_s": float(best["seconds"])}
    written = seconds(as_written, DEFAULT_READER)
    out["as_written_s"] = written
    for role, (layout, reader) in picks.items():
        s = seconds(layout, reader)
        inside = med
        if spaces and role in spaces:
            inside = med[[spaces[role](r["layout"], r["reader"])
                          for r in med.to_dict("records")]]
        top = inside.loc[inside["seconds"].idxmin()] if len(inside) else best
        out[f"{role}_s"] = s
        out[f"{role}_best_layout"] = top["layout"]
        out[f"{role}_best_reader"] = top["reader"]
        out[f"{role}_best_s"] = float(top["seconds"])
        out[f"{role}_regret"] = s / float(top["seconds"])
        out[f"{role}_regret_grid"] = s / out["best_s"]
        out[f"{role}_gain"] = written / s
    if "any" in picks and "default" in picks:
        out["same_choice"] = picks["any"] == picks["default"]
        out["any_over_default"] = out["any_s"] / out["default_s"]
        out["any_slower"] = bool(not out["same_choice"] and out["any_s"] > out["default_s"])
    return out


def _pct(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:+.0%}"


def summarize(table: pd.DataFrame, pairs: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Summary lines and the list of misses.

    ``table``: one row per (case, profile) with ``case``, ``profile``, ``default_regret``,
    ``any_regret``, ``default_error`` and ``any_error`` (the recommendation's predicted seconds
    against the measured, as ``predicted / measured - 1``), ``default_reader``,
    ``any_reader`` and ``any_slower`` (and optionally ``failed``: why a case gave no result).
    ``pairs``: one row per measured (case, profile, layout, reader) with the model's ``error``
    for the measured positions. Every goal missed, by any case, is a line of the misses.
    """
    lines: list[str] = []
    misses: list[str] = []
    failed = table[table["failed"].notna()] if "failed" in table else table.iloc[:0]
    for r in failed.to_dict("records"):
        misses.append(f"{r['case']} / {r['profile']}: no result ({r['failed']})")
    done = table.drop(index=failed.index)
    for r in done.to_dict("records"):
        if not r.get("default_regret", math.nan) >= 0:
            misses.append(f"{r['case']} / {r['profile']}: the recommended (layout, reader) "
                          "has no measurement")
        if r.get("failed_rows", 0) > 0:  # NaN (no such column in that row) compares False
            misses.append(f"{r['case']} / {r['profile']}: {int(r['failed_rows'])} measurement(s) "
                          "failed (left out of the medians)")
    regret = done["default_regret"].dropna()
    if len(regret):
        med, worst = float(regret.median()), float(regret.max())
        at = done.loc[regret.idxmax()]
        lines.append(f"- default recommendation, over the best HDF5 layout for h5py-fsspec: "
                     f"median regret {med:.2f} (goal ≤ {GOAL_MEDIAN_REGRET:.2f}): "
                     f"{'met' if med <= GOAL_MEDIAN_REGRET else 'MISSED'}; worst {worst:.2f} "
                     f"({at['case']} / {at['profile']}; goal ≤ {GOAL_WORST_REGRET:.2f}): "
                     f"{'met' if worst <= GOAL_WORST_REGRET else 'MISSED'}")
        if med > GOAL_MEDIAN_REGRET:
            misses.append(f"median regret {med:.2f} > {GOAL_MEDIAN_REGRET:.2f}")
        for r in done[done["default_regret"] > GOAL_WORST_REGRET].to_dict("records"):
            misses.append(f"{r['case']} / {r['profile']}: regret {r['default_regret']:.2f} > "
                          f"{GOAL_WORST_REGRET:.2f}")
    if "any_regret" in done and done["any_regret"].notna().any():
        a = done["any_regret"].dropna()
        lines.append(f"- `--readers any --storage any`, over the whole grid: median regret "
                     f"{a.median():.2f}, worst {a.max():.2f}")
        if a.median() > GOAL_MEDIAN_REGRET:
            misses.append(f"`--readers any` median regret {a.median():.2f} > "
                          f"{GOAL_MEDIAN_REGRET:.2f}")
        for r in done[done["any_regret"] > GOAL_WORST_REGRET].to_dict("records"):
            misses.append(f"{r['case']} / {r['profile']}: `--readers any` regret "
                          f"{r['any_regret']:.2f} > {GOAL_WORST_REGRET:.2f}")
    if "any_slower" in done:
        slower = done[done["any_slower"].fillna(False).astype(bool)]
        lines.append(f"- `--readers any`'s choice measured slower than the default "
                     f"recommendation in {len(slower)} of {len(done)} case/profiles")
        for r in slower.to_dict("records"):
            misses.append(f"{r['case']} / {r['profile']}: `--readers any` ({r['any_reader']}) "
                          f"measured {r['any_over_default']:.2f}x the default's seconds")
    own = pd.concat([done[["case", "profile", f"{role}_reader", f"{role}_error"]]
                     .set_axis(["case", "profile", "reader", "error"], axis=1)
                     for role in ("default", "any") if f"{role}_error" in done])
    own = own.drop_duplicates()
    if len(own):
        parts = []
        for reader, errs in own.groupby("reader")["error"]:
            m = float(errs.abs().median())
            parts.append(f"{reader} {m:.0%} (n={len(errs)})")
            if m > GOAL_ERROR:
                misses.append(f"recommendation's predicted seconds, {reader}: median |error| "
                              f"{m:.0%} > {GOAL_ERROR:.0%}")
        lines.append("- the recommendations' own predicted seconds (expected cost over "
                     "positions) against measured, median |error| by reader: " + ", ".join(parts))
        for r in own[own["error"].abs() > GOAL_ERROR].to_dict("records"):
            misses.append(f"{r['case']} / {r['profile']}: recommendation for {r['reader']} "
                          f"predicted {_pct(r['error'])} off the measured seconds")
    if len(pairs):
        parts = []
        for reader, errs in pairs.groupby("reader")["error"]:
            errs = errs.dropna()
            m = float(errs.abs().median()) if len(errs) else math.nan
            within = float((errs.abs() <= GOAL_ERROR).mean()) if len(errs) else math.nan
            parts.append(f"{reader} {m:.0%} ({within:.0%} of {len(errs)} within ±25 %)")
            if not m <= GOAL_ERROR:
                misses.append(f"grid predictions, {reader}: median |error| {m:.0%} > "
                              f"{GOAL_ERROR:.0%}")
        lines.append("- the model on every measured (layout, reader) of the grids, for the "
                     "measured positions, median |error| by reader: " + ", ".join(parts))
    return lines, misses


# -- one case -----------------------------------------------------------------------------------
def _constants() -> Any:
    """The constants a recommendation on this machine uses: a calibration, else the shipped."""
    from layoutbench.plan.model import shipped_constants
    from layoutbench.recommender.calibration import load_constants

    return load_constants() or shipped_constants()[0]


#: Layouts measured per ``lb.sweep`` call: each batch's rows are kept as soon as it ends.
BATCH = 6


def _row_path(work: Path, base: Mapping[str, Any], layout: Layout, reader: str) -> Path:
    key = {**base, "layout": layout.to_dict(), "reader": reader}
    digest = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    return work / "results" / f"{base['case']}-{base['profile']}" / f"{digest[:16]}.pkl"


def _keep(path: Path, frame: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        frame.to_pickle(tmp)


def measure_rows(work: Path, base: Mapping[str, Any], wanted: Sequence[tuple[Layout, str]],
                 remeasure: bool, run: Callable[[list[Layout], list[str]], pd.DataFrame]
                 ) -> tuple[pd.DataFrame, int]:
    """The rows of every wanted (layout, reader), each kept in ``work/results`` under a digest
    of ``base`` (case, profile, source, pattern, repeats, version), the layout and the reader,
    so that a rerun (after an interruption, a new recommendation, or for the report) measures
    only the pairs it lacks. Missing pairs are measured by ``run(layouts, readers)`` in batches
    of :data:`BATCH` layouts sharing their readers, the file as written last (the slowest, and
    needed for the gain only). Returns the rows and how many pairs were reused."""
    frames: list[pd.DataFrame] = []
    todo: dict[Layout, list[str]] = {}
    for lay, reader in wanted:
        path = _row_path(work, base, lay, reader)
        if path.exists() and not remeasure:
            frames.append(pd.read_pickle(path))
        else:
            todo.setdefault(lay, []).append(reader)
    reused = len(frames)
    batches: list[tuple[list[Layout], tuple[str, ...]]] = []
    for last in (False, True):
        by_readers: dict[tuple[str, ...], list[Layout]] = {}
        for lay in todo:
            if (lay.label == "as-written") == last:
                by_readers.setdefault(tuple(todo[lay]), []).append(lay)
        batches += [(lays[i:i + BATCH], readers) for readers, lays in by_readers.items()
                    for i in range(0, len(lays), BATCH)]
    for batch, readers in batches:
        log.info("%s / %s: measuring %s with %s", base["case"], base["profile"],
                 ", ".join(lay.name for lay in batch), "/".join(readers))
        got = run(batch, list(readers))
        for lay in batch:
            for reader in readers:
                rows = got[(got["layout"] == lay.name) & (got["reader"] == reader)]
                _keep(_row_path(work, base, lay, reader), rows)
                frames.append(rows)
    return pd.concat(frames, ignore_index=True), reused


def _chunk_mb(lay: Layout, itemsize: int) -> float:
    return math.prod(lay.chunks) * itemsize / 1e6


def run_case(case: Case, path: Path, profile: str, repeats: int, n_layouts: int, work: Path,
             remeasure: bool = False) -> tuple[dict[str, Any], pd.DataFrame]:
    """Recommend (default reader and ``--readers any``), sweep the grid once, judge."""
    import layoutbench as lb
    from layoutbench.plan.patterns import parse_spec
    from layoutbench.plan.search import CodecFigures, score
    from layoutbench.read.inspect import dataset_info
    from layoutbench.read.readers import get_reader
    from layoutbench.read.sampling import sample_codecs, sample_key
    from layoutbench.recommender.dataset import _workload
    from layoutbench.synthetic import DATASET_PATHS

    info = dataset_info(path, DATASET_PATHS[case.kind])
    t0 = time.perf_counter()
    recs = {"default": lb.recommend(path, dataset=info.path, patterns=[case.recommend],
                                    profile=profile),
            "any": lb.recommend(path, dataset=info.path, patterns=[case.recommend],
                                profile=profile, readers="any", storage="any")}
    chosen = {role: r.datasets[0].recommended for role, r in recs.items()}
    current = recs["default"].datasets[0].current
    log.info("%s / %s: recommended %s (default, %s) and %s (any, %s) in %.0f s", case.name,
             profile, chosen["default"].layout.name, chosen["default"].reader,
             chosen["any"].layout.name, chosen["any"].reader, time.perf_counter() - t0)
    # equal layouts measured once (equality ignores labels): the file's own first
    as_written = replace(current.layout, label="as-written")
    named: dict[Layout, Layout] = {as_written: as_written}
    for lay in [*(s.layout for s in chosen.values()),
                *grid(info.shape, info.itemsize)[:n_layouts]]:
        named.setdefault(lay, lay)
    layouts = list(named.values())
    picks = {role: (named[s.layout].name, s.reader) for role, s in chosen.items()}
    base = {"case": case.name, "profile": profile, "file": path.name,
            "size": path.stat().st_size, "pattern": case.measure, "repeats": repeats,
            "layoutbench": lb.__version__}
    wanted = [(lay, reader) for lay in layouts
              for reader in READERS if lay.format in get_reader(reader).formats]
    wanted += [(named[s.layout], s.reader) for s in chosen.values()]
    wanted = list(dict.fromkeys(wanted))

    by_name = {lay.name: lay for lay in layouts}
    t0 = time.perf_counter()
    from layoutbench.store import EmbeddedS3

    with EmbeddedS3() as s3:
        def run(batch: list[Layout], readers: list[str]) -> pd.DataFrame:
            return lb.sweep(path, info.path, layouts=batch, readers=readers, profile=profile,
                            patterns=[case.measure], repeats=repeats, endpoint=s3,
                            cache_dir=work / "variants" / case.name,
                            progress=sys.stderr.isatty())  # a bar on a terminal, else the log

        frame, reused = measure_rows(work, base, wanted, remeasure, run)
    sweep_s = time.perf_counter() - t0
    med = medians(frame)
    # the model on the measured positions, each layout with its codec's figures on this file
    workload = _workload([parse_spec(case.measure)], info, expected=False)
    samples = sample_codecs(path, info.path, [lay for lay in layouts if not lay.contiguous])
    constants = _constants()
    prof = recs["default"].profile
    roles: dict[tuple[str, str], list[str]] = {}
    for role, pick in picks.items():
        roles.setdefault(pick, []).append(f"rec-{role}")
    rows = []
    for r in med.to_dict("records"):
        lay = by_name[r["layout"]]
        if lay.contiguous:
            figures = CodecFigures(1.0, math.inf)
        else:
            s = samples[sample_key(lay)]
            figures = CodecFigures(s.ratio, s.decode_mbps)
        predicted = score(lay, r["reader"], info.shape, info.itemsize, workload, figures, prof,
                          constants).seconds
        rows.append({"case": case.name, "profile": profile, **r,
                     "role": ",".join(["as-written"] * (r["layout"] == as_written.name)
                                      + roles.get((r["layout"], r["reader"]), [])) or "grid",
                     "format": lay.format, "chunk_mb": _chunk_mb(lay, info.itemsize),
                     "predicted_s": predicted, "error": predicted / r["seconds"] - 1})
    pairs = pd.DataFrame(rows)
    ratio_floor = MIN_RATIO * info.nbytes / max(1, info.storage_bytes)
    ratios = dict(zip(med["layout"], med["compression_ratio"], strict=False))

    def within_limits(layout: str) -> bool:
        """Chunks and compression within what ``recommend`` was allowed (the file as written
        always is: keeping it is one of the answers)."""
        lay = by_name[layout]
        return layout == as_written.name or (
            _chunk_mb(lay, info.itemsize) <= MAX_CHUNK_MB and ratios[layout] >= ratio_floor)

    spaces = {  # what each recommendation searched: the default, HDF5 for h5py-fsspec
        "default": lambda layout, reader: (reader == DEFAULT_READER and within_limits(layout)
                                           and by_name[layout].format == "hdf5"),
        "any": lambda layout, reader: within_limits(layout)}
    verdict = judge(med, picks, as_written.name, spaces)
    out = {"case": case.name, "profile": profile, "shape": "x".join(map(str, info.shape)),
           "pattern": case.measure, "layouts": len(layouts), "pairs": len(med),
           "failed_rows": int(frame["error"].notna().sum()) if "error" in frame else 0,
           "sweep_s": sweep_s, "reused": reused, "as_written": as_written.name,
           "measured_from": str(frame["timestamp"].min()).replace("T", " "),
           "measured_to": str(frame["timestamp"].max()).replace("T", " "), **verdict}
    for role, scored in chosen.items():
        out[f"{role}_layout"] = picks[role][0]
        out[f"{role}_reader"] = scored.reader
        out[f"{role}_predicted_s"] = scored.seconds
        out[f"{role}_error"] = scored.seconds / out[f"{role}_s"] - 1
        hit = pairs[(pairs["layout"] == picks[role][0]) & (pairs["reader"] == scored.reader)]
        out[f"{role}_model_s"] = float(hit["predicted_s"].iloc[0]) if len(hit) else math.nan
        out[f"{role}_keep"] = scored.layout == current.layout
    return out, pairs


# -- the report ---------------------------------------------------------------------------------
def command_line() -> str:
    exe = Path(sys.executable)
    with contextlib.suppress(ValueError):  # a python outside the working folder stays whole
        exe = exe.relative_to(Path.cwd())
    return shlex.join([str(exe), "-m", "benchmarks.validate", *sys.argv[1:]])


def machine() -> str:
    mem = ""
    try:
        import psutil

        mem = f", {psutil.virtual_memory().total / 2**30:.0f} GiB RAM"
    except ImportError:  # pragma: no cover - psutil is a dependency of the benchmarks
        pass
    return f"{platform.platform()} ({platform.machine()}, {os.cpu_count()} CPUs{mem})"


def _f(x: Any, fmt: str = ".3f") -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    return "n/a" if not math.isfinite(v) else format(v, fmt)


def _measured_when(table: pd.DataFrame) -> str:
    """When the rows behind the report were measured (a run reuses what earlier runs kept)."""
    if "measured_from" not in table or table["measured_from"].dropna().empty:
        return ""
    first, last = table["measured_from"].dropna().min(), table["measured_to"].dropna().max()
    return f"; the rows were measured from {first[:16]} to {last[:16]} UTC"


def render(table: pd.DataFrame, pairs: pd.DataFrame, chosen_cases: Sequence[Case],
           args: argparse.Namespace, wall_s: float, model: str) -> list[str]:
    lines = ["# Out-of-sample validation of the recommendation", "",
             f"`{command_line()}`", "",
             f"- date: {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; wall time of this "
             f"run {wall_s / 60:.1f} min" + _measured_when(table),
             f"- machine: {machine()}",
             "- versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()
                                        if k != "machine"),
             f"- model constants: {model}",
             f"- profiles: {', '.join(args.profiles)}; repeats: {args.repeats} (seconds are the "
             "median over repeats); sources and variants in "
             f"`{args.work}`" + ("; **--quick smoke test: small sources, few positions, not "
                                 "evidence**" if args.quick else ""), "",
             "The constants and tables of the model were fitted on the demo samples (ophys "
             "1000x256x256 and ecephys 64 channels x 60 s, seed 0); none of these sources or "
             "patterns is one of them. Positions: `recommend` costs a pattern at an even "
             "lattice of positions whatever its seed (its expected cost); the sweep measures the "
             "same pattern at the positions of another seed (101-104), "
             f"{QUICK_POSITIONS if args.quick else POSITIONS} of them (`offsets`, `channels`, "
             "`cutouts`), the same positions at every repeat and for every layout and reader.",
             "",
             "Regret: measured seconds of the recommended (layout, reader) over the best "
             "measured (layout, reader) of the space that recommendation searched. The default "
             "recommendation answers \"which HDF5 layout reads fastest with h5py-fsspec\" (what "
             "NWB archives hold and pynwb reads): its space is the grid's HDF5 layouts read by "
             "h5py-fsspec. `--readers any --storage any` answers \"which layout and reader\": "
             "its space is the whole grid (HDF5 with h5py-fsspec, Zarr with zarr, any codec or "
             "chunk shape, and each recommendation's own reader). Both within recommend's "
             "limits (chunks ≤ 10 MB, compression ≥ 0.9x the file's); `vs grid` is the regret "
             "over the best of the whole grid without them. The goals apply to the regret. "
             "Error: predicted / measured - 1. Gain: the file "
             "as written (h5py-fsspec) over the recommendation.", "", "## Cases", ""]
    for c in chosen_cases:
        lines.append(f"- **{c.name}**: {c.about}; {c.kind} {'x'.join(map(str, c.shape))} "
                     f"seed {c.seed}, written `{c.layout.name}`; recommended for "
                     f"`{c.recommend}`, measured on `{c.measure}`")
    lines += ["", "## Summary", ""]
    summary, misses = summarize(table, pairs)
    lines += summary
    lines += ["", "### Misses", ""]
    lines += [f"- {m}" for m in misses] or ["- none: every goal met"]
    done = table[table["failed"].isna()] if "failed" in table else table
    lines += ["", "## Default recommendation (HDF5, h5py-fsspec)", "",
              "`predicted s` is the recommendation's own figure (its expected cost over "
              "positions); `model s` is the same model at the measured positions, so the "
              "difference between the two is what the choice of positions alone does. "
              "`regret` is over the best of its space (HDF5 read by h5py-fsspec, within the "
              "limits); `vs grid` over the best of the whole grid, any format and reader.", "",
              "| case | profile | as written s | recommended | measured s | predicted s | error |"
              " model s | best of its space | best s | regret | vs grid | gain |",
              "|---|---|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---:|"]
    for r in done.to_dict("records"):
        keep = " (keep)" if r.get("default_keep") else ""
        lines.append(f"| {r['case']} | {r['profile']} | {_f(r['as_written_s'])} | "
                     f"`{r['default_layout']}`{keep} | {_f(r['default_s'])} | "
                     f"{_f(r['default_predicted_s'])} | {_pct(r['default_error'])} | "
                     f"{_f(r['default_model_s'])} | `{r['default_best_layout']}` | "
                     f"{_f(r['default_best_s'])} | {_f(r['default_regret'], '.2f')} | "
                     f"{_f(r['default_regret_grid'], '.2f')} | {_f(r['default_gain'], '.1f')}x |")
    lines += ["", "## `--readers any --storage any` and the best of the grid", "",
              "`regret` is over the best (layout, reader) of the whole grid within the limits "
              "(chunks, compression); `vs grid` without them.", "",
              "| case | profile | any: layout | reader | measured s | predicted s | error | "
              "best of the grid | reader | best s | regret | vs grid | any / default |",
              "|---|---|---|---|---:|---:|---:|---|---|---:|---:|---:|---:|"]
    for r in done.to_dict("records"):
        same = " (same)" if r.get("same_choice") else ""
        lines.append(f"| {r['case']} | {r['profile']} | `{r['any_layout']}` | {r['any_reader']}"
                     f" | {_f(r['any_s'])} | {_f(r['any_predicted_s'])} | "
                     f"{_pct(r['any_error'])} | `{r['any_best_layout']}` | "
                     f"{r['any_best_reader']} | {_f(r['any_best_s'])} | "
                     f"{_f(r['any_regret'], '.2f')} | {_f(r['any_regret_grid'], '.2f')} | "
                     f"{_f(r['any_over_default'], '.2f')}{same} |")
    if len(pairs):
        lines += ["", "## Model error over the grids, by reader", "",
                  "The model's seconds for the measured positions (each layout with its codec's "
                  "ratio and decode speed sampled from the source) against the measured.", "",
                  "| case | profile | reader | pairs | median error | median abs error | "
                  "within ±25 % |", "|---|---|---|---:|---:|---:|---:|"]
        for (case, prof, reader), g in pairs.groupby(["case", "profile", "reader"],
                                                     sort=False):
            e = g["error"].dropna()
            lines.append(f"| {case} | {prof} | {reader} | {len(e)} | {_pct(e.median())} | "
                         f"{e.abs().median():.0%} | {(e.abs() <= GOAL_ERROR).mean():.0%} |")
        lines += ["", "## Fastest five of each grid, with the file as written and the "
                  "recommendations", "",
                  "| case | profile | layout | reader | role | measured s | predicted s | "
                  "requests | MB sent | stored MB |", "|---|---|---|---|---|---:|---:|---:|---:|"
                  "---:|"]
        for (case, prof), g in pairs.groupby(["case", "profile"], sort=False):
            g = g.sort_values("seconds")
            shown = pd.concat([g.head(5), g[g["role"] != "grid"]]).drop_duplicates(
                subset=["layout", "reader"])
            for r in shown.to_dict("records"):
                lines.append(f"| {case} | {prof} | `{r['layout']}` | {r['reader']} | "
                             f"{r['role']} | {_f(r['seconds'])} | {_f(r['predicted_s'])} | "
                             f"{r['requests']:.0f} | {r['bytes_transferred'] / 1e6:.1f} | "
                             f"{r['stored_bytes'] / 1e6:.1f} |")
    timing = [f"{r['case']} / {r['profile']} {r['sweep_s'] / 60:.1f} min"
              + (f" ({r['reused']} pairs reused)" if r.get("reused") else "")
              for r in done.to_dict("records")]
    lines += ["", "Sweep times of this run: " + "; ".join(timing) + ". Every measured (layout, "
              f"reader) is in `{Path(args.out).with_suffix('.csv').name}`."]
    return lines


# -- main ---------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: small sources, 8 layouts, 1 repeat, first profile")
    parser.add_argument("--repeats", type=int, default=None, help="default 3 (quick: 1)")
    parser.add_argument("--profiles", default=",".join(PROFILES),
                        help="comma-separated network profiles")
    parser.add_argument("--cases", default=None,
                        help="comma-separated case names (default: all)")
    parser.add_argument("--work", default=None, help=f"cache folder (default {WORK})")
    parser.add_argument("--out", default=None, help=f"report path (default {REPORT})")
    parser.add_argument("--remeasure", action="store_true",
                        help="measure again even when results of the same sweep are cached")
    parser.add_argument("--keep-variants", action="store_true",
                        help="keep each case's rewritten variants after it is measured")
    args = parser.parse_args(argv)
    args.profiles = [p.strip() for p in args.profiles.split(",") if p.strip()]
    if args.quick:
        args.profiles = args.profiles[:1]
    args.repeats = args.repeats or (1 if args.quick else 3)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    args.work = Path(args.work) if args.work else (WORK / "quick" if args.quick else WORK)
    args.out = Path(args.out) if args.out else (
        args.work / "validate.md" if args.quick else REPORT)
    known = [c.name for c in cases(args.quick)]
    args.cases = [c.strip() for c in args.cases.split(",")] if args.cases else known
    unknown = sorted(set(args.cases) - set(known))
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; expected some of {', '.join(known)}")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    log.setLevel(logging.INFO)
    logging.getLogger("layoutbench.run.sweep").setLevel(logging.INFO)
    from layoutbench.plan.model import shipped_constants
    from layoutbench.recommender.calibration import load_constants

    model = "a calibration of this machine" if load_constants() else shipped_constants()[1]
    t0 = time.perf_counter()
    chosen = [c for c in cases(args.quick) if c.name in args.cases]
    n_layouts = QUICK_GRID if args.quick else GRID_SIZE
    results, all_pairs = [], []
    for case in chosen:
        path = source(case, args.work)
        for profile in args.profiles:
            try:
                out, pairs = run_case(case, path, profile, args.repeats, n_layouts, args.work,
                                      args.remeasure)
            except Exception as exc:  # one case failing must not lose the others' results
                log.exception("%s / %s failed", case.name, profile)
                results.append({"case": case.name, "profile": profile,
                                "failed": f"{type(exc).__name__}: {exc}"})
                continue
            log.info("%s / %s: regret %.2f (any %.2f), gain %.1fx, error %+.0f%%", case.name,
                     profile, out["default_regret"], out["any_regret"], out["default_gain"],
                     100 * out["default_error"])
            results.append(out)
            all_pairs.append(pairs)
        if not args.keep_variants:
            shutil.rmtree(args.work / "variants" / case.name, ignore_errors=True)
    table = pd.DataFrame(results)
    if "failed" not in table:
        table["failed"] = None
    pairs = pd.concat(all_pairs, ignore_index=True) if all_pairs else pd.DataFrame(
        columns=["case", "profile", "layout", "reader", "error"])
    lines = render(table, pairs, chosen, args, time.perf_counter() - t0, model)
    write_report(args.out, lines, pairs)


if __name__ == "__main__":
    main()
