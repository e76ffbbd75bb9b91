"""One dataset of a (local or remote) file alone in a local HDF5 file, stored exactly as it was.

A sweep of a remote file rewrites its dataset in many layouts; reading the remote object once
per layout would cost its size each time, so the dataset is first streamed once into the cache
(:func:`local_copy`), keyed by the object's identity: a second sweep of an unchanged object
costs one request (the identity check). ``recommend --measure`` cuts a slab of a big dataset
the same way (:func:`extract_dataset` with ``rows``).

The copy is byte for byte: the dataset is created with the source's creation properties (chunk
shape, filters and their options, fill value) and every stored chunk is copied raw
(``read_direct_chunk``/``write_direct_chunk``, or for a remote file fetched by ranges, many
at once), never decoded and encoded again. What a layout search needs around it comes along:
the dataset's and its group's attributes (the NWB type, dimension labels; not references,
whose targets are not copied) and the sampling rate NWB keeps on ``starting_time``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from layoutbench.atomic import atomic_output, remove_stale, temp_path, write_json
from layoutbench.cache import cache_dir as layoutbench_cache
from layoutbench.codecs import ensure_hdf5_filters
from layoutbench.interrupts import checkpoint
from layoutbench.plan.dataset import DatasetInfo
from layoutbench.read.inspect import dataset_info, info_in, open_hdf5
from layoutbench.store.sources import (
    Fetch,
    ObjectIdentity,
    Source,
    close_filesystem,
    fetcher,
    resolve,
)
from layoutbench.write.h5copy import copy_attributes, encode_name

log = logging.getLogger(__name__)

#: Stored bytes fetched (and held in memory) per batch of chunks.
BATCH_BYTES = 64 * 2**20

def _batches(items: list[tuple[tuple[int, ...], tuple[int, int, int]]], budget: int
             ) -> Iterator[list[tuple[tuple[int, ...], tuple[int, int, int]]]]:
    batch: list[tuple[tuple[int, ...], tuple[int, int, int]]] = []
    size = 0
    for item in items:
        if batch and size + item[1][1] > budget:
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item[1][1]
    if batch:
        yield batch


def extract_dataset(src: Any, out: Path, *, rows: int | None = None, fetch: Fetch | None = None,
                    on_bytes: Callable[[int], None] | None = None) -> Path:
    """Write the open h5py dataset ``src`` (its first ``rows`` along axis 0, default all) to a
    new HDF5 file ``out`` at the same path, stored as it is stored in the source.

    ``fetch`` reads byte ranges of the source's file (a remote file: fsspec's ``cat_ranges``);
    without it, chunks are read with ``read_direct_chunk``. Memory stays under
    :data:`BATCH_BYTES` (plus one contiguous block) whatever the dataset's size.
    """
    import h5py
    from h5py import h5d

    from layoutbench.read.sample_regions import stored_chunks

    ensure_hdf5_filters()
    shape = (rows if rows is not None else src.shape[0], *src.shape[1:])
    with h5py.File(out, "w") as dst:
        parent = dst.require_group(src.parent.name)
        copy_attributes(src.parent, parent, None)
        maxshape = tuple(h5py.h5s.UNLIMITED if m is None else m for m in src.maxshape)
        space = h5py.h5s.create_simple(shape, maxshape if src.chunks else shape)
        did = h5d.create(parent.id, encode_name(src.name.rpartition("/")[2]), src.id.get_type(),
                         space, dcpl=src.id.get_create_plist())
        d = h5py.Dataset(did)
        copy_attributes(src, d, None)
        rate = src.parent.get("starting_time")
        if rate is not None and "rate" in rate.attrs and "starting_time" not in parent:
            parent.create_dataset("starting_time", data=rate[()])
            parent["starting_time"].attrs["rate"] = rate.attrs["rate"]
        if src.chunks is None:
            _copy_contiguous(src, d, shape, fetch, on_bytes)
            return out
        chunks = sorted((k, v) for k, v in stored_chunks(src).items() if k[0] < shape[0])
        for batch in _batches(chunks, BATCH_BYTES):
            checkpoint()
            if fetch is None:
                blobs = [src.id.read_direct_chunk(k)[1] for k, _ in batch]
            else:
                blobs = fetch([v[:2] for _, v in batch])
            for (offset, (_, _, mask)), blob in zip(batch, blobs, strict=True):
                did.write_direct_chunk(offset, blob, mask)
                if on_bytes is not None:
                    on_bytes(len(blob))
    return out


def _copy_contiguous(src: Any, dst: Any, shape: tuple[int, ...], fetch: Fetch | None,
                     on_bytes: Callable[[int], None] | None) -> None:
    row = max(1, math.prod(shape[1:]) * src.dtype.itemsize)
    step = max(1, BATCH_BYTES // row)
    base = src.id.get_offset()
    for start in range(0, shape[0], step):
        checkpoint()
        stop = min(shape[0], start + step)
        if fetch is None or base is None:
            block = src[start:stop]
        else:
            (blob,) = fetch([(base + start * row, (stop - start) * row)])
            block = np.frombuffer(blob, dtype=src.dtype).reshape((stop - start, *shape[1:]))
        dst[start:stop] = block
        if on_bytes is not None:
            on_bytes(block.nbytes)


# -- the cache of remote datasets ---------------------------------------------------------------
INDEX = "index.json"


def _index(folder: Path) -> dict[str, Any]:
    try:
        doc = json.loads((folder / INDEX).read_text())
        return doc if isinstance(doc, dict) else {}
    except (OSError, ValueError):
        return {}


def local_copy(source: str | Source, dataset: str | None, *,
               cache_dir: str | os.PathLike[str] | None = None, progress: bool = False
               ) -> tuple[Path, DatasetInfo, dict[str, Any]]:
    """A local file holding ``dataset`` of a remote ``source`` as it is (see the module doc),
    with the dataset's description (under the source's URL) and what reaching it cost
    (``requests``, ``bytes``, ``seconds``, ``counts``: see :mod:`layoutbench.store.reach`).

    The copy is kept in the cache under the object's identity: while the object is unchanged,
    a later call costs one request, the identity check, and reads nothing else.
    """
    import time

    t0 = time.perf_counter()
    src = resolve(source)
    identity = src.identity()
    folder = (Path(cache_dir) if cache_dir else layoutbench_cache("sources")) \
        / identity.token()[:24]
    entry = _index(folder).get(dataset or "")
    if entry is not None and _valid(folder / entry["file"], entry):
        path = folder / entry["file"]
        log.info("reusing the local copy of %s:%s (unchanged: same %s)", src.url,
                 entry["dataset"], "ETag" if identity.etag else "size and date")
        info = dataset_info(path, entry["dataset"], label=src.url)
        return path, info, {"requests": 1, "bytes": 0, "counts": "identity check",
                            "seconds": round(time.perf_counter() - t0, 3)}
    path, info, spent = _download(src, identity, dataset, folder, progress)
    write_json(folder / INDEX, {**_index(folder), dataset or "": {
        "file": path.name, "dataset": info.path, "size": path.stat().st_size}}, indent=1)
    spent["requests"] += 1  # the identity check
    spent["seconds"] = round(time.perf_counter() - t0, 3)
    return path, info, spent


def _valid(path: Path, entry: dict[str, Any]) -> bool:
    return path.exists() and path.stat().st_size == entry.get("size")


def _download(src: Source, identity: ObjectIdentity, dataset: str | None, folder: Path,
              progress: bool) -> tuple[Path, DatasetInfo, dict[str, Any]]:
    """Stream the dataset into ``folder`` through the counting gateway (bounded memory)."""
    from tqdm.auto import tqdm

    from layoutbench.store.reach import reach

    with reach(src, identity=identity) as where, \
            open_hdf5(where.source, identity=identity, label=src.url) as f:
        info = info_in(f, src.url, dataset)
        folder.mkdir(parents=True, exist_ok=True)
        out = folder / (info.path.strip("/").replace("/", "_") + ".h5")
        log.info("copying %s:%s (%.1f MB stored) into the cache", src.url, info.path,
                 info.storage_bytes / 1e6)
        fs = where.source.filesystem()
        try:
            with atomic_output(out) as tmp, \
                    tqdm(total=info.storage_bytes, unit="B", unit_scale=True, desc="download",
                         file=sys.stderr, disable=not progress, leave=False) as bar:
                extract_dataset(f[info.path], tmp, fetch=fetcher(fs, where.source.path),
                                on_bytes=bar.update)
        finally:
            close_filesystem(fs)
        stats = where.endpoint.stats()
    return out, info, {"requests": stats.requests, "bytes": stats.bytes_sent,
                       "counts": where.counts}


@contextlib.contextmanager
def fetched_file(source: str | Source, folder: Path, *, progress: bool = False
                 ) -> Iterator[tuple[Path, dict[str, Any]]]:
    """A remote object downloaded whole (streamed, bounded memory) into a temporary file in
    ``folder`` for the block, with what it cost; the file is removed afterwards, also on error.

    For ``apply``, which rewrites every object of a file: reading it once in order is far
    cheaper than walking it remotely.
    """
    import time

    from tqdm.auto import tqdm

    from layoutbench.store.reach import reach

    t0 = time.perf_counter()
    src = resolve(source)
    remove_stale(folder)
    tmp = temp_path(folder / src.name, "download")
    try:
        with reach(src) as where:
            fs = where.source.filesystem()
            try:
                with fs.open(where.source.path, "rb", block_size=BATCH_BYTES,
                             cache_type="none") as remote, open(tmp, "wb") as local, \
                        tqdm(total=where.identity.size, unit="B", unit_scale=True,
                             desc="download", file=sys.stderr, disable=not progress,
                             leave=False) as bar:
                    while block := remote.read(BATCH_BYTES):
                        checkpoint()
                        local.write(block)
                        bar.update(len(block))
            finally:
                close_filesystem(fs)
            stats = where.endpoint.stats()
        spent = {"requests": stats.requests + 1, "bytes": stats.bytes_sent,
                 "counts": where.counts, "seconds": round(time.perf_counter() - t0, 3)}
        log.info("downloaded %s (%.1f MB, %d requests)", src.url, stats.bytes_sent / 1e6,
                 spent["requests"])
        yield tmp, spent
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
