"""Open one dataset of a file through its kerchunk references, as a read-only zarr array.

Metadata come from the references, so opening sends no request; chunk bytes come by range
from the original object through fsspec's ``ReferenceFileSystem``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from layoutbench.read.refset import ReferencesUnsupported, RefSet


def open_refs_array(refset: RefSet, dataset: str, *, remote_protocol: str,
                    remote_options: dict[str, Any] | None = None) -> Any:
    """Open ``dataset`` as a read-only zarr array whose chunks come from the original object.

    The array is backed by fsspec's ``ReferenceFileSystem`` (asynchronous, as zarr 3 requires)
    over a fresh ``remote_protocol`` file system; kerchunk 0.2.10 emits Zarr v2 metadata,
    hence ``zarr_format=2``. Metadata are in the references, so opening makes no request.
    Release the remote client with :func:`close_refs_array`, or use :func:`open_refs`.
    """
    import fsspec
    import zarr
    from zarr.storage import FsspecStore

    path = "/" + dataset.strip("/")
    if path in refset.unsupported:
        raise ReferencesUnsupported(path, refset.unsupported[path])
    key = path.strip("/")
    if f"{key}/.zarray" not in refset.refs.get("refs", {}):
        raise ReferencesUnsupported(path, "no such dataset in the references")
    options = {**(remote_options or {}), "asynchronous": True, "skip_instance_cache": True}
    fs = fsspec.filesystem("reference", fo=refset.refs, remote_protocol=remote_protocol,
                           remote_options=options, asynchronous=True)
    store = FsspecStore(fs, read_only=True, path="")
    return zarr.open_array(store=store, path=key, mode="r", zarr_format=2)


def close_refs_array(array: Any) -> None:
    """Close the HTTP sessions behind an array from :func:`open_refs_array`.

    They were opened on zarr's event loop and must be closed there; left to garbage collection
    they produce ``Unclosed client session`` warnings and hold sockets until exit.
    """
    from zarr.core.sync import sync

    refs_fs = getattr(array.store_path.store, "fs", None)
    for fs in {id(f): f for f in getattr(refs_fs, "fss", {}).values()}.values():
        client = getattr(fs, "_s3", None)
        session = getattr(fs, "_session", None)
        if client is not None:
            sync(client.close())
            fs._s3 = None
        elif session is not None and not session.closed:
            sync(session.close())


@contextlib.contextmanager
def open_refs(refset: RefSet, dataset: str, *, remote_protocol: str,
              remote_options: dict[str, Any] | None = None) -> Iterator[Any]:
    """:func:`open_refs_array` as a context manager that closes the sessions on exit."""
    array = open_refs_array(refset, dataset, remote_protocol=remote_protocol,
                            remote_options=remote_options)
    try:
        yield array
    finally:
        close_refs_array(array)
