"""``layoutbench measure``: a file as it is, where it is, with exact counts from any server.

No rewrite: the dataset is read in its own layout by every reader and pattern, as a user of that
file experiences it. A remote file (``s3://``, ``http(s)://``) is read on its own server through
the counting gateway (:func:`layoutbench.store.reach.reach`); a local file is uploaded as it is
to the embedded S3 (it is then the as-is baseline beside a sweep of the same file). The rows
have the columns of a sweep's, with ``source`` naming the file and ``counts`` who counted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layoutbench.cache import cache_dir as layoutbench_cache
from layoutbench.errors import UserError
from layoutbench.interrupts import checkpoint
from layoutbench.plan.dataset import DatasetInfo
from layoutbench.plan.measurement import Measurement
from layoutbench.plan.patterns import AccessPattern, as_patterns, default_patterns
from layoutbench.plan.profiles import NetworkProfile, as_profile
from layoutbench.plan.reader_facts import swept
from layoutbench.read.inspect import dataset_info
from layoutbench.read.inspect_zarr import is_zarr, zarr_dataset_info
from layoutbench.read.reader_base import Target
from layoutbench.read.readers import get_reader
from layoutbench.run.cases import (
    URL_ONLY,
    check_digests,
    check_patterns,
    measure_with_fallback,
    progress_bar,
)
from layoutbench.run.faulty import judge, measure_under
from layoutbench.store.faults import NONE as NO_FAULTS
from layoutbench.store.faults import FaultPlan
from layoutbench.store.sources import ObjectIdentity, Source, SourceOptions, resolve
from layoutbench.write.rewrite import Variant

if TYPE_CHECKING:
    from layoutbench.store.endpoint import Endpoint

log = logging.getLogger(__name__)

#: Readers ``measure`` uses unless told otherwise, by what the file is.
HDF5_READERS = swept(fmt="hdf5")
OPEN_READERS = swept(whole_file=True)
ZARR_READERS = swept(fmt="zarr")


def as_is_variant(info: DatasetInfo, identity: ObjectIdentity) -> Variant:
    """The file itself described as a variant: its own layout, size and compression."""
    return Variant(path=identity.url, layout=info.current_layout("as-is"),
                   source_id=identity.token()[:12], dataset=info.path, shape=info.shape,
                   dtype=info.dtype, stored_bytes=identity.size, write_seconds=0.0,
                   verify_seconds=0.0, dataset_bytes=info.storage_bytes or None)


def store_identity(src: Source, dataset: str) -> ObjectIdentity:
    """A Zarr store is many objects: identified by its array's metadata document (v3, else v2),
    whose ETag (or mtime) changes when the array is rewritten; recorded under the store's URL."""
    for doc in ("zarr.json", ".zarray"):
        parts = [dataset.strip("/"), doc]
        meta = resolve(os.path.join(src.path, *parts) if src.is_local
                       else "/".join([src.url.rstrip("/"), *parts]), src.options)
        try:
            ident = meta.identity()
        except UserError:
            continue
        return dataclasses.replace(ident, url=src.url)
    raise UserError(f"{src.url}: no Zarr array {dataset!r} (no zarr.json or .zarray)")


@contextlib.contextmanager
def _reached(src: Source, profile: NetworkProfile, endpoint: Endpoint | None, dataset: str | None
             ) -> Iterator[tuple[Any, DatasetInfo]]:
    """(a :class:`~layoutbench.store.reach.Reach` of ``src``, the dataset described).

    A local file is described here and uploaded as it is to the embedded S3; a remote one is
    described through the gateway (its requests are not part of any measured case).
    """
    zarr_store = is_zarr(src)
    if src.is_local:
        from layoutbench.store import EmbeddedS3
        from layoutbench.store.reach import Reach

        if zarr_store:
            info = zarr_dataset_info(src, dataset)
            identity = store_identity(src, info.path)
        else:
            identity = src.identity()
            info = dataset_info(src, dataset, identity=identity)
        key = f"as-is/{identity.token()[:12]}/{src.name}"
        with contextlib.ExitStack() as stack:
            s3 = endpoint or stack.enter_context(EmbeddedS3())
            if zarr_store:
                s3.upload_tree(src.path, key)
            else:
                s3.upload_file(src.path, key)
            s3.set_profile(profile)
            try:
                yield Reach(s3.source(key), src.url, s3, "gateway", identity), info
            finally:
                s3.delete_prefix(key)
        return
    from layoutbench.store.reach import reach

    if zarr_store:
        if dataset is None:
            raise UserError(f"{src.url}: a Zarr store over HTTP cannot be listed; name the "
                            "array with --dataset")
        with reach(src, profile, identity=store_identity(src, dataset)) as r:
            yield r, zarr_dataset_info(r.source, dataset, label=src.url)
        return
    with reach(src, profile) as r:
        yield r, dataset_info(r.source, dataset, identity=r.identity, label=src.url)


def measure_source(source: str | os.PathLike[str] | Source, *, dataset: str | None = None,
                   patterns: Sequence[str | AccessPattern] | None = None,
                   readers: Sequence[str] | None = None, repeats: int = 1,
                   profile: str | NetworkProfile = "loopback",
                   options: SourceOptions | None = None, endpoint: Endpoint | None = None,
                   cache_dir: str | os.PathLike[str] | None = None, progress: bool = False,
                   faults: FaultPlan | None = None) -> list[Measurement]:
    """Measure ``dataset`` of ``source`` as it is, for every reader x pattern x repeat.

    Parameters
    ----------
    profile
        Added on top of the real network by the gateway: ``loopback`` (the default) adds
        nothing, so a remote file is measured as this machine reaches it.
    endpoint
        A started EmbeddedS3 for local files (default: one is started for the run).
    cache_dir
        Where kerchunk references are kept (default: the user cache's ``refs``).
    faults
        Faults the gateway injects into every case (:mod:`layoutbench.run.faulty`); the data
        each pattern must return are read first, without faults, by the first reader.
    """
    src = resolve(source, options)
    profile = as_profile(profile)
    rows: list[Measurement] = []
    with _reached(src, profile, endpoint, dataset) as (where, info):
        chosen = as_patterns(patterns) or default_patterns(info.kind)
        check_patterns(info, chosen)
        reader_objs = [get_reader(n) for n in _readers(src, info, chosen, readers)]
        variant = as_is_variant(info, where.identity)
        refs = Path(cache_dir) if cache_dir else layoutbench_cache("refs")
        log.info("measuring %s:%s %s as it is, %d readers x %d patterns, profile %s", src.url,
                 info.path, info.shape, len(reader_objs), len(chosen), profile.name)
        target = Target(source=where.source, dataset=info.path, format=info.format,
                        chunk_nbytes=variant.layout.chunk_nbytes(info.itemsize),
                        cache_dir=str(refs), name=where.name)
        plan = faults or NO_FAULTS
        reference: dict[str, str] = {}
        with progress_bar(len(reader_objs) * len(chosen) * repeats, progress) as bar:
            for reader in reader_objs:
                reader.prepare(target)
                for pattern in chosen:
                    if plan.active and pattern.label not in reference:
                        reference[pattern.label] = measure_with_fallback(
                            where.endpoint, variant, target, reader, pattern, profile,
                            info.rate).digest
                    for _ in range(repeats):
                        checkpoint()
                        bar.set_description(f"{reader.name} {pattern.name}")
                        row = measure_under(plan, len(rows), where.endpoint, variant, target,
                                            reader, pattern, profile, info.rate)
                        rows.append(dataclasses.replace(row, source=src.url,
                                                        counts=where.counts))
                        bar.update()
    if plan.active:
        return judge(rows, reference)
    check_digests(rows)
    return rows


def _readers(src: Source, info: DatasetInfo, patterns: Sequence[AccessPattern],
             names: Sequence[str] | None) -> list[str]:
    """The readers asked for, else the defaults for what the file is; never one that cannot
    read it (remfile cannot sign S3 requests)."""
    whole_file = patterns[0].definition.includes_open
    default = ZARR_READERS if info.format == "zarr" else \
        OPEN_READERS if whole_file else HDF5_READERS
    chosen = list(names) if names else list(default)
    for name in chosen:
        if not get_reader(name).supports(info.format):
            raise UserError(f"{src.url}: reader {name} does not read {info.format} data")
    if src.authenticated:
        skipped = [n for n in chosen if n in URL_ONLY]
        chosen = [n for n in chosen if n not in URL_ONLY]
        if skipped:
            log.warning("%s: skipping %s: they read anonymously only (their signed requests "
                        "could not be counted) and this s3:// object needs signed requests",
                        src.url, ", ".join(skipped))
        if not chosen:
            raise UserError(f"{src.url}: none of the readers can sign S3 requests; choose "
                            "h5py-fsspec, kerchunk or zarr (or --anon for a public bucket)")
    return chosen
