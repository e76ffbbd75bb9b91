"""Rewrite a whole NWB/HDF5 file with some datasets in new layouts (``layoutbench apply``).

Zarr layouts make the output an NWB-Zarr folder instead (:mod:`.apply_zarr`); what follows is
the HDF5 case.

The output is the same file, object for object: every group, dataset, attribute, link and
reference is kept, and only the chosen datasets change storage (chunks, codec and, through
the file's page size, metadata placement). A repack with one ``H5Ocopy`` of the root
(:mod:`layoutbench.write.repack`) cannot skip the datasets being replaced, so the tree is rebuilt
object by object instead:

1. :func:`~layoutbench.write.h5copy.scan_links` lists every link of the source in iteration
   order (creation order where tracked), noting which hard links name an object already seen;
2. :func:`~layoutbench.write.apply_plan.plan_copy` (pure) turns that into steps: create a
   group, ``H5Ocopy`` a dataset as is, create a dataset in its new layout, or re-create a
   hard, soft or external link;
3. the steps run; then every attribute is copied with its exact HDF5 type, and every object
   or region reference (in attributes, reference datasets and compound datasets) is
   re-pointed by path at the new file's object, so a reference to a replaced dataset points
   at its replacement; last, the replaced datasets are filled block by block (bounded
   memory), after all metadata so that it stays together at the front of the file;
4. the result is verified (:mod:`.verify`: every dataset bit for bit, attributes, links,
   storage) under a temporary name and renamed into place only then.
"""

from __future__ import annotations

import logging
import math
import os
import posixpath
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from layoutbench.atomic import atomic_output
from layoutbench.codecs import ensure_hdf5_filters, h5py_filter_kwargs
from layoutbench.errors import UserError
from layoutbench.outputs import check_destinations, check_space
from layoutbench.plan.layout import Layout
from layoutbench.read.h5checks import missing_filters
from layoutbench.read.inspect import check_hdf5_file, describe_dataset
from layoutbench.store.sources import Source, SourceOptions, resolve
from layoutbench.write.apply_plan import (
    ApplyResult,
    DatasetChange,
    MadeFor,
    Step,
    file_page_size,
    plan_copy,
    retarget_external,
)
from layoutbench.write.blocks import block_shape, iter_blocks
from layoutbench.write.h5copy import (
    ReferenceMapper,
    copy_attributes,
    encode_name,
    has_references,
    scan_links,
)
from layoutbench.write.verify import check_storage, verify_same_file

log = logging.getLogger(__name__)

#: Memory budget of one copy block; the source's chunk cache and the verification use as much.
BLOCK_BYTES = 64 * 2**20


def _lcpl(cset: int) -> Any:
    from h5py import h5p

    lcpl = h5p.create(h5p.LINK_CREATE)
    lcpl.set_char_encoding(cset)
    return lcpl


def _new_dcpl(src_ds: Any, layout: Layout) -> Any:
    """The source's creation properties that carry meaning, with the layout's storage."""
    from h5py import h5d, h5p, h5z

    old = src_ds.id.get_create_plist()
    dcpl = h5p.create(h5p.DATASET_CREATE)
    dcpl.set_chunk(layout.chunks)
    dcpl.set_fill_time(old.get_fill_time())
    if old.fill_value_defined() == h5d.FILL_VALUE_USER_DEFINED:
        fill = np.zeros((), dtype=src_ds.dtype)
        old.get_fill_value(fill)
        dcpl.set_fill_value(fill)
    dcpl.set_obj_track_times(old.get_obj_track_times())
    dcpl.set_attr_creation_order(old.get_attr_creation_order())
    dcpl.set_attr_phase_change(*old.get_attr_phase_change())
    kw = h5py_filter_kwargs(layout)
    if kw.get("shuffle"):  # shuffle before the compressor, as h5py orders them
        dcpl.set_shuffle()
    if kw.get("compression") == "gzip":
        dcpl.set_deflate(int(kw["compression_opts"]))
    elif kw.get("compression") is not None:
        dcpl.set_filter(int(kw["compression"]), h5z.FLAG_OPTIONAL,
                        tuple(kw.get("compression_opts") or ()))
    return dcpl


def _new_gcpl(group: Any) -> Any:
    """A fresh group creation list with the source group's portable properties.

    Not the source's own list: for a group stored the new way (link info message), HDF5's copy
    of it carries that group's fractal-heap addresses, which in another file point past its
    end ("address of object past end of allocation"): applying to a file ``apply`` wrote
    failed that way.
    """
    from h5py import h5p

    old = group.id.get_create_plist()
    gcpl = h5p.create(h5p.GROUP_CREATE)
    gcpl.set_link_creation_order(old.get_link_creation_order())
    gcpl.set_attr_creation_order(old.get_attr_creation_order())
    gcpl.set_attr_phase_change(*old.get_attr_phase_change())
    gcpl.set_obj_track_times(old.get_obj_track_times())
    return gcpl


def _build(src: Any, dst: Any, steps: list[Step]) -> None:
    """Create every object and link (datasets to rewrite empty), then attrs and references."""
    from h5py import h5d, h5g, h5o, h5p

    no_attrs = h5p.create(h5p.OBJECT_COPY)
    no_attrs.set_copy_object(h5o.COPY_WITHOUT_ATTR_FLAG)
    for step in steps:
        parent_path, name = posixpath.split(step.path)
        parent, lcpl, new = dst[parent_path].id, _lcpl(step.cset), encode_name(name)
        target = encode_name(step.target or "")
        if step.action == "group":
            h5g.create(parent, new, lcpl=lcpl, gcpl=_new_gcpl(src[step.path])).close()
        elif step.action == "copy":  # raw chunks copied as is; attributes come below
            h5o.copy(src.id, encode_name(step.path), parent, new, copypl=no_attrs, lcpl=lcpl)
        elif step.action == "rewrite":
            assert step.layout is not None
            s = src[step.path]
            h5d.create(parent, new, s.id.get_type().copy(), s.id.get_space(),
                       dcpl=_new_dcpl(s, step.layout), lcpl=lcpl).close()
        elif step.action == "hardlink":
            parent.links.create_hard(new, dst.id, target, lcpl=lcpl)
        elif step.action == "softlink":
            parent.links.create_soft(new, target, lcpl=lcpl)
        elif step.action == "extlink":
            parent.links.create_external(new, encode_name(step.file or ""), target, lcpl=lcpl)
    refs = ReferenceMapper(src, dst)
    copy_attributes(src["/"], dst["/"], refs)
    for step in steps:
        if step.action in ("group", "copy", "rewrite"):
            copy_attributes(src[step.path], dst[step.path], refs)
        if step.action == "copy":
            _repoint_dataset(src[step.path], dst[step.path], refs)


def _repoint_dataset(s: Any, d: Any, refs: ReferenceMapper, budget: int = 16 * 2**20) -> None:
    """Rewrite a copied dataset's references (H5Ocopy nulls or keeps foreign tokens)."""
    if not hasattr(s, "shape") or s.shape is None or not has_references(s.dtype):
        return
    if s.shape == ():
        d[()] = refs.array(np.asarray(s[()], dtype=s.dtype))
        return
    for sel in iter_blocks(s.shape, block_shape(s.shape, s.chunks or (1,) * s.ndim,
                                                s.dtype.itemsize, budget)):
        d[sel] = refs.array(s[sel])


def _open_cached(f: Any, path: str, cache_bytes: int) -> Any:
    """Open a source dataset with a chunk cache of ``cache_bytes``.

    Copy blocks follow the *new* chunks, so a source chunk often straddles two blocks; a
    cache that holds one row of source chunks decodes each of them once, not twice.
    """
    import h5py
    from h5py import h5d, h5p

    dapl = h5p.create(h5p.DATASET_ACCESS)
    dapl.set_chunk_cache(max(521, 16 * (cache_bytes // 2**20) + 1009), cache_bytes, 1.0)
    return h5py.Dataset(h5d.open(f.id, encode_name(path), dapl=dapl))


def _fill(src: Any, dst: Any, step: Step, budget: int, bar: Any) -> float:
    """Copy one rewritten dataset block by block; its seconds."""
    assert step.layout is not None
    t0 = time.perf_counter()
    d = dst[step.path]
    shape, itemsize = tuple(d.shape), d.dtype.itemsize
    block = block_shape(shape, step.layout.chunks, itemsize, budget)
    src_chunks = src[step.path].chunks
    cache = 2**20
    if src_chunks:  # one row of source chunks across the block's trailing extent, + one
        across = math.prod(math.ceil(b / c) + 1 for b, c in zip(block[1:], src_chunks[1:],
                                                                  strict=True))
        cache = max(cache, min(budget, (across + 1) * math.prod(src_chunks) * itemsize))
    s = _open_cached(src, step.path, cache)
    for sel in iter_blocks(shape, block):
        data = s[sel]
        d[sel] = data
        bar.update(data.nbytes)
        del data  # before the next block is read: one block in memory, not two
    return time.perf_counter() - t0


def _check_output(src_path: Path, out: Path, overwrite: bool) -> None:
    if (out.exists() and os.path.samefile(out, src_path)) or out.resolve() == src_path.resolve():
        raise UserError(f"{out}: is the source file; apply writes a new file, choose another "
                        "output")
    _check_target(out, overwrite)
    # a recommendation keeps compression within min_ratio (0.9x) of the source's: the output
    # is about the source's size (its temporary is written beside it, then renamed)
    check_space(out, src_path.stat().st_size, "the rewritten file")


def _check_target(out: Path, overwrite: bool) -> None:
    """An output name that can be written: not a folder, absent (or ``overwrite``), in an
    existing folder."""
    if out.is_dir():
        raise UserError(f"{out}: is a directory, expected an output file name")
    if not out.parent.is_dir():
        raise UserError(f"{out}: folder {out.parent} does not exist")
    check_destinations([out], overwrite=overwrite)  # the message every command gives


def apply_layouts(source: str | os.PathLike[str], layouts: Mapping[str, Layout],
                  out: str | os.PathLike[str], *, overwrite: bool = False,
                  progress: bool = False, verify: bool = True,
                  block_bytes: int = BLOCK_BYTES,
                  shapes: Mapping[str, MadeFor] | None = None) -> ApplyResult:
    """Write ``source`` to ``out`` with the datasets in ``layouts`` stored in their layout.

    Everything else (groups, other datasets byte for byte, attributes, hard/soft/external
    links, object and region references, fill values, maxshape, dimension scales, creation
    order) is kept, so pynwb reads the result as it reads the source. Memory is bounded by
    a small multiple of ``block_bytes`` (a block and the source's chunk cache while writing,
    a block of each file while verifying; measured ~4x with allocator slack), whatever the
    dataset sizes. The file is written under a temporary name beside ``out``
    (:func:`layoutbench.atomic.atomic_output`),
    verified (unless ``verify=False``) and renamed into place only then; on any error or
    interruption the temporary file is removed and ``out`` is untouched.

    Parameters
    ----------
    layouts
        Dataset path -> layout, e.g. from :func:`read_recommendation`. Chunks larger than
        the dataset are clipped to it (as every rewrite does). A ``page_size`` turns on HDF5
        paged aggregation for the whole output; without one, the source's file-space
        strategy is kept.
    overwrite
        Replace an existing ``out`` (only once the new file is verified). The source itself
        is never overwritten.
    shapes
        Dataset path -> the shape the layouts were recommended for (a recommendation's
        ``shape``): a dataset of another shape is refused.
    progress
        Show tqdm bars (bytes written, bytes verified) on stderr.
    verify
        Compare the output with the source before renaming it into place (about as long
        as the write); ``False`` only when the caller verifies by other means.

    Zarr layouts (all of them: a file is one or the other) write the NWB-Zarr folder ``out``
    instead (:func:`~layoutbench.write.apply_zarr.export_nwb_zarr`).

    Raises
    ------
    UserError
        A missing or non-HDF5 source, an output that is the source, exists (without
        ``overwrite``) or has no folder, or a bad request (see :func:`plan_copy`).
    VerificationError
        The written file differs from the source (a bug: nothing is left at ``out``).
    """
    import h5py
    from h5py import h5f, h5p
    from tqdm.auto import tqdm

    from layoutbench.write.apply_zarr import export_nwb_zarr, zarr_layouts

    ensure_hdf5_filters()
    src_path = check_hdf5_file(source)
    out = Path(out)
    if zarr_layouts(layouts, str(src_path)):  # Zarr layouts: the file as NWB-Zarr
        return export_nwb_zarr(src_path, layouts, out, overwrite=overwrite, progress=progress,
                               verify=verify, block_bytes=block_bytes, shapes=shapes)
    _check_output(src_path, out, overwrite)
    page_size = file_page_size(layouts.values(), file=str(src_path))
    with h5py.File(src_path, "r") as src:
        entries = scan_links(src)
        steps = plan_copy(entries, layouts, file=str(src_path), shapes=shapes)
        for step in steps:  # every copy is verified: its data must be readable here
            obj = src[step.path] if step.action in ("copy", "rewrite") else None
            if isinstance(obj, h5py.Dataset) and (missing := missing_filters(obj)):
                raise UserError(f"{src_path}: {step.path} is compressed with HDF5 filter "
                                f"{', '.join(map(str, missing))}, which is not installed "
                                "here: its copy could not be verified")
        steps, moved = retarget_external(steps, str(src_path.parent), str(out.parent),
                                         os.path.exists)
        for path, new in moved.items():
            log.info("external link %s re-pointed to %s (relative to the output's folder)",
                     path, new)
        fcpl = src.id.get_create_plist()
        root = src["/"].id.get_create_plist()  # the file's plist omits the root's orders
        fcpl.set_link_creation_order(root.get_link_creation_order())
        fcpl.set_attr_creation_order(root.get_attr_creation_order())
    if page_size:
        if fcpl.get_userblock() % page_size:  # HDF5 aligns paged files' objects to pages
            raise UserError(f"{src_path}: its {fcpl.get_userblock()}-byte user block cannot be "
                            f"kept in a file paged by {page_size} bytes")
        fcpl.set_file_space_strategy(h5f.FSPACE_STRATEGY_PAGE, True, 1)
        fcpl.set_file_space_page_size(page_size)
    rewrites = [s for s in steps if s.action == "rewrite"]
    with h5py.File(src_path, "r") as src:  # an empty, growable dataset may be re-chunked too
        infos = [describe_dataset(src[s.path], str(src_path)) for s in rewrites]
    sizes = {e.path: math.prod(e.shape) * np.dtype(e.dtype).itemsize
             for e in entries if e.kind == "dataset" and e.shape}  # what the bars count
    verified_bytes = sum(sizes.get(s.path, 0) for s in steps if s.action in ("copy", "rewrite"))
    log.info("applying %d layout(s) to %s -> %s", len(rewrites), src_path.name, out.name)
    changes: list[DatasetChange] = []
    t0 = time.perf_counter()
    with atomic_output(out) as tmp:
        fapl = h5p.create(h5p.FILE_ACCESS)
        fapl.set_fclose_degree(h5f.CLOSE_STRONG)
        with h5py.File(src_path, "r") as src, \
                h5py.File(h5f.create(os.fsencode(tmp), h5f.ACC_EXCL, fcpl, fapl)) as dst, \
                tqdm(total=sum(sizes[s.path] for s in rewrites), unit="B", unit_scale=True,
                     desc="apply", file=sys.stderr, disable=not progress) as bar:
            _build(src, dst, steps)
            for step, info in zip(rewrites, infos, strict=True):
                assert step.layout is not None
                seconds = _fill(src, dst, step, block_bytes, bar)
                changes.append(DatasetChange(
                    step.path, info.shape, info.dtype, info.chunks, info.codec, info.level,
                    info.shuffle, step.layout, info.storage_bytes,
                    int(dst[step.path].id.get_storage_size()), seconds))
                log.info("%s: %s -> %s (%.1f -> %.1f MB) in %.1fs", step.path,
                         info.chunks or "contiguous", step.layout.name,
                         info.storage_bytes / 1e6, changes[-1].stored_bytes_after / 1e6, seconds)
        _copy_userblock(src_path, tmp, fcpl.get_userblock())
        write_seconds = time.perf_counter() - t0
        t1 = time.perf_counter()
        if verify:
            with tqdm(total=verified_bytes, unit="B", unit_scale=True, desc="verify",
                      file=sys.stderr, disable=not progress) as bar:
                verify_same_file(src_path, tmp, budget=block_bytes, on_block=bar.update)
            check_storage(src_path, tmp, [(s.path, s.layout) for s in steps
                                          if s.action in ("copy", "rewrite")], moved)
        verify_seconds = time.perf_counter() - t1
    log.info("wrote %s in %.1fs%s", out, write_seconds,
             f", verified in {verify_seconds:.1f}s" if verify else " (not verified)")
    return ApplyResult(str(src_path), str(out), tuple(changes), page_size,
                       src_path.stat().st_size, out.stat().st_size, write_seconds,
                       verify_seconds, verify)


def _copy_userblock(src: Path, dst: Path, size: int) -> None:
    """A user block (bytes before the HDF5 superblock) is the file's; HDF5 leaves it zeroed."""
    if size:
        with open(src, "rb") as a, open(dst, "r+b") as b:
            b.write(a.read(size))


def apply_to(source: str | os.PathLike[str] | Source, layouts: Mapping[str, Layout],
             out: str | os.PathLike[str], *, options: SourceOptions | None = None,
             overwrite: bool = False, progress: bool = False,
             shapes: Mapping[str, MadeFor] | None = None) -> ApplyResult:
    """:func:`apply_layouts` for a local or remote ``source``: a remote file (``s3://``,
    ``http(s)://``) is first downloaded whole into a temporary file beside ``out`` (removed
    afterwards), then rewritten locally; the result names the URL."""
    import dataclasses

    from layoutbench.write.apply_zarr import check_zarr_output, zarr_layouts
    from layoutbench.write.extract import fetched_file

    src = resolve(source, options)
    if src.is_local:
        return apply_layouts(src.given, layouts, out, overwrite=overwrite, progress=progress,
                             shapes=shapes)
    target = Path(out)
    if zarr_layouts(layouts, src.url):
        check_zarr_output(target, overwrite)
    else:
        _check_target(target, overwrite)
    with fetched_file(src, target.parent, progress=progress) as (local, _spent):
        result = apply_layouts(local, layouts, target, overwrite=overwrite, progress=progress,
                               shapes=shapes)
    return dataclasses.replace(result, source=src.url)
