"""The cost model: seconds from a :class:`~.geometry.ReadPlan` and a network profile.

Pure, like :mod:`.geometry`: no file, network or clock. A plan says how many request
rounds lie on the critical path and how many bytes one connection carries on it; a
:class:`~layoutbench.plan.profiles.NetworkProfile` prices a round (its latency) and a byte (its
bandwidth per connection); decoding is priced from the codec's decode throughput, measured on
the file's own chunks (:mod:`layoutbench.read.sampling`). What the emulated network does not explain
(HTTP and Python overhead per request, the reader's fixed cost per read call, how decoding
overlaps with I/O) is held in :class:`CostConstants`, fitted by :func:`fit_constants` on
measured runs (``layoutbench calibrate``), because it depends on the machine and the library
versions rather than on the layout.

The model is linear in its constants::

    seconds = selections × read_overhead[reader]
            + rounds × (latency × latency_factor + request_overhead[reader])
            + serial_bytes / bandwidth × transfer_factor
            + decoded MB / decode MB/s × decode_factor

so fitting is a non-negative least-squares problem, solved on relative errors (a 70 s case
must not drown a 0.1 s one: the recommender ranks layouts, it does not add seconds up).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from layoutbench.plan.geometry import ReadPlan, plan_reads, stored_overhead

if TYPE_CHECKING:
    from layoutbench.plan.measurement import Measurement
    from layoutbench.plan.profiles import NetworkProfile

log = logging.getLogger(__name__)

#: Weight of the prior that keeps ``latency_factor`` and ``transfer_factor`` near 1 (the
#: gateway emulates exactly those numbers): as much as one perfectly predicted case.
PRIOR_WEIGHT = 1.0
#: Decode throughput given to a fitted coefficient of zero (decoding cost nothing measurable).
FREE_DECODE_MBPS = 1e6


@dataclass(frozen=True)
class CostConstants:
    """What the emulated network does not explain, per machine and library versions.

    Parameters
    ----------
    latency_factor, transfer_factor
        Multipliers of the profile's latency per round and of bytes / bandwidth (1 when the
        plan's rounds and bytes are the whole story).
    request_overhead_s
        Per reader, seconds per request round beyond the profile's latency (HTTP handling,
        Python per request: h5py-fsspec pays a thread hop through fsspec's event loop).
    read_overhead_s
        Per reader, fixed seconds per read call (one selection): opening a zarr batch, building
        HDF5's chunk map.
    decode_mbps
        Per codec, decode throughput (uncompressed MB/s) fitted on measured runs: used when no
        sampled figure for the layout is given to :func:`predict_seconds`.
    decode_factor
        Per reader, multiplier of decode time computed from a sampled throughput: the reader's
        decode path versus the sampler's single-threaded codec call (zarr and kerchunk decode
        in a thread pool, overlapping chunks; h5py decodes one chunk at a time). 1 if absent.
    n_rows, rms_log_error
        How many measured rows the constants were fitted on and how well they fit them
        (root mean square of ``log(predicted / measured)``), so a stale or poor calibration can
        be recognised.
    """

    latency_factor: float = 1.0
    transfer_factor: float = 1.0
    request_overhead_s: Mapping[str, float] = field(default_factory=dict)
    read_overhead_s: Mapping[str, float] = field(default_factory=dict)
    decode_mbps: Mapping[str, float] = field(default_factory=dict)
    decode_factor: Mapping[str, float] = field(default_factory=dict)
    n_rows: int = 0
    rms_log_error: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; :meth:`from_dict` inverts it."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for key in _MAPPINGS:
            out[key] = {k: float(v) for k, v in sorted(out[key].items())}
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CostConstants:
        """Inverse of :meth:`to_dict`; unknown keys are an error, not silently dropped."""
        known = {f.name for f in fields(cls)}
        extra = set(d) - known
        if extra:
            raise ValueError(f"unknown CostConstants keys: {sorted(extra)}")
        kw: dict[str, Any] = dict(d)
        for key in _MAPPINGS:
            kw[key] = {str(k): float(v) for k, v in dict(d.get(key) or {}).items()}
        return cls(**kw)


_MAPPINGS = ("request_overhead_s", "read_overhead_s", "decode_mbps", "decode_factor")


def shipped_constants() -> tuple[CostConstants, str]:
    """The readers' constants measured on the embedded endpoint and shipped with layoutbench
    (:mod:`layoutbench.plan.reader_table`, written by ``benchmarks/reader_constants.py``), and
    where they were measured; the uncalibrated model if the table is absent."""
    import importlib

    try:
        table = importlib.import_module("layoutbench.plan.reader_table")
    except ImportError:
        return CostConstants(), "uncalibrated model (no reader table)"
    return CostConstants.from_dict(table.TABLE), str(table.MEASURED_ON)


def _decode_seconds(plan: ReadPlan, constants: CostConstants, decode_mbps: float | None) -> float:
    mb = plan.bytes_decoded / 1e6
    if mb == 0:
        return 0.0
    if decode_mbps is not None:
        return mb / decode_mbps * constants.decode_factor.get(plan.reader, 1.0)
    if plan.codec in constants.decode_mbps:
        return mb / constants.decode_mbps[plan.codec]
    if plan.codec == "none":
        return 0.0
    raise ValueError(f"no decode throughput for codec {plan.codec!r}: pass decode_mbps measured "
                     "on the file (layoutbench.read.sampling) or calibrate on runs that use it")


def predict_seconds(plan: ReadPlan, profile: NetworkProfile,
                    constants: CostConstants | None = None,
                    decode_mbps: float | None = None) -> float:
    """Seconds the plan takes under ``profile``.

    Serial readers pay the latency once per request; concurrent ones once per round of
    ``concurrency`` requests (the plan's ``rounds``). Bandwidth is per connection, so it limits
    the bytes on the critical path (``serial_bytes``), not all bytes. ``decode_mbps`` is the
    codec's decode throughput (uncompressed MB/s) on the file's data, from the shipped decode
    table (:mod:`layoutbench.plan.decode`) and the compressed size measured on that data.
    """
    c = constants or CostConstants()
    latency = profile.latency_s * c.latency_factor + c.request_overhead_s.get(plan.reader, 0.0)
    bps = profile.bytes_per_second
    transfer = plan.serial_bytes / bps * c.transfer_factor if bps else 0.0
    return (plan.selections * c.read_overhead_s.get(plan.reader, 0.0) + plan.rounds * latency
            + transfer + _decode_seconds(plan, c, decode_mbps))


# -- fitting -------------------------------------------------------------------------------------
def plan_for_measurement(m: Measurement, rate: float | None = None) -> ReadPlan:
    """The plan of a measured case, its chunk size estimated from the variant's size.

    The estimate (the variant's bytes less its index, shared out pro rata over the chunks) is
    like the sampled size the recommender has for a variant that does not exist yet: a mean,
    not each chunk's size, so constants fitted on it carry the errors they will meet. ``rate``
    is the sampling rate for time-based (ecephys) patterns; when ``None``, the rate the row
    recorded (:attr:`Measurement.rate`) is used.
    """
    from layoutbench.plan.patterns import parse_spec

    itemsize = int(np.dtype(m.dtype).itemsize)
    nbytes = math.prod(m.shape) * itemsize
    ratio = m.compression_ratio if m.compression_ratio and math.isfinite(m.compression_ratio) \
        else 1.0
    stored = nbytes / ratio
    if abs(stored - m.stored_bytes) <= 1:  # the variant holds this dataset alone: drop its index
        stored = max(stored / 2, stored - stored_overhead(m.layout, m.shape))
    selections = parse_spec(m.pattern).selections(m.shape, m.rate if rate is None else rate)
    return plan_reads(selections, m.shape, itemsize, m.layout, m.reader,
                      m.layout.chunk_nbytes(itemsize) * stored / nbytes)


def usable(m: Measurement) -> bool:
    """Rows a fit can use: measured with the reader named, on data patterns, in finite time."""
    from layoutbench.errors import UserError
    from layoutbench.plan.patterns import parse_spec

    if m.fallback or not (m.seconds > 0 and math.isfinite(m.seconds)):
        return False
    try:
        return not parse_spec(m.pattern).definition.includes_open
    except UserError:  # a pattern this version does not know
        return False


def fit_constants(rows: Sequence[Measurement], plans: Sequence[ReadPlan] | None = None, *,
                  decode_mbps: Callable[[Measurement], float | None] | None = None,
                  rate: float | None = None) -> CostConstants:
    """Fit :class:`CostConstants` to measured rows by non-negative least squares.

    Parameters
    ----------
    rows
        Measurements (a sweep's results); rows :func:`usable` rejects are skipped.
    plans
        Their plans, in the same order; computed with :func:`plan_for_measurement` if omitted.
    decode_mbps
        Sampled decode throughput for a row's layout (``None`` when unknown). Where given,
        decoding is fitted as a ``decode_factor`` per reader; elsewhere as a throughput per
        codec.
    rate
        Sampling rate for every row's time-based patterns, overriding the rate each row
        recorded (see :func:`plan_for_measurement`); unused when ``plans`` are given.
    """
    from scipy.optimize import nnls

    if plans is None:
        pairs = [(m, plan_for_measurement(m, rate)) for m in rows if usable(m)]
    else:
        pairs = [(m, p) for m, p in zip(rows, plans, strict=True) if usable(m)]
    if not pairs:
        raise ValueError("no usable measured rows to fit the cost model on")
    readers = sorted({p.reader for _, p in pairs})
    codecs = sorted({p.codec for _, p in pairs})
    names = (["latency_factor", "transfer_factor"]
             + [f"request:{r}" for r in readers] + [f"read:{r}" for r in readers]
             + [f"factor:{r}" for r in readers] + [f"decode:{c}" for c in codecs])
    col = {n: i for i, n in enumerate(names)}
    a = np.zeros((len(pairs), len(names)))
    y = np.array([m.seconds for m, _ in pairs])
    for i, (m, p) in enumerate(pairs):
        latency_s = float(m.profile_params.get("latency_ms", 0.0)) / 1e3
        bandwidth = m.profile_params.get("bandwidth_mbps")
        a[i, col["latency_factor"]] = p.rounds * latency_s
        a[i, col["transfer_factor"]] = p.serial_bytes / (bandwidth * 1e6) if bandwidth else 0.0
        a[i, col[f"request:{p.reader}"]] = p.rounds
        a[i, col[f"read:{p.reader}"]] = p.selections
        sampled = decode_mbps(m) if decode_mbps else None
        if sampled:
            a[i, col[f"factor:{p.reader}"]] = p.bytes_decoded / 1e6 / sampled
        else:
            a[i, col[f"decode:{p.codec}"]] = p.bytes_decoded / 1e6
    weighted = a / y[:, None]  # relative errors: every case counts alike
    prior = np.zeros((2, len(names)))
    prior[0, col["latency_factor"]] = prior[1, col["transfer_factor"]] = PRIOR_WEIGHT
    lhs = np.vstack([weighted, prior])
    rhs = np.concatenate([np.ones(len(pairs)), np.full(len(prior), PRIOR_WEIGHT)])
    theta, _ = nnls(lhs, rhs)
    fitted = dict(zip(names, (float(v) for v in theta), strict=True))
    constants = CostConstants(
        latency_factor=fitted["latency_factor"], transfer_factor=fitted["transfer_factor"],
        request_overhead_s={r: fitted[f"request:{r}"] for r in readers},
        read_overhead_s={r: fitted[f"read:{r}"] for r in readers},
        decode_mbps={c: (1 / fitted[f"decode:{c}"] if fitted[f"decode:{c}"] > 1 / FREE_DECODE_MBPS
                         else FREE_DECODE_MBPS)
                     for c in codecs if a[:, col[f"decode:{c}"]].any()},
        decode_factor={r: fitted[f"factor:{r}"] for r in readers
                       if a[:, col[f"factor:{r}"]].any()},
        n_rows=len(pairs))
    predicted = a @ theta
    rms = float(np.sqrt(np.mean(np.log(np.maximum(predicted, 1e-9) / y) ** 2)))
    log.debug("fitted cost constants on %d rows: rms log error %.3f", len(pairs), rms)
    return replace(constants, rms_log_error=rms)
