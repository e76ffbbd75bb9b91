"""What every reader is: the :class:`Reader` interface, the :class:`Target` it opens, the
registry readers join (:func:`register_reader`), and what readers share (retries and timeouts,
zarr's settings).

The readers themselves are in :mod:`.readers` (h5py, pynwb, kerchunk, zarr over fsspec) and
:mod:`.readers_obstore` (zarr over obstore); :func:`layoutbench.read.readers.get_reader` opens
one by name once all have registered.
"""

from __future__ import annotations

import contextlib
import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from layoutbench.errors import UserError
from layoutbench.plan.geometry import SHARD_COALESCE_GAP, SHARD_COALESCE_MAX
from layoutbench.plan.reader_facts import READERS as FACTS
from layoutbench.store.sources import ObjectIdentity, Source


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
    #: What it reads: from its row of :mod:`layoutbench.plan.reader_facts` (a reader the
    #: table does not know declares its own).
    formats: ClassVar[tuple[str, ...]]
    #: I/O-relevant settings, recorded in results as ``reader_options``.
    options: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        facts = FACTS.get(cls.__dict__.get("name", ""))
        if facts is not None:
            cls.formats = (facts.format,)

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


# -- zarr ---------------------------------------------------------------------------------------
#: zarr's shard read merging (zarr >= 3.3): ranges of a shard's wanted inner chunks at most
#: ``gap`` bytes apart become one request of at most ``max`` bytes. Set explicitly (to zarr's
#: defaults, which the model uses too) so the values recorded with results are those in force.
ZARR_SHARD_OPTIONS = {"array.sharding_coalesce_max_gap_bytes": SHARD_COALESCE_GAP,
                      "array.sharding_coalesce_max_bytes": SHARD_COALESCE_MAX}


def zarr_config(options: dict[str, Any]) -> dict[str, Any]:
    """The ``zarr.config`` settings among a zarr reader's options (concurrency, shard merging)."""
    return {k: v for k, v in options.items() if k.startswith(("async.", "array."))}


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
