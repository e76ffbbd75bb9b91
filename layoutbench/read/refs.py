"""kerchunk references for HDF5/NWB files: what a reference set is, where it comes from, its cache.

h5py on a remote file walks its metadata one small range request after another; kerchunk
references (all metadata as Zarr v2 JSON, every chunk as ``[url, offset, size]``) let a reader
skip the walk and fetch chunks directly and concurrently. References are valid only for the
bytes they were built from, so a :class:`RefSet` carries its source's :class:`ObjectIdentity`
(URL plus ETag, or size and mtime) and is cached under its token: a changed object never reuses
stale references, an unchanged one costs one HEAD. Datasets references cannot express are
listed in :attr:`RefSet.unsupported` with a one-line reason instead of failing the file.

The reference set itself is :mod:`.refset`; translating a file is :mod:`.refs_build`; opening
a dataset through references is :mod:`.refs_open`; this module finds, stores and loads them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path

from layoutbench.atomic import write_json
from layoutbench.cache import cache_dir as layoutbench_cache
from layoutbench.read.refset import RefSet
from layoutbench.store.sources import ObjectIdentity, Source, close_filesystem, public_url, resolve

log = logging.getLogger(__name__)

#: Suffix of the sidecar object stored next to the data object (``x.nwb`` -> ``x.nwb.refs.json``).
SIDECAR_SUFFIX = ".refs.json"
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


def _read_sidecar(source: Source, identity: ObjectIdentity) -> RefSet | None:
    fs = source.filesystem()
    side = source.path + SIDECAR_SUFFIX
    try:
        data = fs.cat_file(side)
    except (FileNotFoundError, PermissionError):
        return None
    finally:
        close_filesystem(fs)
    return _parse(data, identity, public_url(side))


def _write_sidecar(refset: RefSet, source: Source) -> None:
    if source.protocol != "s3":
        log.debug("not writing a sidecar for %s: references can be written beside s3:// "
                  "objects only", source.url)
        return
    fs = source.filesystem()
    try:
        fs.pipe_file(source.path + SIDECAR_SUFFIX, json.dumps(refset.to_dict(),
                                                              separators=(",", ":")).encode())
    except Exception as exc:  # a read-only bucket must not fail the load
        log.warning("could not write sidecar %s%s: %s", source.url, SIDECAR_SUFFIX, exc)
    finally:
        close_filesystem(fs)


def load_refs(source: str | Source, *, cache_dir: str | os.PathLike[str] | None = None,
              sidecar: bool = False, identity: ObjectIdentity | None = None) -> RefSet:
    """References for ``source`` from the local cache, a sidecar object, or a fresh build.

    Every path starts with the source's identity (one request for a remote object, see
    :meth:`layoutbench.store.sources.Source.identity`; or ``identity`` if the caller has it), so a
    changed object is never read through stale references. The cache is ``cache_dir``, else
    ``refs`` in :func:`layoutbench.cache.cache_dir`. With ``sidecar=True`` a remote object's
    ``<url>.refs.json`` is tried before building and written after building (``s3://`` only),
    so one user's translation serves everyone who reads the object.
    """
    source = resolve(source)
    identity = identity or source.identity()
    cached = Path(cache_dir or layoutbench_cache("refs")) / f"{identity.token()}.json"
    if cached.exists():
        hit = _parse(cached.read_bytes(), identity, str(cached))
        if hit is not None:
            return dataclasses.replace(hit, source="local-cache")
    if sidecar and not source.is_local:
        found = _read_sidecar(source, identity)
        if found is not None:
            write_refs_json(found, cached)
            return dataclasses.replace(found, source="sidecar")
    from layoutbench.read.refs_build import build_refs

    refset = build_refs(source, identity=identity)
    write_refs_json(refset, cached)
    if sidecar and not source.is_local:
        _write_sidecar(refset, source)
    return refset


def refs_for(source: Source, output: str | os.PathLike[str] | None = None, *,
             overwrite: bool = False, cache_dir: str | os.PathLike[str] | None = None,
             sidecar: bool = False) -> RefSet:
    """What ``layoutbench refs build`` and ``lb.refs`` do: the references of ``source`` (a
    local file is checked to be HDF5 first), also written to ``output`` if given. The output
    is checked before any work: not the source, not an existing file unless ``overwrite``, in
    a folder that can be written."""
    from layoutbench.outputs import check_destinations, check_outputs
    from layoutbench.read.inspect import check_hdf5_file

    if source.is_local:
        check_hdf5_file(source.path)
    if output is not None:
        check_outputs([source], [output])
        check_destinations([output], overwrite=overwrite)
    refset = load_refs(source, cache_dir=cache_dir, sidecar=sidecar)
    if output is not None:
        write_refs_json(refset, output)
    return refset
