"""A seeded plan of the faults real S3 clients meet, for the gateway to inject.

``503=0.05,500=0.02,reset=0.02,truncate=0.01,stall=0.01`` (the ``--faults`` SPEC) gives each
request of a run those chances of being answered by:

``503``
    HTTP 503 with S3's ``SlowDown`` XML error body (throttling);
``500``
    HTTP 500 with S3's ``InternalError`` body;
``reset``
    the real answer's headers and part of its body, then a TCP reset (RST);
``truncate``
    the real headers (with the full ``Content-Length``) and only part of the body, then a
    clean close: a body cut short;
``stall``
    nothing for :attr:`FaultPlan.stall_s` seconds, longer than the readers' read timeout.

Which request gets which fault is a pure function of the seed and the request's number in the
run, so a plan replays exactly for a serial reader (concurrent readers number their requests in
the order they arrive). Parsing is pure: the plan travels as JSON to the gateway process.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from layoutbench.errors import UserError

KINDS = ("503", "500", "reset", "truncate", "stall")
#: Longer than the read timeout the readers are given (layoutbench.read.reader_base.READ_TIMEOUT_S).
STALL_S = 12.0

ERROR_BODIES = {
    "503": ("SlowDown", "Please reduce your request rate."),
    "500": ("InternalError", "We encountered an internal error. Please try again."),
}


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """Fault kind -> probability per request, a seed, and how long a stall lasts."""

    rates: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    stall_s: float = STALL_S

    @property
    def active(self) -> bool:
        return any(p > 0 for p in self.rates.values())

    def draw(self, n: int) -> str | None:
        """The fault of request number ``n`` (0, 1, ...), or None: deterministic."""
        if not self.active:
            return None
        digest = hashlib.blake2b(f"{self.seed}:{n}".encode(), digest_size=8).digest()
        u = int.from_bytes(digest, "big") / 2**64
        edge = 0.0
        for kind in KINDS:
            edge += self.rates.get(kind, 0.0)
            if u < edge:
                return kind
        return None

    @property
    def spec(self) -> str:
        return ",".join(f"{k}={self.rates[k]:g}" for k in KINDS if self.rates.get(k))

    def to_dict(self) -> dict[str, Any]:
        return {"rates": dict(self.rates), "seed": self.seed, "stall_s": self.stall_s}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FaultPlan:
        return cls({str(k): float(v) for k, v in (d.get("rates") or {}).items()},
                   int(d.get("seed", 0)), float(d.get("stall_s", STALL_S)))


NONE = FaultPlan()


def parse_faults(spec: str | None, seed: int = 0, stall_s: float = STALL_S) -> FaultPlan:
    """``KIND=PROBABILITY[,KIND=PROBABILITY...]`` (kinds: 503, 500, reset, truncate, stall)."""
    if not spec:
        return NONE
    rates: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        kind, eq, value = item.partition("=")
        kind = kind.strip()
        if not eq or kind not in KINDS:
            raise UserError(f"--faults {spec!r}: expected KIND=PROBABILITY with KIND one of "
                            f"{', '.join(KINDS)}, got {item!r}")
        try:
            p = float(value)
        except ValueError:
            raise UserError(f"--faults {spec!r}: {value!r} is not a probability") from None
        if not 0 <= p <= 1:
            raise UserError(f"--faults {spec!r}: probability of {kind} must be in [0, 1]")
        rates[kind] = p
    if sum(rates.values()) > 1:
        raise UserError(f"--faults {spec!r}: the probabilities add up to more than 1")
    return FaultPlan(rates, seed, stall_s)
