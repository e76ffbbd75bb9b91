"""The result row: one measured (layout, reader, pattern, profile) case (DESIGN.md §3).

A plain record, pure like the rest of :mod:`layoutbench.plan`, so the cost model can be fitted
on results (:func:`layoutbench.plan.model.fit_constants`) without importing what measured them.
Its :meth:`Measurement.to_dict` is the row written to Parquet/CSV and :meth:`from_dict` reads
it back.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from typing import Any

from layoutbench.plan.layout import Layout


@dataclass(frozen=True, slots=True)
class Measurement:
    """One result row (DESIGN.md §3). Its :meth:`to_dict` is also the row written to disk."""

    layout: Layout
    reader: str
    reader_options: dict[str, Any]
    pattern: str
    pattern_params: dict[str, Any]
    profile: str
    profile_params: dict[str, Any]
    dataset: str
    shape: tuple[int, ...]
    dtype: str
    requests: int
    bytes_transferred: int
    bytes_needed: int
    read_amplification: float
    read_amplification_raw: float
    chunks_touched: int
    seconds: float
    open_requests: int
    open_bytes: int
    open_seconds: float
    stored_bytes: int
    compression_ratio: float
    write_seconds: float
    digest: str
    versions: dict[str, str]
    timestamp: str
    fallback: str | None = None
    #: Sampling rate (Hz) the pattern's selections were built with (ecephys patterns are in
    #: seconds), so a row can be planned again (:func:`.model.plan_for_measurement`).
    rate: float | None = None
    #: The file the row measured or rewrote (its public URL, or the path given).
    source: str | None = None
    #: Who counted ``requests`` and bytes: ``"gateway"`` (server side, the rule) or
    #: ``"client"`` (signed S3 requests, which no proxy can count; see store/reach.py).
    counts: str = "gateway"
    #: Why the case produced no result (a clean error under injected faults), or that the data
    #: it read were wrong ("wrong data: ..."); None for a good row.
    error: str | None = None
    #: The fault plan the gateway injected during the case (its SPEC), if any.
    faults: str | None = None
    #: The part of a big dataset the case was swept on (``rows 0:15000 of 76293``), if not all.
    slab: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A flat row: nested values are JSON strings, ``layout`` is the layout's name."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["layout"] = self.layout.name
        d["layout_json"] = json.dumps(self.layout.to_dict(), sort_keys=True)
        d["shape"] = "x".join(map(str, self.shape))
        for key in ("reader_options", "pattern_params", "profile_params", "versions"):
            d[key] = json.dumps(d[key], sort_keys=True)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Measurement:
        kw = {f.name: d[f.name] for f in fields(cls) if f.name in d}
        kw["layout"] = Layout.from_dict(json.loads(d["layout_json"]))
        kw["shape"] = tuple(int(v) for v in str(d["shape"]).split("x"))
        for key in ("reader_options", "pattern_params", "profile_params", "versions"):
            kw[key] = json.loads(d[key]) if isinstance(d[key], str) else d[key]
        if isinstance(kw.get("fallback"), float):  # NaN from a CSV/Parquet round trip
            kw["fallback"] = None
        for key in ("source", "counts", "error", "faults", "slab"):  # NaN: absent, or None in a CSV
            if isinstance(kw.get(key), float):
                kw.pop(key)
        if kw.get("rate") is not None:  # NaN (no rate, or a row written before rates were)
            kw["rate"] = None if math.isnan(float(kw["rate"])) else float(kw["rate"])
        return cls(**kw)
