"""Measuring under injected faults: a failed case is a row that says why, and wrong data is
caught by the digest, never passed off as a result.

With a fault plan (:mod:`layoutbench.store.faults`), the gateway answers some requests with
S3's throttling and internal errors, resets or cuts bodies short, or stalls. Each case then
ends in one of three ways, the columns of the ``faults`` table: a correct result (the readers'
retries absorbed the faults; its digest equals the data's), a clean error (the reader gave up
and said so: an error row), or wrong data (a digest that is not the data's: the row says so,
loudly, since a reader that returns wrong data without the check is a finding).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from layoutbench.errors import causes
from layoutbench.plan.measurement import Measurement
from layoutbench.plan.patterns import AccessPattern
from layoutbench.read.reader_base import Reader, Target
from layoutbench.run.cases import measure_with_fallback
from layoutbench.run.measure import failed_case
from layoutbench.store.faults import NONE, FaultPlan
from layoutbench.write.rewrite import Variant

if TYPE_CHECKING:
    from layoutbench.store.endpoint import Endpoint

log = logging.getLogger(__name__)

WRONG = "wrong data"
#: The prefix of an error that no fault explains: an exception of a kind I/O never raises
#: (a TypeError, an AttributeError...) is a bug, ours or a reader's, not a clean error.
BUG = "bug"
#: Where the exceptions of I/O come from, besides ``OSError`` and its kin.
_IO_MODULES = ("aiohttp", "botocore", "urllib3", "requests", "obstore", "s3fs", "fsspec",
               "http", "ssl", "asyncio", "concurrent")


def io_failure(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a failure of I/O: what injected faults make a
    reader raise. Anything else is a bug and is said so."""
    return any(isinstance(e, OSError | TimeoutError | EOFError)
               or type(e).__module__.split(".")[0] in _IO_MODULES for e in causes(exc))


def measure_under(plan: FaultPlan, case: int, endpoint: Endpoint, variant: Variant, target: Target,
                  reader: Reader, pattern: AccessPattern, profile: Any,
                  rate: float | None) -> Measurement:
    """One case with ``plan``'s faults injected (seeded per case), or without when the plan is
    empty; an exception (not an interrupt) becomes an error row."""
    if not plan.active:
        return measure_with_fallback(endpoint, variant, target, reader, pattern, profile, rate)
    endpoint.set_faults(dataclasses.replace(plan, seed=plan.seed * 1_000_003 + case))
    t0 = time.perf_counter()
    try:
        row = measure_with_fallback(endpoint, variant, target, reader, pattern, profile, rate)
    except Exception as exc:
        log.info("%s %s %s failed under faults: %s", variant.layout.name, reader.name,
                 pattern.label, exc)
        row = failed_case(endpoint, variant, target, reader, pattern, profile, exc,
                          time.perf_counter() - t0, rate=rate)
        if not io_failure(exc):
            log.warning("%s %s %s: %s is no I/O failure: a bug", variant.layout.name,
                        reader.name, pattern.label, type(exc).__name__)
            row = dataclasses.replace(row, error=f"{BUG}: {row.error}")
    finally:
        endpoint.set_faults(NONE)
    return dataclasses.replace(row, faults=plan.spec)


def reference_digests(array: Any, patterns: Sequence[AccessPattern], rate: float | None
                      ) -> dict[str, str]:
    """The digest each pattern must produce, read from ``array`` (the source, locally)."""
    return {p.label: p.run(array, rate=rate).digest for p in patterns}


def judge(rows: list[Measurement], reference: dict[str, str]) -> list[Measurement]:
    """Rows whose digest is not the data's marked as wrong data (error rows kept as they are)."""
    out = []
    for row in rows:
        expected = reference.get(row.pattern)
        if row.error is None and expected is not None and row.digest != expected:
            log.warning("WRONG DATA: %s read by %s returned other bytes than the data for %s",
                        row.layout.name, row.reader, row.pattern)
            row = dataclasses.replace(row, error=f"{WRONG}: digest {row.digest} is not the "
                                                 f"data's ({expected})")
        out.append(row)
    return out


def outcome(row: Measurement) -> str:
    """``correct``, ``clean error``, ``wrong data`` or ``bug``: the faults table's columns."""
    if row.error is None:
        return "correct"
    if row.error.startswith(WRONG):
        return WRONG
    return BUG if row.error.startswith(BUG) else "clean error"
