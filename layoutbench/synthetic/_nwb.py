"""Shared machinery of the synthetic generators: block models, the chunk iterator, atomic writes.

A generator is split the rechunker way: a *model* (:class:`BlockModel`) knows how to produce any
range of the time axis deterministically, in fixed-size generation blocks seeded from
``(seed, kind, stream, block)``; a thin :class:`BlockIterator` feeds whole-chunk buffers of it
to hdmf, and :func:`write_nwb` writes the NWB file under a temporary name. Because the
generation blocks do not depend on the write buffer, the data are bit-identical whatever the
buffer size, and memory stays bounded by one buffer plus one generation block.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import time
import uuid
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import h5py
import hdf5plugin
import numpy as np
from hdmf.backends.hdf5.h5_utils import H5DataIO
from hdmf.data_utils import GenericDataChunkIterator
from pynwb import NWBHDF5IO, NWBFile
from tqdm.auto import tqdm

from layoutbench.atomic import atomic_output, temp_path
from layoutbench.interrupts import checkpoint
from layoutbench.plan.layout import Layout, neuroconv_default

log = logging.getLogger(__name__)

DATASET_PATHS: dict[str, str] = {
    "ophys": "/acquisition/TwoPhotonSeries/data",
    "ecephys": "/acquisition/ElectricalSeries/data",
    "many-series": "/acquisition/data_00000_AD0/data",  # first sweep's response (int16)
    "volume": "/acquisition/volume/data",  # a z-stack as an ImageSeries (see volume.py)
}
#: Integers mixed into every seed so that no two kinds share random streams.
KIND_IDS: dict[str, int] = {"ophys": 1, "ecephys": 2, "volume": 3, "many-series": 11}
#: Target size of one write buffer (whole chunks along time): big enough for h5py to write
#: several ~10 MB chunks per call, small enough that a 10 GB file is generated in well under
#: 2 GB and that a signal waits for at most one buffer's compression in C (about 0.5 s with
#: gzip; at 128 MB it was 2.6 s).
DEFAULT_BUFFER_BYTES = 32 * 2**20
#: Fixed, reproducible session start: the files are synthetic, so no real clock belongs in them.
SESSION_START = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)
_UUID_NAMESPACE = uuid.UUID("5d1c8f8e-6b1e-4a43-9a55-6c1f3b8a0b2e")


@dataclass(frozen=True)
class GeneratedInfo:
    """What a generator wrote, for logs, CLIs and result rows.

    ``nbytes`` is the *raw* (uncompressed) size of the main dataset, the quantity ``size``
    asks for; the stored size is ``os.path.getsize(path)``.
    """

    path: str
    kind: str
    dataset: str
    shape: tuple[int, ...]
    dtype: str
    chunks: tuple[int, ...]
    nbytes: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        d = asdict(self)
        d["shape"] = list(self.shape)
        d["chunks"] = list(self.chunks)
        return d


def block_rng(seed: int, kind: str, stream: int, block: int = 0) -> np.random.Generator:
    """A generator for one (seed, kind, stream, block): the unit of reproducibility.

    Seeding each generation block on its own (rather than drawing from one long stream) is
    what makes any block reproducible on its own and the output independent of buffering.
    """
    return np.random.default_rng([seed, KIND_IDS[kind], stream, block])


def check_seed(seed: int) -> int:
    """Seeds must be non-negative integers (NumPy's ``SeedSequence`` rule)."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def resolve_shape(kind: str, default: tuple[int, ...], size: int | None,
                  shape: Sequence[int] | None, itemsize: int) -> tuple[int, ...]:
    """The dataset shape from ``size`` (time axis scaled) or ``shape`` or the default."""
    if size is not None and shape is not None:
        raise ValueError(f"{kind}: give either size or shape, not both")
    if shape is not None:
        out = tuple(int(n) for n in shape)
        if len(out) != len(default) or any(n < 1 for n in out):
            raise ValueError(
                f"{kind}: shape must be {len(default)} positive integers, got {tuple(shape)}"
            )
        return out
    if size is not None:
        row = math.prod(default[1:]) * itemsize
        if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < row:
            raise ValueError(
                f"{kind}: size must be an integer of at least one time step ({row} bytes), "
                f"got {size!r}"
            )
        return (int(size) // row, *default[1:])
    return default


def resolve_layout(kind: str, shape: tuple[int, ...], itemsize: int,
                   layout: Layout | None) -> Layout:
    """The layout to write, defaulting to neuroconv's and fitted (clipped) to ``shape``."""
    if layout is None:
        layout = neuroconv_default(kind, shape, itemsize)
    if layout.format != "hdf5":
        raise ValueError(
            f"generators write NWB/HDF5 only; layout {layout.name} has format {layout.format!r} "
            "(generate HDF5, then rewrite to Zarr)"
        )
    return layout.fitted(shape)


def dataio_kwargs(layout: Layout) -> dict[str, Any]:
    """``H5DataIO`` keyword arguments (compression, shuffle, chunks) for an HDF5 layout.

    hdmf's ``H5DataIO`` types ``compression`` as ``str | bool | int``, so an hdf5plugin filter
    object cannot be passed as such; its registered filter id and option tuple are passed
    instead, with ``allow_plugin_filters=True``. For Blosc the layout's ``shuffle`` means
    Blosc's internal byte shuffle, not HDF5's shuffle filter (see :class:`Layout`).
    """
    kwargs: dict[str, Any] = {"chunks": None if layout.contiguous else tuple(layout.chunks)}
    codec = layout.codec
    if codec == "none":
        return {**kwargs, "shuffle": layout.shuffle}
    if codec == "gzip":
        return {**kwargs, "compression": "gzip", "compression_opts": layout.level,
                "shuffle": layout.shuffle}
    level = int(layout.level if layout.level is not None else 0)
    plugin: Any
    if codec == "zstd":
        plugin = hdf5plugin.Zstd(clevel=level)
        shuffle = layout.shuffle
    elif codec == "blosc-zstd":
        plugin = hdf5plugin.Blosc(cname="zstd", clevel=level, shuffle=_blosc_shuffle(layout))
        shuffle = False
    elif codec == "blosc-lz4":
        plugin = hdf5plugin.Blosc(cname="lz4", clevel=level, shuffle=_blosc_shuffle(layout))
        shuffle = False
    else:  # pragma: no cover - Layout.validate rejects unknown codecs first
        raise ValueError(f"codec {codec!r} cannot be written through H5DataIO")
    if not h5py.h5z.filter_avail(plugin.filter_id):
        raise ValueError(
            f"HDF5 filter for codec {codec!r} (id {plugin.filter_id}) is not available"
        )
    return {**kwargs, "compression": int(plugin.filter_id),
            "compression_opts": tuple(int(o) for o in plugin.filter_options),
            "allow_plugin_filters": True, "shuffle": shuffle}


def _blosc_shuffle(layout: Layout) -> int:
    return int(hdf5plugin.Blosc.SHUFFLE if layout.shuffle else hdf5plugin.Blosc.NOSHUFFLE)


def make_dataio(iterator: BlockIterator, layout: Layout) -> H5DataIO:
    """Wrap the iterator; hdmf's portability warning for non-gzip filters is expected here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*compression may not be available.*")
        return H5DataIO(data=iterator, **dataio_kwargs(layout))


def write_unit(layout: Layout) -> tuple[int, ...]:
    """The chunk shape buffers are made of: the layout's chunks, or rows when contiguous."""
    return (1,) * len(layout.chunks) if layout.contiguous else tuple(layout.chunks)


def identifier(kind: str, seed: int, shape: tuple[int, ...]) -> str:
    """A stable NWB identifier: the same inputs name the same synthetic session."""
    return str(uuid.uuid5(_UUID_NAMESPACE, f"layoutbench-{kind}-{seed}-{shape}"))


def synthetic_nwbfile(kind: str, seed: int, shape: tuple[int, ...], session_description: str,
                      **fields: Any) -> NWBFile:
    """The session every synthetic file shares: stable identifier, fixed dates, a fake mouse.

    Fixed dates (not "now") make the same inputs give the same file, byte for byte.
    """
    from pynwb.file import Subject

    return NWBFile(
        session_description=session_description,
        identifier=identifier(kind, seed, shape),
        session_start_time=SESSION_START,
        file_create_date=SESSION_START,
        lab="layoutbench (synthetic)",
        institution="layoutbench",
        subject=Subject(subject_id="synthetic-mouse", species="Mus musculus", age="P90D",
                        sex="U", description="not a real animal"),
        **fields,
    )


class BlockModel(ABC):
    """Deterministic source of an array along its first (time) axis, in generation blocks.

    Subclasses set :attr:`shape`, :attr:`dtype`, :attr:`block_len` and implement
    :meth:`_make_block`. :meth:`read` assembles any time range from whole blocks and keeps the
    last block, because write buffers (multiples of the chunk length) rarely align with
    generation blocks and a block straddling two buffers should be made once.
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    block_len: int

    def __init__(self) -> None:
        self._cached: tuple[int, np.ndarray] | None = None

    @property
    def n_blocks(self) -> int:
        """Number of generation blocks along time."""
        return math.ceil(self.shape[0] / self.block_len)

    def block_bounds(self, block: int) -> tuple[int, int]:
        """First and one-past-last time index of generation block ``block``."""
        start = block * self.block_len
        return start, min(start + self.block_len, self.shape[0])

    @abstractmethod
    def _make_block(self, block: int) -> np.ndarray:
        """Generate generation block ``block`` (all of it, in :attr:`dtype`)."""

    def _block(self, block: int) -> np.ndarray:
        if self._cached is None or self._cached[0] != block:
            self._cached = (block, self._make_block(block))
        return self._cached[1]

    def read(self, start: int, stop: int) -> np.ndarray:
        """Time steps ``start:stop`` as a new array (all other axes in full)."""
        if not 0 <= start <= stop <= self.shape[0]:
            raise IndexError(f"time range {start}:{stop} outside 0:{self.shape[0]}")
        out = np.empty((stop - start, *self.shape[1:]), dtype=self.dtype)
        if stop == start:
            return out
        for block in range(start // self.block_len, (stop - 1) // self.block_len + 1):
            b0, _ = self.block_bounds(block)
            data = self._block(block)
            lo, hi = max(start, b0), min(stop, b0 + len(data))
            out[lo - start:hi - start] = data[lo - b0:hi - b0]
        return out


def buffer_shape_for(shape: tuple[int, ...], chunks: tuple[int, ...], itemsize: int,
                     buffer_bytes: int = DEFAULT_BUFFER_BYTES) -> tuple[int, ...]:
    """Whole chunks along time and the full extent of every other axis, ~``buffer_bytes``.

    Full extent on the other axes keeps generation simple (a model makes whole frames); the
    time extent is the largest multiple of the chunk length that fits the budget (at least
    one chunk, at most the whole array).
    """
    row_bytes = math.prod(shape[1:]) * itemsize
    per_chunk = chunks[0] * row_bytes
    n_chunks = max(1, buffer_bytes // per_chunk)
    if per_chunk > 2 * buffer_bytes:
        log.warning("one chunk row is %.0f MB; write buffers will be that large",
                       per_chunk / 1e6)
    return (min(shape[0], n_chunks * chunks[0]), *shape[1:])


class BlockIterator(GenericDataChunkIterator):
    """hdmf chunk iterator over a :class:`BlockModel`: buffers of whole chunks along time.

    The progress bar is ours rather than hdmf's (``display_progress``) so that it appears when
    writing starts, counts buffers as they are generated and is closed cleanly by
    :meth:`close_progress`.
    """

    def __init__(self, model: BlockModel, chunks: Sequence[int], *,
                 buffer_bytes: int = DEFAULT_BUFFER_BYTES, progress: bool = False,
                 desc: str = "generate") -> None:
        self._model = model
        self._progress = progress
        self._desc = desc
        self._bar: Any = None
        shape = tuple(model.shape)
        super().__init__(
            chunk_shape=tuple(int(c) for c in chunks),
            buffer_shape=buffer_shape_for(shape, tuple(chunks), model.dtype.itemsize,
                                          buffer_bytes),
        )

    def _get_data(self, selection: tuple[slice, ...]) -> np.ndarray:
        checkpoint()  # hdmf may swallow the interrupt in a finaliser: stop at the next buffer
        if self._bar is not None:
            self._bar.update(1)  # hdmf asks for a buffer once it has written the previous one
        elif self._progress:
            self._bar = tqdm(total=self.num_buffers, desc=self._desc, unit="block",
                             file=sys.stderr)
        t = selection[0]
        data = self._model.read(t.start or 0, self._model.shape[0] if t.stop is None else t.stop)
        return data[(slice(None), *selection[1:])]

    def _get_maxshape(self) -> tuple[int, ...]:
        return tuple(self._model.shape)

    def _get_dtype(self) -> np.dtype:
        return np.dtype(self._model.dtype)

    def close_progress(self, complete: bool) -> None:
        """Close the progress bar, if one was shown, counting the last buffer if written."""
        if self._bar is not None:
            if complete:
                self._bar.update(self._bar.total - self._bar.n)
            self._bar.close()
            self._bar = None


def _check_folder(final: str) -> None:
    folder = os.path.dirname(os.path.abspath(final))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"output folder does not exist: {folder}")


def label_axes(dset: h5py.Dataset, axes: Sequence[str]) -> None:
    """Name the axes of ``dset`` with HDF5 dimension labels (``dset.dims[i].label``).

    Labels are HDF5's own way of saying what each axis is, readable by any HDF5 tool;
    :func:`layoutbench.plan.layout.kind_of` uses them to tell a z-stack from a movie.
    """
    if len(axes) != dset.ndim:
        raise ValueError(f"{len(axes)} axis labels for a {dset.ndim}-d dataset {dset.name}")
    for dim, name in zip(dset.dims, axes, strict=True):
        dim.label = name


def write_nwbfile(path: str | os.PathLike[str], nwbfile: NWBFile, *,
                  page_size: int | None = None,
                  finalize: Callable[[h5py.File], None] | None = None) -> str:
    """Write an assembled ``nwbfile`` to ``path`` atomically; return the final path.

    The file is written under a temporary name in the destination folder and renamed over
    ``path`` only once complete, so an interrupted run never leaves a valid-looking file;
    on any error (including Ctrl-C) the temporary file is removed. ``page_size`` (bytes)
    turns on HDF5 paged aggregation, a file-creation property, so NWBHDF5IO is then handed
    an h5py file opened with it. ``finalize`` is called on the written file (opened ``r+``)
    before the rename, for what pynwb cannot express, such as HDF5 dimension labels.
    """
    final = os.fspath(path)
    with atomic_output(final) as tmp:
        with warnings.catch_warnings():
            # the temporary name deliberately does not end in .nwb; pynwb would warn about it
            warnings.filterwarnings("ignore", message=".*does not end in '.nwb'.*")
            if page_size:
                with h5py.File(tmp, "w", fs_strategy="page", fs_page_size=page_size,
                               fs_persist=True) as h5, NWBHDF5IO(mode="w", file=h5) as io:
                    io.write(nwbfile)
            else:
                with NWBHDF5IO(tmp, "w") as io:
                    io.write(nwbfile)
        if finalize is not None:
            with h5py.File(tmp, "r+") as h5:
                finalize(h5)
    return final


def write_nwb(path: str | os.PathLike[str], kind: str, model: BlockModel, layout: Layout,
              build: Callable[[H5DataIO], NWBFile], *, progress: bool = False,
              finalize: Callable[[h5py.File], None] | None = None) -> GeneratedInfo:
    """Write the NWB file that ``build`` assembles around the model's data, atomically.

    The file is written under a temporary name in the destination folder and renamed over
    ``path`` only once complete (see :func:`write_nwbfile`, which also applies ``finalize``),
    so an interrupted run never leaves a valid-looking file; on any error (including Ctrl-C)
    the temporary file is removed.
    """
    final = os.fspath(path)
    _check_folder(final)  # fail on a missing folder before any work
    started = time.perf_counter()
    iterator = BlockIterator(model, write_unit(layout), progress=progress, desc=f"{kind} blocks")
    log.debug("writing %s %s %s chunks=%s codec=%s to %s", kind, model.shape, model.dtype,
                layout.chunks, layout.name, final)
    complete = False
    try:
        if layout.contiguous:
            _write_nwb_contiguous(final, iterator, layout, build, finalize)
        else:
            nwbfile = build(make_dataio(iterator, layout))
            write_nwbfile(final, nwbfile, page_size=layout.page_size, finalize=finalize)
        complete = True
    finally:
        iterator.close_progress(complete)
    seconds = time.perf_counter() - started
    nbytes = math.prod(model.shape) * model.dtype.itemsize
    log.info("wrote %s: %.1f MB raw in %.1f s (%.1f MB/s)", final, nbytes / 1e6, seconds,
                nbytes / 1e6 / max(seconds, 1e-9))
    return GeneratedInfo(path=final, kind=kind, dataset=DATASET_PATHS[kind],
                         shape=tuple(model.shape), dtype=str(model.dtype),
                         chunks=tuple(layout.chunks), nbytes=nbytes, seconds=seconds)


def _write_nwb_contiguous(final: str, iterator: BlockIterator, layout: Layout,
                          build: Callable[[H5DataIO], NWBFile],
                          finalize: Callable[[h5py.File], None] | None) -> None:
    """pynwb's default storage, contiguous, for data that come block by block: hdmf writes an
    iterator only into a chunked dataset (it extends the dataset before each block), so the
    blocks go to a contiguous dataset of a staging file beside the output first, which hdmf
    then copies into the NWB file whole (``H5Ocopy`` keeps its storage)."""
    staging = temp_path(final, "data")
    try:
        with h5py.File(staging, "w") as h5:
            dset = h5.create_dataset("data", shape=iterator.maxshape, dtype=iterator.dtype)
            for chunk in iterator:
                dset[chunk.selection] = chunk.data
        with h5py.File(staging, "r") as h5:
            nwbfile = build(H5DataIO(data=h5["data"], link_data=False))
            write_nwbfile(final, nwbfile, page_size=layout.page_size, finalize=finalize)
    finally:
        with contextlib.suppress(FileNotFoundError):
            staging.unlink()


def write_hdf5(path: str | os.PathLike[str], kind: str, model: BlockModel, layout: Layout,
               dataset: str, *, attrs: dict[str, Any] | None = None,
               axes: Sequence[str] | None = None, progress: bool = False) -> GeneratedInfo:
    """Write the model's data as one dataset of a plain HDF5 file (no NWB), atomically.

    For data that do not live in NWB files (microscopy volumes usually do not), the same
    blocks, buffers and codecs as :func:`write_nwb`, written with h5py directly: the data are
    bit-identical to the NWB variant's. ``attrs`` are set on the dataset and ``axes`` become
    its HDF5 dimension labels.
    """
    final = os.fspath(path)
    _check_folder(final)  # fail on a missing folder before any work
    started = time.perf_counter()
    iterator = BlockIterator(model, write_unit(layout), progress=progress, desc=f"{kind} blocks")
    kwargs = dataio_kwargs(layout)
    kwargs.pop("allow_plugin_filters", None)  # an hdmf option; h5py takes filter ids as they are
    log.debug("writing plain HDF5 %s %s %s chunks=%s codec=%s to %s", kind, model.shape,
                model.dtype, layout.chunks, layout.name, final)
    complete = False
    try:
        with atomic_output(final) as tmp, \
                h5py.File(tmp, "w", **_page_kwargs(layout.page_size)) as h5:
            dset = h5.create_dataset(dataset, shape=model.shape, dtype=model.dtype, **kwargs)
            for name, value in (attrs or {}).items():
                dset.attrs[name] = value
            if axes is not None:
                label_axes(dset, axes)
            for chunk in iterator:
                dset[chunk.selection] = chunk.data
        complete = True
    finally:
        iterator.close_progress(complete)
    seconds = time.perf_counter() - started
    return GeneratedInfo(path=final, kind=kind, dataset=dataset, shape=tuple(model.shape),
                         dtype=str(model.dtype), chunks=tuple(layout.chunks),
                         nbytes=math.prod(model.shape) * model.dtype.itemsize, seconds=seconds)


def _page_kwargs(page_size: int | None) -> dict[str, Any]:
    if not page_size:
        return {}
    return {"fs_strategy": "page", "fs_page_size": page_size, "fs_persist": True}
