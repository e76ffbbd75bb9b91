"""What the asv suites in ``benchmarks/`` stand on: data, variants, a shared endpoint, cases.

Not a suite itself (``_kit``, and :class:`PatternSuite` is abstract, so asv's discovery, which
imports every module here, finds no benchmark in it); the suites import it as
``from benchmarks import _kit as kit``, and ``make`` stops the shared endpoint with
:func:`stop`.

asv runs every benchmark in a fresh process, so the suites split the work the way asv's
``setup_cache`` intends: :func:`prepare` (once per suite and run) generates the sample file,
writes and verifies each curated layout's variant (both cached on disk across runs) and uploads
them to the shared endpoint (:mod:`layoutbench.store.shared`); :func:`open_case` (once per
benchmark process) attaches to that endpoint, sets the network profile and opens nothing yet;
:meth:`BenchCase.run` is what ``time_*`` times and :meth:`BenchCase.measure` gives the
deterministic figures ``track_*`` report.

Settings come from the environment, so ``asv run`` needs no extra flags:

``LAYOUTBENCH_PROFILE``
    Network profile (default ``same-region``); every benchmark carries it as its first
    parameter, so results say which profile they were measured under.
``LAYOUTBENCH_BENCH_SIZE``
    ``demo`` (default: the sizes ``layoutbench demo`` uses) or ``small`` (the CI smoke run).
``LAYOUTBENCH_BENCH_DIR``
    Where sample files, variants, references and the endpoint's state live (default
    ``asv`` in :func:`layoutbench.cache.cache_dir`).
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from layoutbench.atomic import write_json
from layoutbench.cache import cache_dir
from layoutbench.errors import UserError
from layoutbench.plan.layout import Layout, default_grid
from layoutbench.plan.measurement import Measurement
from layoutbench.plan.patterns import AccessPattern, parse_spec
from layoutbench.read.reader_base import Reader, Target
from layoutbench.read.readers import get_reader
from layoutbench.run.cases import measure_with_fallback
from layoutbench.run.sweep import DATA_READERS, OPEN_READERS
from layoutbench.run.sweep_jobs import upload_variant, variant_target
from layoutbench.store import NetworkProfile, get_profile
from layoutbench.write.rewrite import SUFFIX, Variant, build_variant

__all__ = ["DOMAINS", "BenchCase", "Domain", "PatternSuite", "Prepared", "open_case", "prepare",
           "stop", "suite_params"]

log = logging.getLogger(__name__)

SIZES = ("demo", "small")


def profile_name() -> str:
    return os.environ.get("LAYOUTBENCH_PROFILE", "same-region")


def size_name() -> str:
    size = os.environ.get("LAYOUTBENCH_BENCH_SIZE", "demo")
    if size not in SIZES:
        raise UserError(f"LAYOUTBENCH_BENCH_SIZE={size!r}: expected one of {', '.join(SIZES)}")
    return size


def bench_dir() -> Path:
    explicit = os.environ.get("LAYOUTBENCH_BENCH_DIR")
    return Path(explicit).expanduser() if explicit else cache_dir("asv")


# -- domains --------------------------------------------------------------------------------
def _ophys_layouts(shape: tuple[int, ...], itemsize: int) -> list[Layout]:
    """The quick grid (baselines, one-frame, narrow HDF5 and Zarr, sharded Zarr) plus the layout
    the demo sweep ranks first for patches, ``(T, 32, 32)`` zstd with shuffle."""
    best = Layout("hdf5", (min(shape[0], 1024), 32, 32), "zstd", shuffle=True)
    return [*default_grid("ophys", shape, itemsize, "quick"), best.fitted(shape)]


def _quick(kind: str) -> Callable[[tuple[int, ...], int], list[Layout]]:
    return lambda shape, itemsize: default_grid(kind, shape, itemsize, "quick")


#: The ``open`` suite's whole-file variants (:func:`~layoutbench.write.repack.file_layouts`):
#: the file as it is, then paged copies at 1, 4 and 8 MiB.
FILE_LAYOUTS = ("as-is", "paged-1m", "paged-4m", "paged-8m")


@dataclass(frozen=True)
class Domain:
    """One asv suite file's data: what to generate, which layouts and readers to compare."""

    name: str
    #: generator keyword arguments per size (see :data:`layoutbench.synthetic.GENERATORS`)
    sizes: dict[str, dict[str, Any]]
    readers: tuple[str, ...]
    layouts: Callable[[tuple[int, ...], int], list[Layout]] | None = None
    itemsize: int = 2
    generator: str = ""

    @property
    def kind(self) -> str:
        return self.generator or self.name

    @property
    def whole_file(self) -> bool:
        """The ``open`` suite compares whole files (as is, paged), not rewritten datasets."""
        return self.layouts is None

    def layout_list(self, size: str) -> list[Layout]:
        """The curated layouts, fitted to the sample's shape (known without generating it)."""
        assert self.layouts is not None
        shape = tuple(self.sizes[size]["shape"])
        out: list[Layout] = []
        for layout in self.layouts(shape, self.itemsize):
            if layout.fitted(shape) not in out:
                out.append(layout.fitted(shape))
        return out

    def layout_names(self, size: str) -> list[str]:
        return list(FILE_LAYOUTS) if self.whole_file else [
            lay.name for lay in self.layout_list(size)]


#: Each suite's patterns are its classes' ``pattern`` attributes (benchmarks/*.py).
DOMAINS: dict[str, Domain] = {
    d.name: d for d in (
        Domain("ophys", {"demo": {"shape": (1000, 256, 256)}, "small": {"shape": (120, 128, 128)}},
               DATA_READERS, _ophys_layouts),
        Domain("ecephys", {"demo": {"shape": (1_800_000, 64)}, "small": {"shape": (150_000, 32)}},
               DATA_READERS, _quick("ecephys")),
        Domain("volume", {"demo": {"shape": (256, 512, 512)}, "small": {"shape": (64, 256, 256)}},
               DATA_READERS, _quick("volume")),
        Domain("open", {"demo": {}, "small": {"n_series": 120}}, OPEN_READERS,
               generator="many-series"),
    )
}


# -- preparation (setup_cache) --------------------------------------------------------------
@dataclass(frozen=True)
class Prepared:
    """What :func:`prepare` leaves for the benchmarks (pickled by asv between processes)."""

    domain: str
    size: str
    source: str
    dataset: str
    rate: float | None
    variants: dict[str, Variant] = field(default_factory=dict)
    #: one per ``setup_cache`` call, i.e. per suite module and asv run (see BenchCase.measure)
    run_id: str = ""

    def key(self, layout_name: str) -> str:
        variant = self.variants[layout_name]
        return f"asv/{self.domain}-{self.size}/{layout_name}{SUFFIX[variant.layout.format]}"


def sample_file(domain: Domain, size: str, root: Path) -> Path:
    """The domain's generated sample (written once per size and seed; generation is seeded)."""
    from layoutbench.synthetic import GENERATORS

    path = root / "data" / f"{domain.kind}-{size}.nwb"
    if not path.exists():
        log.info("generating %s (%s)", path, size)
        path.parent.mkdir(parents=True, exist_ok=True)
        GENERATORS[domain.kind](path, seed=0, **domain.sizes[size])
    return path


def stop() -> bool:
    """Stop the shared endpoint of :func:`bench_dir` (it would stop itself when idle)."""
    from layoutbench.store.shared import stop_shared

    return stop_shared(bench_dir() / "endpoint")


def _endpoint() -> Any:
    from layoutbench.store.shared import shared_endpoint

    return shared_endpoint(bench_dir() / "endpoint")


def _ensure_uploaded(endpoint: Any, prepared: Prepared, layout_name: str) -> str:
    """Upload the variant unless the shared endpoint already holds it (it may have restarted).

    A marker object is written after the upload, so a half-uploaded Zarr store is redone.
    """
    key = prepared.key(layout_name)
    marker = f"asv-uploaded/{key}"
    try:
        endpoint.object_info(marker)
        return key
    except Exception:  # botocore ClientError 404: not there yet
        pass
    endpoint.delete_prefix(key)
    upload_variant(endpoint, prepared.variants[layout_name], key)
    endpoint.client.put_object(Bucket=endpoint.bucket, Key=marker, Body=b"")
    return key


def prepare(domain_name: str) -> Prepared:
    """Generate, write, verify and upload everything a suite measures (asv ``setup_cache``)."""
    from layoutbench.read.inspect import dataset_info

    domain = DOMAINS[domain_name]
    size, root = size_name(), bench_dir()
    source = sample_file(domain, size, root)
    info = dataset_info(source, None)
    writer = None
    if domain.whole_file:
        from layoutbench.write.repack import write_file_variant

        writer = write_file_variant
    if domain.whole_file:
        from layoutbench.write.repack import file_layouts

        layouts = file_layouts(source, info.path)
    else:
        if tuple(info.shape) != tuple(domain.sizes[size]["shape"]):
            raise RuntimeError(f"{source}: shape {info.shape} is not the {size} size's")
        layouts = domain.layout_list(size)
    variants = {lay.name: build_variant(root / "variants", source, info.path, lay, writer)
                for lay in layouts}
    if list(variants) != domain.layout_names(size):
        raise RuntimeError(f"{domain.name}: layouts {list(variants)} are not the suite's params")
    prepared = Prepared(domain_name, size, str(source), info.path, info.rate, variants,
                        uuid.uuid4().hex)
    _forget_old_runs(root / "measured")
    endpoint = _endpoint()
    for name in variants:
        _ensure_uploaded(endpoint, prepared, name)
        for reader in domain.readers:  # build kerchunk references now, not while timing
            if get_reader(reader).supports(variants[name].layout.format):
                get_reader(reader).prepare(_target(endpoint, prepared, name))
    return prepared


def _forget_old_runs(folder: Path, max_age: float = 86400.0) -> None:
    """Drop counted runs of earlier asv runs (a day old): they are never read again."""
    import shutil
    import time

    for run in folder.glob("*") if folder.is_dir() else ():
        if time.time() - run.stat().st_mtime > max_age:
            shutil.rmtree(run, ignore_errors=True)


def _target(endpoint: Any, prepared: Prepared, layout_name: str) -> Target:
    return variant_target(endpoint, prepared.key(layout_name), prepared.variants[layout_name],
                          bench_dir() / "variants")


# -- one benchmark process -----------------------------------------------------------------
@dataclass
class BenchCase:
    """One (pattern, layout, reader) on the shared endpoint under the chosen profile."""

    endpoint: Any
    variant: Variant
    target: Target
    reader: Reader
    pattern: AccessPattern
    profile: NetworkProfile
    rate: float | None
    #: where this asv run keeps the case's counted run (shared by the three ``track_*``)
    record: Path | None = None

    def run(self) -> None:
        """Open with a fresh reader and run the pattern: what ``time_*`` times."""
        with self.reader.open(self.target) as arr:
            self.pattern.run(arr, rate=self.rate)

    def measure(self) -> Measurement:
        """One counted run per case and asv run: what ``track_*`` report.

        The three ``track_*`` of a case run in three processes; the first measures and records
        the row under the run's id, the others read it, so each asv run measures every case
        once (requests and bytes are deterministic; a new run measures again).
        """
        if self.record is not None and self.record.exists():
            return Measurement.from_dict(json.loads(self.record.read_text()))
        row = measure_with_fallback(self.endpoint, self.variant, self.target, self.reader,
                                    self.pattern, self.profile, self.rate)
        if self.record is not None:
            write_json(self.record, row.to_dict())
        return row


def open_case(prepared: Prepared, pattern: str, layout_name: str, reader_name: str,
              profile: str) -> BenchCase:
    """Attach to the endpoint and get a case ready; ``NotImplementedError`` (asv: skipped)
    when the reader cannot read the layout's format (HDF5 readers on Zarr and vice versa)."""
    reader = get_reader(reader_name)
    variant = prepared.variants[layout_name]
    if not reader.supports(variant.layout.format):
        raise NotImplementedError(f"{reader_name} does not read {variant.layout.format}")
    endpoint = _endpoint()
    _ensure_uploaded(endpoint, prepared, layout_name)
    endpoint.set_profile(get_profile(profile))
    target = _target(endpoint, prepared, layout_name)
    reader.prepare(target)
    record = None
    if prepared.run_id:
        safe = "--".join(x.replace("/", "_").replace(":", "_")
                         for x in (pattern, layout_name, reader_name, profile))
        record = bench_dir() / "measured" / prepared.run_id / f"{safe}.json"
    return BenchCase(endpoint, variant, target, reader, parse_spec(pattern),
                     get_profile(profile), prepared.rate, record)


def suite_params(domain_name: str) -> tuple[list[list[str]], list[str]]:
    """asv ``params`` and ``param_names`` for a domain: profile, layout, reader."""
    domain = DOMAINS[domain_name]
    return ([[profile_name()], domain.layout_names(size_name()), list(domain.readers)],
            ["profile", "layout", "reader"])


def amplification(m: Measurement) -> float:
    """Read amplification, or NaN where it has no meaning (the ``open`` pattern reads no data);
    asv shows NaN as a missing point rather than failing."""
    value = float(m.read_amplification)
    return value if np.isfinite(value) else float("nan")



class PatternSuite(ABC):
    """Base of the asv suites: one pattern over (profile, layout, reader).

    Subclasses set ``domain`` and ``pattern`` and a ``setup_cache`` of their own module (asv
    keys the cache by the function's module and line, so a shared one would mix domains):
    until they do, the class is abstract, which is also what keeps asv from taking this base
    for a suite. Combinations a reader cannot read are skipped (``NotImplementedError`` in
    ``setup``).
    """

    domain: str = ""
    pattern: str = ""
    timeout = 1800.0  # setup_cache may generate the sample and write every variant
    #: one timing per process: each sample is a full cold read (new reader, new connections)
    number = 1
    repeat = (1, 5, 60.0)
    case: BenchCase

    @abstractmethod
    def setup_cache(self) -> Prepared:
        """The suite's :func:`prepare` (a function of the suite's own module)."""

    def setup(self, prepared: Prepared, profile: str, layout: str, reader: str) -> None:
        self.case = open_case(prepared, self.pattern, layout, reader, profile)

    def time_pattern(self, *args: Any) -> None:
        self.case.run()

    def track_requests(self, *args: Any) -> int:
        return int(self.case.measure().requests)

    track_requests.unit = "requests"  # type: ignore[attr-defined]

    def track_bytes_transferred(self, *args: Any) -> int:
        return int(self.case.measure().bytes_transferred)

    track_bytes_transferred.unit = "bytes"  # type: ignore[attr-defined]

    def track_read_amplification(self, *args: Any) -> float:
        return amplification(self.case.measure())

    track_read_amplification.unit = "ratio"  # type: ignore[attr-defined]
