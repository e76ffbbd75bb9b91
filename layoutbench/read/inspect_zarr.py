"""Look inside a Zarr store (v2 or v3; local folder or URL): an array, stored how.

The Zarr counterpart of :mod:`.inspect`, giving the same
:class:`~layoutbench.plan.dataset.DatasetInfo`, so a Zarr store is measured (and, with NWB-Zarr,
recommended for) like an HDF5 file. A store over plain HTTP cannot be listed, so a remote store
needs ``--dataset`` unless its metadata are consolidated.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from layoutbench.errors import UserError
from layoutbench.plan.dataset import DatasetInfo
from layoutbench.read.inspect import dataset_info
from layoutbench.store.sources import Source, resolve


def is_zarr(source: str | os.PathLike[str] | Source) -> bool:
    """A local folder holding Zarr metadata, or a URL whose name ends in ``.zarr``."""
    src = resolve(source)
    if src.is_local:
        return os.path.isdir(src.path) and any(
            os.path.exists(os.path.join(src.path, m)) for m in ("zarr.json", ".zgroup",
                                                               ".zarray"))
    return src.url.rstrip("/").endswith(".zarr")


def open_store(source: Source, storage_options: dict[str, Any] | None = None) -> Any:
    """A read-only zarr store of the source (LocalStore, or FsspecStore for URLs)."""
    import zarr

    if source.is_local:
        return zarr.storage.LocalStore(source.path, read_only=True)
    from zarr.storage import FsspecStore

    opts = {**source.storage_options, **(storage_options or {})}
    return FsspecStore.from_url(source.url.rstrip("/"), storage_options=opts, read_only=True)


def _codec(arr: Any) -> tuple[str, int | None, bool]:
    """(codec, level, shuffle) of the array's compressor, in :class:`Layout` terms."""
    compressors = tuple(getattr(arr, "compressors", ()) or ())
    if not compressors:
        return "none", None, False
    c = compressors[0]
    cfg = c.to_dict() if hasattr(c, "to_dict") else c.get_config()
    cfg = cfg.get("configuration", cfg)
    name = type(c).__name__.lower()
    if "blosc" in name:
        cname = str(getattr(cfg.get("cname"), "value", cfg.get("cname")))
        shuffle = cfg.get("shuffle")
        on = str(getattr(shuffle, "value", shuffle)) in ("shuffle", "1", "bitshuffle", "2")
        return ("blosc-zstd" if cname == "zstd" else "blosc-lz4"), int(cfg.get("clevel", 5)), on
    if "zstd" in name:  # level 0 is zstd's default, 3 (what zarr's default ZstdCodec uses)
        return "zstd", int(cfg.get("level", 3)) or 3, False
    if "gzip" in name or "zlib" in name:
        return "gzip", int(cfg.get("level", 4)), False
    return "none", None, False


def zarr_dataset_info(source: str | os.PathLike[str] | Source, dataset: str | None, *,
                      label: str | None = None) -> DatasetInfo:
    """Describe array ``dataset`` of the Zarr store ``source``.

    Without ``dataset``, the largest numeric array of a local store (a remote one cannot be
    listed over plain HTTP: name it).
    """
    import zarr

    src = resolve(source)
    store = open_store(src)
    name = label or (src.given if src.is_local else src.url)
    if dataset is None:
        if not src.is_local:
            raise UserError(f"{name}: a Zarr store over HTTP cannot be listed; name the array "
                            "with --dataset")
        group = zarr.open_group(store=store, mode="r")
        arrays = [a for _, a in group.arrays()] + [a for _, g in group.groups()
                                                   for a in _all_arrays(g)]
        numeric = [a for a in arrays if a.shape and a.dtype.kind in "iufb"]
        if not numeric:
            raise UserError(f"{name}: contains no numeric array to benchmark")
        arr = max(numeric, key=lambda a: math.prod(a.shape) * a.dtype.itemsize)
    else:
        try:
            arr = zarr.open_array(store=store, path=dataset.strip("/"), mode="r")
        except (FileNotFoundError, KeyError, ValueError) as exc:
            raise UserError(f"{name}: no Zarr array {dataset!r} ({type(exc).__name__})") from None
    if not arr.shape or arr.dtype.kind not in "iufb":
        raise UserError(f"{name}: array {arr.path!r} is not a numeric N-d array ({arr.dtype})")
    codec, level, shuffle = _codec(arr)
    try:
        stored = int(arr.nbytes_stored()) if src.is_local else 0
    except Exception:
        stored = 0
    neurodata_type, rate = _nwb_context(store, arr)
    shards = getattr(arr, "shards", None)
    return DatasetInfo(
        file=name, path="/" + arr.path.strip("/"), shape=tuple(int(n) for n in arr.shape),
        dtype=str(arr.dtype), chunks=tuple(int(c) for c in arr.chunks), compression=codec,
        compression_opts=level, neurodata_type=neurodata_type, rate=rate,
        storage_bytes=stored, codec=codec, level=level, shuffle=shuffle,
        axes=None, format="zarr", shards=None if shards is None else tuple(shards))


def _all_arrays(group: Any) -> list[Any]:
    out = [a for _, a in group.arrays()]
    for _, sub in group.groups():
        out += _all_arrays(sub)
    return out


def _nwb_context(store: Any, arr: Any) -> tuple[str | None, float | None]:
    """The NWB type (of the array, else of its parent group) and the sampling rate (NWB keeps
    it on the sibling ``starting_time``), as :mod:`.inspect` reads them in HDF5 files."""
    import zarr

    found = arr.attrs.get("neurodata_type")
    parent = arr.path.rstrip("/").rpartition("/")[0]
    rate = None
    try:
        group = zarr.open_group(store=store, path=parent, mode="r")
        found = found or group.attrs.get("neurodata_type")
        if "starting_time" in group:
            value = group["starting_time"].attrs.get("rate")
            rate = None if value is None else float(value)  # type: ignore[arg-type]
    except (FileNotFoundError, KeyError, ValueError):  # no parent group document
        pass
    return (None if found is None else str(found)), rate


def scan_zarr(source: str | os.PathLike[str] | Source, min_bytes: int = 0, *,
              label: str | None = None) -> tuple[list[DatasetInfo], list[dict[str, str]]]:
    """Every numeric array of a local Zarr store (an NWB-Zarr folder) of at least
    ``min_bytes``, largest first, and the others that size with why no layout applies (the
    Zarr counterpart of :func:`layoutbench.read.inspect.scan`)."""
    import zarr

    src = resolve(source)
    name = label or src.given
    group = zarr.open_group(store=open_store(src), mode="r")
    infos, skipped = [], []
    arrays = sorted(_all_arrays(group), key=lambda a: -math.prod(a.shape) * a.dtype.itemsize)
    for arr in arrays:
        if not arr.shape or math.prod(arr.shape) * arr.dtype.itemsize < min_bytes:
            continue
        if arr.dtype.kind not in "iufb":
            skipped.append({"path": "/" + arr.path, "reason": f"{arr.dtype} dtype: no chunk/codec "
                                                              "search for it"})
            continue
        infos.append(zarr_dataset_info(src, "/" + arr.path, label=name))
    return infos, skipped


# -- local sources of either format ------------------------------------------------------------
def local_info(path: str | os.PathLike[str], dataset: str | None = None) -> DatasetInfo:
    """:class:`DatasetInfo` of a dataset of a local HDF5 file or Zarr store (NWB-Zarr)."""
    return zarr_dataset_info(path, dataset) if is_zarr(path) else dataset_info(path, dataset)


@contextlib.contextmanager
def open_local_array(path: str | os.PathLike[str], dataset: str) -> Iterator[Any]:
    """A dataset of a local HDF5 file (``h5py.Dataset``) or Zarr store (``zarr.Array``), open
    for reading by slices."""
    if is_zarr(path):
        import zarr

        yield zarr.open_array(store=zarr.storage.LocalStore(os.fspath(path), read_only=True),
                              path=dataset.strip("/"), mode="r")
        return
    import h5py

    from layoutbench.codecs import ensure_hdf5_filters

    ensure_hdf5_filters()
    with h5py.File(path, "r") as f:
        yield f[dataset]


def array_fingerprint(path: str | os.PathLike[str], dataset: str) -> str:
    """Size and latest modification time of the files of one array of a local Zarr store: what
    changes when the array is rewritten (a store's folder keeps its own mtime)."""
    folder = Path(path).joinpath(*dataset.strip("/").split("/"))
    stats = [f.stat() for f in folder.rglob("*") if f.is_file()]
    return f"{sum(st.st_size for st in stats)}:{max((st.st_mtime_ns for st in stats), default=0)}"
