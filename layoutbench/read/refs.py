"""kerchunk references for HDF5/NWB files: what a reference set is, where it comes from, its cache.

h5py on a remote file walks its metadata one small range request after another; kerchunk
references (all metadata as Zarr v2 JSON, every chunk as ``[url, offset, size]``) let a reader
skip the walk and fetch chunks directly and concurrently. References are valid only for the
bytes they were built from, so a :class:`RefSet` carries its source's :class:`ObjectIdentity`
(URL plus ETag, or size and mtime) and is cached under its token: a changed object never reuses
stale references, an unchanged one costs one HEAD. Datasets references cannot express are
listed in :attr:`RefSet.unsupported` with a one-line reason instead of failing the file.

Translating a file is :mod:`.refs_build`; opening a dataset through references is
:mod:`.refs_open`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layoutbench.atomic import write_json
from layoutbench.cache import cache_dir as layoutbench_cache
from layoutbench.errors import UserError

log = logging.getLogger(__name__)

#: Suffix of the sidecar object stored next to the data object (``x.nwb`` -> ``x.nwb.refs.json``).
SIDECAR_SUFFIX = ".refs.json"
#: Marker and version of our JSON wrapper around kerchunk's references.
FORMAT, FORMAT_VERSION = "layoutbench-refs", 1


class ReferencesUnsupported(Exception):  # noqa: N818 - the public name is part of the API
    """A dataset that references cannot express; ``str(e) == f"{dataset}: {reason}"``."""

    def __init__(self, dataset: str, reason: str) -> None:
        super().__init__(f"{dataset}: {reason}")
        self.dataset = dataset
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ObjectIdentity:
    """What the references were built from: the bytes at ``url`` as of this ETag or mtime."""

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


@dataclass(frozen=True)
class RefSet:
    """A file's kerchunk references with their provenance.

    ``source`` says how this instance was obtained (``"built"``, ``"local-cache"`` or
    ``"sidecar"``), so callers and benchmarks can tell a cache hit from a translation.
    """

    identity: ObjectIdentity
    refs: dict[str, Any]
    unsupported: dict[str, str]
    kerchunk_version: str
    build_seconds: float
    source: str = "built"

    @property
    def n_chunks(self) -> int:
        """Chunk references (``[url, offset, size]`` entries; inlined values do not count)."""
        return sum(isinstance(v, list) for v in self.refs.get("refs", {}).values())

    def to_dict(self) -> dict[str, Any]:
        """The JSON written to the cache, to sidecars and by ``layoutbench refs build -o``."""
        return {"format": FORMAT, "format_version": FORMAT_VERSION,
                "identity": self.identity.to_dict(), "kerchunk_version": self.kerchunk_version,
                "build_seconds": self.build_seconds, "source": self.source,
                "unsupported": dict(self.unsupported), "refs": self.refs}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RefSet:
        """Inverse of :meth:`to_dict`; a foreign or newer format is a ``ValueError``."""
        if d.get("format") != FORMAT or d.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"not a {FORMAT} v{FORMAT_VERSION} document")
        refs = d["refs"]
        if not isinstance(refs, dict) or refs.get("version") != 1:
            raise ValueError("references must be kerchunk version 1")
        return cls(identity=ObjectIdentity.from_dict(d["identity"]), refs=refs,
                   unsupported={str(k): str(v) for k, v in d.get("unsupported", {}).items()},
                   kerchunk_version=str(d["kerchunk_version"]),
                   build_seconds=float(d["build_seconds"]), source=str(d.get("source", "built")))


# -- identity ---------------------------------------------------------------------------------
def _scheme(url: str) -> str:
    if url.startswith("s3://"):
        return "s3"
    if url.startswith(("http://", "https://")):
        return "http"
    if "://" in url and not url.startswith("file://"):
        raise UserError(f"{url}: unsupported URL scheme (expected a path, s3:// or http(s)://)")
    return "file"


def _remote_fs(url: str, storage_options: dict[str, Any] | None) -> Any:
    """A fresh s3fs/HTTP file system that caches nothing, so every call makes its own requests.

    s3fs gets ``max_concurrency=1``: otherwise it sends a HEAD before any whole-object GET.
    """
    opts = {**(storage_options or {}), "skip_instance_cache": True}
    if _scheme(url) == "s3":
        import s3fs

        return s3fs.S3FileSystem(**{**opts, "use_listings_cache": False, "max_concurrency": 1})
    from fsspec.implementations.http import HTTPFileSystem

    return HTTPFileSystem(**opts)


def _close_fs(fs: Any) -> None:
    """Close a synchronous s3fs/HTTP file system's client on fsspec's loop, where it lives."""
    from fsspec.asyn import sync

    if getattr(fs, "_s3", None) is not None:
        sync(fs.loop, fs._s3.close)
    elif getattr(fs, "_session", None) is not None:
        fs.close_session(fs.loop, fs._session)


def object_identity(url: str, storage_options: dict[str, Any] | None = None) -> ObjectIdentity:
    """Identify the object at ``url`` with exactly one request for remote URLs (none locally).

    Raises :class:`UserError` naming ``url`` if there is no such file or object.
    """
    scheme = _scheme(url)
    if scheme == "file":
        path = os.path.abspath(url.removeprefix("file://"))
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise UserError(f"{url}: no such file") from None
        return ObjectIdentity(url=path, size=st.st_size, etag=None,
                              last_modified=str(st.st_mtime_ns))
    fs = _remote_fs(url, storage_options)
    try:
        info = fs.info(url)  # s3fs: one HeadObject; HTTP: one HEAD
    except FileNotFoundError:
        raise UserError(f"{url}: no such object") from None
    finally:
        _close_fs(fs)
    etag = info.get("ETag") or None
    modified = info.get("LastModified") or info.get("Last-Modified") or None
    if modified is not None and not isinstance(modified, str):
        modified = modified.isoformat()
    if info.get("size") is None:
        raise UserError(f"{url}: the server reports no size; cannot reference it")
    return ObjectIdentity(url=url, size=int(info["size"]), etag=etag, last_modified=modified)


# -- storing and loading ----------------------------------------------------------------------
def write_refs_json(refset: RefSet, path: str | os.PathLike[str]) -> Path:
    """Write ``refset.to_dict()`` to ``path`` atomically (temporary name, then rename)."""
    return write_json(path, refset.to_dict(), separators=(",", ":"))


def _parse(data: bytes | str, identity: ObjectIdentity, where: str) -> RefSet | None:
    """The stored RefSet if it is valid and was built from exactly ``identity``."""
    try:
        refset = RefSet.from_dict(json.loads(data))
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring unreadable references %s: %s", where, exc)
        return None
    if refset.identity != identity:
        why = "another URL" if refset.identity.url != identity.url else "another version"
        log.debug("ignoring references %s: built from %s (%s)", where, why, refset.identity)
        return None
    return refset


def _read_sidecar(url: str, storage_options: dict[str, Any] | None,
                  identity: ObjectIdentity) -> RefSet | None:
    side = url + SIDECAR_SUFFIX
    fs = _remote_fs(url, storage_options)
    try:
        data = fs.cat_file(side)
    except FileNotFoundError:
        return None
    finally:
        _close_fs(fs)
    return _parse(data, identity, side)


def _write_sidecar(refset: RefSet, url: str, storage_options: dict[str, Any] | None) -> None:
    if _scheme(url) != "s3":
        log.debug("not writing a sidecar for %s: references can be written beside s3:// "
                 "objects only", url)
        return
    fs = _remote_fs(url, storage_options)
    try:
        fs.pipe_file(url + SIDECAR_SUFFIX, json.dumps(refset.to_dict(),
                                                      separators=(",", ":")).encode())
    except Exception as exc:  # a read-only bucket must not fail the load
        log.warning("could not write sidecar %s%s: %s", url, SIDECAR_SUFFIX, exc)
    finally:
        _close_fs(fs)


def load_refs(url: str, storage_options: dict[str, Any] | None = None, *,
              cache_dir: str | os.PathLike[str] | None = None, sidecar: bool = False) -> RefSet:
    """References for ``url`` from the local cache, a sidecar object, or a fresh build.

    Every path starts with :func:`object_identity` (one request for remote URLs), so a changed
    object is never read through stale references. The cache is ``cache_dir``, else
    ``refs`` in :func:`layoutbench.cache.cache_dir`. With ``sidecar=True`` a
    remote object's ``<url>.refs.json`` is tried before building and written after building
    (``s3://`` only), so one user's translation serves everyone who reads the object.
    """
    identity = object_identity(url, storage_options)
    cached = Path(cache_dir or layoutbench_cache("refs")) / f"{identity.token()}.json"
    if cached.exists():
        hit = _parse(cached.read_bytes(), identity, str(cached))
        if hit is not None:
            return dataclasses.replace(hit, source="local-cache")
    remote = _scheme(url) != "file"
    if sidecar and remote:
        found = _read_sidecar(url, storage_options, identity)
        if found is not None:
            write_refs_json(found, cached)
            return dataclasses.replace(found, source="sidecar")
    from layoutbench.read.refs_build import build_refs

    refset = build_refs(url, storage_options, identity=identity)
    write_refs_json(refset, cached)
    if sidecar and remote:
        _write_sidecar(refset, url, storage_options)
    return refset


