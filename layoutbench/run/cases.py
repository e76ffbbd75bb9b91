"""What measuring cases needs wherever the cases come from (a sweep's variants or a file as it
is): patterns checked against the dataset, one case measured with the fallback reader where
its reader cannot express the dataset, every reader's data compared, a progress bar, and the
readers that cannot sign S3 requests.

Below :mod:`.sweep`, :mod:`.sweep_jobs`, :mod:`.faulty` and :mod:`.measure_source`, which all
use it (and nothing of each other in a circle).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from layoutbench.plan.dataset import DatasetInfo
from layoutbench.plan.measurement import Measurement
from layoutbench.plan.patterns import AccessPattern, PatternError
from layoutbench.read.reader_base import Reader, Target
from layoutbench.read.readers import get_reader
from layoutbench.read.refset import ReferencesUnsupported
from layoutbench.run.measure import measure_case
from layoutbench.write.rewrite import Variant

if TYPE_CHECKING:
    from layoutbench.store.endpoint import Endpoint

log = logging.getLogger(__name__)

#: Readers that read anonymously only: remfile takes plain URLs, and obstore's signed requests
#: could be counted neither by the gateway nor by botocore's events (authenticated s3://).
URL_ONLY = ("h5py-remfile", "pynwb-remfile", "zarr-obstore")


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


#: Where a case goes when its reader cannot express the dataset (recorded in ``fallback``).
FALLBACK_READER = "h5py-fsspec"


def measure_with_fallback(endpoint: Endpoint, variant: Variant, target: Target, reader: Reader,
                          pattern: AccessPattern, profile: Any, rate: float | None) -> Measurement:
    """One case; a dataset the reader cannot express is measured with the fallback reader and
    the row says so (``reader`` stays the one asked for, ``fallback`` names what ran and why)."""
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
    from tqdm.auto import tqdm

    bar = tqdm(total=total, disable=not enabled, unit="case", dynamic_ncols=True, leave=False)
    try:
        yield bar
    finally:
        bar.close()
