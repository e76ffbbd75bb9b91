"""Sweep a source dataset across layouts × readers × patterns and collect Measurements.

Split like rechunker: :func:`plan_cases` decides what to run (pure, testable without a
network); :func:`run_sweep` executes the plan against a counting endpoint, building each
variant once per (file, layout), verifying it, uploading it, and reusing it for every reader
and pattern before removing it from the store.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layoutbench.atomic import remove_stale, remove_stale_tree
from layoutbench.cache import cache_dir as layoutbench_cache
from layoutbench.errors import UserError
from layoutbench.interrupts import checkpoint
from layoutbench.plan.dataset import DatasetInfo
from layoutbench.plan.layout import Layout, default_grid
from layoutbench.plan.measurement import Measurement
from layoutbench.plan.patterns import AccessPattern, as_patterns, default_patterns, parse_spec
from layoutbench.plan.profiles import NetworkProfile, as_profile
from layoutbench.plan.reader_facts import swept
from layoutbench.plan.work import build_then_measure
from layoutbench.read.inspect_zarr import is_zarr, local_info, open_local_array
from layoutbench.read.reader_base import Reader
from layoutbench.read.readers import get_reader
from layoutbench.run.cases import URL_ONLY, check_digests, check_patterns, progress_bar
from layoutbench.run.executors import Executor, as_executor
from layoutbench.run.faulty import judge, reference_digests
from layoutbench.run.journal import Journal, case_key, remaining
from layoutbench.run.measure import versions
from layoutbench.run.sweep_jobs import ACTIONS, CaseTodo, LayoutJob, travelling
from layoutbench.store.faults import NONE as NO_FAULTS
from layoutbench.store.faults import FaultPlan
from layoutbench.store.sources import Source, SourceOptions, resolve
from layoutbench.write.rewrite import source_id

if TYPE_CHECKING:
    from layoutbench.store.endpoint import Endpoint

log = logging.getLogger(__name__)



@dataclass(frozen=True, slots=True)
class Case:
    """One measurement to make."""

    layout: Layout
    reader: str
    pattern: AccessPattern


def plan_cases(layouts: Sequence[Layout], readers: Sequence[Reader],
               patterns: Sequence[AccessPattern]) -> list[Case]:
    """Every compatible (layout, reader, pattern), grouped by layout so variants are built once."""
    cases = [
        Case(layout, reader.name, pattern)
        for layout in layouts
        for reader in readers
        if reader.supports(layout.format)
        for pattern in patterns
    ]
    if not cases:
        raise UserError("nothing to measure: no reader supports any of the chosen layouts")
    return cases


#: Readers a sweep uses unless told otherwise (:func:`layoutbench.plan.reader_facts.swept`).
#: pynwb-remfile reads data exactly as h5py-remfile once open, so it only joins the ``open``
#: sweep, where opening is the point.
DATA_READERS = swept()
OPEN_READERS = swept(whole_file=True)

Sources = str | os.PathLike[str] | Source | Sequence[str | os.PathLike[str] | Source]


@dataclass
class Prepared:
    """One source of a sweep, ready to plan: the local file to rewrite and what to run on it."""

    label: str
    path: str
    info: DatasetInfo
    layouts: list[Layout]
    cases: list[Case]
    patterns: list[AccessPattern]
    sid: str
    whole_file: bool
    slab: str | None = None


def prepare_source(source: str | os.PathLike[str] | Source, *, dataset: str | None,
                   layouts: Sequence[Layout] | None, grid: str, readers: Sequence[str] | None,
                   patterns: Sequence[AccessPattern], cache_dir: str | os.PathLike[str] | None,
                   options: SourceOptions | None, progress: bool,
                   slab_bytes: int | None = None, signed: bool = False) -> Prepared:
    """Reach a source (a remote dataset is first streamed once into the cache, as it is
    stored), check the patterns against it, and list its layouts and cases; a big dataset is
    swept on a slab of its first rows when the patterns allow it (:func:`slab_rows`). With
    ``signed`` reads (a store anonymous requests cannot read), readers of plain URLs are left
    out, as ``layoutbench measure`` leaves them out for signed ``s3://`` objects."""
    src = resolve(source, options)
    if src.is_local:
        info = local_info(src.path, dataset)  # an HDF5 file or an NWB-Zarr folder
        path = src.path
    else:
        if is_zarr(src):
            raise UserError(f"{src.url}: sweep reads a Zarr store (NWB-Zarr) from this machine; "
                            "copy it here first, or measure it where it is with `layoutbench "
                            "measure`")
        if any(p.definition.includes_open for p in patterns):
            raise UserError(f"{src.url}: 'open' compares whole files (paged copies of it); "
                            "measure a remote file's open as it is with `layoutbench measure "
                            "URL --patterns open`")
        from layoutbench.write.extract import local_copy

        sources = Path(cache_dir) / "sources" if cache_dir else None
        copy, info, spent = local_copy(src, dataset, cache_dir=sources, progress=progress)
        log.info("the dataset of %s cost %d requests and %.1f MB to reach", src.url,
                 spent["requests"], spent["bytes"] / 1e6)
        path = str(copy)
    chosen = list(patterns) or default_patterns(info.kind)
    check_patterns(info, chosen)
    whole_file = chosen[0].definition.includes_open
    if whole_file:  # opening is a property of the whole file: compare paged copies of it
        from layoutbench.write.repack import file_layouts

        if is_zarr(path):
            raise UserError(f"{info.file}: 'open' compares paged copies of an HDF5 file; measure "
                            "an NWB-Zarr folder's open as it is with `layoutbench measure "
                            "FOLDER --patterns open`")
        planned = list(layouts) if layouts is not None else file_layouts(path, info.path)
    else:
        planned = list(layouts) if layouts is not None else default_grid(
            info.kind, info.shape, info.itemsize, grid)
        planned = [lay.fitted(info.shape) for lay in planned]
    slab = None
    # an NWB-Zarr folder is swept whole (slabs are cut from HDF5 files)
    rows = None if whole_file or is_zarr(path) else slab_rows(info, chosen, planned, slab_bytes)
    if rows is not None:
        from layoutbench.run.slab import slab_copy

        label = info.file
        path = str(slab_copy(path, info, rows, _cache(cache_dir)))
        slab = f"rows 0:{rows} of {info.shape[0]}"
        log.info("%s:%s is %.1f GB: sweeping the slab of its first %d rows (of %d)",
                 label, info.path, info.nbytes / 1e9, rows, info.shape[0])
        info = dataclasses.replace(local_info(path, info.path), file=label)
        planned = [lay.fitted(info.shape) for lay in planned]
    names = list(readers) if readers else list(OPEN_READERS if whole_file else DATA_READERS)
    if signed:
        names = signing_readers(names)
    cases = plan_cases(planned, [get_reader(n) for n in names], chosen)
    return Prepared(info.file, path, info, planned, cases, chosen,
                    source_id(path, info.path), whole_file, slab)


def signing_readers(names: Sequence[str]) -> list[str]:
    """The readers of ``names`` that can sign S3 requests (a warning names the others)."""
    skipped = [n for n in names if n in URL_ONLY]
    if skipped:
        log.warning("skipping %s: they read anonymously only (their signed requests could not "
                    "be counted) and the store needs signed requests", ", ".join(skipped))
    chosen = [n for n in names if n not in URL_ONLY]
    if not chosen:
        raise UserError("none of the readers can sign S3 requests; choose h5py-fsspec, kerchunk "
                        "or zarr, or a store anonymous requests can read")
    return chosen


def slab_rows(info: DatasetInfo, patterns: Sequence[AccessPattern], layouts: Sequence[Layout],
              slab_bytes: int | None) -> int | None:
    """Rows of the slab a big dataset is swept on, or None to sweep it whole.

    Only where the patterns allow it: every selection must span fewer rows than the dataset
    (a pattern that reads a whole axis 0 needs it all), and the slab holds the longest
    selection and every layout's chunk along axis 0, so each layout is cut as on the whole.
    """
    if slab_bytes is None or info.nbytes <= slab_bytes or not info.shape:
        return None
    n = info.shape[0]
    need = 1
    for p in patterns:
        for sel in p.selections(info.shape, info.rate):
            start, stop, _ = sel[0].indices(n)
            if stop - start >= n:
                return None
            need = max(need, stop - start)
    need = max([need, *(lay.chunks[0] for lay in layouts if not lay.contiguous)])
    rows = max(need, slab_bytes // max(1, info.nbytes // n))
    current = info.current_layout("current")
    if not current.contiguous:  # whole chunks of the source, as it is stored
        rows = -(-rows // current.chunks[0]) * current.chunks[0]
    return rows if rows < n else None


def _cache(cache_dir: str | os.PathLike[str] | None) -> Path:
    return Path(cache_dir) if cache_dir else layoutbench_cache("variants")


def run_sweep(source: Sources, endpoint: Endpoint, profile: str | NetworkProfile, *,
              dataset: str | None = None, layouts: Sequence[Layout] | None = None,
              grid: str = "default", readers: Sequence[str] | None = None,
              patterns: Sequence[str | AccessPattern] | None = None,
              cache_dir: str | os.PathLike[str] | None = None, progress: bool = False,
              repeats: int = 1, options: SourceOptions | None = None,
              journal: str | os.PathLike[str] | None = None,
              faults: FaultPlan | None = None, executor: Executor | str | None = None,
              cache_limit: int | None = None, slab_bytes: int | None = None
              ) -> list[Measurement]:
    """Measure every case of the sweep of one source or several (one table, a ``source`` per
    row); see the module docstring for the execution order.

    A remote ``source`` (``s3://``, ``http(s)://``; ``options`` say how to reach it) is first
    streamed once into the cache (:func:`layoutbench.write.extract.local_copy`): its dataset,
    stored as it is; an unchanged object is not read again. ``repeats`` > 1 measures each case
    several times (fresh reader each time) and keeps every row: deterministic columns must
    agree between repeats, times can be summarised later. With a ``journal`` path, every
    finished case is appended there, and a sweep of the same cases measures only what the
    journal lacks (:mod:`layoutbench.run.journal`); the caller removes it once the results are
    written (:meth:`Journal.close`). With ``faults``, the gateway injects them into every
    case (:mod:`layoutbench.run.faulty`): failures are rows with an ``error``, and a digest
    that is not the data's is marked as wrong data instead of failing the sweep.

    ``executor`` runs the (source, layout) jobs (:mod:`layoutbench.run.executors`; default
    serial): builds in parallel, timed measurements one at a time per machine, the same rows
    either way. ``cache_limit`` (bytes) keeps the variant cache under a size, least recently
    used first; datasets over ``slab_bytes`` are swept on a slab where the patterns allow it.
    """
    many = not isinstance(source, str | os.PathLike | Source)
    given: list[str | os.PathLike[str] | Source] = (
        list(source) if many else [source])  # type: ignore[arg-type,list-item]
    if not given:
        raise UserError("no source to sweep")
    specs = as_patterns(patterns)
    profile = as_profile(profile)
    fitted = list(layouts) if layouts is not None else None
    prepared = [prepare_source(s, dataset=dataset, layouts=fitted, grid=grid, readers=readers,
                               patterns=specs, cache_dir=cache_dir, options=options,
                               progress=progress, slab_bytes=slab_bytes,
                               signed=endpoint.counts == "client")
                for s in given]
    cache = _cache(cache_dir)
    remove_stale_tree(cache)  # what killed runs left anywhere in the cache, whatever it held
    return sweep_prepared(prepared, endpoint, profile, cache=cache, progress=progress,
                          repeats=repeats, journal=journal, faults=faults or NO_FAULTS,
                          executor=as_executor(executor), cache_limit=cache_limit,
                          readers=readers)


def _journal_key(p: Prepared, profile: NetworkProfile, repeats: int, plan: FaultPlan,
                 readers: Sequence[str] | None) -> dict[str, Any]:
    return {"source": p.sid, "file": p.info.file, "dataset": p.info.path,
            "profile": profile.to_dict(), "layouts": [lay.to_dict() for lay in p.layouts],
            "readers": list(dict.fromkeys(c.reader for c in p.cases)),
            "patterns": [pt.spec for pt in p.patterns], "repeats": repeats,
            "faults": plan.to_dict(), "layoutbench": versions().get("layoutbench"),
            **({"slab": p.slab} if p.slab else {})}


def sweep_prepared(prepared: list[Prepared], endpoint: Endpoint, profile: NetworkProfile, *,
                   cache: Path, progress: bool, repeats: int,
                   journal: str | os.PathLike[str] | None, faults: FaultPlan,
                   executor: Executor, cache_limit: int | None,
                   readers: Sequence[str] | None = None) -> list[Measurement]:
    """Plan the (source, layout) jobs of prepared sources and run them on ``executor``."""
    started = time.perf_counter()
    endpoint.set_profile(profile)
    total = sum(len(p.cases) for p in prepared) * repeats
    for p in prepared:
        log.info("sweep of %s:%s %s, %d layouts, %d cases, profile %s", p.info.file,
                 p.info.path, p.info.shape, len(p.layouts), len(p.cases), profile.name)
    book = None
    results: list[Measurement] = []
    if journal is not None:
        keys = [_journal_key(p, profile, repeats, faults, readers) for p in prepared]
        book = Journal(journal, keys[0] if len(keys) == 1 else {"sources": keys})
        results = book.resume()
        if results:
            log.info("resuming: %d of %d cases already measured (%s)", len(results), total,
                     book.path)
    done = remaining(results, repeats)
    resumed = len(results)
    where = endpoint if executor.in_process else travelling(endpoint)
    jobs, labels = [], []
    for p in prepared:
        ordinal = {c: i * repeats for i, c in enumerate(p.cases)}
        for layout in p.layouts:
            todo = tuple(CaseTodo(c.reader, c.pattern, repeats - done[_key(p, c)], ordinal[c])
                         for c in p.cases if c.layout == layout
                         and repeats - done[_key(p, c)] > 0)
            if not todo:
                continue
            jobs.append(LayoutJob(p.path, p.info.file, p.info.path, layout, todo, str(cache),
                                  p.sid, where, profile, faults, p.info.rate, p.whole_file,
                                  p.slab, cache_limit,
                                  on_row=book.append if book and executor.in_process else None))
            labels.append(f"{Path(p.info.file).name}:{layout.name}")
    for job in jobs:  # a store removes what an interruption left of them
        endpoint.expect(job.key)
    try:
        with progress_bar(total, progress) as bar:
            # counted here: a disabled tqdm bar (no progress asked) does not count its updates
            measured = sum(done.values())
            bar.update(measured)
            for i, rows in executor.run(build_then_measure(jobs, labels), ACTIONS):
                checkpoint()
                results.extend(rows)
                if book is not None and jobs[i].on_row is None:
                    for row in rows:
                        book.append(row)
                measured += len(rows)
                bar.update(len(rows))
                bar.set_description(labels[i])
                log.info("%d of %d cases measured (%s)", measured, total, labels[i])
    finally:
        if book is not None:
            book.close(done=False)
        for p in prepared:  # temporaries of workers stopped mid-write, once they are gone
            executor.after_close(functools.partial(remove_stale, cache / p.sid))
    fresh = results[resumed:]  # what this run measured (not what it resumed)
    if fresh:
        log.info("%s", overhead(fresh, time.perf_counter() - started))
    return _finish(prepared, results, faults)


def timed_seconds(rows: Sequence[Measurement]) -> float:
    """The seconds the clock ran in these rows' cases: opening the file and running the
    pattern (a pattern that *is* opening has its open in ``seconds`` already)."""
    return sum(r.seconds + (0.0 if _opens(r.pattern) else (r.open_seconds or 0.0))
               for r in rows if r.seconds == r.seconds)  # NaN: a case that failed


@functools.cache
def _opens(label: str) -> bool:
    return parse_spec(label).definition.includes_open


def overhead(rows: Sequence[Measurement], wall_seconds: float) -> str:
    """What a sweep spent besides measuring: its wall time against the timed reads of the
    cases it measured (building, verifying and uploading variants, starting readers, and the
    harness around each case make the difference)."""
    timed = timed_seconds(rows)
    ratio = wall_seconds / timed if timed > 0 else float("inf")
    return (f"{len(rows)} cases in {wall_seconds:.1f} s, {timed:.1f} s of them timed reads: "
            f"{ratio:.2f}x the timed reads")


def _key(p: Prepared, case: Case) -> tuple[str, str, str, str]:
    return (p.info.file, case.layout.name, case.reader, case.pattern.label)


def _finish(prepared: list[Prepared], results: list[Measurement], faults: FaultPlan
            ) -> list[Measurement]:
    """Rows in the plan's order (source, layout, reader, pattern), digests checked per source."""
    order = {_key(p, c): (k, i) for k, p in enumerate(prepared) for i, c in enumerate(p.cases)}
    results.sort(key=lambda r: order.get(case_key(r), (len(prepared), 0)))
    out: list[Measurement] = []
    for p in prepared:
        mine = [r for r in results if r.source == p.info.file]
        if faults.active:
            with open_local_array(p.path, p.info.path) as arr:
                mine = judge(mine, reference_digests(arr, p.patterns, p.info.rate))
        else:
            check_digests(mine)
        out += mine
    return out
