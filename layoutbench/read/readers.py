"""Readers: the real libraries users read cloud NWB data with, behind one small interface.

Like fsspec's protocol registry, a reader is registered under a name and opened through
:func:`get_reader`. Every :meth:`Reader.open` builds a fresh client (new HTTP session, new
file system instance, no listings or block cache carried over), so no cache survives from one
measured case to the next. The options a reader sets that change its I/O (cache type, block
size, chunk cache, concurrency) are declared in :attr:`Reader.options` and recorded with every
result, because they change what is measured.
"""

from __future__ import annotations

import contextlib
import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from layoutbench.codecs import ensure_hdf5_filters
from layoutbench.errors import UserError
from layoutbench.h5threads import gc_paused
from layoutbench.plan.geometry import SHARD_COALESCE_GAP, SHARD_COALESCE_MAX
from layoutbench.sources import ObjectIdentity, Source, close_filesystem


@dataclass(frozen=True, slots=True)
class Target:
    """What a reader opens: a dataset of an object, where to read it, and what a reader needs
    to know about its layout to configure itself (page size, chunk size).

    ``source`` is the address reads go to (through a counting gateway when measuring);
    ``name`` the object's public URL when that differs (a file on a real server read through
    the gateway): caches (kerchunk references) are keyed by the name, not by the gateway's
    address of the moment.
    """

    source: Source
    dataset: str
    format: str
    page_size: int | None = None
    chunk_nbytes: int | None = None
    cache_dir: str | None = None
    name: str | None = None

    @property
    def http_url(self) -> str:
        """The object's plain HTTP(S) address, for readers that take only URLs (remfile)."""
        url = self.source.http_url
        if url is None:
            raise ReaderUnavailableError(f"{self.source.url}: an authenticated s3:// object has no "
                                    "unsigned HTTP address for remfile")
        return url

    def identity(self) -> ObjectIdentity:
        """The object's identity under :attr:`name` (one request; see ``Source.identity``)."""
        ident = self.source.identity()
        return ident if self.name is None else dataclasses.replace(ident, url=self.name)


class ReaderUnavailableError(UserError):
    """A reader cannot read this target (e.g. remfile on an authenticated S3 object)."""


class Reader(ABC):
    """Opens a :class:`Target` and yields an array-like (``shape``, ``dtype``, ``__getitem__``)."""

    name: ClassVar[str]
    formats: ClassVar[tuple[str, ...]]
    #: I/O-relevant settings, recorded in results as ``reader_options``.
    options: ClassVar[dict[str, Any]] = {}

    def supports(self, fmt: str) -> bool:
        return fmt in self.formats

    #: whether the reader reads through fsspec (and so gets :func:`retrying`'s options)
    fsspec: ClassVar[bool] = True

    def options_for(self, target: Target) -> dict[str, Any]:
        """The settings in force for ``target`` (recorded with its results)."""
        return {**self.options, **(retry_options(target.source) if self.fsspec else {})}

    def prepare(self, target: Target) -> None:
        """Work done once per variant, outside any measurement (e.g. building references)."""
        return None

    @abstractmethod
    @contextlib.contextmanager
    def open(self, target: Target) -> Iterator[Any]:
        """Open the dataset; the context closes every file and session it opened."""


READERS: dict[str, type[Reader]] = {}


def register_reader(cls: type[Reader]) -> type[Reader]:
    """Class decorator adding a reader to the registry under its ``name``."""
    READERS[cls.name] = cls
    return cls


def get_reader(name: str) -> Reader:
    """A reader instance by name; an unknown name is a :class:`UserError` listing the valid ones."""
    try:
        return READERS[name]()
    except KeyError:
        raise UserError(f"unknown reader {name!r} (valid: {', '.join(READERS)})") from None


# -- retries --------------------------------------------------------------------------------------
#: Seconds a reader waits for a server's next bytes before it gives up on a request (and
#: retries): a stalled server must not hang a measurement. remfile sets no timeout at all.
READ_TIMEOUT_S = 10.0
#: botocore's retry mode and attempts (throttling 503s, 500s, resets, short bodies), as AWS
#: recommends for S3 clients; s3fs adds its own retries of a failed read on top (its class
#: attribute ``S3FileSystem.retries``).
BOTOCORE_RETRIES = {"mode": "standard", "max_attempts": 10}


def retrying(source: Source) -> dict[str, Any]:
    """Storage options that make the source's client retry what S3 clients meet (see above)."""
    if source.protocol == "s3":
        return {"config_kwargs": {
            "retries": dict(BOTOCORE_RETRIES), "read_timeout": READ_TIMEOUT_S,
            "connect_timeout": READ_TIMEOUT_S}}
    if source.protocol in ("http", "https"):
        import aiohttp

        # fsspec's HTTP file system does not retry; a timeout at least ends a stalled read
        return {"client_kwargs": {"timeout": aiohttp.ClientTimeout(sock_read=READ_TIMEOUT_S)}}
    return {}


def s3fs_retries() -> int:
    import s3fs

    return int(s3fs.S3FileSystem.retries)


def retry_options(source: Source) -> dict[str, Any]:
    """What :func:`retrying` set, as recorded with results (``reader_options``)."""
    if source.protocol == "s3":
        return {"retries": f"botocore {BOTOCORE_RETRIES['mode']} x"
                           f"{BOTOCORE_RETRIES['max_attempts']}, s3fs x{s3fs_retries()}",
                "read_timeout_s": READ_TIMEOUT_S}
    if source.protocol in ("http", "https"):
        return {"retries": "none (fsspec http)", "read_timeout_s": READ_TIMEOUT_S}
    return {}


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

    formats = ("hdf5",)

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
    formats = ("hdf5",)
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
#: zarr's shard read merging (zarr >= 3.3): ranges of a shard's wanted inner chunks at most
#: ``gap`` bytes apart become one request of at most ``max`` bytes. Set explicitly (to zarr's
#: defaults, which the model uses too) so the values recorded with results are those in force.
ZARR_SHARD_OPTIONS = {"array.sharding_coalesce_max_gap_bytes": SHARD_COALESCE_GAP,
                      "array.sharding_coalesce_max_bytes": SHARD_COALESCE_MAX}


def zarr_config(options: dict[str, Any]) -> dict[str, Any]:
    """The ``zarr.config`` settings among a zarr reader's options (concurrency, shard merging)."""
    return {k: v for k, v in options.items() if k.startswith(("async.", "array."))}


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
    formats = ("zarr",)
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


class _ZarrConfigured:
    """Keeps zarr's concurrency setting in force for reads made outside :meth:`open`."""

    def __init__(self, arr: Any, concurrency: int) -> None:
        self._arr = arr
        self._concurrency = concurrency
        self.shape = arr.shape
        self.dtype = arr.dtype

    def __getitem__(self, sel: Any) -> Any:
        import zarr

        with zarr.config.set({"async.concurrency": self._concurrency}):
            return self._arr[sel]


# the obstore-backed readers register themselves beside these (a module of their own)
from layoutbench.read import readers_obstore as _readers_obstore  # noqa: E402, F401
