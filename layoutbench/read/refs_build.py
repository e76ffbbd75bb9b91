"""Translate an HDF5/NWB file into kerchunk references, one dataset at a time.

kerchunk's own error handling is all-or-nothing; here every dataset it cannot express becomes a
one-line reason in :attr:`~layoutbench.read.refset.RefSet.unsupported` and the rest of the file is
still translated. The NWB-specific repairs for kerchunk 0.2.10 under zarr 3 (scalar strings,
compounds, hard links visited twice) live here too.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from layoutbench.codecs import ensure_hdf5_filters
from layoutbench.errors import UserError
from layoutbench.h5threads import gc_paused
from layoutbench.read.refset import RefSet
from layoutbench.store.sources import ObjectIdentity, Source, resolve

log = logging.getLogger(__name__)

#: Block cache for translating remote files. h5py's metadata reads are dense in files of many
#: small chunks (B-tree nodes between chunks) and sparse in files of large ones. Measured: 100k
#: chunks in 23 MB take 354/46/24 requests with 64 KiB/512 KiB/1 MiB blocks; 3k frame chunks in
#: 315 MB take ~57 requests at any size but move 3.8/29/58 MB. 512 KiB bounds both; 256 MiB of
#: blocks means none is evicted and refetched (fsspec's default 32 tripled the dense bytes).
BUILD_BLOCK_SIZE = 512 * 2**10
BUILD_CACHE_BYTES = 256 * 2**20
#: Datasets with unsupported filters but fewer bytes than this are decoded by h5py and inlined.
UNSUPPORTED_INLINE_BYTES = 100
#: HDF5 compact datasets live inside their object header (at most 64 KiB): there is no byte
#: range to reference, so their values are inlined whatever their size.
_COMPACT_MAX_BYTES = 65536

def _reason(exc: BaseException, dataset: str) -> str:
    """One line: kerchunk's message without the dataset name it starts with."""
    from kerchunk.hdf import Hdf5FeatureNotSupported

    lines = str(exc).strip().splitlines()
    msg = lines[0] if lines else ""
    msg = msg.removeprefix(dataset).removeprefix(dataset.lstrip("/")).lstrip(" :")
    if not isinstance(exc, Hdf5FeatureNotSupported):
        msg = f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__
    return msg[:300]


def _make_translator(fobj: Any, url: str, max_contiguous_bytes: int) -> Any:
    """A :class:`kerchunk.hdf.SingleHdf5ToZarr` that records per-dataset failures.

    kerchunk's ``error`` option is all-or-nothing: ``"raise"`` aborts the whole file at the
    first unsupported dataset, ``"warn"``/``"ignore"`` drop it silently or with a warning that
    Python's warning filter shows once per message. Wrapping ``_translator`` with
    ``error="raise"`` gives one exception per object, which we turn into a reason.
    """
    import h5py
    from kerchunk.hdf import SingleHdf5ToZarr

    class Translator(SingleHdf5ToZarr):
        def __init__(self) -> None:
            super().__init__(fobj, url=url, inline_threshold=0, error="raise",
                             vlen_encode="embed",
                             unsupported_inline_threshold=UNSUPPORTED_INLINE_BYTES)
            self.unsupported: dict[str, str] = {}
            self._seen: set[str] = set()

        def _translator(self, name: str, h5obj: Any) -> None:
            path = "/" + name.lstrip("/")
            # The links pass (preserve_linked_dsets) revisits every hard link. Plain kerchunk
            # translates each object again (double the chunk enumeration; on a pynwb ecephys
            # file it never finished); we skip those, so only soft links to datasets and extra
            # hard links become new arrays.
            if isinstance(h5obj, h5py.HardLink) and name in self._seen:
                return None
            self._seen.add(name)
            if isinstance(h5obj, h5py.ExternalLink):
                self.unsupported[path] = (f"external link to {h5obj.filename}:{h5obj.path}; "
                                          "references cannot follow links into other files")
                return None
            if isinstance(h5obj, h5py.SoftLink) and h5obj.path not in self._h5f:
                self.unsupported[path] = f"soft link to {h5obj.path}, which does not exist"
                return None
            dset = None
            try:
                obj = self._h5f[name] if isinstance(h5obj, h5py.SoftLink) else h5obj
                dset = obj if isinstance(obj, h5py.Dataset) else None
                if dset is not None and (reason := _precheck(dset, max_contiguous_bytes)):
                    self.unsupported[path] = reason
                    return None
                compact = dset is not None and _layout(dset) == h5py.h5d.COMPACT
                self.inline = _COMPACT_MAX_BYTES if compact else 0
                # "embed" turns every compound into an object array, which zarr 3 rejects;
                # "leave" keeps a numeric compound's structured dtype and references its chunks
                # (compounds with variable-length fields were rejected by _precheck).
                self.vlen = "leave" if dset is not None and dset.dtype.names else "embed"
                try:
                    super()._translator(name, h5obj)
                finally:
                    self.inline, self.vlen = 0, "embed"
            except IndexError as exc:
                # kerchunk 0.2.10 writes embedded strings with ``za[:] = data``, which zarr 3
                # rejects for 0-d arrays (all of NWB's scalar strings: session_description,
                # identifier, ...). The array and its attributes exist by then; write the value.
                if dset is None or dset.ndim != 0 or not self._fix_scalar(name, dset):
                    self._fail(exc, path, dset)
            except Exception as exc:
                self._fail(exc, path, dset)
            return None

        def _fix_scalar(self, name: str, dset: Any) -> bool:
            value = dset[()]
            if isinstance(value, bytes):
                value = value.decode("utf-8", errors="replace")
            if not isinstance(value, str) or f"{name}/.zarray" not in self.store_dict:
                return False
            self._zroot[name][()] = value
            return True

        def _fail(self, exc: Exception, path: str, dset: Any) -> None:
            self.unsupported[path] = _reason(exc, path)
            log.debug("%s: not expressible as references: %s", path, self.unsupported[path])
            if dset is not None:  # drop whatever kerchunk wrote before failing
                for key in [k for k in self.store_dict if k.startswith(path[1:] + "/")]:
                    del self.store_dict[key]

    return Translator()


def _layout(dset: Any) -> int:
    return int(dset.id.get_create_plist().get_layout())


def _precheck(dset: Any, max_contiguous_bytes: int) -> str | None:
    """Why ``dset`` cannot be referenced even though kerchunk would emit something.

    kerchunk 0.2.10 turns virtual and externally stored datasets into arrays of fill values
    (no offset, hence "no data written"), which would be silently wrong data.
    """
    import h5py

    if h5py.check_dtype(ref=dset.dtype) is not None:
        return "HDF5 object/region references: kerchunk would store them as None"
    if dset.dtype.names and any(dset.dtype[n].kind == "O" for n in dset.dtype.names):
        fields = ", ".join(n for n in dset.dtype.names if dset.dtype[n].kind == "O")
        return (f"compound dtype with variable-length or reference fields ({fields}), "
                "which Zarr 3 has no data type for")
    layout = _layout(dset)
    if layout == h5py.h5d.VIRTUAL:
        return "virtual dataset (VDS): its data is assembled from other datasets"
    if layout != h5py.h5d.CONTIGUOUS:
        return None
    n_external = dset.id.get_create_plist().get_external_count()
    if n_external:
        return f"stored in {n_external} external raw file(s), which references cannot address"
    size = int(dset.id.get_storage_size())
    if dset.dtype.kind != "O" and size > max_contiguous_bytes:
        return (f"contiguous (unchunked) dataset of {size:,} bytes is too large to be one "
                f"contiguous reference: reading any element fetches all {size / 1e6:.1f} MB "
                f"(limit {max_contiguous_bytes / 1e6:.1f} MB)")
    return None


def build_refs(source: str | Source, *, identity: ObjectIdentity | None = None,
               max_contiguous_bytes: int = 256 * 2**20) -> RefSet:
    """Translate the HDF5 file ``source`` (path, ``s3://`` or ``http(s)://``) to references.

    Chunks are enumerated with HDF5's chunk iteration (``H5Dchunk_iter``, which kerchunk uses
    when h5py exposes ``DatasetID.chunk_iter``): one pass over the chunk index, where the
    per-index ``get_chunk_info`` fallback rescans the index for every chunk (2,000 of 100,000
    chunks take 5 s that way, all 100,000 take 0.08 s by iteration). Small chunks are never
    inlined: chunk bytes always come from the original object, so what a reader measures is
    the layout's.

    Remote files are read through a block cache of :data:`BUILD_BLOCK_SIZE` blocks.

    Raises :class:`UserError` naming the source if it is missing or not an HDF5 file.
    """
    import h5py
    import kerchunk

    ensure_hdf5_filters()  # tiny datasets with plugin filters are decoded and inlined
    if not callable(getattr(h5py.h5d.DatasetID, "chunk_iter", None)):
        log.warning("h5py %s has no DatasetID.chunk_iter: kerchunk will enumerate chunks one "
                    "index lookup at a time, quadratic in the number of chunks", h5py.__version__)
    source = resolve(source)
    url = source.url
    identity = identity or source.identity()
    t0 = time.perf_counter()
    with gc_paused(), source.open(identity=identity, block_size=BUILD_BLOCK_SIZE,
                                  max_bytes=BUILD_CACHE_BYTES) as fobj:
        try:
            translator = _make_translator(fobj, identity.url, max_contiguous_bytes)
        except OSError as exc:
            first = (str(exc).splitlines() or [""])[0]
            if "signature" in first:
                raise UserError(f"{url}: not an HDF5 file (no HDF5 signature found)") from None
            raise UserError(f"{url}: cannot open as HDF5: {first}") from None
        try:
            refs = translator.translate(preserve_linked_dsets=True)
        finally:
            translator.close()
    refset = RefSet(identity=identity, refs=refs, unsupported=dict(sorted(
        translator.unsupported.items())), kerchunk_version=kerchunk.__version__,
        build_seconds=time.perf_counter() - t0, source="built")
    log.info("built references for %s: %d chunks, %d unsupported, %.2fs", identity.url,
             refset.n_chunks,
             len(refset.unsupported), refset.build_seconds)
    return refset
