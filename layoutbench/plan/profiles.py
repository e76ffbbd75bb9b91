"""Network profiles: what the gateway adds in front of the embedded S3 server.

A profile is deliberately tiny (DESIGN.md §4): a fixed latency before the first byte of every
response and a bandwidth cap per connection. Two numbers are enough to separate the layouts
that matter (many small requests suffer from latency, big over-fetching reads from bandwidth)
while staying reproducible on one machine, and the cost model uses exactly the same two
numbers, so a prediction and a measurement under one profile are comparable.

This module is pure (no I/O) so the gateway subprocess, the cost model and the CLI can all
import it cheaply.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

__all__ = ["PROFILES", "NetworkProfile", "as_profile", "get_profile"]


@dataclass(frozen=True, slots=True)
class NetworkProfile:
    """A named network condition.

    Parameters
    ----------
    name
        A label recorded with every result (``"same-region"``, ``"custom"``...).
    latency_ms
        Milliseconds before the first byte of each response (time to first byte is
        ``max(latency, server time)``), ≥ 0.
    bandwidth_mbps
        Per-connection cap in MB/s with 1 MB = 10**6 bytes (storage-vendor units, so that
        "100 MB/s" means what a cloud provider's table means), ``None`` for unlimited. A cap
        per connection, not per host, is what makes concurrent readers (zarr, kerchunk) faster
        than serial ones (HDF5) on a slow link, as on a real network.
    """

    name: str
    latency_ms: float
    bandwidth_mbps: float | None

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a NetworkProfile needs a non-empty name")
        if not (math.isfinite(self.latency_ms) and self.latency_ms >= 0):
            raise ValueError(f"latency_ms must be a finite number ≥ 0, got {self.latency_ms!r}")
        bw = self.bandwidth_mbps
        if bw is not None and not (math.isfinite(bw) and bw > 0):
            raise ValueError(f"bandwidth_mbps must be > 0 or None (unlimited), got {bw!r}")

    @property
    def latency_s(self) -> float:
        """Latency in seconds (what the gateway sleeps)."""
        return self.latency_ms / 1000.0

    @property
    def bytes_per_second(self) -> float | None:
        """Bandwidth in bytes per second, ``None`` when unlimited."""
        return None if self.bandwidth_mbps is None else self.bandwidth_mbps * 1e6

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; :meth:`from_dict` inverts it exactly."""
        return {
            "name": self.name,
            "latency_ms": float(self.latency_ms),
            "bandwidth_mbps": None if self.bandwidth_mbps is None else float(self.bandwidth_mbps),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetworkProfile:
        """Build a profile from :meth:`to_dict` output (unknown keys are an error)."""
        unknown = set(data) - {"name", "latency_ms", "bandwidth_mbps"}
        if unknown:
            raise ValueError(f"unknown NetworkProfile keys: {sorted(unknown)}")
        bw = data.get("bandwidth_mbps")
        return cls(
            name=str(data["name"]),
            latency_ms=float(data.get("latency_ms", 0.0)),
            bandwidth_mbps=None if bw is None else float(bw),
        )


#: The named defaults of DESIGN.md §4.
PROFILES: dict[str, NetworkProfile] = {
    "loopback": NetworkProfile("loopback", 0.0, None),
    "same-region": NetworkProfile("same-region", 20.0, 100.0),
    "cross-region": NetworkProfile("cross-region", 80.0, 40.0),
    "home": NetworkProfile("home", 150.0, 10.0),
}


def get_profile(
    name: str,
    latency_ms: float | None = None,
    bandwidth_mbps: float | None = None,
) -> NetworkProfile:
    """Look up a named profile, optionally overriding its numbers.

    Overrides keep the profile's *name* (``get_profile("home", latency_ms=50)`` is still
    called ``"home"``), because results are grouped by name and the numbers are recorded
    beside it anyway (``to_dict``). Only a *finite positive* ``bandwidth_mbps`` can be given as
    an override; ``None`` means "keep the profile's value" — to remove a cap, use a profile
    whose bandwidth is already unlimited (``loopback``) or build a :class:`NetworkProfile`.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid ones) or invalid numbers.
    """
    try:
        base = PROFILES[name]
    except KeyError:
        valid = ", ".join(PROFILES)
        raise ValueError(f"unknown network profile {name!r}; valid profiles: {valid}") from None
    changes: dict[str, Any] = {}
    if latency_ms is not None:
        changes["latency_ms"] = float(latency_ms)
    if bandwidth_mbps is not None:
        changes["bandwidth_mbps"] = float(bandwidth_mbps)
    return replace(base, **changes) if changes else base


def as_profile(profile: str | NetworkProfile) -> NetworkProfile:
    """A :class:`NetworkProfile` from itself or from its name: the API takes either, as a user
    writes them (``profile="same-region"``)."""
    if isinstance(profile, NetworkProfile):
        return profile
    if isinstance(profile, str):
        return get_profile(profile)
    raise TypeError(f"profile must be a name ({', '.join(PROFILES)}) or a NetworkProfile, "
                    f"not {type(profile).__name__}")
