"""``RemoteStore``: variants on an S3 store every machine of a run reaches (``sweep --store``).

The embedded endpoint listens on loopback: only workers on its machine can use it. With
``--store s3://BUCKET/PREFIX``, variants are uploaded with s3fs (each machine's own AWS
credential chain) to ``BUCKET/PREFIX/<key>`` on the endpoint the source options name, and each
machine that measures reads them through a gateway of its own, a reverse proxy to the store:
counts are the server-side truth and the profile applies, as on the embedded endpoint. A store
anonymous requests cannot read is read with signed requests, counted by the client, as
``layoutbench measure`` reads signed ``s3://`` objects (:mod:`.reach`; the ``counts`` column).

Workers get a :class:`StoreSpec` (addresses and options, no credentials) and attach to it once
per process (:func:`attach`). The run removes what it uploads: each variant after its cases,
and at :meth:`RemoteStore.stop` what an interruption left (see :meth:`RemoteStore.expect`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from layoutbench.errors import UserError
from layoutbench.plan.profiles import NetworkProfile, get_profile
from layoutbench.store.sources import (
    Source,
    SourceOptions,
    _request,
    close_filesystem,
    resolve,
    s3_endpoint,
)

from .faults import FaultPlan
from .reach import ClientCounter
from .server import GatewayProcess, GatewayStats

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoreSpec:
    """Where a run's store is and how to read it: what workers attach to (no credentials)."""

    bucket: str
    prefix: str
    options: SourceOptions
    #: the store's HTTP(S) endpoint (the gateways' upstream)
    upstream: str
    #: anonymous requests cannot read it: reads are signed, counted by the client
    signed: bool

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


def parse_store(url: str) -> tuple[str, str]:
    """``s3://BUCKET[/PREFIX]`` as (bucket, prefix without slashes at its ends)."""
    if not url.startswith("s3://"):
        raise UserError(f"--store {url}: expected s3://BUCKET/PREFIX")
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise UserError(f"--store {url}: expected s3://BUCKET/PREFIX")
    return bucket, prefix.strip("/")


class RemoteStore:
    """An S3 store with the interface of :class:`~.embedded.EmbeddedS3` a sweep uses."""

    def __init__(self, url: str, options: SourceOptions | None = None,
                 profile: NetworkProfile | str = "loopback", upload_batch: int = 8) -> None:
        self.bucket, self.prefix = parse_store(url)
        self.options = options or SourceOptions()
        self.initial_profile = get_profile(profile) if isinstance(profile, str) else profile
        self.upload_batch = upload_batch
        self.spec: StoreSpec | None = None
        self._counter: GatewayProcess | ClientCounter | None = None
        self._fs: Any = None
        self._lock = threading.Lock()
        self._uploaded: set[str] = set()
        self._expected: set[str] = set()
        self._inflight: set[concurrent.futures.Future[Any]] = set()
        self._warned = False

    @classmethod
    def attach(cls, spec: StoreSpec) -> RemoteStore:
        """The store a :class:`StoreSpec` describes, checked where it was made: open it here."""
        self = cls(spec.url, spec.options)
        self.spec = spec
        return self._open()

    def start(self) -> RemoteStore:
        """Check that the store can be reached, written and cleaned; then open it."""
        if self.spec is None:
            self.spec = self._check()
        return self._open()

    def _open(self) -> RemoteStore:
        spec = self._require_spec()
        if self._counter is None and spec.signed:
            self._counter = ClientCounter()
            log.debug("store %s: signed reads, counted by the client", spec.url)
        elif self._counter is None:
            self._counter = GatewayProcess(spec.upstream, self.initial_profile,
                                           cafile=spec.options.ca_bundle).start()
            log.debug("store %s: read through the gateway at %s", spec.url, self._counter.url)
        return self

    def stop(self) -> None:
        """Remove what is left of this run's uploads, stop the gateway. Idempotent."""
        inflight = list(self._inflight)
        for future in inflight:  # uploads an interrupt left running on s3fs's loop
            future.cancel()
        concurrent.futures.wait(inflight, timeout=60)
        with self._lock:
            left = sorted(self._uploaded | self._expected)
            self._uploaded.clear()
            self._expected.clear()
        try:
            for key in left:
                if self.delete_prefix(key):
                    log.info("removed %s, left by an interrupted run", self._url_of(key))
        finally:
            if isinstance(self._counter, GatewayProcess):
                self._counter.stop()
            self._counter = None
            if self._fs is not None:
                close_filesystem(self._fs)
                self._fs = None

    __enter__ = start

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _check(self) -> StoreSpec:
        """The spec, after one anonymous HEAD of the bucket and a probe object written, read
        anonymously (or not) and removed: each failure is one line."""
        shown = f"--store s3://{self.bucket}/{self.prefix}".rstrip("/")
        upstream = s3_endpoint(self.options, self.bucket)
        try:
            resp, _ = _request("HEAD", f"{upstream}/{self.bucket}", self.options)
            resp.read()
        except OSError as exc:
            raise UserError(f"{shown}: the store at {upstream} cannot be reached ({exc})"
                            ) from None
        if resp.status == 404:
            raise UserError(f"{shown}: no bucket {self.bucket} at {upstream}")
        probe = f".layoutbench-probe-{secrets.token_hex(6)}"
        fs = self.filesystem()
        try:
            fs.pipe_file(self._path(probe), b"")
        except FileNotFoundError:
            raise UserError(f"{shown}: no bucket {self.bucket} at {upstream}") from None
        except PermissionError:
            raise UserError(f"{shown}: no permission to write there (credentials: the AWS "
                            "chain of this machine, or --anon)") from None
        except Exception as exc:  # botocore: no credentials, no endpoint, no network...
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise UserError(f"{shown}: cannot write there ({first})") from None
        try:
            resp, _ = _request("HEAD", f"{upstream}/{self.bucket}/"
                               f"{quote(self._key(probe), safe='/~')}", self.options)
            resp.read()
            signed = resp.status != 200
        except OSError:
            signed = True
        finally:
            try:
                fs.rm_file(self._path(probe))
            except PermissionError:
                raise UserError(f"{shown}: no permission to delete there (the run removes "
                                "what it uploads)") from None
        if signed and self.filesystem().anon:
            raise UserError(f"{shown}: anonymous requests can write there but not read back")
        # a folder of this run's own: two runs sharing a prefix never remove each other's
        self.prefix = "/".join(p for p in (self.prefix, f"run-{secrets.token_hex(6)}") if p)
        log.info("variants go to s3://%s/%s", self.bucket, self.prefix)
        return StoreSpec(self.bucket, self.prefix, self.options, upstream, signed)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _path(self, key: str) -> str:
        return f"{self.bucket}/{self._key(key)}"

    def _url_of(self, key: str) -> str:
        return f"s3://{self._path(key)}"

    @property
    def counts(self) -> str:
        """Who counts requests and bytes: ``gateway`` (server side) or ``client``."""
        return "client" if self._require_spec().signed else "gateway"

    def source(self, key: str) -> Source:
        """``key`` as the :class:`~layoutbench.store.sources.Source` readers open."""
        spec = self._require_spec()
        counter = self._require_counter()
        if isinstance(counter, ClientCounter):
            src = resolve(self._url_of(key), dataclasses.replace(spec.options, anon=False))
            return dataclasses.replace(src, storage_options={**src.storage_options,
                                                             "session": counter.session()})
        return resolve(self._url_of(key), SourceOptions(
            endpoint_url=counter.url, anon=True, region=spec.options.region or "us-east-1"))

    def _require_spec(self) -> StoreSpec:
        if self.spec is None:
            raise RuntimeError("RemoteStore is not started (use it as a context manager)")
        return self.spec

    def _require_counter(self) -> GatewayProcess | ClientCounter:
        if self._counter is None:
            raise RuntimeError("RemoteStore is not started (use it as a context manager)")
        return self._counter

    def set_profile(self, profile: NetworkProfile) -> None:
        counter = self._require_counter()
        if isinstance(counter, ClientCounter):  # warned once, not at every variant
            if (profile.latency_ms or profile.bandwidth_mbps) and not self._warned:
                self._warned = True
                log.warning("profile %s needs the gateway, which signed s3:// requests cannot "
                            "pass: measuring on the real network only", profile.name)
            counter.profile = profile
        else:
            counter.set_profile(profile)

    def set_faults(self, plan: FaultPlan) -> None:
        self._require_counter().set_faults(plan)

    def reset_counters(self) -> None:
        self._require_counter().reset_counters()

    def stats(self) -> GatewayStats:
        return self._require_counter().stats()

    def filesystem(self) -> Any:
        """The s3fs file system uploads and deletions use (one per process)."""
        with self._lock:
            if self._fs is None:
                src = resolve(self._url_of("x"), self.options)
                self._fs = src.filesystem(max_concurrency=4)
            return self._fs

    def expect(self, key: str) -> None:
        """``key`` may be uploaded by this run, here or on a worker: :meth:`stop` removes what
        is left of it."""
        with self._lock:
            self._expected.add(key)

    def _upload(self, method: str, *args: Any, **kwargs: Any) -> None:
        """An s3fs upload, known to :meth:`stop` until it ends: an interrupt stops our wait,
        not the upload on s3fs's loop, which stop() cancels and waits for before cleaning."""
        fs = self.filesystem()
        future = asyncio.run_coroutine_threadsafe(getattr(fs, method)(*args, **kwargs), fs.loop)
        with self._lock:
            self._inflight.add(future)
        future.add_done_callback(self._inflight.discard)  # atomic under the GIL
        try:
            future.result()
        except BaseException:
            future.cancel()
            raise

    def upload_file(self, local_path: str | os.PathLike[str], key: str) -> str:
        """Upload one file to ``key`` under the prefix; return the key."""
        with self._lock:
            self._uploaded.add(key)
        self._upload("_put_file", os.fspath(local_path), self._path(key))
        return key

    def upload_tree(self, local_dir: str | os.PathLike[str], prefix: str) -> str:
        """Upload every file under ``local_dir`` (a Zarr store) to ``prefix`` + its path."""
        root = Path(local_dir)
        if not root.is_dir():
            raise NotADirectoryError(root)
        base = prefix.strip("/")
        with self._lock:
            self._uploaded.add(base)
        files = sorted(p for p in root.rglob("*") if p.is_file())
        keys = [self._path(f"{base}/{p.relative_to(root).as_posix()}") for p in files]
        self._upload("_put", [str(p) for p in files], keys, batch_size=self.upload_batch)
        log.debug("uploaded %d files under %s", len(files), self._url_of(base))
        return base

    def delete_prefix(self, prefix: str) -> int:
        """Delete the object ``prefix`` names, or every object below it; return how many."""
        fs = self.filesystem()
        found = fs.find(self._path(prefix.rstrip("/")))
        if found:
            fs.rm(found)
        with self._lock:
            self._uploaded.discard(prefix)
        return len(found)


_ATTACHED: dict[StoreSpec, RemoteStore] = {}
_ATTACH_LOCK = threading.Lock()


def attach(spec: StoreSpec) -> RemoteStore:
    """The store of ``spec`` opened in this process, once (a dask worker's own gateway)."""
    with _ATTACH_LOCK:
        store = _ATTACHED.get(spec)
        if store is None:
            store = _ATTACHED[spec] = RemoteStore.attach(spec)
        return store
