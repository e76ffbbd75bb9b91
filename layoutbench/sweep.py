"""Sweep a source dataset across layouts × readers × patterns and collect Measurements.

Split like rechunker: :func:`plan_cases` decides what to run (pure, testable without a
network); :func:`run_sweep` executes the plan against a counting endpoint, building each
variant once per (file, layout), verifying it, uploading it, and reusing it for every reader
and pattern before removing it from the store.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layoutbench.errors import UserError
from layoutbench.inspect import DatasetInfo, dataset_info
from layoutbench.layout import Layout, default_grid
from layoutbench.measure import Measurement, measure_case
from layoutbench.patterns import AccessPattern, PatternError, default_patterns
from layoutbench.readers import Reader, Target, get_reader, readers_for
from layoutbench.rewrite import SUFFIX, Variant, build_variant, source_id

log = logging.getLogger(__name__)

DEFAULT_CACHE = Path(os.environ.get("LAYOUTBENCH_CACHE", Path.home() / ".cache" / "layoutbench"))


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
    """Reject patterns that do not fit the dataset's kind, naming both."""
    for p in patterns:
        if p.definition.kind != info.kind:
            raise PatternError(
                f"{info.file}: pattern {p.name} is for {p.definition.kind} data but "
                f"{info.path} looks like {info.kind} data (shape {info.shape})"
            )


def _upload(endpoint: Any, variant: Variant, key: str) -> None:
    if variant.layout.format == "hdf5":
        endpoint.upload_file(variant.path, key)
    else:
        endpoint.upload_tree(variant.path, key)


def _target(endpoint: Any, key: str, variant: Variant) -> Target:
    return Target(http_url=endpoint.http_url(key), s3_url=endpoint.s3_url(key),
                  storage_options=endpoint.storage_options(), dataset=variant.dataset,
                  format=variant.layout.format)


@contextlib.contextmanager
def _progress(total: int, enabled: bool) -> Iterator[Any]:
    from tqdm import tqdm

    bar = tqdm(total=total, disable=not enabled, unit="case", dynamic_ncols=True, leave=False)
    try:
        yield bar
    finally:
        bar.close()


def run_sweep(source: str | os.PathLike[str], endpoint: Any, profile: Any, *,
              dataset: str | None = None, layouts: Sequence[Layout] | None = None,
              grid: str = "default", readers: Sequence[str] | None = None,
              patterns: Sequence[AccessPattern] | None = None,
              cache_dir: str | os.PathLike[str] | None = None, progress: bool = False,
              repeats: int = 1) -> list[Measurement]:
    """Measure every case of the sweep; see the module docstring for the execution order.

    ``repeats`` > 1 measures each case several times (fresh reader each time) and keeps every
    row: deterministic columns must agree between repeats, times can be summarised later.
    """
    info = dataset_info(source, dataset)
    layouts = list(layouts) if layouts is not None else default_grid(
        info.kind, info.shape, info.itemsize, grid)
    layouts = [lay.fitted(info.shape) for lay in layouts]
    patterns = list(patterns) if patterns else default_patterns(info.kind)
    check_patterns(info, patterns)
    reader_objs = [get_reader(n) for n in readers] if readers else []
    if not reader_objs:
        reader_objs = readers_for("hdf5") + readers_for("zarr")
    cases = plan_cases(layouts, reader_objs, patterns)
    cache = Path(cache_dir) if cache_dir else DEFAULT_CACHE / "variants"
    sid = source_id(source, info.path)
    endpoint.set_profile(profile)
    log.info("sweep of %s:%s %s, %d layouts, %d cases, profile %s", info.file, info.path,
             info.shape, len(layouts), len(cases), profile.name)
    results: list[Measurement] = []
    with _progress(len(cases) * repeats, progress) as bar:
        for layout in layouts:
            layout_cases = [c for c in cases if c.layout == layout]
            if not layout_cases:
                continue
            bar.set_description(f"writing {layout.name}")
            variant = build_variant(cache, source, info.path, layout)
            key = f"{sid}/{layout.name}{SUFFIX[layout.format]}"
            _upload(endpoint, variant, key)
            target = _target(endpoint, key, variant)
            try:
                for case in layout_cases:
                    reader = get_reader(case.reader)
                    for _ in range(repeats):
                        bar.set_description(f"{layout.name} {case.reader} {case.pattern.name}")
                        results.append(measure_case(endpoint, variant, target, reader,
                                                    case.pattern, profile, rate=info.rate))
                        bar.update()
            finally:
                endpoint.delete_prefix(key)
    _check_digests(results)
    return results


def _check_digests(results: Sequence[Measurement]) -> None:
    """Every layout and reader must return the same bytes for the same pattern."""
    by_pattern: dict[str, set[str]] = {}
    for m in results:
        by_pattern.setdefault(m.pattern, set()).add(m.digest)
    bad = {p: d for p, d in by_pattern.items() if len(d) > 1}
    if bad:
        raise RuntimeError(f"readers returned different data for the same pattern: {sorted(bad)}")
