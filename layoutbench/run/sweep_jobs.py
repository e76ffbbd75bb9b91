"""The two steps of a sweep's (source, layout) job, as an executor runs them anywhere.

``build`` writes and verifies the variant (or reuses the cache's, :mod:`layoutbench.write.
cache_lock` makes sure only one worker writes it), uploads it to the store while still holding
it, and keeps the cache under its size limit; ``measure`` (a timed step: never two at once on
one machine) reads it with every reader and pattern through the counting gateway, then removes
it from the store. Both take only picklable values: a :class:`LayoutJob` and the variant, so
they run the same in this process and on a dask worker; the endpoint travels as an
:class:`EndpointSpec` (or, for ``sweep --store``, a
:class:`~layoutbench.store.remote_store.StoreSpec`) and is attached to where it runs.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from layoutbench.interrupts import checkpoint
from layoutbench.plan.layout import Layout
from layoutbench.plan.measurement import Measurement
from layoutbench.plan.patterns import AccessPattern
from layoutbench.plan.profiles import NetworkProfile
from layoutbench.read.reader_base import Target
from layoutbench.read.readers import get_reader
from layoutbench.run.faulty import measure_under
from layoutbench.store.faults import FaultPlan
from layoutbench.write.rewrite import SUFFIX, Variant, Writer, build_variant

if TYPE_CHECKING:
    from layoutbench.store.embedded import EmbeddedS3
    from layoutbench.store.endpoint import Endpoint
    from layoutbench.store.remote_store import StoreSpec


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    """Where an embedded endpoint another process started listens (see ``EmbeddedS3.attach``)."""

    endpoint_url: str
    upstream_url: str
    bucket: str

    @classmethod
    def of(cls, endpoint: EmbeddedS3) -> EndpointSpec:
        return cls(endpoint.endpoint_url, endpoint.upstream_url, endpoint.bucket)


@functools.lru_cache(maxsize=8)
def _attached(spec: EndpointSpec) -> Any:
    from layoutbench.store import EmbeddedS3

    return EmbeddedS3.attach(spec.endpoint_url, spec.upstream_url, spec.bucket)


def travelling(endpoint: Endpoint) -> EndpointSpec | StoreSpec:
    """What stands for ``endpoint`` on a worker: a store's spec (``sweep --store``, see
    :mod:`layoutbench.store.remote_store`), else an :class:`EndpointSpec`."""
    spec = getattr(endpoint, "spec", None)  # a RemoteStore's; the embedded S3 has addresses
    return spec if spec is not None else EndpointSpec.of(cast("EmbeddedS3", endpoint))


def as_endpoint(endpoint: Endpoint | EndpointSpec | StoreSpec) -> Endpoint:
    """The endpoint itself, or the one an :class:`EndpointSpec` or a store's spec names,
    attached (once per process)."""
    if isinstance(endpoint, EndpointSpec):
        return _attached(endpoint)
    from layoutbench.store.remote_store import StoreSpec, attach

    return attach(endpoint) if isinstance(endpoint, StoreSpec) else endpoint


@dataclass(frozen=True, slots=True)
class CaseTodo:
    """A case to measure ``repeats`` more times; ``ordinal`` numbers its first repeat among
    the source's cases (what seeds its faults, whatever ran before it)."""

    reader: str
    pattern: AccessPattern
    repeats: int
    ordinal: int


@dataclass(frozen=True)
class LayoutJob:
    """One (source, layout) of a sweep and everything its two steps need."""

    source: str  #: the local file rewritten (the source, its cached copy or its slab)
    label: str  #: the source as results name it
    dataset: str
    layout: Layout
    cases: tuple[CaseTodo, ...]
    cache: str
    sid: str
    endpoint: Endpoint | EndpointSpec | StoreSpec  # a spec where it travels to workers
    profile: NetworkProfile
    faults: FaultPlan
    rate: float | None = None
    whole_file: bool = False
    slab: str | None = None
    cache_limit: int | None = None
    #: called with each row as it is measured (in-process runs: the journal, case by case)
    on_row: Any = None

    @property
    def key(self) -> str:
        return f"{self.sid}/{self.layout.name}{SUFFIX[self.layout.format]}"

    @property
    def n_rows(self) -> int:
        return sum(c.repeats for c in self.cases)


def upload_variant(endpoint: Endpoint, variant: Variant, key: str) -> None:
    """Put a variant (file or Zarr store) at ``key`` on the endpoint."""
    if variant.layout.format == "hdf5":
        endpoint.upload_file(variant.path, key)
    else:
        endpoint.upload_tree(variant.path, key)


def variant_target(endpoint: Endpoint, key: str, variant: Variant, cache: Path) -> Target:
    """What a reader needs to open ``variant`` uploaded at ``key`` (refs cached in ``cache``)."""
    layout = variant.layout
    itemsize = int(np.dtype(variant.dtype).itemsize)
    return Target(source=endpoint.source(key), dataset=variant.dataset,
                  format=layout.format, page_size=layout.page_size,
                  chunk_nbytes=layout.chunk_nbytes(itemsize), cache_dir=str(cache / "refs"))


def _writer(job: LayoutJob) -> Writer | None:
    if not job.whole_file:
        return None
    from layoutbench.write.repack import write_file_variant

    return write_file_variant


def build(job: LayoutJob) -> Variant:
    """The verified variant, uploaded to the store (step one; see the module doc)."""
    from layoutbench.write.cache_lock import evict

    endpoint = as_endpoint(job.endpoint)
    variant = build_variant(Path(job.cache), job.source, job.dataset, job.layout, _writer(job),
                            hold=lambda v: upload_variant(endpoint, v, job.key))
    evict(job.cache, job.cache_limit, keep=frozenset({variant.path}))
    return variant


def measure(variant: Variant, job: LayoutJob) -> list[Measurement]:
    """Every case of the job on the uploaded variant, then the variant leaves the store (step
    two, timed)."""
    endpoint = as_endpoint(job.endpoint)
    rows: list[Measurement] = []
    try:
        endpoint.set_profile(job.profile)
        target = variant_target(endpoint, job.key, variant, Path(job.cache))
        for name in dict.fromkeys(c.reader for c in job.cases):
            get_reader(name).prepare(target)
        for case in job.cases:
            reader = get_reader(case.reader)
            for r in range(case.repeats):
                checkpoint()
                row = measure_under(job.faults, case.ordinal + r, endpoint, variant, target,
                                    reader, case.pattern, job.profile, job.rate)
                rows.append(dataclasses.replace(row, source=job.label, slab=job.slab,
                                                counts=endpoint.counts))
                if job.on_row is not None:
                    job.on_row(rows[-1])
    finally:
        endpoint.delete_prefix(job.key)
    return rows


#: What a sweep's chains call, by step name (:mod:`layoutbench.plan.work`).
ACTIONS: dict[str, Callable[..., Any]] = {"build": build, "measure": measure}
