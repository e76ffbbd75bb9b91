"""Commands that measure: ``sweep`` a grid of layouts, ``serve`` the embedded S3, the ``demo``."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from layoutbench.cli.app import (
    cluster_options,
    echo_json,
    fault_options,
    faults,
    format_option,
    main,
    overwrite_option,
    profile,
    profile_options,
    reach,
    settings,
    size_option,
    source_options,
    sources_of,
)
from layoutbench.errors import UserError
from layoutbench.plan.layout import GRIDS


@main.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--dataset", default=None, help="Dataset path (default: the largest array).")
@click.option("--patterns", "specs", multiple=True,
              help="Pattern SPEC NAME[:KEY=VALUE,...][@WEIGHT]; repeatable.")
@profile_options()
@source_options
@cluster_options
@click.option("--cache-limit", default="10GB", show_default=True,
              help="Largest size of the variant cache (least recently used variants are "
                   "removed past it), or none.")
@click.option("--slab-mb", type=click.FloatRange(min=0), default=2000.0, show_default=True,
              help="Datasets larger than this (uncompressed MB) are swept on a slab of their "
                   "first rows where the patterns allow it (0: never).")
@click.option("--grid", type=click.Choice(GRIDS), default="default", show_default=True)
@click.option("--readers", "reader_names", multiple=True, help="Readers to use (default: all).")
@click.option("--repeats", default=3, show_default=True, type=click.IntRange(1, 100),
              help="Times each case is measured: its median and its spread (fastest to "
                   "slowest) are reported, and a ranking the spread could flip is marked. "
                   "1 for a quick look.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Results table (.parquet or .csv).")
@overwrite_option()
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where verified variants are kept between runs.")
@click.option("--recommendation", "rec", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Also measure the layout a `recommend --format json` chose "
                                 "for the dataset (label `recommended`), side by side.")
@click.option("--store", default=None, metavar="s3://BUCKET/PREFIX",
              help="Put the variants there (reached with --endpoint-url, --anon, --region) "
                   "instead of on an endpoint of this machine: for workers on other machines. "
                   "The run removes what it uploads.")
@fault_options
@format_option("table", "json")
def sweep(sources: tuple[str, ...], dataset: str | None, specs: tuple[str, ...],
          profile_name: str, latency_ms: float | None, bandwidth_mbps: float | None,
          endpoint_url: str | None, anon: bool | None, region: str | None,
          ca_bundle: str | None, workers: int | None, scheduler_address: str | None,
          cache_limit: str, slab_mb: float, grid: str,
          reader_names: tuple[str, ...], repeats: int, output: Path, overwrite: bool,
          cache_dir: Path | None, rec: Path | None, store: str | None,
          fault_spec: str | None, fault_seed: int, fmt: str) -> None:
    """Rewrite each SOURCE's dataset across a layout grid and measure every reader × pattern.

    A SOURCE is a path, an s3:// or http(s):// URL, a glob or @LIST.txt (one source a line):
    the results are one table with a `source` column. A remote dataset is first copied once
    into the cache, as it is stored (a second sweep of an unchanged object reads nothing
    again). Each finished case is kept in a journal beside OUTPUT: after an interruption, the
    same command measures only what is missing. --workers N builds variants in parallel
    (measurements stay one at a time per machine: the figures are the same); with --store,
    workers on other machines take part too, each measuring through a gateway of its own.
    """
    from layoutbench.outputs import check_destinations, check_outputs
    from layoutbench.plan.patterns import parse_spec
    from layoutbench.results import results_format, to_frame, write_results
    from layoutbench.run.executors import check_options, open_executor
    from layoutbench.run.journal import journal_for
    from layoutbench.run.sweep import run_sweep
    from layoutbench.store import EmbeddedS3

    srcs = sources_of(sources, endpoint_url, anon, region, ca_bundle)
    remote = None
    if store is not None:
        from layoutbench.store.remote_store import RemoteStore

        remote = RemoteStore(store, reach(endpoint_url, anon, region, ca_bundle))
    results_format(output)
    check_outputs([*srcs, rec], [output])
    # (a sweep resumed after an interruption has no output yet: its journal is not one)
    check_destinations([output], overwrite=overwrite)
    check_options(workers, scheduler_address)
    limit = size_option(cache_limit, "--cache-limit")
    if rec is not None and len(srcs) > 1:
        raise UserError(f"{rec}: --recommendation compares one file's layouts; give one SOURCE")
    plan = faults(fault_spec, fault_seed)
    patterns = [parse_spec(s) for s in specs] or None
    net = profile(profile_name, latency_ms, bandwidth_mbps)
    layouts = None
    for src in srcs:
        if src.is_local:
            from layoutbench.read.inspect import dataset_info

            dataset_info(src, dataset)  # fail fast on bad input, before starting servers
    if rec is not None:
        layouts = _with_recommendation(srcs[0], dataset, rec, grid)
    journal = journal_for(output)
    with remote or EmbeddedS3() as s3, open_executor(workers, scheduler_address) as executor:
        results = run_sweep(srcs, s3, net, dataset=dataset, grid=grid, layouts=layouts,
                            readers=list(reader_names) or None, patterns=patterns,
                            cache_dir=cache_dir, progress=settings().progress, repeats=repeats,
                            journal=journal, faults=plan, executor=executor,
                            cache_limit=limit, slab_bytes=int(slab_mb * 1e6) or None)
    write_results(results, output)
    journal.unlink(missing_ok=True)  # the results are safe: the journal has done its job
    print_results(to_frame(results), fmt)
    click.echo(f"wrote {len(results)} rows to {output}", err=True)


@main.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--dataset", default=None, help="Dataset path (default: the largest array).")
@click.option("--patterns", "specs", multiple=True,
              help="Pattern SPEC NAME[:KEY=VALUE,...][@WEIGHT]; repeatable.")
@click.option("--readers", "reader_names", multiple=True,
              help="Readers to use (default: h5py-remfile, h5py-fsspec, kerchunk; zarr, "
                   "zarr-obstore for a Zarr store).")
@cluster_options
@click.option("--repeats", default=3, show_default=True, type=click.IntRange(1, 100),
              help="Times each case is measured: its median and its spread (fastest to "
                   "slowest) are reported, and a ranking the spread could flip is marked. "
                   "1 for a quick look.")
@profile_options(default="loopback",
                 note="added on top of the real network; loopback adds nothing")
@source_options
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Results table (.parquet or .csv).")
@overwrite_option()
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where kerchunk references are kept (default: the user cache).")
@fault_options
@format_option("table", "json")
def measure(sources: tuple[str, ...], dataset: str | None, specs: tuple[str, ...],
            reader_names: tuple[str, ...], workers: int | None,
            scheduler_address: str | None, repeats: int, profile_name: str,
            latency_ms: float | None, bandwidth_mbps: float | None, endpoint_url: str | None,
            anon: bool | None, region: str | None, ca_bundle: str | None, output: Path,
            overwrite: bool, cache_dir: Path | None, fault_spec: str | None, fault_seed: int,
            fmt: str) -> None:
    """Measure each SOURCE (path, s3:// or http(s):// URL, glob, @LIST.txt) as it is, where it
    is: no rewrite.

    Every reader x pattern reads the file on its own server through the counting gateway, so
    requests and bytes are exact for any server (a local file is uploaded to the embedded S3).
    Measurements never overlap on one machine, with --workers too.
    """
    from layoutbench.outputs import check_destinations, check_outputs
    from layoutbench.plan.patterns import parse_spec
    from layoutbench.results import results_format, to_frame, write_results
    from layoutbench.run.executors import check_options, open_executor
    from layoutbench.run.many import run_each
    from layoutbench.run.sweep_jobs import EndpointSpec
    from layoutbench.store import EmbeddedS3

    srcs = sources_of(sources, endpoint_url, anon, region, ca_bundle)
    results_format(output)
    check_outputs(srcs, [output])
    check_destinations([output], overwrite=overwrite)
    check_options(workers, scheduler_address)
    options = {"dataset": dataset, "patterns": [parse_spec(s) for s in specs],
               "readers": list(reader_names) or None, "repeats": repeats,
               "profile": profile(profile_name, latency_ms, bandwidth_mbps),
               "cache_dir": cache_dir, "progress": settings().progress and len(srcs) == 1,
               "faults": faults(fault_spec, fault_seed),
               "options": reach(endpoint_url, anon, region, ca_bundle)}
    with EmbeddedS3() as s3, open_executor(workers, scheduler_address) as executor:
        where = s3 if executor.in_process else EndpointSpec.of(s3)
        done = run_each("measure", [(s.given, options, where) for s in srcs],
                        [s.url for s in srcs], executor=executor, timed=True,
                        progress=settings().progress)
    rows = [row for part in done for row in part]
    write_results(rows, output)
    print_results(to_frame(rows), fmt)
    click.echo(f"wrote {len(rows)} rows to {output}", err=True)


def _with_recommendation(src: Any, dataset: str | None, rec: Path, grid: str) -> list[Any]:
    """The grid plus the layout a recommendation chose for the dataset (label ``recommended``)."""
    from layoutbench.plan.layout import default_grid
    from layoutbench.run.describe import describe
    from layoutbench.write.apply_plan import read_recommendation

    chosen = read_recommendation(rec)
    info = describe(src, dataset)
    if info.path not in chosen:
        raise UserError(f"{rec}: has no recommendation for {info.path}")
    return default_grid(info.kind, info.shape, info.itemsize, grid,
                        recommended=chosen[info.path])


def print_results(frame: Any, fmt: str) -> None:
    from layoutbench.reporting import ranked, ranked_table

    if fmt == "json":
        click.echo(ranked(frame).to_json(orient="records", indent=1))
    else:
        click.echo(ranked_table(frame))


@main.command()
@profile_options()
@click.option("--upload", "uploads", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="File or folder (Zarr store) to upload before serving; repeatable.")
@fault_options
@format_option("table", "json")
def serve(profile_name: str, latency_ms: float | None, bandwidth_mbps: float | None,
          uploads: tuple[Path, ...], fault_spec: str | None, fault_seed: int, fmt: str) -> None:
    """Run the embedded S3 endpoint and gateway in the foreground until interrupted.

    With --format json, one JSON object on stdout says where everything is (endpoint, bucket,
    profile, uploaded URLs, the s3fs storage options), for scripts that start it.
    """
    import time

    from layoutbench.store import EmbeddedS3

    net = profile(profile_name, latency_ms, bandwidth_mbps)
    plan = faults(fault_spec, fault_seed)
    with EmbeddedS3() as s3:
        s3.set_profile(net)
        uploaded = {}
        for path in uploads:
            key = s3.upload_tree(path, path.name) if path.is_dir() else s3.upload_file(path,
                                                                                      path.name)
            uploaded[str(path)] = {"http_url": s3.http_url(key), "s3_url": s3.s3_url(key)}
        s3.set_faults(plan)  # after the uploads: they go to moto directly anyway
        if fmt == "json":
            options = s3.storage_options()
            echo_json({"endpoint_url": s3.endpoint_url, "bucket": s3.bucket,
                       "profile": net.to_dict(), "uploads": uploaded,
                       "faults": plan.to_dict(),
                       "storage_options": {k: options[k] for k in ("anon", "client_kwargs")},
                       "stats_url": f"{s3.endpoint_url}/_layoutbench/stats"})
        else:
            for path_text, urls in uploaded.items():
                click.echo(f"uploaded {path_text} -> {urls['http_url']}")
            click.echo(f"endpoint {s3.endpoint_url}  bucket {s3.bucket}  profile {net.name} "
                       f"({net.latency_ms} ms, {net.bandwidth_mbps or 'unlimited'} MB/s)")
            click.echo(f"  s3fs: s3fs.S3FileSystem(anon=True, client_kwargs={{'endpoint_url': "
                       f"'{s3.endpoint_url}'}})")
            click.echo(f"  stats: {s3.endpoint_url}/_layoutbench/stats  (Ctrl-C to stop)")
        sys.stdout.flush()
        while True:
            time.sleep(3600)


@main.command()
@click.option("-o", "--output", "--out", "out_dir",
              type=click.Path(file_okay=False, path_type=Path),
              default=Path("demo-output"), show_default=True,
              help="Folder of the samples, variants, results and report (--out: its older name).")
@profile_options()
@click.option("--grid", type=click.Choice(GRIDS), default="default", show_default=True)
@click.option("--ophys-shape", default=None,
              help="Sample movie shape TxYxX (default 1000x256x256).")
@click.option("--ecephys-shape", default=None,
              help="Sample recording shape TxC (default 1800000x64).")
@click.option("--small-shape", default="91x256x256", show_default=True,
              help="Shape TxYxX of the small movie, where downloading the file wins; "
                   "'none' leaves it out.")
@click.option("--repeats", default=3, show_default=True, type=click.IntRange(1, 100),
              help="Times each case is measured (median and spread); 1 for a quick look.")
@format_option("table", "json")
def demo(out_dir: Path, profile_name: str, latency_ms: float | None,
         bandwidth_mbps: float | None, grid: str, ophys_shape: str | None,
         ecephys_shape: str | None, small_shape: str, repeats: int, fmt: str) -> None:
    """Generate ophys and ecephys samples and a small movie; recommend a layout for each (also
    written as NAME.recommendation.json), sweep it on the embedded S3 beside the grid, print
    the rankings and the recommendations with their verdicts (rewrite, keep or download), and
    write the HTML report of it all (OUT/report/index.html)."""
    from layoutbench.demo import run_demo
    from layoutbench.plan.recommendation import render_table
    from layoutbench.reporting.site import write_report

    net = profile(profile_name, latency_ms, bandwidth_mbps)
    shapes = {}
    for kind, text, ndim in (("ophys", ophys_shape, 3), ("ecephys", ecephys_shape, 2)):
        if text:
            shapes[kind] = parse_shape(f"--{kind}-shape", text, ndim)
    small = (None if small_shape.strip().lower() == "none"
             else parse_shape("--small-shape", small_shape, 3))
    started = time.perf_counter()
    done = run_demo(out_dir, net, grid=grid, shapes=shapes, repeats=repeats, small=small,
                    progress=settings().progress)
    for sample in done:
        print_results(sample.frame, fmt)
        click.echo()
    for sample in done:
        if fmt == "json":
            echo_json(sample.recommendation)
        else:
            click.echo(render_table(sample.recommendation))
        click.echo()
    site = write_report([out_dir / f"{s.name}.parquet" for s in done],
                        [out_dir / f"{s.name}.recommendation.json" for s in done],
                        out_dir / "report", title="layoutbench demo",
                        overwrite=True)  # the demo's own folder, rewritten at every run
    for sample in done:
        click.echo(f"sweep of {sample.name}: {sample.overhead}", err=fmt == "json")
    click.echo(f"demo: {len(done)} samples in {(time.perf_counter() - started) / 60:.1f} min",
               err=fmt == "json")
    click.echo(f"report: {site.index}  (open file://{site.index.resolve()} in a browser)",
               err=fmt == "json")


def parse_shape(option: str, text: str, ndim: int) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.lower().split("x"))
    except ValueError:
        shape = ()
    if len(shape) != ndim or min(shape) < 1:
        raise UserError(f"{option}: expected {ndim} positive sizes like "
                        f"{'x'.join(['N'] * ndim)}, got {text!r}")
    return shape
