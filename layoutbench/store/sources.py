"""Where a file lives: one resolver for local paths, ``s3://`` and ``http(s)://`` URLs.

A SOURCE as a user types it becomes a :class:`Source`: the fsspec protocol and path (from
fsspec's own URL handling, :func:`fsspec.core.url_to_fs`, so any protocol fsspec knows works
where its package is installed), the storage options that reach it, the plain HTTP(S) address
of the object where it has one (what remfile and the counting gateway use), and its identity
(:class:`ObjectIdentity`: ETag, else size and modification time), which keys every cache.

Credentials are never copied into options, results or messages: S3 sources use botocore's own
credential chain (environment, config files, instance roles) unless ``--anon``; a URL is shown
without its query string (where presigned URLs carry their signature), see :func:`public_url`.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import logging
import os
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from http.client import HTTPConnection, HTTPResponse, HTTPSConnection
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from layoutbench.errors import InputNotFoundError, UserError

log = logging.getLogger(__name__)

#: Redirects followed when locating an HTTP(S) object (DANDI's API redirects to S3).
MAX_REDIRECTS = 5
#: Seconds to wait for a server when identifying an object.
TIMEOUT = 20.0
#: Retries of a request a server answered with 5xx, reset or left unanswered, and the first
#: wait between them (doubling), as botocore's standard mode does for S3.
RETRIES, BACKOFF_S = 4, 0.2


@dataclass(frozen=True, slots=True)
class ObjectIdentity:
    """What a file's bytes are, cheaply: the object at ``url`` as of this ETag or mtime.

    ``url`` is the source's public URL (or absolute path), never an address with credentials.
    """

    url: str
    size: int
    etag: str | None
    last_modified: str | None

    def token(self) -> str:
        """Stable hex digest used as the cache key.

        The ETag changes whenever the object's content does, so it alone identifies the bytes;
        without one (local files), size and modification time stand in for the content.
        """
        parts = [self.url, self.etag] if self.etag else [self.url, self.size, self.last_modified]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "size": self.size, "etag": self.etag,
                "last_modified": self.last_modified}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ObjectIdentity:
        return cls(url=str(d["url"]), size=int(d["size"]), etag=d.get("etag"),
                   last_modified=d.get("last_modified"))


@dataclass(frozen=True, slots=True)
class SourceOptions:
    """How to reach remote sources (the ``--endpoint-url``, ``--anon``, ``--region`` options).

    ``anon=None`` means: anonymous for ``http(s)://``; for ``s3://`` the standard AWS credential
    chain, and anonymous when the chain finds no credentials (public buckets such as DANDI's).
    ``ca_bundle`` is a PEM file of extra certificate authorities for HTTPS servers with a
    private certificate.
    """

    endpoint_url: str | None = None
    anon: bool | None = None
    region: str | None = None
    ca_bundle: str | None = None


def public_url(url: str) -> str:
    """``url`` as it may be shown or stored: without query string, fragment or user info.

    Presigned URLs carry their signature (``X-Amz-Signature``, ``X-Amz-Credential``) in the
    query, and ``user:password@`` may precede a host; neither may reach a log or a result.
    """
    parts = urlsplit(url)
    if not parts.scheme or len(parts.scheme) == 1:  # a path (or a Windows drive letter)
        return url
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@dataclass(frozen=True)
class Source:
    """A resolved SOURCE: see :func:`resolve`."""

    given: str
    protocol: str
    #: the fsspec path (bucket/key for s3, the URL for http, an absolute path locally)
    path: str
    options: SourceOptions = field(default_factory=SourceOptions)
    storage_options: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    # -- what it is -------------------------------------------------------------------------
    @property
    def is_local(self) -> bool:
        return self.protocol in ("file", "local")

    @property
    def url(self) -> str:
        """The public URL (``s3://bucket/key``, ``https://host/path``) or absolute path."""
        if self.is_local:
            return self.path
        if self.protocol in ("http", "https"):
            return public_url(self.path)
        return f"{self.protocol}://{self.path}"

    def __str__(self) -> str:
        return self.url

    @property
    def name(self) -> str:
        """The last path component: a default for output file names."""
        return Path(urlsplit(self.url).path).name or "source"

    @property
    def authenticated(self) -> bool:
        """An S3 source read with credentials (requests are signed)."""
        return self.protocol == "s3" and not self.storage_options.get("anon", False)

    @property
    def http_url(self) -> str | None:
        """The object's plain HTTP(S) address (path-style for S3), when reads need no signing.

        ``None`` for authenticated S3 sources and local files.
        """
        if self.protocol in ("http", "https"):
            return self.path
        if self.protocol == "s3" and not self.authenticated:
            bucket, _, key = self.path.partition("/")
            return f"{s3_endpoint(self.options, bucket)}/{bucket}/{quote(key, safe='/~')}"
        return None

    # -- reaching it ------------------------------------------------------------------------
    def filesystem(self, **overrides: Any) -> Any:
        """A fresh fsspec file system for the source (no instance or listings cache)."""
        import fsspec

        opts = {**self.storage_options, **overrides}
        if not self.is_local:
            opts.setdefault("skip_instance_cache", True)
        if self.protocol == "https" and self.options.ca_bundle:
            opts.setdefault("ssl", ssl_context(self.options))  # aiohttp's, per request
        if self.protocol == "s3":
            opts.setdefault("use_listings_cache", False)
            # s3fs's default (10) sends a HEAD before every whole-object GET, to decide whether
            # to split it: one request more per small object, for nothing
            opts.setdefault("max_concurrency", 1)
        return fsspec.filesystem(self.protocol if not self.is_local else "file", **opts)

    @contextlib.contextmanager
    def open(self, *, identity: ObjectIdentity | None = None, cache_type: str = "blockcache",
             block_size: int = 512 * 2**10, max_bytes: int = 256 * 2**20) -> Iterator[Any]:
        """A read-only binary file object (h5py opens it like a path).

        Remote objects are read by ranges through an fsspec cache of ``block_size`` blocks
        holding up to ``max_bytes`` (so nothing read is fetched twice). Given the object's
        ``identity``, no ``HEAD`` is sent to learn its size, and every S3 range read checks the
        ETag, so an object replaced meanwhile fails instead of mixing two versions.
        """
        if self.is_local:
            with open(self.path, "rb") as f:
                yield f
            return
        fs = self.filesystem()
        try:
            kw: dict[str, Any] = {"cache_type": cache_type, "block_size": block_size}
            if cache_type == "blockcache":
                kw["cache_options"] = {"maxblocks": max(1, max_bytes // block_size)}
            if identity is not None:
                kw["size"] = identity.size
            with fs.open(self.path, "rb", **kw) as f:
                if self.protocol == "s3" and identity is not None and identity.etag:
                    f.details = {"name": self.path, "type": "file", "size": identity.size,
                                 "ETag": identity.etag}
                yield f
        except FileNotFoundError:
            raise InputNotFoundError(f"{self.url}: no such object") from None
        finally:
            close_filesystem(fs)

    def local_path(self) -> Path:
        """The file itself, for a local source (a :class:`UserError` otherwise)."""
        if not self.is_local:
            raise UserError(f"{self.url}: a remote source; this step needs a local file")
        return Path(self.path)

    def identity(self) -> ObjectIdentity:
        """Identify the object: no request for a local file, one for a remote one.

        HTTP(S) objects and anonymous S3 objects are identified by a plain ``HEAD`` with the
        standard library (a few milliseconds; building an S3 client for it would take more
        than the request); authenticated S3 objects by one ``HeadObject`` through s3fs.

        Raises :class:`UserError` naming the source if it does not exist.
        """
        if self.is_local:
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                raise InputNotFoundError(f"{self.given}: no such file") from None
            return ObjectIdentity(url=self.path, size=st.st_size, etag=None,
                                  last_modified=str(st.st_mtime_ns))
        http = self.http_url
        if http is not None:
            return locate(http, self.options, self.url)[1]
        fs = self.filesystem()
        try:
            info = fs.info(self.path)
        except FileNotFoundError:
            raise InputNotFoundError(f"{self.url}: no such object") from None
        except PermissionError as exc:
            raise UserError(f"{self.url}: access denied ({exc})") from None
        except Exception as exc:  # botocore: no credentials, no endpoint, no network...
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise UserError(f"{self.url}: cannot be reached ({first})") from None
        finally:
            close_filesystem(fs)
        modified = info.get("LastModified")
        return ObjectIdentity(url=self.url, size=int(info["size"]), etag=info.get("ETag"),
                              last_modified=None if modified is None else str(modified))


def resolve(source: str | os.PathLike[str] | Source, options: SourceOptions | None = None
            ) -> Source:
    """Turn a SOURCE (a local path, ``s3://bucket/key``, ``http(s)://...`` or another fsspec
    URL) into a :class:`Source`. A URL is never taken for a path.

    Raises :class:`UserError` for an unknown URL scheme or an fsspec protocol whose package is
    not installed.
    """
    if isinstance(source, Source):
        return source
    options = options or SourceOptions()
    text = os.fspath(source)
    scheme = urlsplit(text).scheme if "://" in text else ""
    if scheme in ("", "file") or len(scheme) == 1:
        path = text.removeprefix("file://")
        return Source(text, "file", os.path.abspath(os.path.expanduser(path)), options)
    import fsspec

    try:
        fsspec.get_filesystem_class(scheme)
    except ValueError:
        raise UserError(f"{text}: unknown URL scheme {scheme!r} (expected a path, s3:// or "
                        "http(s)://, or another fsspec protocol)") from None
    except ImportError as exc:
        raise UserError(f"{text}: {scheme}:// needs a package that is not installed ({exc})"
                        ) from None
    storage = _storage_options(scheme, options)
    from fsspec.core import split_protocol

    protocol, path = split_protocol(text)
    protocol = protocol or scheme
    if protocol == "s3":
        bucket, _, key = (path or "").partition("/")
        if not bucket or not key:
            raise UserError(f"{text}: expected s3://BUCKET/KEY")
        path = f"{bucket}/{key}"
    elif protocol in ("http", "https"):
        path = text
    return Source(text, protocol, path or "", options, storage)


def _storage_options(protocol: str, options: SourceOptions) -> dict[str, Any]:
    if protocol != "s3":
        return {}
    anon = options.anon
    if anon is None:
        anon = not _have_aws_credentials()
        if anon:
            log.debug("no AWS credentials found: reading s3:// anonymously (public buckets)")
    client: dict[str, Any] = {}
    if options.endpoint_url:
        client["endpoint_url"] = options.endpoint_url
    if options.region:
        client["region_name"] = options.region
    out: dict[str, Any] = {"anon": bool(anon)}
    if client:
        out["client_kwargs"] = client
    return out


def _have_aws_credentials() -> bool:
    """Whether botocore's credential chain finds any (without sending a request to S3)."""
    import botocore.session

    try:
        return botocore.session.get_session().get_credentials() is not None
    except Exception:  # a broken config file is the user's to fix; read anonymously meanwhile
        log.debug("AWS credential lookup failed", exc_info=True)
        return False


def s3_endpoint(options: SourceOptions, bucket: str) -> str:
    """The HTTP(S) endpoint serving ``bucket``: ``--endpoint-url``, else AWS's regional
    endpoint (``--region``, else the bucket's region as S3 reports it)."""
    if options.endpoint_url:
        return options.endpoint_url.rstrip("/")
    region = options.region or _bucket_region(bucket)
    return f"https://s3.{region}.amazonaws.com" if region else "https://s3.amazonaws.com"


def _bucket_region(bucket: str) -> str | None:
    """The region AWS reports for ``bucket`` (``x-amz-bucket-region``; one anonymous HEAD)."""
    try:
        resp, _ = _request("HEAD", f"https://s3.amazonaws.com/{quote(bucket)}", None)
    except OSError:
        return None
    return resp.getheader("x-amz-bucket-region")


# -- plain HTTP(S) ------------------------------------------------------------------------------
def ssl_context(options: SourceOptions | None = None) -> ssl.SSLContext:
    """The system's trusted authorities, plus ``options.ca_bundle`` if given."""
    ctx = ssl.create_default_context()
    if options is not None and options.ca_bundle:
        ctx.load_verify_locations(cafile=options.ca_bundle)
    return ctx


#: While set (:func:`direct_requests`), how many HTTP requests this module sent itself.
_DIRECT: ContextVar[list[int] | None] = ContextVar("layoutbench_direct_requests", default=None)


@contextlib.contextmanager
def direct_requests() -> Iterator[list[int]]:
    """Count the requests this module sends itself (the ``HEAD`` that locates an object and
    learns its identity, one per redirect, and retries), which no gateway or client counter
    sees: a command's ``spent`` adds them, so it counts every request the command sent."""
    box = [0]
    token = _DIRECT.set(box)
    try:
        yield box
    finally:
        _DIRECT.reset(token)


def _request(method: str, url: str, options: SourceOptions | None,
             headers: dict[str, str] | None = None) -> tuple[HTTPResponse, str]:
    """One request, following redirects and retrying what S3 clients retry (5xx answers, a
    reset or a timeout) with backoff; the response (body unread) and the final URL."""
    for attempt in range(RETRIES + 1):
        try:
            resp, final = _request_once(method, url, options, headers)
        except ConnectionRefusedError:
            raise  # nothing listens there: no retry will change that
        except (ConnectionError, TimeoutError, http.client.HTTPException) as exc:
            if attempt == RETRIES:
                raise OSError(str(exc) or type(exc).__name__) from exc
        else:
            if resp.status < 500 or attempt == RETRIES:
                return resp, final
            resp.read()
        time.sleep(BACKOFF_S * 2**attempt)
    raise AssertionError("unreachable")


def _request_once(method: str, url: str, options: SourceOptions | None,
                  headers: dict[str, str] | None) -> tuple[HTTPResponse, str]:
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        conn: HTTPConnection
        if parts.scheme == "https":
            conn = HTTPSConnection(parts.hostname or "", parts.port, timeout=TIMEOUT,
                                   context=ssl_context(options))
        else:
            conn = HTTPConnection(parts.hostname or "", parts.port, timeout=TIMEOUT)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request(method, target, headers=headers or {})
        if (box := _DIRECT.get()) is not None:
            box[0] += 1
        resp = conn.getresponse()
        location = resp.getheader("Location")
        if resp.status in (301, 302, 303, 307, 308) and location:
            resp.read()
            conn.close()
            url = urljoin(url, location)
            continue
        return resp, url
    raise OSError(f"more than {MAX_REDIRECTS} redirects")


def locate(url: str, options: SourceOptions | None = None, name: str | None = None
           ) -> tuple[str, ObjectIdentity]:
    """Where an HTTP(S) object is finally served from (redirects followed, as DANDI's API
    redirects to S3), and its identity under ``name`` (default: the public form of ``url``):
    one ``HEAD``, or one per redirect.

    Raises :class:`UserError` naming the object if it is missing, denied or unreachable.
    """
    shown = name or public_url(url)
    try:
        resp, final = _request("HEAD", url, options)
    except OSError as exc:
        raise UserError(f"{shown}: cannot connect ({exc})") from None
    resp.read()
    if resp.status == 404:
        raise InputNotFoundError(f"{shown}: no such object (HTTP 404)")
    if resp.status in (401, 403):
        raise UserError(f"{shown}: access denied (HTTP {resp.status}); for a private s3:// "
                        "object give credentials (--no-anon)")
    if resp.status >= 400:
        raise UserError(f"{shown}: the server answered HTTP {resp.status}")
    size = resp.getheader("Content-Length")
    if size is None:
        raise UserError(f"{shown}: the server reports no size; cannot read it by ranges")
    if "bytes" not in (resp.getheader("Accept-Ranges") or "").lower() and int(size) > 1:
        # it does not say it serves ranges: ask for one byte (a server that ignores Range
        # sends the whole file, and a reader taking its start for the range reads garbage)
        try:
            probe, _ = _request("GET", final, options, headers={"Range": "bytes=0-0"})
            probe.close()
        except OSError as exc:
            raise UserError(f"{shown}: cannot connect ({exc})") from None
        if probe.status != 206:
            raise UserError(f"{shown}: the server does not serve byte ranges (HTTP "
                            f"{probe.status} to a Range request); layoutbench reads remote "
                            "files by ranges: serve it from a server that does (nginx, S3) "
                            "or copy it here")
    return final, ObjectIdentity(url=shown, size=int(size), etag=resp.getheader("ETag") or None,
                                 last_modified=resp.getheader("Last-Modified"))


def close_filesystem(fs: Any) -> None:
    """Close a synchronous s3fs/HTTP file system's client on fsspec's loop, where it lives.

    Left to garbage collection, clients are closed from the wrong loop (``Unclosed client
    session`` noise, sockets held until exit).
    """
    from fsspec.asyn import sync

    if getattr(fs, "_s3", None) is not None:
        sync(fs.loop, fs._s3.close)
    elif getattr(fs, "_session", None) is not None:
        fs.close_session(fs.loop, fs._session)


#: Reads byte ranges (offset, length) of one object and returns their bytes, in order.
Fetch = Callable[[Sequence[tuple[int, int]]], list[bytes]]


def fetcher(fs: Any, path: str) -> Fetch:
    """Byte ranges of ``path`` on ``fs`` read together, concurrently (fsspec ``cat_ranges``)."""
    def fetch(ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        if not ranges:
            return []
        starts = [int(o) for o, _ in ranges]
        ends = [int(o + n) for o, n in ranges]
        return list(fs.cat_ranges([path] * len(ranges), starts, ends))

    return fetch
