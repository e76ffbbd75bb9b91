"""``EmbeddedS3``: a private S3 endpoint on this machine, seen through the network gateway.

Two child processes (see :mod:`.server`)::

    readers (remfile, s3fs, zarr, requests) ──▶ gateway :endpoint_url ──▶ moto :upstream_url
                                                 latency, bandwidth,          ▲
                                                 request/byte counting        │
    upload_file / upload_tree (boto3) ─────────────────────────────────────────┘

Uploads go straight to moto so that preparing variants is neither throttled nor counted; every
read under test goes through the gateway, whose counters are the numbers results report.

The bucket is public-read (bucket policy, bucket ACL and per-object ACL), because the readers
we benchmark open public DANDI-style URLs anonymously. Our own boto3 client uses dummy
credentials passed explicitly and an isolated botocore session (no config or credentials
file, no profile, no proxy), so a developer's real AWS setup is never read or sent anywhere.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload
from urllib.parse import quote

from layoutbench.plan.profiles import NetworkProfile, get_profile
from layoutbench.store.sources import Source, SourceOptions, resolve

from .faults import NONE as NO_FAULTS
from .faults import FaultPlan
from .server import GatewayClient, GatewayProcess, GatewayStats, MotoServer

log = logging.getLogger(__name__)

#: Dummy values: moto accepts anything; never real credentials.
_DUMMY_KEY_ID = "layoutbench-dummy-key"
_DUMMY_SECRET = "layoutbench-dummy-secret"
_REGION = "us-east-1"
_MiB = 2**20
_MULTIPART_THRESHOLD = 64 * _MiB


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """Size and ETag of one stored object (the ETag is quoted as S3 returns it).

    Fields are also readable dict-style (``info["size"]``), like the boto3 answers callers
    are used to.
    """

    key: str
    size: int
    etag: str

    @overload
    def __getitem__(self, name: Literal["size"]) -> int: ...
    @overload
    def __getitem__(self, name: Literal["key", "etag"]) -> str: ...
    def __getitem__(self, name: str) -> str | int:
        if name not in ("key", "size", "etag"):
            raise KeyError(name)
        value: str | int = getattr(self, name)
        return value


class EmbeddedS3:
    """moto + gateway as a context manager.

    Parameters
    ----------
    bucket
        The (public-read) bucket created at start and after :meth:`reset`.
    profile
        Initial network profile (a name from ``PROFILES`` or a :class:`NetworkProfile`);
        :meth:`reset` returns to it.
    host
        Interface for both servers (loopback: the endpoint has no authentication).
    patch_ranges
        Serve range GETs without reading whole objects (see :mod:`._moto_launcher`).
    upload_workers
        Threads used by :meth:`upload_tree`.

    Examples
    --------
    >>> with EmbeddedS3() as s3:                                  # doctest: +SKIP
    ...     s3.upload_file("x.nwb", "x.nwb")
    ...     s3.set_profile(get_profile("home"))
    ...     remfile.File(s3.http_url("x.nwb"))                    # counted and throttled
    ...     s3.stats().requests
    """

    def __init__(
        self,
        bucket: str = "layoutbench",
        profile: NetworkProfile | str = "loopback",
        host: str = "127.0.0.1",
        patch_ranges: bool = True,
        upload_workers: int = 8,
    ) -> None:
        self.bucket = bucket
        self.initial_profile = get_profile(profile) if isinstance(profile, str) else profile
        self.upload_workers = upload_workers
        self._moto = MotoServer(host=host, patch_ranges=patch_ranges)
        self._gateway: GatewayClient | None = None
        self._upstream: str | None = None  # set when attached to servers another process owns
        self._host = host
        self._client: Any = None
        self._client_lock = threading.Lock()

    # -- lifecycle -----------------------------------------------------------------------
    @classmethod
    def attach(cls, endpoint_url: str, upstream_url: str, bucket: str) -> EmbeddedS3:
        """The same interface on servers another process runs (see :mod:`.shared`).

        ``start``/``stop`` then neither start nor stop anything and ``reset`` is refused: the
        servers and their objects belong to their owner.
        """
        self = cls(bucket=bucket)
        self._gateway = GatewayClient(endpoint_url)
        self._upstream = upstream_url
        return self

    @property
    def attached(self) -> bool:
        return self._upstream is not None

    def start(self) -> EmbeddedS3:
        """Start moto, create the bucket, start the gateway. Idempotent."""
        if self.attached or (isinstance(self._gateway, GatewayProcess) and self._gateway.running):
            return self
        try:
            self._moto.start()
            self._create_bucket()
            gateway = GatewayProcess(self._moto.url, self.initial_profile, host=self._host)
            self._gateway = gateway
            gateway.start()
        except BaseException:
            self.stop()
            raise
        log.debug("EmbeddedS3: endpoint %s, bucket %s", self.endpoint_url, self.bucket)
        return self

    def stop(self) -> None:
        """Stop both processes. Idempotent; also runs at interpreter exit."""
        if self.attached:
            return
        if isinstance(self._gateway, GatewayProcess):
            self._gateway.stop()
            self._gateway = None
        self._moto.stop()
        self._client = None

    def __enter__(self) -> EmbeddedS3:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Empty moto, recreate the bucket, zero the counters, restore the initial profile."""
        if self.attached:
            raise RuntimeError("an attached endpoint cannot be reset: its owner shares it")
        self._moto.reset()
        self._create_bucket()
        gateway = self._require_gateway()
        gateway.reset_counters()
        gateway.set_profile(self.initial_profile)
        gateway.set_faults(NO_FAULTS)

    # -- addresses -----------------------------------------------------------------------
    @property
    def endpoint_url(self) -> str:
        """The gateway: what every reader under test uses."""
        return self._require_gateway().url

    @property
    def upstream_url(self) -> str:
        """moto itself: for uploads (neither throttled nor counted)."""
        return self._upstream or self._moto.url

    @property
    def range_patched(self) -> bool | None:
        """Whether moto serves range GETs without reading whole objects."""
        return self._moto.range_patched

    def http_url(self, key: str) -> str:
        """Plain HTTP URL of ``key`` through the gateway (for remfile, requests, h5py ros3)."""
        return f"{self.endpoint_url}/{self.bucket}/{quote(key, safe='/~')}"

    def s3_url(self, key: str) -> str:
        """``s3://bucket/key`` (use with :meth:`storage_options`)."""
        return f"s3://{self.bucket}/{key}"

    def source(self, key: str) -> Source:
        """``key`` as a :class:`~layoutbench.store.sources.Source` read anonymously through the
        gateway (what readers under test open)."""
        return resolve(self.s3_url(key), SourceOptions(endpoint_url=self.endpoint_url,
                                                       anon=True, region=_REGION))

    def storage_options(self) -> dict[str, Any]:
        """fsspec/s3fs options reaching the bucket anonymously through the gateway.

        No listing or instance cache: every benchmark run must issue its own requests.
        """
        return {
            "anon": True,
            "client_kwargs": {"endpoint_url": self.endpoint_url, "region_name": _REGION},
            "skip_instance_cache": True,
            "use_listings_cache": False,
        }

    # -- gateway control -----------------------------------------------------------------
    def _require_gateway(self) -> GatewayClient:
        if self._gateway is None:
            raise RuntimeError("EmbeddedS3 is not started (use it as a context manager)")
        return self._gateway

    def set_profile(self, profile: NetworkProfile) -> None:
        """Change latency and bandwidth from the next request on."""
        self._require_gateway().set_profile(profile)

    @property
    def profile(self) -> NetworkProfile:
        """The profile the gateway applies now."""
        return self._require_gateway().profile()

    def set_faults(self, plan: FaultPlan) -> None:
        """Inject ``plan``'s faults into every read from the next request on."""
        self._require_gateway().set_faults(plan)

    @property
    def counts(self) -> str:
        """Who counts requests and bytes: always the gateway in front of moto."""
        return "gateway"

    def expect(self, key: str) -> None:
        """Nothing to remember: stopping the embedded S3 drops every object with it."""

    def reset_counters(self) -> None:
        self._require_gateway().reset_counters()

    def stats(self) -> GatewayStats:
        """Requests and body bytes the gateway served since the last reset."""
        return self._require_gateway().stats()

    # -- objects (direct to moto) --------------------------------------------------------
    @property
    def client(self) -> Any:
        """A boto3 S3 client on moto directly, isolated from the environment's AWS setup."""
        with self._client_lock:
            if self._client is None:
                self._client = isolated_client(self.upstream_url)
            return self._client

    def _create_bucket(self) -> None:
        create_public_bucket(self.client, self.bucket)

    def upload_file(self, local_path: str | os.PathLike[str], key: str) -> str:
        """Upload one file as public-read (multipart from 64 MiB); return the key.

        Smaller files go in one ``PutObject``: boto3's managed transfer costs a few
        milliseconds of set-up per call, which dominates uploading a Zarr store of many
        small chunks.
        """
        path = os.fspath(local_path)
        if os.path.getsize(path) < _MULTIPART_THRESHOLD:
            with open(path, "rb") as body:
                self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ACL="public-read")
            return key
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(
            multipart_threshold=_MULTIPART_THRESHOLD, multipart_chunksize=16 * _MiB,
            max_concurrency=4,
        )
        self.client.upload_file(
            path, self.bucket, key, ExtraArgs={"ACL": "public-read"}, Config=config
        )
        return key

    def upload_tree(self, local_dir: str | os.PathLike[str], prefix: str) -> str:
        """Upload every file under ``local_dir`` (e.g. a Zarr store) to ``prefix`` + path.

        Keys use POSIX separators whatever the OS; files are uploaded in parallel. Returns the
        prefix without a trailing slash (what ``s3_url``/``FsspecStore`` expect).
        """
        root = Path(local_dir)
        if not root.is_dir():
            raise NotADirectoryError(root)
        base = prefix.strip("/")
        files = sorted(p for p in root.rglob("*") if p.is_file())
        keys = [
            f"{base}/{p.relative_to(root).as_posix()}" if base else p.relative_to(root).as_posix()
            for p in files
        ]
        with ThreadPoolExecutor(max_workers=self.upload_workers) as pool:
            list(pool.map(self.upload_file, files, keys))
        log.debug("uploaded %d files under %s", len(files), base)
        return base

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with ``prefix``; return how many."""
        paginator = self.client.get_paginator("list_objects_v2")
        deleted = 0
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            objects = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if objects:
                self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
                )
                deleted += len(objects)
        return deleted

    def object_info(self, key: str) -> ObjectInfo:
        """Size and ETag of ``key`` (raises botocore's ClientError if missing)."""
        head = self.client.head_object(Bucket=self.bucket, Key=key)
        return ObjectInfo(key=key, size=int(head["ContentLength"]), etag=str(head["ETag"]))


def create_public_bucket(client: Any, bucket: str) -> None:
    """Create ``bucket`` readable (and listable) by anyone: bucket ACL and bucket policy."""
    client.create_bucket(Bucket=bucket, ACL="public-read")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublicRead",
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            }
        ],
    }
    client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


def isolated_client(endpoint_url: str) -> Any:
    """boto3 S3 client with dummy keys that reads no AWS config, credentials or proxy setting.

    An explicit botocore session with ``config_file``/``credentials_file`` set to the null
    device and no profile: ``AWS_PROFILE`` or a ``~/.aws/config`` with, e.g., virtual-host
    addressing or a missing profile cannot break or redirect the embedded endpoint.
    """
    import boto3
    import botocore.session
    from botocore.config import Config

    core = botocore.session.Session()
    core.set_config_variable("config_file", os.devnull)
    core.set_config_variable("credentials_file", os.devnull)
    core.set_config_variable("profile", None)
    session = boto3.session.Session(
        aws_access_key_id=_DUMMY_KEY_ID,
        aws_secret_access_key=_DUMMY_SECRET,
        region_name=_REGION,
        botocore_session=core,
    )
    config = Config(
        s3={"addressing_style": "path"},
        proxies={},  # loopback: never through an environment proxy
        retries={"max_attempts": 3, "mode": "standard"},
        max_pool_connections=32,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return session.client("s3", endpoint_url=endpoint_url, config=config)
