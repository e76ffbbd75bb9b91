"""Readers: the real libraries users read cloud NWB data with, behind one small interface.

Like fsspec's protocol registry, a reader is registered under a name and opened through
:func:`get_reader`. Every :meth:`Reader.open` builds a fresh client (new HTTP session, new
file system instance, no listings or block cache carried over), so no cache survives from one
measured case to the next. The options a reader sets that change its I/O (cache type, block
size, chunk cache, concurrency) are declared in :attr:`Reader.options` and recorded with every
result, because they change what is measured.

The interface, the registry and what readers share are in :mod:`.reader_base`; the
obstore-backed reader is in :mod:`.readers_obstore`, which this module imports last so that
:func:`get_reader` knows every reader (in the order listings show them).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from layoutbench.codecs import ensure_hdf5_filters
from layoutbench.errors import UserError
from layoutbench.h5threads import gc_paused
from layoutbench.read.reader_base import (
    READERS,
    ZARR_SHARD_OPTIONS,
    Reader,
    Target,
    _ZarrConfigured,
    register_reader,
    retrying,
    zarr_config,
)
from layoutbench.store.sources import Source, close_filesystem


def get_reader(name: str) -> Reader:
    """A reader instance by name; an unknown name is a :class:`UserError` listing the valid ones."""
    try:
        return READERS[name]()
    except KeyError:
        raise UserError(f"unknown reader {name!r} (valid: {', '.join(READERS)})") from None


# -- h5py-based readers -----------------------------------------------------------------------
#: h5py's chunk cache as users get it by default: 1 MiB, 521 slots. Set explicitly so the value
#: recorded with results is the one in force, not an assumption about h5py's defaults.
H5_CHUNK_CACHE = {"rdcc_nbytes": 1024**2, "rdcc_nslots": 521}
#: Pages of metadata the page buffer keeps (paged files only).
PAGE_BUFFER_PAGES = 4


def h5_file_options(target: Target) -> dict[str, Any]:
    """h5py.File options fitted to the layout.

    The chunk cache holds at least one whole chunk: HDF5 bypasses the cache for chunks larger
    than it, so a chunk straddling two reads of one pattern would be fetched twice. A paged file
    gets a page buffer of a few pages, so each metadata page is fetched once; an unpaged file
    gets none (it would only cache small scattered reads).
    """
    opts = dict(H5_CHUNK_CACHE)
    if target.chunk_nbytes:
        opts["rdcc_nbytes"] = max(opts["rdcc_nbytes"], int(target.chunk_nbytes))
    if target.page_size:
        opts["page_buf_size"] = PAGE_BUFFER_PAGES * int(target.page_size)
    return opts


def _h5_dataset(fileobj: Any, dataset: str, options: dict[str, Any] | None = None) -> Any:
    import h5py

    ensure_hdf5_filters()
    f = h5py.File(fileobj, "r", **(options if options is not None else H5_CHUNK_CACHE))
    return f, f[dataset]


class _H5Reader(Reader):
    """Shared option fitting for the h5py-based readers."""


    def options_for(self, target: Target) -> dict[str, Any]:
        return {**super().options_for(target), **h5_file_options(target)}


@contextlib.contextmanager
def _remfile_h5(target: Target) -> Iterator[tuple[Any, Any]]:
    """(h5py.File, dataset) over a fresh remfile.File with remfile's defaults."""
    import remfile

    with gc_paused():
        rf = remfile.File(target.http_url)
        try:
            f, dset = _h5_dataset(rf, target.dataset, h5_file_options(target))
            try:
                yield f, dset
            finally:
                f.close()
        finally:
            rf.close()


@register_reader
class H5pyRemfile(_H5Reader):
    """h5py over remfile, DANDI's recommended way to stream an NWB file by HTTP URL.

    remfile's defaults are kept (100 KiB minimum request, growing for sequential reads, a new
    connection per request): that is what users of ``remfile.File(url)`` get.
    """

    name = "h5py-remfile"
    fsspec = False
    options = {"min_chunk_size": 100 * 1024, "max_threads": 1,
               "retries": "remfile x8, backoff 0.1 s doubling; no read timeout"}

    @contextlib.contextmanager
    def open(self, target: Target) -> Iterator[Any]:
        with _remfile_h5(target) as (_, dset):
            yield dset


@register_reader
class H5pyFsspec(_H5Reader):
    """h5py over an s3fs file object.

    ``cache_type="readahead"`` with a 64 KiB block: h5py asks for metadata in many small,
    mostly adjacent reads, which readahead serves from one request, while a chunk read
    becomes one request of the chunk plus at most 64 KiB. fsspec's default (5 MiB
    ``readahead``) would add up to 5 MiB to every chunk request and hide chunk-size effects;
    ``blockcache`` would split each large chunk into serial block requests.
    """

    name = "h5py-fsspec"
    options = {"cache_type": "readahead", "block_size": 64 * 1024}

    @contextlib.contextmanager
    def open(self, target: Target) -> Iterator[Any]:
        fs = target.source.filesystem(**retrying(target.source))
        try:
            with gc_paused():
                fobj = fs.open(target.source.path, "rb", cache_type=self.options["cache_type"],
                               block_size=self.options["block_size"])
                f, dset = _h5_dataset(fobj, target.dataset, h5_file_options(target))
                try:
                    yield dset
                finally:
                    f.close()
                    fobj.close()
        finally:
            close_filesystem(fs)


@register_reader
class PynwbRemfile(_H5Reader):
    """pynwb over remfile: what a DANDI user's ``NWBHDF5IO(file=h5py.File(remfile.File(url)))``
    costs. ``read()`` builds the whole NWB object tree, walking every object's metadata, which
    is why opening is slow on files with many objects; the dataset is then read through h5py."""

    name = "pynwb-remfile"
    fsspec = False
    options = {"min_chunk_size": 100 * 1024, "max_threads": 1, "load_namespaces": True,
               "retries": "remfile x8, backoff 0.1 s doubling; no read timeout"}

    @contextlib.contextmanager
    def open(self, target: Target) -> Iterator[Any]:
        import warnings

        from pynwb import NWBHDF5IO

        with _remfile_h5(target) as (f, dset):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # namespace-version chatter, not our concern
                io = NWBHDF5IO(file=f, mode="r", load_namespaces=True)
                io.read()
            try:
                yield dset
            finally:
                io.close()


@register_reader
class KerchunkReader(Reader):
    """zarr over kerchunk references: no HDF5 metadata walk; chunk bytes come by range from the
    original HDF5 object. References are built once per variant (:meth:`prepare`) and then
    loaded from the local cache, at the cost of one request that checks the object is unchanged.
    """

    name = "kerchunk"
    options = {"refs": "local-cache", "async.concurrency": 10, "s3fs.max_concurrency": 1}

    def prepare(self, target: Target) -> None:
        from layoutbench.read.refs import load_refs

        load_refs(target.source, cache_dir=target.cache_dir, identity=target.identity())

    @contextlib.contextmanager
    def open(self, target: Target) -> Iterator[Any]:
        from layoutbench.read.refs import load_refs
        from layoutbench.read.refs_open import open_refs

        refset = load_refs(target.source, cache_dir=target.cache_dir,
                           identity=target.identity()).pointing_at(target.source.url)
        remote = _remote_options(target.source, self.options["s3fs.max_concurrency"])
        with open_refs(refset, target.dataset, remote_protocol=target.source.protocol,
                       remote_options=remote) as arr:
            yield arr


def _remote_options(source: Source, s3_concurrency: int) -> dict[str, Any]:
    """The source's storage options, with s3fs's ``max_concurrency`` for S3 (see ZarrReader)
    and the retries and timeouts every reader gets (:func:`retrying`)."""
    opts = {**source.storage_options, "skip_instance_cache": True, **retrying(source)}
    if source.protocol == "s3":
        opts.update(max_concurrency=s3_concurrency, use_listings_cache=False)
    return opts


# -- zarr ---------------------------------------------------------------------------------------
@register_reader
class ZarrReader(Reader):
    """zarr-python 3 over s3fs (FsspecStore), fetching chunks concurrently.

    Concurrency is zarr's default (``async.concurrency`` = 10), recorded so results from a
    different setting are not mistaken for a layout effect. s3fs's own ``max_concurrency`` is
    set to 1: at its default (10) s3fs sends a HEAD before every whole-object GET to decide
    whether to split the object into parallel ranged GETs, which only pays for objects over
    its block size (50 MiB), far above any chunk or shard here, and otherwise doubles the
    requests (and latencies) per chunk. zarr's own concurrency is unaffected.
    """

    name = "zarr"
    options = {"async.concurrency": 10, **ZARR_SHARD_OPTIONS, "s3fs.max_concurrency": 1}

    @contextlib.contextmanager
    def open(self, target: Target) -> Iterator[Any]:
        import zarr
        from zarr.storage import FsspecStore

        with zarr.config.set(zarr_config(self.options)):
            storage_options = _remote_options(target.source,
                                              self.options["s3fs.max_concurrency"])
            store = FsspecStore.from_url(target.source.url, storage_options=storage_options,
                                         read_only=True)
            try:
                arr = zarr.open_array(store=store, path=target.dataset.strip("/"), mode="r")
                yield _ZarrConfigured(arr, self.options["async.concurrency"])
            finally:
                _close_async_s3fs(store.fs)


def _close_async_s3fs(fs: Any) -> None:
    """Close the aiobotocore client on zarr's event loop, where it was created.

    Left to garbage collection, each case's client would be closed from the wrong loop
    (``Unclosed client session`` noise, sockets held until exit).
    """
    from zarr.core.sync import sync

    client = getattr(fs, "_s3", None)
    if client is not None:
        sync(client.close())


# the obstore-backed readers register themselves after these (a module of their own, which
# imports only reader_base)
from layoutbench.read import readers_obstore as _readers_obstore  # noqa: E402, F401
