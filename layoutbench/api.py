"""The Python API: what a notebook on DANDI Hub calls, in the values a user writes.

Every function here is the CLI command of the same name without the printing: it takes plain
values (a path, SPEC strings such as ``"ophys-patch@2"``, a profile name) or the objects they
stand for (:class:`~layoutbench.plan.patterns.AccessPattern`,
:class:`~layoutbench.plan.profiles.NetworkProfile`, :class:`~layoutbench.plan.layout.Layout`),
and returns data: a :class:`~layoutbench.results.Recommendation`, a pandas DataFrame
of result rows, an :class:`~layoutbench.write.apply_plan.ApplyResult`.

>>> import layoutbench as lb                                                 # doctest: +SKIP
>>> rec = lb.recommend("movie.nwb", patterns=["ophys-patch@2", "ophys-frames"],
...                    profile="same-region")
>>> rec.to_frame()                       # current, recommended and alternatives per dataset
>>> rows = lb.sweep("movie.nwb", patterns=["ophys-patch"], grid="quick")
>>> lb.apply("movie.nwb", rec, "movie-cloud.nwb")
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layoutbench.errors import BadValueError, UserError
from layoutbench.plan.layout import Layout, as_layout
from layoutbench.plan.patterns import AccessPattern, as_patterns
from layoutbench.plan.profiles import NetworkProfile, as_profile
from layoutbench.store.faults import parse_faults
from layoutbench.store.sources import SourceOptions

if TYPE_CHECKING:
    import pandas as pd

    from layoutbench.results import Recommendation
    from layoutbench.store.embedded import EmbeddedS3
    from layoutbench.store.endpoint import Endpoint
    from layoutbench.write.apply_plan import ApplyResult

__all__ = ["apply", "measure", "read_results", "recommend", "sweep"]

Patterns = str | AccessPattern | Iterable[str | AccessPattern] | None
Profile = str | NetworkProfile
PathLike = str | os.PathLike[str]


def recommend(source: PathLike, *, patterns: Patterns = None, profile: Profile = "same-region",
              dataset: str | None = None, storage: str = "hdf5",
              readers: str | Sequence[str] | None = None, reader: str | None = None,
              max_chunk_mb: float = 10.0, min_ratio: float = 0.9, min_gain: float = 1.2,
              min_mb: float = 10.0,
              get_price: float = 0.0004, egress_price: float = 0.09, measure: bool = False,
              endpoint_url: str | None = None, anon: bool | None = None,
              region: str | None = None, progress: bool | None = None) -> Recommendation:
    """The layout that reads each dataset of ``source`` fastest for ``patterns`` (CLI
    ``layoutbench recommend``).

    Parameters
    ----------
    source
        An NWB/HDF5 file: a path, or an ``s3://`` or ``http(s)://`` URL (then only its
        metadata and a bounded sample of chunks are read; ``.spent`` says what that cost).
    patterns
        Pattern SPECs (``"ophys-patch:patch=48x48@2"``) or :class:`AccessPattern` objects;
        weights are relative frequencies. ``None``: each dataset's kind decides (imaging ->
        ``ophys-patch`` + ``ophys-frames``, ...).
    profile
        Network profile name (``loopback``, ``same-region``, ``cross-region``, ``home``) or a
        :class:`NetworkProfile`.
    dataset
        One dataset path; ``None`` looks at every numeric dataset of at least ``min_mb`` MB.
    storage
        ``"hdf5"`` (what NWB archives hold), ``"zarr"`` or ``"any"``.
    readers
        The reader to optimise for (default: h5py-fsspec for HDF5, zarr for Zarr), several
        to choose among them, or ``"any"`` to make the reader part of the recommendation
        (``reader=`` is the same, its older name).
    max_chunk_mb, min_ratio
        Largest chunk (MB), and the lowest compression ratio allowed relative to the current.
    min_gain
        Keep the current layout unless a rewrite is predicted at least this many times faster.
    get_price, egress_price
        USD per 1,000 GET requests and per GB out, for the cost per 1,000 reads.
    measure
        Also rewrite the current and best layouts and measure them on the embedded S3.
    endpoint_url, anon, region
        How to reach an ``s3://`` source (see :class:`layoutbench.store.sources.SourceOptions`).
    progress
        Progress bars (``None``: in a notebook or on a terminal, as every function here).

    Returns
    -------
    Recommendation
        ``.to_dict()`` is the JSON ``apply`` takes (DESIGN.md §6); ``.to_frame()`` a DataFrame
        with one row per (dataset, candidate); its ``repr`` is the CLI's table.
    """
    from layoutbench.plan.search import Constraints
    from layoutbench.recommender.source import recommend as run

    if storage not in ("hdf5", "zarr", "any"):
        raise UserError(f"storage {storage!r}: expected hdf5, zarr or any")
    if max_chunk_mb <= 0 or min_ratio < 0 or min_mb < 0 or min_gain < 1:
        raise UserError("max_chunk_mb must be > 0, min_ratio and min_mb >= 0, min_gain >= 1")
    constraints = Constraints(format=storage, max_chunk_mb=max_chunk_mb,
                              min_ratio_vs_current=min_ratio, min_gain=min_gain)
    return run(source, dataset=dataset, patterns=as_patterns(patterns),
               profile=_profile(profile), constraints=constraints,
               readers=_one_of(readers, reader, "readers", "reader"),
               threshold=int(min_mb * 1e6),
               prices={"get_price": get_price, "egress_per_gb": egress_price},
               measure=measure, options=SourceOptions(endpoint_url, anon, region),
               progress=_progress(progress))


def sweep(source: PathLike | Sequence[PathLike], dataset: str | None = None, *,
          patterns: Patterns = None,
          grid: str = "quick", layouts: Sequence[Layout | dict[str, Any]] | None = None,
          readers: str | Sequence[str] | None = None, profile: Profile = "same-region",
          repeats: int = 1, endpoint: EmbeddedS3 | None = None,
          cache_dir: PathLike | None = None, endpoint_url: str | None = None,
          anon: bool | None = None, region: str | None = None, faults: str | None = None,
          fault_seed: int = 0, progress: bool | None = None, workers: int | None = None,
          scheduler_address: str | None = None, store: str | None = None) -> pd.DataFrame:
    """Rewrite ``dataset`` across a grid of layouts, serve each variant from an S3 endpoint
    and measure every reader × pattern on it (CLI ``layoutbench sweep``).

    Parameters
    ----------
    source
        A path, or an ``s3://`` or ``http(s)://`` URL (``endpoint_url``, ``anon``, ``region``
        say how to reach it): a remote dataset is copied once into the cache, as it is stored.
        A list of them sweeps each (one table, a ``source`` column).
    workers, scheduler_address
        Run on a dask.distributed cluster started for the call (``workers`` processes) or
        reached at ``scheduler_address``: variants are built in parallel, measurements stay one
        at a time per machine (the same figures as serially).
    grid
        ``"quick"`` (the baselines and the few layouts that matter most for the data's kind:
        a minute on the demo samples, the notebook default), ``"default"`` (the full grid, the
        CLI's default) or ``"paged"``. Ignored when ``layouts`` are given.
    layouts
        Layouts (or their dict form) to compare instead of a grid.
    readers
        Reader names (default: every reader of the sweep: h5py-remfile, h5py-fsspec,
        kerchunk, zarr).
    endpoint
        A started :class:`~layoutbench.store.EmbeddedS3`; by default one is started for the
        sweep and stopped after it.
    store
        ``s3://BUCKET/PREFIX``: put the variants there instead (reached with
        ``endpoint_url``, ``anon``, ``region``, as sources are), for workers on other
        machines; each machine measures through a gateway of its own, and the sweep removes
        what it uploaded (CLI ``--store``).
    cache_dir
        Where verified variants are kept between runs (default: the user cache).
    faults, fault_seed
        S3 faults the gateway injects into every case, e.g. ``"503=0.05,reset=0.02"``
        (README, "Faults"): failed cases are rows with an ``error``.

    Returns
    -------
    pandas.DataFrame
        One row per (layout, reader, pattern, repeat): the columns of DESIGN.md §3
        (``layout``, ``reader``, ``pattern``, ``profile``, ``requests``,
        ``bytes_transferred``, ``bytes_needed``, ``read_amplification``, ``chunks_touched``,
        ``seconds``, ``stored_bytes``, ``compression_ratio``, ...), as ``read_results`` reads
        them back from a file.
    """
    from layoutbench.results import to_frame
    from layoutbench.run.sweep import run_sweep

    if repeats < 1:
        raise UserError(f"repeats must be at least 1, got {repeats}")
    chosen = [as_layout(x) for x in layouts] if layouts is not None else None
    names = [readers] if isinstance(readers, str) else (list(readers) if readers else None)

    from layoutbench.run.executors import open_executor

    def go(s3: Endpoint) -> pd.DataFrame:
        with open_executor(workers, scheduler_address) as executor:
            rows = run_sweep(_many(source), s3, _profile(profile), dataset=dataset,
                             layouts=chosen, grid=grid, readers=names,
                             patterns=as_patterns(patterns) or None, cache_dir=cache_dir,
                             progress=_progress(progress), repeats=repeats,
                             options=SourceOptions(endpoint_url, anon, region),
                             faults=parse_faults(faults, fault_seed), executor=executor)
        return to_frame(rows)

    if endpoint is not None:
        if store is not None:
            raise UserError("give an endpoint or a store, not both")
        return go(endpoint)
    if store is not None:
        from layoutbench.store.remote_store import RemoteStore

        with RemoteStore(store, SourceOptions(endpoint_url, anon, region)) as remote:
            return go(remote)
    from layoutbench.store import EmbeddedS3

    with EmbeddedS3() as s3:
        return go(s3)


def measure(source: PathLike | Sequence[PathLike], dataset: str | None = None, *,
            patterns: Patterns = None,
            readers: str | Sequence[str] | None = None, profile: Profile = "loopback",
            repeats: int = 1, endpoint_url: str | None = None, anon: bool | None = None,
            region: str | None = None, cache_dir: PathLike | None = None,
            faults: str | None = None, fault_seed: int = 0,
            progress: bool | None = None) -> pd.DataFrame:
    """Measure a file as it is, where it is: no rewrite (CLI ``layoutbench measure``).

    Every reader x pattern reads ``source`` (a path, or an ``s3://`` or ``http(s)://`` URL) on
    its own server through the counting gateway, so ``requests`` and ``bytes_transferred`` are
    exact for any server; ``profile`` adds latency and bandwidth on top of the real network
    (``loopback``, the default, adds nothing). A local file is uploaded as it is to an
    embedded S3. Returns the rows, with the columns of :func:`sweep` plus ``source`` and
    ``counts`` (``gateway``, or ``client`` for signed S3 requests).
    """
    from layoutbench.results import to_frame
    from layoutbench.run.measure_source import measure_source

    names = [readers] if isinstance(readers, str) else (list(readers) if readers else None)
    given = _many(source)
    rows = []
    for one in [given] if isinstance(given, str | os.PathLike) else given:  # one at a time
        rows += measure_source(one, dataset=dataset, patterns=as_patterns(patterns) or None,
                               readers=names, repeats=repeats, profile=_profile(profile),
                               options=SourceOptions(endpoint_url, anon, region),
                               cache_dir=cache_dir, progress=_progress(progress),
                               faults=parse_faults(faults, fault_seed))
    return to_frame(rows)


def apply(source: PathLike, recommendation: Recommendation | Mapping[str, Any] | PathLike,
          out: PathLike, *, overwrite: bool = False, endpoint_url: str | None = None,
          anon: bool | None = None, region: str | None = None,
          progress: bool | None = None) -> ApplyResult:
    """Rewrite the whole file ``source`` into ``out`` with the recommended dataset layouts,
    verified bit for bit before it is renamed into place (CLI ``layoutbench apply``).

    ``recommendation`` is what :func:`recommend` returned, its ``to_dict()``, or the path of
    the JSON ``layoutbench recommend --format json`` wrote. ``source`` is never modified; a
    remote one is downloaded once into a temporary file beside ``out``. A Zarr recommendation
    writes ``out`` (named ``*.zarr``) as an NWB-Zarr folder with hdmf-zarr, read back and
    compared with the source through pynwb before the rename (``result.format`` says which).
    """
    from layoutbench.write.apply import apply_to
    from layoutbench.write.apply_plan import (
        layouts_from_recommendation,
        load_recommendation,
        recommended_shapes,
    )

    if isinstance(recommendation, str | os.PathLike):
        obj = load_recommendation(recommendation)
        name = str(recommendation)
    else:
        raw = recommendation if isinstance(recommendation, Mapping) else recommendation.to_dict()
        obj, name = json.loads(json.dumps(raw)), "recommendation"
    return apply_to(source, layouts_from_recommendation(obj, name=name), Path(out),
                    overwrite=overwrite, progress=_progress(progress),
                    shapes=recommended_shapes(obj),
                    options=SourceOptions(endpoint_url, anon, region))


def generate(kind: str, out: PathLike, *, size: int | str | None = None, seed: int = 0,
             layout: str = "neuroconv", overwrite: bool = False,
             progress: bool | None = None) -> Any:
    """Write a realistic synthetic NWB file (CLI ``layoutbench generate``).

    ``kind`` is ``ophys``, ``ecephys``, ``volume`` or ``many-series``; ``size`` the raw data
    size (bytes, or ``"500MB"``; default: the demo's); ``layout`` ``"neuroconv"`` (~10 MB gzip
    chunks) or ``"pynwb"`` (contiguous). Returns what was written (path, dataset, shape,
    chunks, seconds)."""
    from layoutbench.outputs import check_destinations
    from layoutbench.synthetic import generate as write_sample
    from layoutbench.synthetic import parse_size

    try:
        nbytes = parse_size(size) if isinstance(size, str) else size
    except ValueError as exc:
        raise BadValueError(f"size: {exc}") from None
    check_destinations([out], overwrite=overwrite)
    return write_sample(kind, Path(out), size=nbytes, seed=seed, writer=layout,
                        progress=_progress(progress))


def report(results: PathLike | Sequence[PathLike], out: PathLike = "report", *,
           recommendations: Sequence[PathLike] = (), overwrite: bool = False,
           title: str = "layoutbench report") -> Any:
    """The HTML report of results tables (and recommendation JSON files) in the folder ``out``
    (CLI ``layoutbench report``): self-contained, offline. Returns what was written
    (``.index`` is the page to open)."""
    from layoutbench.reporting.site import write_report

    paths = [results] if isinstance(results, str | os.PathLike) else list(results)
    return write_report(paths, list(recommendations), out, title=title, overwrite=overwrite)


def refs(source: PathLike, out: PathLike | None = None, *, overwrite: bool = False,
         endpoint_url: str | None = None, anon: bool | None = None,
         region: str | None = None) -> Any:
    """kerchunk references of an HDF5 file or URL, from the cache or built (CLI
    ``layoutbench refs build``), also written to ``out`` if given. Returns the reference
    set (``.refs``: the JSON fsspec's reference filesystem takes)."""
    from layoutbench.read.refs import refs_for
    from layoutbench.store.sources import resolve

    return refs_for(resolve(str(source), SourceOptions(endpoint_url, anon, region)), out,
                    overwrite=overwrite)


def read_results(path: PathLike) -> pd.DataFrame:
    """A results table written by ``sweep`` (``.parquet`` or ``.csv``) as a DataFrame."""
    from layoutbench.results import read_results as read

    frame: pd.DataFrame = read(path)
    return frame


def _many(source: PathLike | Sequence[PathLike]) -> Any:
    """A list of sources stays a list (globs and ``@list.txt`` expanded); one stays one."""
    if isinstance(source, str | os.PathLike):
        return source
    from layoutbench.run.collection import expand_sources

    return expand_sources([os.fspath(s) for s in source])


def _profile(profile: Profile) -> NetworkProfile:
    try:
        return as_profile(profile)
    except ValueError as exc:  # an unknown name: the message lists the valid ones
        raise UserError(str(exc)) from None


def _one_of(value: Any, old: Any, name: str, old_name: str) -> Any:
    """An argument given under its name or its older one, not both."""
    if value is not None and old is not None:
        raise UserError(f"give {name}= or {old_name}= (its older name), not both")
    return value if value is not None else old


def _progress(progress: bool | None) -> bool:
    """Progress bars unless told otherwise where someone watches: in a notebook (tqdm.auto
    draws a widget there) or on a terminal; not in scripts whose stderr goes to a file."""
    if progress is not None:
        return progress
    import sys

    shell = sys.modules.get("IPython")
    kernel = shell is not None and "ipykernel" in sys.modules
    return bool(kernel or (sys.stderr is not None and sys.stderr.isatty()))
