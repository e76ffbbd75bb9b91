"""Sweep a source dataset across layouts × readers × patterns and collect Measurements.

Split like rechunker: :func:`plan_cases` decides what to run (pure, testable without a
network); :func:`run_sweep` executes the plan against a counting endpoint, building each
variant once per (file, layout), verifying it, uploading it, and reusing it for every reader
and pattern before removing it from the store.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from layoutbench.cache import cache_dir as layoutbench_cache
from layoutbench.errors import UserError
from layoutbench.interrupts import checkpoint
from layoutbench.plan.layout import Layout, default_grid
from layoutbench.plan.measurement import Measurement
from layoutbench.plan.patterns import AccessPattern, PatternError, as_patterns, default_patterns
from layoutbench.plan.profiles import NetworkProfile, as_profile
from layoutbench.read.inspect import DatasetInfo
from layoutbench.read.inspect_zarr import is_zarr, local_info, open_local_array
from layoutbench.read.readers import Reader, Target, get_reader
from layoutbench.run.faulty import judge, measure_under, reference_digests
from layoutbench.run.journal import Journal, case_key, remaining
from layoutbench.run.measure import measure_case, versions
from layoutbench.sources import Source, SourceOptions, resolve
from layoutbench.store.faults import NONE as NO_FAULTS
from layoutbench.store.faults import FaultPlan
from layoutbench.write.rewrite import SUFFIX, Variant, Writer, build_variant, source_id

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


def check_patterns(info: DatasetInfo, patterns: Sequence[AccessPattern]) -> None:
    """Reject patterns that do not fit the dataset's kind, naming both.

    ``open`` is measured on whole files (paged copies of the source), the others on rewritten
    datasets, so the two cannot share a sweep.
    """
    file_level = {p.definition.includes_open for p in patterns}
    if len(file_level) > 1:
        raise PatternError(f"{info.file}: 'open' compares whole files and cannot be swept with "
                           "data patterns; run it in a sweep of its own")
    for p in patterns:
        if p.definition.kind not in (info.kind, "any"):
            raise PatternError(
                f"{info.file}: pattern {p.name} is for {p.definition.kind} data but "
                f"{info.path} looks like {info.kind} data (shape {info.shape})"
            )
    check_fits(info, patterns)


def check_fits(info: DatasetInfo, patterns: Sequence[AccessPattern]) -> None:
    """Every value a user gave each pattern fits the dataset (a one-line error naming both)."""
    for p in patterns:
        try:
            p.selections(info.shape, info.rate)
        except PatternError as exc:
            raise PatternError(f"{info.file}: {info.path}: {exc}") from None


def upload_variant(endpoint: Any, variant: Variant, key: str) -> None:
    """Put a variant (file or Zarr store) at ``key`` on the endpoint."""
    if variant.layout.format == "hdf5":
        endpoint.upload_file(variant.path, key)
    else:
        endpoint.upload_tree(variant.path, key)


def variant_target(endpoint: Any, key: str, variant: Variant, cache: Path) -> Target:
    """What a reader needs to open ``variant`` uploaded at ``key`` (refs cached in ``cache``)."""
    layout = variant.layout
    itemsize = int(np.dtype(variant.dtype).itemsize)
    return Target(source=endpoint.source(key), dataset=variant.dataset,
                  format=layout.format, page_size=layout.page_size,
                  chunk_nbytes=layout.chunk_nbytes(itemsize), cache_dir=str(cache / "refs"))


#: Readers a sweep uses unless told otherwise. pynwb-remfile reads data exactly as
#: h5py-remfile once open, so it only joins the ``open`` sweep, where opening is the point.
DATA_READERS = ("h5py-remfile", "h5py-fsspec", "kerchunk", "zarr", "zarr-obstore")
OPEN_READERS = ("h5py-remfile", "h5py-fsspec", "pynwb-remfile", "kerchunk")

#: Where a case goes when its reader cannot express the dataset (recorded in ``fallback``).
FALLBACK_READER = "h5py-fsspec"


def measure_with_fallback(endpoint: Any, variant: Variant, target: Target, reader: Reader,
                          pattern: AccessPattern, profile: Any, rate: float | None) -> Measurement:
    """One case; a dataset the reader cannot express is measured with the fallback reader and
    the row says so (``reader`` stays the one asked for, ``fallback`` names what ran and why)."""
    from layoutbench.read.refs import ReferencesUnsupported

    try:
        return measure_case(endpoint, variant, target, reader, pattern, profile, rate=rate)
    except ReferencesUnsupported as exc:
        log.warning("%s cannot read %s (%s); measuring with %s instead", reader.name,
                    variant.path, exc, FALLBACK_READER)
        row = measure_case(endpoint, variant, target, get_reader(FALLBACK_READER), pattern,
                           profile, rate=rate)
        return dataclasses.replace(row, reader=reader.name,
                                   fallback=f"{FALLBACK_READER}: {exc}")


@contextlib.contextmanager
def progress_bar(total: int, enabled: bool) -> Iterator[Any]:
    from tqdm import tqdm

    bar = tqdm(total=total, disable=not enabled, unit="case", dynamic_ncols=True, leave=False)
    try:
        yield bar
    finally:
        bar.close()


def run_sweep(source: str | os.PathLike[str] | Source, endpoint: Any,
              profile: str | NetworkProfile, *, dataset: str | None = None,
              layouts: Sequence[Layout] | None = None, grid: str = "default",
              readers: Sequence[str] | None = None,
              patterns: Sequence[str | AccessPattern] | None = None,
              cache_dir: str | os.PathLike[str] | None = None, progress: bool = False,
              repeats: int = 1, options: SourceOptions | None = None,
              journal: str | os.PathLike[str] | None = None,
              faults: FaultPlan | None = None) -> list[Measurement]:
    """Measure every case of the sweep; see the module docstring for the execution order.

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
    """
    src = resolve(source, options)
    profile = as_profile(profile)
    specs = as_patterns(patterns)
    if src.is_local:
        info = local_info(src.path, dataset)  # an HDF5 file or an NWB-Zarr folder
        source = src.path
    else:
        if is_zarr(src):
            raise UserError(f"{src.url}: sweep reads a Zarr store (NWB-Zarr) from this machine; "
                            "copy it here first, or measure it where it is with `layoutbench "
                            "measure`")
        if any(p.definition.includes_open for p in specs):
            raise UserError(f"{src.url}: 'open' compares whole files (paged copies of it); "
                            "measure a remote file's open as it is with `layoutbench measure "
                            "URL --patterns open`")
        from layoutbench.write.extract import local_copy

        sources = Path(cache_dir) / "sources" if cache_dir else None
        path, info, spent = local_copy(src, dataset, cache_dir=sources, progress=progress)
        log.info("the dataset of %s cost %d requests and %.1f MB to reach", src.url,
                 spent["requests"], spent["bytes"] / 1e6)
        source = path
    patterns = specs or default_patterns(info.kind)
    check_patterns(info, patterns)
    whole_file = patterns[0].definition.includes_open
    writer: Writer | None = None
    if whole_file:  # opening is a property of the whole file: compare paged copies of it
        from layoutbench.write.repack import file_layouts, write_file_variant

        if is_zarr(source):
            raise UserError(f"{info.file}: 'open' compares paged copies of an HDF5 file; measure "
                            "an NWB-Zarr folder's open as it is with `layoutbench measure "
                            "FOLDER --patterns open`")
        layouts = list(layouts) if layouts is not None else file_layouts(source, info.path)
        writer = write_file_variant
    else:
        layouts = list(layouts) if layouts is not None else default_grid(
            info.kind, info.shape, info.itemsize, grid)
        layouts = [lay.fitted(info.shape) for lay in layouts]
    names = list(readers) if readers else list(OPEN_READERS if whole_file else DATA_READERS)
    reader_objs = [get_reader(n) for n in names]
    cases = plan_cases(layouts, reader_objs, patterns)
    cache = Path(cache_dir) if cache_dir else layoutbench_cache("variants")
    sid = source_id(source, info.path)
    endpoint.set_profile(profile)
    log.info("sweep of %s:%s %s, %d layouts, %d cases, profile %s", info.file, info.path,
             info.shape, len(layouts), len(cases), profile.name)
    book = None
    results: list[Measurement] = []
    if journal is not None:
        book = Journal(journal, {
            "source": sid, "file": info.file, "dataset": info.path, "profile": profile.to_dict(),
            "layouts": [lay.to_dict() for lay in layouts], "readers": names,
            "patterns": [p.spec for p in patterns], "repeats": repeats,
            "faults": (faults or NO_FAULTS).to_dict(),
            "layoutbench": versions().get("layoutbench")})
        results = book.resume()
        if results:
            log.info("resuming: %d of %d cases already measured (%s)", len(results),
                     len(cases) * repeats, book.path)
    done = remaining(results, repeats)
    plan = faults or NO_FAULTS
    try:
        _measure_all(cases, layouts, repeats, done, results, book, endpoint, profile, info,
                     source, cache, sid, writer, progress, plan)
    finally:
        if book is not None:
            book.close(done=False)
    order = {(c.layout.name, c.reader, c.pattern.label): i for i, c in enumerate(cases)}
    results.sort(key=lambda r: order.get(case_key(r), len(order)))
    if plan.active:
        with open_local_array(source, info.path) as arr:
            results[:] = judge(results, reference_digests(arr, patterns, info.rate))
    else:
        check_digests(results)
    return results


def _measure_all(cases: list[Case], layouts: Sequence[Layout], repeats: int,
                 done: Counter[tuple[str, str, str]], results: list[Measurement],
                 book: Journal | None, endpoint: Any, profile: NetworkProfile,
                 info: DatasetInfo, source: str | os.PathLike[str], cache: Path, sid: str,
                 writer: Writer | None, progress: bool, plan: FaultPlan) -> None:
    """Build, upload and measure what ``done`` lacks, layout by layout (see run_sweep)."""
    def todo(case: Case) -> int:
        return repeats - done[(case.layout.name, case.reader, case.pattern.label)]

    with progress_bar(len(cases) * repeats, progress) as bar:
        bar.update(sum(done.values()))
        for layout in layouts:
            layout_cases = [c for c in cases if c.layout == layout and todo(c) > 0]
            if not layout_cases:
                continue
            bar.set_description(f"writing {layout.name}")
            variant = build_variant(cache, source, info.path, layout, writer)
            key = f"{sid}/{layout.name}{SUFFIX[layout.format]}"
            upload_variant(endpoint, variant, key)
            target = variant_target(endpoint, key, variant, cache)
            try:
                for name in dict.fromkeys(c.reader for c in layout_cases):
                    get_reader(name).prepare(target)
                for case in layout_cases:
                    reader = get_reader(case.reader)
                    for _ in range(todo(case)):
                        checkpoint()
                        bar.set_description(f"{layout.name} {case.reader} {case.pattern.name}")
                        row = measure_under(plan, len(results), endpoint, variant, target,
                                            reader, case.pattern, profile, info.rate)
                        row = dataclasses.replace(row, source=info.file)
                        results.append(row)
                        if book is not None:
                            book.append(row)
                        bar.update()
            finally:
                endpoint.delete_prefix(key)


def check_digests(results: Sequence[Measurement]) -> None:
    """Every layout and reader must return the same bytes for the same pattern (rows of failed
    cases, under injected faults, returned none)."""
    by_pattern: dict[str, set[str]] = {}
    for m in results:
        if m.error is None:
            by_pattern.setdefault(m.pattern, set()).add(m.digest)
    bad = {p: d for p, d in by_pattern.items() if len(d) > 1}
    if bad:
        raise RuntimeError(f"readers returned different data for the same pattern: {sorted(bad)}")
