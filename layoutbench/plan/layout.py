"""Layouts (how one array is stored) and the default grids of layouts to compare.

A :class:`Layout` is the noun every other part speaks: the rewriter writes one, the readers
open one, the results record one. It is deliberately concrete (no "auto" chunk shapes): a grid
is resolved against the dataset's shape before anything is written, so a result row always
says exactly what was measured. This module is pure: no file or network I/O.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from layoutbench.errors import BadValueError

FORMATS = ("hdf5", "zarr")
CODECS = ("none", "gzip", "zstd", "blosc-zstd", "blosc-lz4", "lz4")

#: The level each codec gets when a layout does not name one. gzip 4 is neuroconv's (and
#: h5py's) customary default; zstd 3 is zstd's own default; 5 is Blosc's.
DEFAULT_LEVELS: dict[str, int | None] = {
    "none": None,
    "gzip": 4,
    "zstd": 3,
    "blosc-zstd": 5,
    "blosc-lz4": 5,
    "lz4": None,
}
_LEVEL_RANGES = {"gzip": (0, 9), "zstd": (1, 22), "blosc-zstd": (0, 9), "blosc-lz4": (0, 9)}
_SHORT_CODEC = {
    "none": "raw",
    "gzip": "gzip",
    "zstd": "zstd",
    "blosc-zstd": "bzstd",
    "blosc-lz4": "lz4b",
    "lz4": "lz4",
}
MiB = 2**20


class LayoutError(BadValueError):
    """A layout that cannot be written, with the reason in one line (a ``ValueError``)."""


@dataclass(frozen=True, slots=True)
class Layout:
    """How one N-d array is stored.

    Parameters
    ----------
    format
        ``"hdf5"`` (one file, h5py) or ``"zarr"`` (a Zarr v3 store).
    chunks
        Chunk shape. For sharded Zarr this is the inner chunk (the unit of decoding).
    codec, level, shuffle
        Compression. ``shuffle`` is HDF5's byte-shuffle filter for HDF5 layouts and Blosc's
        byte shuffle inside Blosc; plain gzip/zstd in Zarr take no shuffle (Zarr v3 has no core
        shuffle codec), which :meth:`validate` enforces rather than silently dropping.
    shards
        Zarr v3 shard shape (a multiple of ``chunks``): one object per shard, inner chunks
        fetched by range through the shard index.
    page_size
        HDF5 paged aggregation page size in bytes (``fs_strategy="page"``), or ``None``.
    contiguous
        HDF5 contiguous storage (no chunks; what pynwb writes unless told otherwise): ``chunks``
        is then the whole shape, and the data are uncompressed, one run of bytes read by
        ranges, which the readers fetch quite differently from one chunk.
    label
        A well-known name such as ``"neuroconv-default"``; when absent, :attr:`name` is derived
        from the parameters so that equal layouts always have equal names.
    """

    format: str
    chunks: tuple[int, ...]
    codec: str = "zstd"
    level: int | None = None
    shuffle: bool = False
    shards: tuple[int, ...] | None = None
    page_size: int | None = None
    label: str | None = field(default=None, compare=False)
    contiguous: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "chunks", _whole("chunks", self.chunks))
        if self.shards is not None:
            object.__setattr__(self, "shards", _whole("shards", self.shards))
        if self.level is None and self.codec in DEFAULT_LEVELS:
            object.__setattr__(self, "level", DEFAULT_LEVELS[self.codec])
        self.validate()

    # -- identity -------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """Short, stable identifier used in result tables, file names and object keys."""
        return self.label or self.derived_name

    @property
    def derived_name(self) -> str:
        """Name computed from the parameters alone (ignores :attr:`label`)."""
        fmt = "h5" if self.format == "hdf5" else "zarr"
        if self.contiguous:
            return "-".join(["h5-contiguous", *([f"p{_fmt_page(self.page_size)}"]
                                               if self.page_size else [])])
        parts = [fmt, "x".join(map(str, self.chunks))]
        if self.shards:
            parts.append("s" + "x".join(map(str, self.shards)))
        codec = _SHORT_CODEC[self.codec] + ("" if self.level is None else str(self.level))
        parts.append(codec + ("-shuf" if self.shuffle else ""))
        if self.page_size:
            parts.append(f"p{_fmt_page(self.page_size)}")
        return "-".join(parts)

    # -- checks ---------------------------------------------------------------------------------
    def validate(self, shape: Sequence[int] | None = None) -> None:
        """Raise :class:`LayoutError` if the layout is inconsistent (or does not fit ``shape``)."""
        if self.format not in FORMATS:
            raise LayoutError(f"unknown format {self.format!r}; expected one of {FORMATS}")
        if self.codec not in CODECS:
            raise LayoutError(f"unknown codec {self.codec!r}; expected one of {CODECS}")
        if not self.chunks or any(c < 1 for c in self.chunks):
            raise LayoutError(f"chunks must be positive integers, got {self.chunks}")
        if self.codec in ("none", "lz4"):
            if self.level is not None:
                raise LayoutError(f"codec {self.codec!r} takes no level")
        else:
            lo, hi = _LEVEL_RANGES[self.codec]
            if self.level is None or not lo <= self.level <= hi:
                raise LayoutError(f"{self.codec} level must be in [{lo}, {hi}], got {self.level}")
        if self.shards is not None:
            if self.format != "zarr":
                raise LayoutError("shards are a Zarr v3 feature; HDF5 layouts cannot have them")
            if len(self.shards) != len(self.chunks) or any(
                s % c for s, c in zip(self.shards, self.chunks, strict=True)
            ):
                raise LayoutError(f"shards {self.shards} must be multiples of chunks {self.chunks}")
        if self.page_size is not None:
            if self.format != "hdf5":
                raise LayoutError("page_size (paged aggregation) applies to HDF5 layouts only")
            if self.page_size < 512:
                raise LayoutError(f"page_size must be at least 512 bytes, got {self.page_size}")
        if self.contiguous and (self.format != "hdf5" or self.codec != "none" or self.shuffle
                                or self.shards):
            raise LayoutError("contiguous storage is HDF5's, uncompressed and unfiltered")
        if self.format == "zarr" and self.codec == "lz4":
            raise LayoutError("codec 'lz4' (HDF5 filter 32004) is for HDF5 layouts; use blosc-lz4")
        if self.format == "zarr" and self.shuffle and not self.codec.startswith("blosc"):
            raise LayoutError("Zarr layouts support shuffle only inside Blosc codecs")
        if shape is not None and len(shape) != len(self.chunks):
            raise LayoutError(
                f"layout {self.name} has {len(self.chunks)}-d chunks for a {len(shape)}-d array"
            )

    def fitted(self, shape: Sequence[int]) -> Layout:
        """The same layout with chunks (and shards) clipped to ``shape``.

        Grids are written for typical sizes; clipping lets one grid serve a small test file
        and a large recording without writing chunks larger than the array.
        """
        self.validate(shape)
        if self.contiguous:  # one run of the whole array, whatever chunks were written down
            return replace(self, chunks=tuple(max(1, int(n)) for n in shape))
        chunks = tuple(max(1, min(c, n)) for c, n in zip(self.chunks, shape, strict=True))
        shards = None
        if self.shards is not None:
            # keep shards a multiple of the (clipped) chunks and no larger than needed
            shards = tuple(
                min(s, math.ceil(n / c) * c)
                for s, c, n in zip(self.shards, chunks, shape, strict=True)
            )
            shards = tuple(max(c, (s // c) * c) for s, c in zip(shards, chunks, strict=True))
        return Layout(
            format=self.format,
            chunks=chunks,
            codec=self.codec,
            level=self.level,
            shuffle=self.shuffle,
            shards=shards,
            page_size=self.page_size,
            label=self.label,
            contiguous=self.contiguous,
        )

    def chunk_nbytes(self, itemsize: int) -> int:
        """Uncompressed bytes of one (inner) chunk."""
        return math.prod(self.chunks) * itemsize

    # -- serialisation --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; ``name`` is included for readers of the JSON, ignored on load."""
        return {
            "name": self.name,
            "format": self.format,
            "chunks": list(self.chunks),
            "shards": None if self.shards is None else list(self.shards),
            "codec": self.codec,
            "level": self.level,
            "shuffle": self.shuffle,
            "page_size": self.page_size,
            "label": self.label,
            "contiguous": self.contiguous,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Layout:
        """Inverse of :meth:`to_dict`; unknown keys are an error, not silently ignored."""
        known = {"name", "format", "chunks", "shards", "codec", "level", "shuffle", "page_size",
                 "label", "contiguous"}
        extra = set(d) - known
        if extra:
            raise LayoutError(f"unknown layout keys: {sorted(extra)}")
        shards = d.get("shards")
        return cls(
            format=d["format"],
            chunks=tuple(d["chunks"]),
            codec=d.get("codec", "zstd"),
            level=d.get("level"),
            shuffle=bool(d.get("shuffle", False)),
            shards=None if shards is None else tuple(shards),
            page_size=d.get("page_size"),
            label=d.get("label"),
            contiguous=bool(d.get("contiguous", False)),
        )


def as_layout(layout: Layout | dict[str, Any]) -> Layout:
    """A :class:`Layout` from itself or from its :meth:`~Layout.to_dict` form (JSON on disk)."""
    if isinstance(layout, Layout):
        return layout
    if isinstance(layout, dict):
        return Layout.from_dict(layout)
    raise LayoutError(f"a layout is a Layout or its dict form, not {type(layout).__name__}")


def _whole(what: str, values: Sequence[Any]) -> tuple[int, ...]:
    """Integers, refusing 10.5 rather than truncating it to 10 (or a string, or a bool)."""
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or v != int(float(v)):
            raise LayoutError(f"{what} must be whole numbers, got {list(values)}")
        out.append(int(float(v)))
    return tuple(out)


def _fmt_page(nbytes: int) -> str:
    return f"{nbytes // MiB}m" if nbytes % MiB == 0 else f"{nbytes // 1024}k"


# -- well-known layouts -----------------------------------------------------------------------
def neuroconv_chunks(kind: str, shape: Sequence[int], itemsize: int, chunk_mb: float = 10.0
                     ) -> tuple[int, ...]:
    """The chunk shape neuroconv's iterative writers choose by default.

    Imaging series get whole frames, as many as fit in ``chunk_mb`` (10⁶ B per MB), at least
    one and at most all; electrical series get ``min(64, channels)`` channels and as many frames
    as fit. These are the shapes on most of DANDI, hence our baseline.
    """
    if kind == "ophys":
        frame_bytes = math.prod(shape[1:]) * itemsize
        frames = max(1, min(int(chunk_mb * 1e6 / frame_bytes), shape[0]))
        return (frames, *shape[1:])
    if kind == "ecephys":
        channels = min(64, shape[1])
        frames = min(int(chunk_mb * 1e6 // (channels * itemsize)), shape[0])
        return (max(1, frames), channels, *shape[2:])
    if kind == "volume":
        plane_bytes = math.prod(shape[1:]) * itemsize
        planes = max(1, min(int(chunk_mb * 1e6 / plane_bytes), shape[0]))
        return (planes, *shape[1:])
    raise LayoutError(f"unknown data kind {kind!r}; expected ophys, ecephys or volume")


def neuroconv_default(kind: str, shape: Sequence[int], itemsize: int) -> Layout:
    """neuroconv's default HDF5 layout: its chunk rule with gzip level 4."""
    return Layout("hdf5", neuroconv_chunks(kind, shape, itemsize), "gzip", 4,
                  label="neuroconv-default")


def h5py_auto_chunks(shape: Sequence[int], itemsize: int) -> tuple[int, ...]:
    """What ``h5py.create_dataset(..., chunks=True)`` picks for a fixed-size dataset.

    A transcription of h5py's ``guess_chunk`` heuristic (h5py/_hl/filters.py) so this module
    stays import-light and pure; ``tests/test_layout.py`` checks it against h5py itself.
    """
    chunks = [float(max(1, n)) for n in shape]
    dset_size = math.prod(chunks) * itemsize
    target_size = 16 * 1024 * (2 ** math.log10(dset_size / (1024.0 * 1024)))
    target_size = min(max(target_size, 8 * 1024), 1024 * 1024)
    idx = 0
    while True:
        chunk_bytes = math.prod(chunks) * itemsize
        if (chunk_bytes < target_size or abs(chunk_bytes - target_size) / target_size < 0.5) and (
            chunk_bytes < 1024 * 1024
        ):
            break
        if math.prod(chunks) == 1:
            break
        chunks[idx % len(chunks)] = math.ceil(chunks[idx % len(chunks)] / 2.0)
        idx += 1
    return tuple(int(c) for c in chunks)


def h5py_auto(shape: Sequence[int], itemsize: int) -> Layout:
    """``chunks=True`` with gzip 4, so only the chunk shape differs from the baseline."""
    return Layout("hdf5", h5py_auto_chunks(shape, itemsize), "gzip", 4, label="h5py-auto")


# -- grids ------------------------------------------------------------------------------------
GRIDS = ("default", "quick", "paged")
#: Page sizes the ``paged`` grid compares (HDF5 paged aggregation), 1, 4 and 8 MiB.
PAGE_SIZES = (1 * MiB, 4 * MiB, 8 * MiB)


#: NWB types whose data are a time series of images (``ophys``) or of voltages (``ecephys``).
OPHYS_TYPES = frozenset({"TwoPhotonSeries", "OnePhotonSeries", "ImageSeries"})
ECEPHYS_TYPES = frozenset({"ElectricalSeries", "SpikeEventSeries"})
#: First-axis names (HDF5 dimension labels, case-insensitive) that say what the array is:
#: a stack of planes in depth, or a series in time.
VOLUME_AXES = frozenset({"z", "depth", "plane", "planes", "slice", "slices"})
TIME_AXES = frozenset({"t", "time", "frame", "frames"})


def kind_of(neurodata_type: str | None, ndim: int, axes: Sequence[str] | None = None) -> str:
    """Data kind (``ophys``/``ecephys``/``volume``): which access patterns and grid apply.

    The rule, most explicit evidence first:

    1. Axis names. A 3-d array whose first axis is labelled ``z`` (or ``depth``, ``plane``,
       ``slice``) is a volume, whatever its NWB type: NWB has no volume type, so z-stacks are
       stored as ``ImageSeries`` whose frames are planes, and only the labels tell them from
       movies. Anyone can label a file (``dset.dims[0].label = "z"`` in h5py); the volume
       generator does.
    2. The NWB type: imaging series are ``ophys``, electrical series ``ecephys``.
    3. The shape: 2-d is ``ecephys``. 3-d is ``ophys`` if the array belongs to some other NWB
       type (NWB series are time-first) or its first axis is labelled as time, and a volume
       otherwise: a 3-d array in a plain HDF5 file (no NWB type) is most often an image stack
       (BigDataViewer, Imaris, ilastik), and a movie there can say so with a ``t`` label.
    """
    first = axes[0].strip().lower() if axes and axes[0] else None
    if ndim == 3 and first in VOLUME_AXES:
        return "volume"
    if neurodata_type in OPHYS_TYPES:
        return "ophys"
    if neurodata_type in ECEPHYS_TYPES:
        return "ecephys"
    if ndim == 3:
        return "ophys" if neurodata_type is not None or first in TIME_AXES else "volume"
    return "ecephys" if ndim == 2 else "volume"


def _ophys_grid(t: int, y: int, x: int) -> list[Layout]:
    tl = min(t, 1024)
    return [
        Layout("hdf5", (1, y, x), "zstd", label="one-frame"),
        Layout("hdf5", (tl, 16, 16), "zstd", shuffle=True),
        Layout("hdf5", (tl, 32, 32), "zstd", shuffle=True),
        Layout("hdf5", (tl, 32, 32), "gzip", 4, shuffle=True),
        Layout("hdf5", (tl, 32, 32), "blosc-lz4", shuffle=True),
        Layout("hdf5", (tl, 32, 32), "none"),
        Layout("hdf5", (64, 64, 64), "zstd", shuffle=True),
        Layout("hdf5", (128, 128, 128), "blosc-zstd", shuffle=True),
        Layout("zarr", (1, y, x), "zstd"),
        Layout("zarr", (tl, 32, 32), "blosc-zstd", shuffle=True),
        Layout("zarr", (64, 64, 64), "gzip", 4),
        Layout("zarr", (tl, 16, 16), "blosc-zstd", shuffle=True, shards=(tl, 128, 128)),
    ]


def _ecephys_grid(t: int, c: int) -> list[Layout]:
    return [
        Layout("hdf5", (262144, 1), "zstd", shuffle=True),
        Layout("hdf5", (65536, 1), "gzip", 4, shuffle=True),
        Layout("hdf5", (65536, 4), "zstd", shuffle=True),
        Layout("hdf5", (65536, 4), "blosc-lz4", shuffle=True),
        Layout("hdf5", (65536, 4), "none"),
        Layout("hdf5", (30000, c), "zstd", shuffle=True, label="one-second"),
        Layout("hdf5", (16384, 16), "blosc-zstd", shuffle=True),
        Layout("zarr", (262144, 1), "zstd"),
        Layout("zarr", (30000, c), "blosc-zstd", shuffle=True),
        Layout("zarr", (65536, 4), "gzip", 4),
        Layout("zarr", (65536, 1), "blosc-zstd", shuffle=True, shards=(1048576, 16)),
    ]


def _volume_grid(z: int, y: int, x: int) -> list[Layout]:
    """Slabs (what microscopes write plane by plane) against cubes, codecs and sharding.

    Three orthogonal planes through slabs of whole planes read every slab for the XZ and YZ
    planes, i.e. the whole volume twice; chunks of ``(cz, cy, cx)`` read ``cz`` XY planes,
    ``cy`` XZ planes and ``cx`` YZ planes. Small chunks win on bytes (a 16 x 32 x 32 chunk
    moves ~11x fewer bytes than one-plane slabs on the default volume) and lose on requests,
    which sharding (one object, inner chunks by range) and concurrent readers recover. Chunks
    half as deep as wide suit stacks whose planes are larger than their depth (z is often the
    shortest axis), since an XY plane then has the most voxels.
    """
    return [
        Layout("hdf5", (1, y, x), "zstd", shuffle=True, label="one-plane"),
        Layout("hdf5", (16, y, x), "zstd", shuffle=True),
        Layout("hdf5", (32, 32, 32), "zstd", shuffle=True),
        Layout("hdf5", (64, 64, 64), "zstd", shuffle=True),
        Layout("hdf5", (128, 128, 128), "zstd", shuffle=True),
        Layout("hdf5", (16, 32, 32), "zstd", shuffle=True),
        Layout("hdf5", (32, 32, 32), "blosc-zstd", shuffle=True),
        Layout("hdf5", (64, 64, 64), "gzip", 4, shuffle=True),
        Layout("hdf5", (128, 128, 128), "blosc-lz4", shuffle=True),
        Layout("zarr", (1, y, x), "zstd"),
        Layout("zarr", (64, 64, 64), "blosc-zstd", shuffle=True),
        Layout("zarr", (32, 32, 32), "blosc-zstd", shuffle=True, shards=(256, 256, 256)),
        Layout("zarr", (16, 32, 32), "blosc-zstd", shuffle=True, shards=(128, 256, 256)),
    ]


def default_grid(kind: str, shape: Sequence[int], itemsize: int, grid: str = "default", *,
                 recommended: Layout | None = None) -> list[Layout]:
    """The layouts a sweep compares for data of ``kind`` and ``shape``, fitted to the shape.

    The baselines come first (``neuroconv-default``, ``h5py-auto``). ``"quick"`` keeps the
    baselines and the two or three layouts that matter most for the kind's patterns, for tests
    and smoke runs. ``"paged"`` takes ``neuroconv-default`` and the kind's leading narrow
    layout, each unpaged and with HDF5 paged aggregation at :data:`PAGE_SIZES`. Duplicates
    that arise from clipping (for example on a small test file) are dropped, first wins. A
    ``recommended`` layout comes last, labelled ``recommended``, so that the layout a
    recommendation chose is measured beside the grid and named as such (even where the grid
    holds it too).
    """
    if recommended is not None:
        return [*default_grid(kind, shape, itemsize, grid),
                replace(recommended, label="recommended")]
    if grid not in GRIDS:
        raise LayoutError(f"unknown grid {grid!r}; expected one of {GRIDS}")
    shape = tuple(int(n) for n in shape)
    if kind == "other":
        return _unique([h5py_auto(shape, itemsize), *_blocks_grid(shape, itemsize, grid)], shape)
    if kind == "ophys":
        if len(shape) != 3:
            raise LayoutError(f"ophys data must be 3-d (frames, y, x), got shape {shape}")
        body = _ophys_grid(*shape)
        quick = [body[0], body[1], body[9], body[11]]
    elif kind == "ecephys":
        if len(shape) != 2:
            raise LayoutError(f"ecephys data must be 2-d (samples, channels), got shape {shape}")
        body = _ecephys_grid(*shape)
        quick = [body[0], body[5], body[7], body[10]]
    elif kind == "volume":
        if len(shape) != 3:
            raise LayoutError(f"volume data must be 3-d (z, y, x), got shape {shape}")
        body = _volume_grid(*shape)
        quick = [body[0], body[5], body[2], body[12]]  # one-plane + the best for planes
    else:
        raise LayoutError(f"unknown data kind {kind!r}; expected ophys, ecephys, volume or other")
    base = [neuroconv_default(kind, shape, itemsize), h5py_auto(shape, itemsize)]
    if grid == "paged":
        layouts = [
            replace(lay, page_size=p, label=lay.label if lay.label is None or p is None
                    else f"{lay.label}-p{_fmt_page(p)}")
            for lay in (base[0], quick[1]) for p in (None, *PAGE_SIZES)
        ]
    else:
        layouts = base + (quick if grid == "quick" else body)
    return _unique(layouts, shape)


def _unique(layouts: Sequence[Layout], shape: tuple[int, ...]) -> list[Layout]:
    """The layouts fitted to ``shape``, duplicates (clipping makes some) dropped, first wins."""
    out: list[Layout] = []
    seen: set[Layout] = set()
    for layout in layouts:
        fitted = layout.fitted(shape)
        if fitted not in seen:
            seen.add(fitted)
            out.append(fitted)
    return out


def _blocks_grid(shape: tuple[int, ...], itemsize: int, grid: str) -> list[Layout]:
    """Arrays of no known kind (1-d, 4-d and more) are read in blocks of whole rows of the
    first axis (the ``block-read`` pattern): chunks of about 1 and 8 MB of such rows, split
    along the second axis when one row alone is larger."""
    row = max(1, math.prod(shape[1:]) * itemsize)
    out = []
    for target in (2**20, 8 * 2**20):
        rows = max(1, target // row)
        chunks = [min(shape[0], rows), *shape[1:]]
        while math.prod(chunks) * itemsize > 2 * target and len(chunks) > 1 and chunks[1] > 1:
            chunks[1] = max(1, chunks[1] // 2)
        for fmt, codec in (("hdf5", "zstd"), ("zarr", "blosc-zstd")):
            out.append(Layout(fmt, tuple(chunks), codec, shuffle=True))
    return out[:2] if grid == "quick" else out
