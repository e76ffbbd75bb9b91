"""What ``apply`` will do, decided before a byte is written: the layouts a recommendation asks
for, checked against the file's links, and the ordered steps that rebuild the file (pure).

:func:`layouts_from_recommendation` reads the JSON of DESIGN.md §6; :func:`plan_copy` turns the
source's links (:func:`~layoutbench.write.h5copy.scan_links`) into :class:`Step` s, refusing a
request that cannot be honoured with one line naming the file and the dataset.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from layoutbench.errors import UserError
from layoutbench.plan.layout import Layout, LayoutError
from layoutbench.write.h5copy import LinkEntry

_REQUIRED = ("format", "chunks", "shards", "codec", "level", "shuffle")  # DESIGN.md §6

_LAYOUT_KEYS = (*_REQUIRED, "page_size", "label", "contiguous")


def layouts_from_recommendation(obj: Any, *, name: str = "recommendation") -> dict[str, Layout]:
    """Dataset path -> :class:`Layout` from a ``recommend --format json`` object (DESIGN §6).

    Only the ``recommended`` layout of each dataset is used; predicted metrics, alternatives
    and other extra keys are ignored, so that newer recommendations still apply.

    Raises
    ------
    UserError
        Naming ``name`` and the problem: not an object, missing keys, a duplicate path or an
        invalid layout. Zarr layouts are returned like HDF5 ones: ``apply`` writes them as
        NWB-Zarr (:mod:`.apply_zarr`).
    """
    if not isinstance(obj, dict) or not isinstance(obj.get("datasets"), list):
        raise UserError(f"{name}: not a recommendation (expected an object with a 'datasets' "
                        "list, as printed by `layoutbench recommend --format json`)")
    layouts: dict[str, Layout] = {}
    for i, item in enumerate(obj["datasets"]):
        where = f"{name}: datasets[{i}]"
        rec = item.get("recommended") if isinstance(item, dict) else None
        if not isinstance(item, dict) or "path" not in item or not isinstance(rec, dict):
            raise UserError(f"{where}: needs a 'path' and a 'recommended' object")
        path = "/" + str(item["path"]).strip("/")
        missing = [k for k in _REQUIRED if k not in rec]  # a typo must not mean a default
        if missing:
            raise UserError(f"{where} ({path}): 'recommended' lacks {', '.join(missing)}")
        if problem := _mistyped(rec):
            raise UserError(f"{where} ({path}): {problem}")
        try:
            layout = Layout.from_dict({k: rec[k] for k in _LAYOUT_KEYS if k in rec})
        except (LayoutError, TypeError, ValueError) as exc:
            raise UserError(f"{where} ({path}): invalid layout: {exc}") from None
        if path in layouts:
            raise UserError(f"{where}: dataset {path} is listed twice")
        if item.get("keep") or layout.contiguous:  # the dataset stays as it is: copied
            continue
        layouts[path] = layout
    return layouts


def _whole(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _mistyped(rec: Mapping[str, Any]) -> str | None:
    """What in a ``recommended`` object is not of its type, in the JSON's words (a value of
    the wrong type is refused, never converted or ignored: ``"shuffle": "yes"`` is not true,
    and ``1e9`` is not a chunk length)."""
    def ints(key: str) -> str | None:
        v = rec.get(key)
        if not isinstance(v, list) or not v or not all(_whole(n) and n >= 1 for n in v):
            return f"'{key}' must be a list of whole numbers >= 1, got {json.dumps(v)}"
        return None

    if rec.get("format") not in ("hdf5", "zarr"):
        return f"'format' must be \"hdf5\" or \"zarr\", got {json.dumps(rec.get('format'))}"
    if problem := ints("chunks"):
        return problem
    if rec.get("shards") is not None and (problem := ints("shards")):
        return problem
    if not isinstance(rec.get("codec"), str):
        return f"'codec' must be a codec's name, got {json.dumps(rec.get('codec'))}"
    if rec.get("level") is not None and not _whole(rec.get("level")):
        return f"'level' must be a whole number or null, got {json.dumps(rec.get('level'))}"
    for key in ("shuffle", "contiguous"):
        if key in rec and not isinstance(rec[key], bool):
            return f"'{key}' must be true or false, got {json.dumps(rec[key])}"
    if rec.get("page_size") is not None and not _whole(rec.get("page_size")):
        return f"'page_size' must be a whole number of bytes or null, got " \
               f"{json.dumps(rec.get('page_size'))}"
    return None


@dataclass(frozen=True, slots=True)
class MadeFor:
    """What a recommendation says its dataset was: its shape, and its dtype where it says."""

    shape: tuple[int, ...]
    dtype: str | None = None


def recommended_shapes(obj: Any) -> dict[str, MadeFor]:
    """Dataset path -> the shape (and dtype) the recommendation was made for, where it says,
    so that a recommendation is not applied to another dataset than it was made for."""
    out: dict[str, MadeFor] = {}
    for item in obj.get("datasets", []) if isinstance(obj, dict) else []:
        if isinstance(item, dict) and isinstance(item.get("shape"), list) and "path" in item:
            dtype = item.get("dtype")
            out["/" + str(item["path"]).strip("/")] = MadeFor(
                tuple(int(n) for n in item["shape"]), None if dtype is None else str(dtype))
    return out


def load_recommendation(path: str | os.PathLike[str]) -> Any:
    """The JSON object of a recommendation file; :class:`UserError` if unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except OSError as exc:
        raise UserError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise UserError(f"{path}: not valid JSON ({exc})") from None


def read_recommendation(path: str | os.PathLike[str]) -> dict[str, Layout]:
    """:func:`layouts_from_recommendation` of a JSON file; :class:`UserError` if unreadable."""
    return layouts_from_recommendation(load_recommendation(path), name=str(path))


@dataclass(frozen=True, slots=True)
class Step:
    """One thing to create in the output, in order: see :func:`plan_copy`."""

    action: str  # "group", "copy", "rewrite", "hardlink", "softlink" or "extlink"
    path: str
    target: str | None = None  # hardlink: the first path of the object; soft/ext: link value
    file: str | None = None
    layout: Layout | None = None
    cset: int = 0


def _resolve(entries: list[LinkEntry], layouts: Mapping[str, Layout], file: str,
             shapes: Mapping[str, MadeFor] | None = None) -> dict[int, Layout]:
    """Object key -> fitted layout for each requested dataset; UserError for a bad request
    (``shapes``: the shape each layout was chosen for, which the dataset must have)."""
    by_path = {e.path: e for e in entries}
    targets: dict[int, tuple[str, Layout]] = {}
    for raw_path, layout in layouts.items():
        path = "/" + raw_path.strip("/")
        entry = by_path.get(path)
        if entry is None:
            big = sorted((e for e in entries if e.kind == "dataset" and e.shape),
                         key=lambda e: -math.prod(e.shape or ()))[:5]
            hint = f" (largest datasets: {', '.join(e.path for e in big)})" if big else ""
            raise UserError(f"{file}: dataset {path!r} does not exist{hint}")
        if entry.link != "hard":
            raise UserError(f"{file}: {path!r} is a {entry.link} link"
                            + (f" to {entry.target!r}; name that dataset" if entry.target else ""))
        if entry.kind != "dataset":
            raise UserError(f"{file}: {path!r} is a {entry.kind}, not a dataset")
        if layout.format != "hdf5":
            raise UserError(f"{file}: {path}: layout {layout.name} is {layout.format}; apply "
                            "writes HDF5 NWB files only, choose an hdf5 layout")
        shape = tuple(entry.shape or ())
        check_rechunkable(file, path, layout, shape, np.dtype(entry.dtype), shapes)
        fitted = _fit(layout, shape, entry.maxshape or shape)
        assert entry.key is not None
        other = targets.get(entry.key)
        if other is not None and other[1] != fitted:
            raise UserError(f"{file}: {path} and {other[0]} are the same dataset (hard links) "
                            "but are given different layouts")
        targets[entry.key] = (path, fitted)
    return {key: layout for key, (_, layout) in targets.items()}


def check_rechunkable(file: str, path: str, layout: Layout, shape: tuple[int, ...],
                      dtype: np.dtype[Any], shapes: Mapping[str, MadeFor] | None) -> None:
    """One line (a :class:`UserError`) when ``layout`` cannot be applied to this dataset: not
    a numeric N-d array, another shape than the recommendation was made for, or chunks of
    another rank. Shared by the HDF5 and the NWB-Zarr writers."""
    if not shape or dtype.kind not in "iufb":
        raise UserError(f"{file}: {path!r} is not a numeric N-d array "
                        f"({dtype}, shape {shape}); only those can be re-chunked")
    made = (shapes or {}).get(path)
    expected = None if made is None else made.shape
    if expected is not None and tuple(expected) != tuple(shape):
        raise UserError(f"{file}: {path} has shape {shape}, but the recommendation was made "
                        f"for shape {tuple(expected)} (another file?); recommend for this "
                        "file first")
    if made is not None and made.dtype is not None and _dtype_name(made.dtype) != dtype:
        raise UserError(f"{file}: {path} holds {dtype}, but the recommendation was made for "
                        f"{made.dtype} (another file, or edited?); its compression was "
                        "predicted for that type: recommend for this file")
    if len(layout.chunks) != len(shape):
        raise UserError(f"{file}: {path}: chunks {layout.chunks} have {len(layout.chunks)} "
                        f"dimensions, the dataset has {len(shape)} (shape {shape})")
    # a recommendation made for this shape never has longer chunks (layouts given directly, a
    # grid's for any file, are fitted to the dataset as every rewrite does)
    over = [i for i, (c, n) in enumerate(zip(layout.chunks, shape, strict=True)) if n and c > n]
    if over and expected is not None and not layout.contiguous:
        i = over[0]
        raise UserError(f"{file}: {path}: chunks {layout.chunks} are longer than the dataset "
                        f"(shape {shape}) along axis {i} ({layout.chunks[i]} > {shape[i]}); a "
                        "recommendation's chunks fit its dataset, so this one was made for "
                        "another (or edited): recommend for this file")


def _dtype_name(name: str) -> np.dtype[Any] | str:
    try:
        return np.dtype(name)
    except TypeError:
        return name  # not a NumPy type name: never equal to the dataset's


def _fit(layout: Layout, shape: tuple[int, ...], maxshape: tuple[int | None, ...]) -> Layout:
    """Chunks clipped to the shape, as every rewrite does; an empty axis keeps its chunk
    length (up to a finite maxshape), since the dataset is meant to grow along it."""
    chunks = tuple(min(c, n) if n else max(1, c if m is None else min(c, m))
                   for c, n, m in zip(layout.chunks, shape, maxshape, strict=True))
    return replace(layout, chunks=chunks)


def plan_copy(entries: list[LinkEntry], layouts: Mapping[str, Layout], *, file: str = "source",
              shapes: Mapping[str, MadeFor] | None = None) -> list[Step]:
    """The steps that rebuild the file with ``layouts`` applied (pure; validates the request).

    The first hard link to an object creates it (a group, a verbatim copy, or a rewrite in
    the fitted layout); later hard links to it become hard links to that first path, so a
    dataset linked in several places stays one object. Soft and external links are
    re-created with their values unchanged.

    Raises
    ------
    UserError
        A requested path that does not exist, is a link or a group, is not a numeric N-d
        array, gets chunks of the wrong rank or a Zarr layout; an unsupported link class.
    """
    targets = _resolve(entries, layouts, file, shapes)
    first: dict[int, str] = {}
    steps: list[Step] = []
    for e in entries:
        if e.link == "soft":
            steps.append(Step("softlink", e.path, target=e.target, cset=e.cset))
        elif e.link == "external":
            steps.append(Step("extlink", e.path, target=e.target, file=e.file, cset=e.cset))
        elif e.link != "hard" or e.key is None:
            raise UserError(f"{file}: {e.path!r} is a user-defined link, which apply cannot copy")
        elif e.key in first:
            steps.append(Step("hardlink", e.path, target=first[e.key], cset=e.cset))
        else:
            first[e.key] = e.path
            if e.kind == "group":
                steps.append(Step("group", e.path, cset=e.cset))
            elif e.key in targets:
                steps.append(Step("rewrite", e.path, layout=targets[e.key], cset=e.cset))
            else:
                steps.append(Step("copy", e.path, cset=e.cset))
    return steps


def file_page_size(layouts: Iterable[Layout], *, file: str = "source") -> int | None:
    """The output's page size: the one the layouts name (it is a file-wide property)."""
    sizes = sorted({lay.page_size for lay in layouts if lay.page_size})
    if len(sizes) > 1:
        raise UserError(f"{file}: the layouts ask for different page sizes {sizes}; "
                        "paged aggregation is a property of the whole file, choose one")
    return sizes[0] if sizes else None


@dataclass(frozen=True, slots=True)
class DatasetChange:
    """One rewritten dataset: its storage before and after."""

    path: str
    shape: tuple[int, ...]
    dtype: str
    old_chunks: tuple[int, ...] | None  # None: contiguous
    old_codec: str
    old_level: int | None
    old_shuffle: bool
    layout: Layout
    stored_bytes_before: int
    stored_bytes_after: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "shape": list(self.shape), "dtype": self.dtype,
            "old_chunks": None if self.old_chunks is None else list(self.old_chunks),
            "new_chunks": list(self.layout.chunks),
            "old_codec": self.old_codec, "new_codec": self.layout.codec,
            "old_level": self.old_level, "new_level": self.layout.level,
            "old_shuffle": self.old_shuffle, "new_shuffle": self.layout.shuffle,
            "layout": self.layout.to_dict(),
            "stored_bytes_before": self.stored_bytes_before,
            "stored_bytes_after": self.stored_bytes_after, "seconds": self.seconds,
        }


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What :func:`apply_layouts` wrote."""

    source: str
    output: str
    datasets: tuple[DatasetChange, ...]
    page_size: int | None
    file_bytes_before: int
    file_bytes_after: int
    write_seconds: float
    verify_seconds: float
    verified: bool
    #: ``"hdf5"`` (an NWB/HDF5 file) or ``"nwb-zarr"`` (an NWB-Zarr folder)
    format: str = "hdf5"

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "output": self.output, "format": self.format,
            "datasets": [d.to_dict() for d in self.datasets], "page_size": self.page_size,
            "file_bytes_before": self.file_bytes_before,
            "file_bytes_after": self.file_bytes_after, "write_seconds": self.write_seconds,
            "verify_seconds": self.verify_seconds, "verified": self.verified,
        }


def retarget_external(steps: list[Step], src_dir: str, out_dir: str, exists: Callable[[str], bool]
                      ) -> tuple[list[Step], dict[str, str]]:
    """External links re-pointed so they resolve from the output's folder (pure).

    HDF5 looks for a relative external file beside the file holding the link, so a copy
    written to another folder would silently break every relative link. A relative link whose
    file exists from the source's folder gets a path relative to the output's folder instead;
    absolute links, and links that did not resolve in the source either, are kept as they are.
    Returns the steps and, per re-pointed link, its new file name.
    """
    if os.path.abspath(src_dir) == os.path.abspath(out_dir):
        return steps, {}
    out: list[Step] = []
    moved: dict[str, str] = {}
    for step in steps:
        if step.action == "extlink" and step.file and not os.path.isabs(step.file):
            target = os.path.join(src_dir, step.file)
            if exists(target):
                new = os.path.relpath(target, out_dir)
                moved[step.path] = new
                step = replace(step, file=new)
        out.append(step)
    return out, moved
