"""Reach a file where it lives, counted: through the gateway, or by the client when it must.

``layoutbench measure`` and the remote steps of ``recommend`` and ``sweep`` read a user's file
on its own server. To count exactly what they cost, the reads go through the gateway
(:mod:`.gateway`) run as a reverse proxy to that server (HTTP or HTTPS; no added latency unless a
profile asks for it): the request and byte counts are then the server-side truth for any
server, as for the embedded S3.

One kind of source cannot pass a proxy: ``s3://`` objects read *with credentials*. Their
requests are signed for the real host (SigV4 signs the ``Host`` header), and a proxy must
change it. Those are read directly, and counted by the client: every request botocore sends
(``before-send``, retries included) and the body bytes of every answer, through hooks on the
aiobotocore session the readers' s3fs clients are made from. Readers that cannot use that
session (remfile reads plain URLs) cannot read such a source.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from layoutbench.plan.profiles import PROFILES, NetworkProfile
from layoutbench.store.sources import ObjectIdentity, Source, SourceOptions, locate, resolve

from .faults import FaultPlan
from .server import GatewayProcess, GatewayStats

if TYPE_CHECKING:
    from layoutbench.store.endpoint import Counters

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reach:
    """How to read one remote source so that its requests are counted.

    ``source`` is what readers open (an address at the gateway, or the source itself with a
    counting session); ``name`` its public URL (for caches and results); ``endpoint`` the
    counters (``reset_counters``, ``stats``, ``set_profile``); ``counts`` says who counted:
    ``"gateway"`` (server side) or ``"client"``; ``identity`` the object's, under its name.
    """

    source: Source
    name: str
    endpoint: Counters
    counts: str
    identity: ObjectIdentity


class ClientCounter:
    """Counts the requests and body bytes of s3fs clients made from :meth:`session`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests = 0
        self._bytes = 0
        self._session: Any = None
        self.profile = PROFILES["loopback"]

    def session(self) -> Any:
        """An aiobotocore session whose clients report every request and answer here."""
        if self._session is None:
            from aiobotocore.session import AioSession

            session = AioSession()
            session.register("before-send.s3", self._sent)
            session.register("after-call.s3", self._answered)
            self._session = session
        return self._session

    def _sent(self, **kwargs: Any) -> None:
        with self._lock:
            self._requests += 1

    def _answered(self, http_response: Any = None, model: Any = None, **kwargs: Any) -> None:
        if http_response is None or getattr(model, "name", "") != "GetObject":
            return  # HEAD and other calls carry no body worth counting
        length = http_response.headers.get("content-length")
        if length is not None:
            with self._lock:
                self._bytes += int(length)

    def reset_counters(self) -> None:
        with self._lock:
            self._requests = self._bytes = 0

    def stats(self) -> GatewayStats:
        with self._lock:
            return GatewayStats(requests=self._requests, bytes_sent=self._bytes)

    def set_faults(self, plan: FaultPlan) -> None:
        if plan.active:
            log.warning("faults need the gateway, which signed s3:// requests cannot pass: "
                        "none injected")

    def set_profile(self, profile: NetworkProfile) -> None:
        if profile.latency_ms or profile.bandwidth_mbps:
            log.warning("profile %s needs the gateway, which signed s3:// requests cannot pass: "
                        "measuring on the real network only", profile.name)
        self.profile = profile


@contextlib.contextmanager
def reach(source: Source, profile: NetworkProfile | None = None, *,
          identity: ObjectIdentity | None = None) -> Iterator[Reach]:
    """Read ``source`` (remote) through a counting gateway, or count its client.

    The gateway forwards to the server the object is finally served from (redirects, such as
    DANDI's from its API to S3, are followed once here, with the ``HEAD`` that identifies the
    object), and adds ``profile``'s latency and bandwidth cap on top of the real network (none
    by default). Given the ``identity`` (a Zarr store, identified by a metadata document), no
    request is sent here and the source's own address is the upstream.
    """
    if source.is_local:
        raise ValueError("reach() is for remote sources; upload local files to EmbeddedS3")
    profile = profile or PROFILES["loopback"]
    http = source.http_url
    if http is None:  # signed S3 requests: counted by the client
        counter = ClientCounter()
        counter.set_profile(profile)
        counted = dataclasses.replace(source, storage_options={**source.storage_options,
                                                               "session": counter.session()})
        yield Reach(counted, source.url, counter, "client", identity or source.identity())
        return
    final = http
    if identity is None:
        final, identity = locate(http, source.options, source.url)
    parts = urlsplit(final)
    upstream = f"{parts.scheme}://{parts.netloc}"
    with GatewayProcess(upstream, profile, cafile=source.options.ca_bundle) as gateway:
        if source.protocol == "s3":
            region = source.options.region or "us-east-1"
            proxied = resolve(f"s3://{source.path}", SourceOptions(
                endpoint_url=gateway.url, anon=True, region=region))
        else:
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            proxied = resolve(gateway.url + path)
        log.debug("reading %s through the gateway at %s (upstream %s)", source.url,
                  gateway.url, upstream)
        yield Reach(proxied, source.url, gateway, "gateway", identity)
