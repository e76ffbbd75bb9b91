"""``layoutbench recommend``: the layout that reads fastest for a file's datasets and workload.

The recommender opens the source (a local file as it is, a remote one through the counting
gateway, a local NWB-Zarr folder with zarr), inspects its metadata, and ranks each dataset's
candidates (:mod:`.dataset`: codecs measured on a few MB of the file's own chunks, the cost
model); nothing is rewritten unless ``measure=True``, which rewrites a slab of the dataset in
the current and the best few layouts and measures them on the embedded endpoint
(:mod:`.measured`), reported beside the predictions.

The JSON it writes is the object of DESIGN.md §6, which ``layoutbench apply`` accepts.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layoutbench.errors import UserError
from layoutbench.plan.dataset import DatasetInfo
from layoutbench.plan.decode import MEASURED_ON
from layoutbench.plan.model import CostConstants, shipped_constants
from layoutbench.plan.patterns import AccessPattern, as_patterns
from layoutbench.plan.profiles import NetworkProfile, as_profile
from layoutbench.plan.reader_facts import modelled
from layoutbench.plan.search import DEFAULT_READERS, Constraints
from layoutbench.plan.verdict import verdict
from layoutbench.read.inspect import check_hdf5_file, info_in, open_hdf5, scan
from layoutbench.read.readers import get_reader
from layoutbench.read.sampling import Sampler
from layoutbench.recommender.calibration import load_constants
from layoutbench.recommender.dataset import recommend_dataset, workload_for
from layoutbench.recommender.measured import measure_dataset
from layoutbench.results import Recommendation
from layoutbench.run.cases import check_fits
from layoutbench.store.sources import (
    Fetch,
    Source,
    SourceOptions,
    close_filesystem,
    direct_requests,
    fetcher,
    resolve,
)

if TYPE_CHECKING:
    from layoutbench.store.endpoint import Counters

log = logging.getLogger(__name__)

#: Datasets smaller than this are not worth a new layout (DESIGN: default 10 MB).
DEFAULT_THRESHOLD = 10_000_000


# -- the file ----------------------------------------------------------------------------------
@dataclass
class _Opened:
    """An open source: its HDF5 file, how to fetch byte ranges of it (remote only), its name,
    and the counters of what reaching it cost (remote only)."""

    file: Any
    fetch: Fetch | None
    label: str
    endpoint: Counters | None = None
    counts: str = "gateway"
    #: the source is a local Zarr store (NWB-Zarr); ``file`` is its root group
    zarr: bool = False
    #: bytes of the whole file (or store): what downloading it would fetch
    file_bytes: int | None = None

    def scan(self, threshold: int) -> tuple[list[DatasetInfo], list[dict[str, str]]]:
        """The datasets worth a recommendation (and the others, with why not)."""
        if self.zarr:
            from layoutbench.read.inspect_zarr import scan_zarr

            return scan_zarr(self.label, threshold)
        return scan(self.file, self.label, threshold)

    def info(self, dataset: str) -> DatasetInfo:
        if self.zarr:
            from layoutbench.read.inspect_zarr import zarr_dataset_info

            return zarr_dataset_info(self.label, dataset)
        return info_in(self.file, self.label, dataset)


@contextlib.contextmanager
def _open(src: Source) -> Iterator[_Opened]:
    """A local file as it is; a remote one through the counting gateway (or counted by its
    client, :mod:`layoutbench.store.reach`), with concurrent range reads for the samples. A
    local Zarr store (an NWB-Zarr folder) is opened with zarr."""
    from layoutbench.read.inspect_zarr import is_zarr, open_store

    if is_zarr(src):
        if not src.is_local:
            raise UserError(f"{src.url}: recommend reads a Zarr store (NWB-Zarr) from this "
                            "machine; copy it here first")
        import zarr

        root = Path(src.given)
        size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
        yield _Opened(zarr.open_group(store=open_store(src), mode="r"), None,
                      str(root), zarr=True, file_bytes=size)
        return
    if src.is_local:
        import h5py

        with h5py.File(check_hdf5_file(src.given), "r") as f:
            yield _Opened(f, None, str(Path(src.given)),
                          file_bytes=Path(src.given).stat().st_size)
        return
    from layoutbench.store.reach import reach

    with reach(src) as where, open_hdf5(where.source, identity=where.identity,
                                        label=src.url) as f:
        fs = where.source.filesystem()
        try:
            yield _Opened(f, fetcher(fs, where.source.path), src.url, where.endpoint,
                          where.counts, file_bytes=where.identity.size)
        finally:
            close_filesystem(fs)


def _readers_scored(names: str | Sequence[str] | None) -> dict[str, tuple[str, ...]]:
    """Per format, the readers a recommendation scores: the default, the ones named (for
    their format), or every modelled one (``"any"``)."""
    given = [names] if isinstance(names, str) else list(names or ())
    out: dict[str, tuple[str, ...]] = {fmt: (name,) for fmt, name in DEFAULT_READERS.items()}
    if "any" in given:  # the reader is part of the recommendation
        return {fmt: modelled(fmt) for fmt in out}  # each format's default first
    for fmt in out:
        mine = tuple(dict.fromkeys(n for n in given if fmt in get_reader(n).formats))
        if mine:
            out[fmt] = mine
    return out


def recommend(source: str | os.PathLike[str] | Source, *, dataset: str | None = None,
              patterns: str | AccessPattern | Sequence[str | AccessPattern] | None = (),
              profile: str | NetworkProfile,
              constraints: Constraints | None = None, constants: CostConstants | None = None,
              readers: str | Sequence[str] | None = None,
              threshold: int = DEFAULT_THRESHOLD,
              prices: dict[str, float] | None = None, measure: bool = False,
              options: SourceOptions | None = None, progress: bool = False) -> Recommendation:
    """Recommend a layout for each dataset of ``source`` over ``threshold`` bytes (or
    ``dataset``). ``source`` is a path or a URL (``options`` say how to reach it): a remote file
    is read for its metadata and a bounded sample of chunks only, and what that cost is in
    :attr:`Recommendation.spent`.

    ``constants`` default to the stored calibration (``layoutbench calibrate``), else the
    model's defaults; ``readers`` (a name or several) replace the reader scored for their
    format, several making the choice among them part of the recommendation, and ``"any"``
    stands for every reader the model knows (the current layout is still scored with the
    default HDF5 reader, what users get today). ``spent`` counts every request the command
    sent to the source: the gateway's (or the client's) count and the ``HEAD`` requests that
    located the object before either could count.
    """
    import time

    t0 = time.perf_counter()
    src = resolve(source, options)
    profile = as_profile(profile)
    specs = as_patterns(patterns)
    constraints = constraints or Constraints()
    if constraints.format not in ("hdf5", "zarr", "any"):
        raise UserError(f"--storage {constraints.format!r}: expected hdf5, zarr or any")
    stored = load_constants() if constants is None else None
    if constants is not None:
        source = "given by the caller"
    elif stored is not None:
        constants, source = stored, "calibrated on this machine (layoutbench calibrate)"
    else:
        constants, source = shipped_constants()
    scored = _readers_scored(readers)
    results = []
    skipped: list[dict[str, str]] = []
    spent: dict[str, Any] | None = None
    # (the HEAD requests that locate the object are sent before the gateway can count them)
    with direct_requests() as direct, _open(src) as opened:
        if measure and opened.zarr:
            raise UserError(f"{opened.label}: --measure rewrites a slab of an HDF5 source; for an "
                            "NWB-Zarr folder, compare layouts with `layoutbench sweep`")
        if dataset is not None:
            infos = [opened.info(dataset)]
        else:
            infos, skipped = opened.scan(threshold)
        for info in infos:
            kind = info.kind
            chosen, notes = workload_for(info, kind, specs)
            check_fits(info, chosen)
            log.info("recommending %s %s (%s) for %s", info.path, info.shape, kind,
                     ", ".join(pt.label for pt in chosen))
            dset = opened.file[info.path.strip("/")] if opened.zarr else opened.file[info.path]

            def sample(shapes: Sequence[Sequence[int]], dset: Any = dset) -> Sampler:
                return Sampler(dset, shapes, fetch=opened.fetch)

            rec = recommend_dataset(sample, info, chosen, profile, constraints, constants,
                                    scored, kind)
            rec = replace(rec, notes=notes + rec.notes)
            if opened.file_bytes is not None:
                rec = replace(rec, verdict=verdict(
                    rec.current.seconds, rec.recommended.seconds, opened.file_bytes, profile,
                    rewrite_is_keep=rec.recommended is rec.current))
            if measure:
                rec = replace(rec, measured=measure_dataset(
                    dset, opened.fetch, rec, profile, constants, progress=progress))
            results.append(rec)
        if opened.endpoint is not None:
            stats = opened.endpoint.stats()
            spent = {"requests": stats.requests + direct[0], "bytes": stats.bytes_sent,
                     "seconds": round(time.perf_counter() - t0, 3), "counts": opened.counts}
            log.info("reading %s cost %d requests, %.1f MB, %.1f s", src.url,
                     spent["requests"], stats.bytes_sent / 1e6, spent["seconds"])
    return Recommendation(opened.label, profile, constraints, tuple(results), tuple(skipped),
                          calibrated=stored is not None
                          or (source.startswith("given") and constants.n_rows > 0),
                          prices=prices or {}, spent=spent, decode=MEASURED_ON,
                          constants_source=source)
