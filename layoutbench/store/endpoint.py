"""The interface every place that serves variants implements: the embedded S3
(:class:`~layoutbench.store.embedded.EmbeddedS3`, moto behind the counting gateway) and a remote
store (:class:`~layoutbench.store.remote_store.RemoteStore`, ``sweep --store``, behind the same
gateway or counted by the client).

Code that measures takes an :class:`Endpoint` and uses nothing else of it, so either serves
(``tests/test_endpoints.py`` runs one suite against both, as zarr's ``StoreTests`` do for its
stores). A typing :class:`~typing.Protocol` rather than a base class: the two share no code,
only this contract.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from layoutbench.plan.profiles import NetworkProfile
    from layoutbench.store.faults import FaultPlan
    from layoutbench.store.server import GatewayStats
    from layoutbench.store.sources import Source


@runtime_checkable
class Counters(Protocol):
    """What a measurement needs of whatever counts a source's requests (an endpoint, the
    gateway in front of a remote source, a client-side counter): counters to zero and read,
    and the network to emulate."""

    def set_profile(self, profile: NetworkProfile) -> None:
        """Emulate ``profile`` (latency per request, bandwidth per connection) from now on."""
        ...

    def reset_counters(self) -> None:
        """Zero the request and byte counters."""
        ...

    def stats(self) -> GatewayStats:
        """Requests and bytes since the last reset."""
        ...


@runtime_checkable
class Endpoint(Counters, Protocol):
    """Objects served over HTTP by ranges, with counted requests and an emulated network."""

    @property
    def counts(self) -> str:
        """Who counts requests and bytes: ``gateway`` (the server side) or ``client``."""
        ...

    def source(self, key: str) -> Source:
        """The object ``key`` as a source readers open (its URL and how to reach it)."""
        ...

    def upload_file(self, local_path: str | os.PathLike[str], key: str) -> str:
        """Put a file under ``key``; return its URL."""
        ...

    def upload_tree(self, local_dir: str | os.PathLike[str], prefix: str) -> str:
        """Put a folder (a Zarr store) under ``prefix``; return its URL."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Remove every object under ``prefix``; return how many."""
        ...

    def expect(self, key: str) -> None:
        """``key`` may be uploaded by this run (here or on a worker): stopping removes what is
        left of it."""
        ...

    def set_faults(self, plan: FaultPlan) -> None:
        """Inject ``plan``'s faults from now on."""
        ...
