"""Write one dataset of a source file in a :class:`Layout`, and prove the copy is exact.

A variant is only ever used after :func:`verify_variant` has compared it with the source,
block by block, bit for bit; the proof is recorded in a ``.verified.json`` marker beside the
variant, and a variant without its marker is never reused. Writes go to a temporary name and
are renamed into place, so an interrupted run cannot leave a half-written variant that looks
valid. Memory is bounded by ``block_bytes`` whatever the dataset size.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from layoutbench.atomic import atomic_output, write_json
from layoutbench.codecs import ensure_hdf5_filters, h5py_filter_kwargs, zarr_compressors
from layoutbench.plan.dataset import DatasetInfo
from layoutbench.plan.layout import Layout
from layoutbench.read.inspect_zarr import array_fingerprint, local_info, open_local_array
from layoutbench.write.blocks import (
    BLOCK_BYTES,
    VerificationError,
    block_shape,
    iter_blocks,
    same_bytes,
)

log = logging.getLogger(__name__)

SUFFIX = {"hdf5": ".h5", "zarr": ".zarr"}


@dataclass(frozen=True, slots=True)
class Variant:
    """A verified copy of one source dataset in one layout."""

    path: str
    layout: Layout
    source_id: str
    dataset: str
    shape: tuple[int, ...]
    dtype: str
    stored_bytes: int
    write_seconds: float
    verify_seconds: float
    #: stored size of the dataset alone, when the variant holds more than it (whole files)
    dataset_bytes: int | None = None

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * np.dtype(self.dtype).itemsize

    @property
    def compression_ratio(self) -> float:
        stored = self.dataset_bytes or self.stored_bytes
        return self.nbytes / stored if stored else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "layout": self.layout.to_dict(),
            "source_id": self.source_id,
            "dataset": self.dataset,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "stored_bytes": self.stored_bytes,
            "write_seconds": self.write_seconds,
            "verify_seconds": self.verify_seconds,
            "dataset_bytes": self.dataset_bytes,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Variant:
        return cls(
            path=d["path"],
            layout=Layout.from_dict(d["layout"]),
            source_id=d["source_id"],
            dataset=d["dataset"],
            shape=tuple(d["shape"]),
            dtype=d["dtype"],
            stored_bytes=int(d["stored_bytes"]),
            write_seconds=float(d["write_seconds"]),
            verify_seconds=float(d["verify_seconds"]),
            dataset_bytes=d.get("dataset_bytes"),
        )


# -- pure helpers -----------------------------------------------------------------------------
def source_id(path: str | os.PathLike[str], dataset: str) -> str:
    """Identity of (file content, dataset) cheap enough to compute on every run.

    Path, size and modification time stand in for the content: a rewritten source gets a new
    id, so stale variants are never reused. A Zarr store (a folder) stands for its array by
    the size and latest modification time of the array's files.
    """
    st = os.stat(path)
    stamp = array_fingerprint(path, dataset) if os.path.isdir(path) \
        else f"{st.st_size}|{st.st_mtime_ns}"
    key = f"{os.path.realpath(path)}|{stamp}|{dataset}"
    return hashlib.sha1(key.encode()).hexdigest()[:12]


def _unit(layout: Layout) -> tuple[int, ...]:
    if layout.contiguous:  # any block will do: rows, as many as the budget holds
        return (1,) * len(layout.chunks)
    return layout.shards or layout.chunks


# -- writing ----------------------------------------------------------------------------------
def _tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def fingerprint(path: str | os.PathLike[str]) -> str:
    """Size and latest modification time of a variant (a file, or every file of a store):
    what changes when anything truncates or rewrites it after its verification."""
    p = Path(path)
    files = [p] if p.is_file() else [f for f in p.rglob("*") if f.is_file()]
    stats = [f.stat() for f in files]
    return f"{sum(st.st_size for st in stats)}:{max((st.st_mtime_ns for st in stats), default=0)}"


def _copy_blocks(src: Any, write: Any, shape: tuple[int, ...], layout: Layout, itemsize: int,
                 budget: int) -> None:
    for sel in iter_blocks(shape, block_shape(shape, _unit(layout), itemsize, budget)):
        write(sel, src[sel])


def _write_hdf5(src: Any, info: DatasetInfo, layout: Layout, tmp: Path, budget: int) -> None:
    import h5py

    file_kw: dict[str, Any] = {}
    if layout.page_size:
        file_kw.update(fs_strategy="page", fs_page_size=layout.page_size, fs_persist=True)
    with h5py.File(tmp, "w", **file_kw) as f:
        dst = f.create_dataset(
            info.path, shape=info.shape, dtype=info.dtype,
            chunks=None if layout.contiguous else layout.chunks, **h5py_filter_kwargs(layout),
        )

        def write(sel: tuple[slice, ...], block: np.ndarray) -> None:
            dst[sel] = block

        _copy_blocks(src, write, info.shape, layout, info.itemsize, budget)


def _open_zarr_array(path: Path, dataset: str, mode: str = "r") -> Any:
    import zarr

    return zarr.open_array(store=zarr.storage.LocalStore(path, read_only=mode == "r"),
                           path=dataset.strip("/"), mode=mode)


def _write_zarr(src: Any, info: DatasetInfo, layout: Layout, tmp: Path, budget: int) -> None:
    import zarr

    root = zarr.open_group(zarr.storage.LocalStore(tmp), mode="w", zarr_format=3)
    dst = root.create_array(
        name=info.path.strip("/"), shape=info.shape, dtype=info.dtype, chunks=layout.chunks,
        shards=layout.shards, compressors=zarr_compressors(layout), fill_value=0,
        # every chunk is stored, even all-zero ones, so requests map one-to-one onto chunks
        config={"write_empty_chunks": True},
    )

    def write(sel: tuple[slice, ...], block: np.ndarray) -> None:
        dst[sel] = block

    _copy_blocks(src, write, info.shape, layout, info.itemsize, budget)


class Writer(Protocol):
    """Makes a verified variant of ``dataset`` of ``source`` in ``layout`` at ``out``."""

    def __call__(self, source: str | os.PathLike[str], dataset: str, layout: Layout,
                 out: Path) -> Variant: ...


def write_variant(source: str | os.PathLike[str], dataset: str, layout: Layout, out: Path, *,
                  budget: int = BLOCK_BYTES) -> Variant:
    """Write ``dataset`` of ``source`` to ``out`` in ``layout``, verify it, and return it.

    ``source`` is a local HDF5 file or Zarr store (an NWB-Zarr folder). The result is renamed
    into place only after verification succeeds; on any failure the temporary file is removed
    and nothing is left at ``out``.
    """
    ensure_hdf5_filters()
    info = local_info(source, dataset)
    layout = layout.fitted(info.shape)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _marker(out).unlink(missing_ok=True)  # whatever was there is no longer proven
    log.info("writing %s (%s, %.1f MB raw)", out.name, layout.name, info.nbytes / 1e6)
    with atomic_output(out) as tmp:
        t0 = time.perf_counter()
        with open_local_array(source, info.path) as src:
            if layout.format == "hdf5":
                _write_hdf5(src, info, layout, tmp, budget)
            else:
                _write_zarr(src, info, layout, tmp, budget)
        write_seconds = time.perf_counter() - t0
        t1 = time.perf_counter()
        verify_variant(source, info.path, tmp, layout, budget=budget)
        verify_seconds = time.perf_counter() - t1
    variant = Variant(
        path=str(out), layout=layout, source_id=source_id(source, info.path), dataset=info.path,
        shape=info.shape, dtype=info.dtype, stored_bytes=_tree_size(out),
        write_seconds=write_seconds, verify_seconds=verify_seconds,
    )
    mark_verified(variant)
    log.info("wrote %s (%.1f MB, ratio %.2f) in %.1fs, verified in %.1fs", out.name,
             variant.stored_bytes / 1e6, variant.compression_ratio, write_seconds, verify_seconds)
    return variant


def mark_verified(variant: Variant) -> None:
    """Record that ``variant`` was verified: only marked variants are ever reused."""
    write_json(_marker(Path(variant.path)),
               {**variant.to_dict(), "fingerprint": fingerprint(variant.path)}, indent=1)


def _marker(out: Path) -> Path:
    return out.with_name(out.name + ".verified.json")


# -- verification -----------------------------------------------------------------------------
def _open_variant(path: Path, dataset: str, layout: Layout) -> tuple[Any, Any]:
    """(array, closer) for a local variant, checking it is stored as the layout says."""
    if layout.format == "hdf5":
        import h5py

        ensure_hdf5_filters()
        f = h5py.File(path, "r")
        arr = f[dataset]
        if arr.chunks != (None if layout.contiguous else layout.chunks):
            f.close()
            raise VerificationError(f"{path}: chunks {arr.chunks} differ from {layout.chunks}")
        return arr, f.close
    arr = _open_zarr_array(path, dataset)
    if tuple(arr.chunks) != layout.chunks or (layout.shards and arr.shards != layout.shards):
        raise VerificationError(f"{path}: chunks/shards differ from layout {layout.name}")
    return arr, lambda: None


def verify_variant(source: str | os.PathLike[str], dataset: str, variant: str | os.PathLike[str],
                   layout: Layout, *, budget: int = BLOCK_BYTES) -> None:
    """Raise :class:`VerificationError` unless ``variant`` holds exactly the source data.

    Compares shape, dtype, storage layout and every element (bitwise: NaNs must match NaNs
    with the same payload), reading both sides block by block so memory stays bounded.
    A chunk that fails to decode counts as a mismatch, not a crash.
    """
    ensure_hdf5_filters()  # the source itself may use plugin filters
    path = Path(variant)
    with open_local_array(source, dataset) as src:
        arr, close = _open_variant(path, dataset, layout)
        try:
            if tuple(arr.shape) != tuple(src.shape) or np.dtype(arr.dtype) != np.dtype(src.dtype):
                raise VerificationError(
                    f"{path}: shape/dtype {arr.shape}/{arr.dtype} != source {src.shape}/{src.dtype}"
                )
            itemsize = np.dtype(src.dtype).itemsize
            for sel in iter_blocks(src.shape, block_shape(src.shape, _unit(layout), itemsize,
                                                          budget // 2)):
                expected = np.ascontiguousarray(src[sel])
                try:
                    got = np.ascontiguousarray(arr[sel])
                except Exception as exc:  # decode failures of corrupted chunks
                    raise VerificationError(f"{path}: cannot decode block {sel}: {exc}") from exc
                if not same_bytes(got, expected):
                    bad = int(np.count_nonzero(got != expected))
                    raise VerificationError(f"{path}: {bad} elements differ in block {sel}")
        finally:
            close()


# -- cache --------------------------------------------------------------------------------------
def variant_path(cache_dir: Path, sid: str, layout: Layout) -> Path:
    return Path(cache_dir) / sid / (layout.name + SUFFIX[layout.format])


def cached_variant(cache_dir: Path, source: str | os.PathLike[str], dataset: str,
                   layout: Layout) -> Variant | None:
    """A previously written *and verified* variant of the same source and layout, if any."""
    layout = layout.fitted(local_info(source, dataset).shape)
    sid = source_id(source, dataset)
    out = variant_path(cache_dir, sid, layout)
    marker = _marker(out)
    if not (out.exists() and marker.exists()):
        return None
    try:
        doc = json.loads(marker.read_text())
        v = Variant.from_dict(doc)
    except (ValueError, KeyError):
        return None
    if v.source_id != sid or v.layout != layout:
        return None
    if doc.get("fingerprint") != fingerprint(out):
        log.warning("%s changed since it was verified (truncated or modified): rewriting it",
                    out)
        return None
    return v


def build_variant(cache_dir: Path, source: str | os.PathLike[str], dataset: str,
                  layout: Layout, writer: Writer | None = None,
                  hold: Callable[[Variant], None] | None = None) -> Variant:
    """The verified variant for (source, dataset, layout): reused from the cache or written.

    ``writer`` makes the variant (default :func:`write_variant`, one dataset in ``layout``);
    whole-file writers (:func:`layoutbench.write.repack.write_file_variant`) share the cache.
    The entry's lock is held throughout (:mod:`.cache_lock`): when several processes or
    workers ask for the same variant at once, one writes it and the others reuse it.
    ``hold(variant)`` runs before the lock is released (an upload: no other process may evict
    the variant meanwhile).
    """
    from layoutbench.write.cache_lock import entry_lock, touch

    out = variant_path(cache_dir, source_id(source, dataset), layout)
    with entry_lock(out):
        variant = cached_variant(cache_dir, source, dataset, layout)
        if variant is not None:
            log.debug("reusing verified variant %s", variant.path)
            touch(_marker(Path(variant.path)))
        else:
            variant = (writer or write_variant)(source, dataset, layout, out)
        if hold is not None:
            hold(variant)
        return variant
