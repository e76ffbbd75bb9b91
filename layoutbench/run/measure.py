"""Run one (variant × reader × pattern) case against a counting endpoint: a :class:`Measurement`.

Requests and bytes come from the gateway's counters (the server-side truth), never from the
client. Opening the file and running the pattern are measured separately: ``requests``,
``bytes_transferred`` and ``seconds`` are the pattern's reads (with the reader already open,
as a user who keeps a file open experiences them), and ``open_*`` columns carry the cost of
opening, which the ``open`` pattern studies on its own.
"""

from __future__ import annotations

import datetime as _dt
import functools
import logging
import math
import os
import platform
import time
from importlib import metadata
from typing import TYPE_CHECKING, Any

import numpy as np

from layoutbench.h5threads import gc_paused
from layoutbench.plan.geometry import chunks_touched
from layoutbench.plan.measurement import Measurement
from layoutbench.plan.patterns import AccessPattern
from layoutbench.read.reader_base import Reader, Target
from layoutbench.write.rewrite import Variant

if TYPE_CHECKING:
    from layoutbench.store.endpoint import Counters

log = logging.getLogger(__name__)

_VERSIONED = ("layoutbench", "h5py", "hdf5plugin", "zarr", "numcodecs", "s3fs", "fsspec",
              "kerchunk", "obstore", "remfile", "moto", "numpy", "scipy", "pynwb")


def versions() -> dict[str, str]:
    """Versions of the packages whose behaviour the figures depend on, Python's, and the
    machine (:func:`machine`): looked up once per process (every row records them, and the
    package metadata costs 25 ms a lookup)."""
    return dict(_versions())


@functools.cache
def _versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    try:
        import h5py

        out["hdf5"] = h5py.version.hdf5_version
    except ImportError:  # pragma: no cover
        pass
    out["python"] = platform.python_version()
    out["machine"] = machine()
    return out


@functools.cache
def machine() -> str:
    """The kind of machine the figures were measured on (system, architecture, CPUs, memory),
    which timings depend on; reports show it beside the package versions."""
    text = f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        text += f", {memory / 2**30:.0f} GiB"
    except (ValueError, OSError, AttributeError):  # not every platform reports it
        pass
    return text


def _counts(endpoint: Counters) -> tuple[int, int]:
    s = endpoint.stats()
    return int(s.requests), int(s.bytes_sent)


def measure_case(endpoint: Counters, variant: Variant, target: Target, reader: Reader,
                 pattern: AccessPattern, profile: Any, *, rate: float | None = None) -> Measurement:
    """Open ``target`` with a fresh ``reader``, run ``pattern``, and report what it cost."""
    layout = variant.layout
    with gc_paused():  # collections run before the clock starts and after it stops
        endpoint.reset_counters()
        t0 = time.perf_counter()
        with reader.open(target) as arr:
            open_seconds = time.perf_counter() - t0
            open_requests, open_bytes = _counts(endpoint)
            endpoint.reset_counters()
            t1 = time.perf_counter()
            run = pattern.run(arr, rate=rate)
            seconds = time.perf_counter() - t1
            requests, transferred = _counts(endpoint)
    if pattern.definition.includes_open:  # the pattern *is* opening: its cost includes it
        requests, transferred = requests + open_requests, transferred + open_bytes
        seconds += open_seconds
    sels = pattern.selections(variant.shape, rate)
    touched = sum(chunks_touched(s, layout.chunks) for s in sels)
    ratio = variant.compression_ratio
    compressed_needed = run.bytes_needed / ratio if ratio and math.isfinite(ratio) else np.nan
    return Measurement(
        **_case(variant, target, reader, pattern, profile, rate),
        requests=requests, bytes_transferred=transferred, bytes_needed=run.bytes_needed,
        read_amplification=transferred / compressed_needed if compressed_needed else np.nan,
        read_amplification_raw=transferred / run.bytes_needed if run.bytes_needed else np.nan,
        chunks_touched=touched, seconds=seconds, open_requests=open_requests,
        open_bytes=open_bytes, open_seconds=open_seconds, compression_ratio=ratio,
        digest=run.digest,
    )


def _case(variant: Variant, target: Target, reader: Reader, pattern: AccessPattern,
          profile: Any, rate: float | None) -> dict[str, Any]:
    """The fields of a row that say what was measured, where and when (a measured case and a
    failed one alike)."""
    return dict(
        layout=variant.layout, reader=reader.name, reader_options=reader.options_for(target),
        pattern=pattern.label, pattern_params={k: list(v) if isinstance(v, tuple) else v
                                               for k, v in pattern.params},
        profile=profile.name, profile_params=profile.to_dict(),
        dataset=variant.dataset, shape=tuple(variant.shape), dtype=variant.dtype,
        stored_bytes=variant.stored_bytes, write_seconds=variant.write_seconds,
        versions=versions(), timestamp=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        rate=None if rate is None else float(rate))


def failed_case(endpoint: Counters, variant: Variant, target: Target, reader: Reader,
                pattern: AccessPattern, profile: Any, exc: BaseException, seconds: float, *,
                rate: float | None = None) -> Measurement:
    """The row of a case that ended in an error: what it cost until then, and why."""
    requests, transferred = _counts(endpoint)
    layout = variant.layout
    first = (str(exc).splitlines() or [""])[0][:300]
    return Measurement(
        **_case(variant, target, reader, pattern, profile, rate),
        requests=requests, bytes_transferred=transferred,
        bytes_needed=pattern.bytes_needed(variant.shape, np.dtype(variant.dtype).itemsize, rate),
        read_amplification=np.nan, read_amplification_raw=np.nan,
        chunks_touched=sum(chunks_touched(s, layout.chunks)
                           for s in pattern.selections(variant.shape, rate)),
        seconds=seconds, open_requests=0, open_bytes=0, open_seconds=0.0,
        compression_ratio=variant.compression_ratio, digest="",
        error=f"{type(exc).__name__}: {first}")
