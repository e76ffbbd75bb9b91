"""Commands that decide and act: ``recommend`` a layout, ``calibrate`` the model, ``apply``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from layoutbench.cli.app import (
    cluster_options,
    echo_json,
    format_option,
    main,
    overwrite_option,
    profile,
    profile_options,
    reach,
    settings,
    source_options,
    sources_of,
)
from layoutbench.errors import InputNotFoundError, UserError

_OUTPUTS = ("table", "json", "neuroconv")
_STORAGES = ("hdf5", "zarr", "any")


def _output_format(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """``--format`` is the output only; the storage constraint moved to ``--storage``."""
    if value in _STORAGES:
        raise click.BadParameter(f"{value!r} is a storage format: use --storage {value} "
                                 f"(--format takes {', '.join(_OUTPUTS)})")
    if value not in _OUTPUTS:
        raise click.BadParameter(f"{value!r} is not one of {', '.join(_OUTPUTS)}")
    return value


@main.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--dataset", default=None, help="One dataset (default: every one over --min-mb).")
@click.option("--patterns", "--pattern", "specs", multiple=True,
              help="Pattern SPEC NAME[:KEY=VALUE,...][@WEIGHT]; repeatable (weights are "
                   "relative frequencies). Default: the patterns of each dataset's kind.")
@profile_options()
@source_options
@cluster_options
@click.option("--format", "fmt", default="table", show_default=True, callback=_output_format,
              help="Output on stdout: table, json (what `apply` takes) or neuroconv.")
@click.option("--storage", type=click.Choice(_STORAGES), default="hdf5",
              show_default=True, help="Storage format the recommendation may use.")
@click.option("--readers", "--reader", "reader_names", multiple=True,
              help="Reader to optimise for (default: h5py-fsspec for HDF5, zarr for Zarr); "
                   "repeatable to choose among several, or `any` to recommend the reader too "
                   "(e.g. kerchunk references).")
@click.option("--max-chunk-mb", type=click.FloatRange(min=0, min_open=True), default=10.0,
              show_default=True, help="Largest chunk allowed (MB).")
@click.option("--min-ratio", type=click.FloatRange(min=0), default=0.9, show_default=True,
              help="Lowest compression ratio allowed, relative to the current layout's.")
@click.option("--min-gain", type=click.FloatRange(min=1.0), default=1.2, show_default=True,
              help="Keep the current layout unless a rewrite is predicted at least this many "
                   "times faster.")
@click.option("--min-mb", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="Datasets smaller than this (uncompressed MB) are left alone.")
@click.option("--measure", is_flag=True,
              help="Rewrite the current and best layouts (a slab of big datasets), measure them "
                   "on the embedded S3 under --profile and report beside the prediction.")
@click.option("--get-price", type=float, default=0.0004, show_default=True,
              help="USD per 1,000 GET requests (S3 Standard).")
@click.option("--egress-price", type=float, default=0.09, show_default=True,
              help="USD per GB transferred out (S3 to internet).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the JSON recommendation here (what `apply` takes).")
@overwrite_option()
def recommend(sources: tuple[str, ...], dataset: str | None, specs: tuple[str, ...],
              profile_name: str, latency_ms: float | None, bandwidth_mbps: float | None,
              endpoint_url: str | None, anon: bool | None, region: str | None,
              ca_bundle: str | None, workers: int | None, scheduler_address: str | None,
              fmt: str,
              storage: str, reader_names: tuple[str, ...], max_chunk_mb: float,
              min_ratio: float,
              min_gain: float, min_mb: float, measure: bool, get_price: float, egress_price: float,
              output: Path | None, overwrite: bool) -> None:
    """Recommend the layout that reads each SOURCE's datasets fastest for the given workload.

    A SOURCE is a path, an s3:// or http(s):// URL, a glob or @LIST.txt (one source a line).
    Reads metadata and a few MB of chunks (no rewrite unless --measure): fast on large files,
    and cheap on remote ones (what reading cost is reported). Several files give one JSON:
    every file's recommendation and a summary of the collection.
    """
    from layoutbench.outputs import check_destinations, check_outputs
    from layoutbench.plan.recommendation import render_table
    from layoutbench.plan.search import Constraints
    from layoutbench.recommender.many import recommend_many
    from layoutbench.reporting.recommendation import neuroconv_config
    from layoutbench.run.executors import check_options, open_executor

    srcs = sources_of(sources, endpoint_url, anon, region, ca_bundle)
    check_outputs(srcs, [output])
    check_destinations([output], overwrite=overwrite)
    check_options(workers, scheduler_address)
    options = {"dataset": dataset, "patterns": list(specs),
               "profile": profile(profile_name, latency_ms, bandwidth_mbps),
               "constraints": Constraints(format=storage, max_chunk_mb=max_chunk_mb,
                                          min_ratio_vs_current=min_ratio, min_gain=min_gain),
               "readers": list(reader_names) or None, "threshold": int(min_mb * 1e6),
               "prices": {"get_price": get_price, "egress_per_gb": egress_price},
               "measure": measure, "progress": measure and settings().progress,
               "options": reach(endpoint_url, anon, region, ca_bundle)}
    with open_executor(workers, scheduler_address) as executor:
        many = recommend_many([s.given for s in srcs], options, executor=executor,
                              progress=settings().progress)
    rec = many["files"][0] if len(srcs) == 1 else many
    if output is not None:
        from layoutbench.atomic import write_json

        write_json(output, rec, indent=1)
    if fmt == "json":
        echo_json(rec)
    elif fmt == "neuroconv":
        echo_json(neuroconv_config(rec) if len(srcs) == 1 else
                  {r["file"]: neuroconv_config(r) for r in many["files"]})
    else:
        click.echo("\n\n".join(render_table(r) for r in many["files"]))
        if len(srcs) > 1:
            click.echo("\n" + _summary_line(many["summary"]))


def _summary_line(s: dict[str, object]) -> str:
    return (f"{s['files']} files, {float(str(s['total_bytes'])) / 1e9:.2f} GB, "
            f"{s['datasets_to_rewrite']} of {s['datasets']} datasets to rewrite; one read of "
            f"each: {s['seconds_per_read_current']} s now, "
            f"{s['seconds_per_read_recommended']} s rewritten; per 1,000 reads: "
            f"{s['hours_saved_per_1000_reads']} h and USD "
            f"{s['cost_saved_per_1000_reads_usd']} saved")


@main.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to store the constants (default: the cache, used by recommend).")
@overwrite_option()
@format_option("table", "json")
def calibrate(results: tuple[Path, ...], output: Path | None, overwrite: bool, fmt: str) -> None:
    """Fit the cost model's constants to measured sweep RESULTS and store them."""
    from layoutbench.outputs import check_destinations, check_outputs
    from layoutbench.recommender.calibration import calibrate_from_results, save_constants

    for path in results:
        if not path.exists():
            raise InputNotFoundError(f"{path}: no such results file")
    if len(results) > 1:
        raise UserError("calibrate takes one results file (concatenate sweeps first)")
    check_outputs(results, [output])
    check_destinations([output], overwrite=overwrite)
    constants = calibrate_from_results(results[0])
    where = save_constants(constants, output, source=str(results[0]))
    if fmt == "json":
        echo_json({"stored": str(where), "source": str(results[0]),
                   "constants": constants.to_dict()})
        return
    click.echo(f"fitted on {constants.n_rows} rows (rms log error "
               f"{constants.rms_log_error:.3f}); stored in {where}")


@main.command("apply")
@click.argument("sources", nargs=-1, required=True)
@click.option("--recommendation", "rec", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="JSON from `layoutbench recommend --format json` (DESIGN.md §6), for one "
                   "file or, from a recommend of several, for each of them.")
@click.option("-o", "--output", "out", required=True,
              type=click.Path(path_type=Path),
              help="The rewritten file; with several SOURCEs a folder (one output each).")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists (never SOURCE).")
@source_options
@cluster_options
@format_option("table", "json")
def apply_cmd(sources: tuple[str, ...], rec: Path, out: Path, overwrite: bool,
              endpoint_url: str | None, anon: bool | None, region: str | None,
              ca_bundle: str | None, workers: int | None, scheduler_address: str | None,
              fmt: str) -> None:
    """Rewrite each NWB/HDF5 SOURCE with the recommended datasets in their new layout.

    A SOURCE is a path or a URL (a remote file is downloaded once, beside OUT, then removed),
    a glob or @LIST.txt. Everything else (groups, datasets, attributes, links, references) is
    copied unchanged; each output is verified bit for bit against its source before it is
    renamed into place. With several SOURCEs, -o is a folder and each output keeps its
    source's name; files are rewritten in parallel with --workers.
    A Zarr recommendation writes each output as an NWB-Zarr folder (named *.nwb.zarr; with
    several SOURCEs, the source's name plus .zarr) with hdmf-zarr, which
    hdmf_zarr.NWBZarrIO(OUT, "r") reads.
    """
    from layoutbench.outputs import check_outputs
    from layoutbench.run.collection import output_names
    from layoutbench.run.executors import check_options, open_executor
    from layoutbench.run.many import run_each
    from layoutbench.write.apply_plan import load_recommendation
    from layoutbench.write.blocks import VerificationError

    srcs = sources_of(sources, endpoint_url, anon, region, ca_bundle)
    check_options(workers, scheduler_address)
    obj = load_recommendation(rec)
    if len(srcs) > 1:
        if out.exists() and not out.is_dir():
            raise UserError(f"{out}: with several sources, -o names a folder")
        # a Zarr recommendation makes NWB-Zarr folders: named after the source, plus .zarr
        outs = [o.with_name(o.name + ".zarr")
                if any(lay.format == "zarr" for lay in _layouts_for(s, obj, rec).values())
                else o for s, o in zip(srcs, output_names(srcs, out), strict=True)]
    else:
        outs = [out]
    check_outputs([*srcs, rec], outs)
    jobs = [(s.given, _layouts_for(s, obj, rec), str(o),
             {"overwrite": overwrite, "progress": settings().progress and len(srcs) == 1,
              "shapes": _shapes_for(s, obj, rec), "options": s.options})
            for s, o in zip(srcs, outs, strict=True)]
    if len(srcs) > 1:
        out.mkdir(parents=True, exist_ok=True)
    try:
        with open_executor(workers, scheduler_address) as executor:
            if len(srcs) > 1:  # temporaries of workers stopped mid-write, once they are gone
                from functools import partial

                from layoutbench.atomic import remove_stale

                executor.after_close(partial(remove_stale, out))
            results = run_each("apply", jobs, [s.url for s in srcs], executor=executor,
                               progress=settings().progress)
    except VerificationError as exc:
        raise UserError(f"not written, verification failed: {exc}") from None
    if fmt == "json":
        click.echo(json.dumps(results[0] if len(srcs) == 1 else results, indent=2))
        return
    for result in results:
        for change in result["datasets"]:
            click.echo(f"{change['path']}: chunks {change['old_chunks']} {change['old_codec']} "
                       f"-> {change['new_chunks']} {change['new_codec']}; stored "
                       f"{change['stored_bytes_before'] / 1e6:.1f} MB -> "
                       f"{change['stored_bytes_after'] / 1e6:.1f} MB")
        if result.get("format") == "nwb-zarr":
            click.echo(f"wrote {result['output']} (NWB-Zarr, verified bit-exact; open it with "
                       f"hdmf_zarr.NWBZarrIO(path, 'r'))")
        else:
            click.echo(f"wrote {result['output']} (verified bit-exact)")
    if any(lay.format == "hdf5" and lay.codec not in ("none", "gzip")
           for _, layouts, _, _ in jobs for lay in layouts.values()):
        click.echo("note: readers need `import hdf5plugin` (or HDF5_PLUGIN_PATH) to decode "
                   "zstd/Blosc/LZ4 datasets", err=True)


def _entry_for(src: object, obj: dict[str, object], rec: Path) -> dict[str, object]:
    """The recommendation for ``src``: the file's own in a recommend of several files, else the
    one recommendation (for every source)."""
    files = obj.get("files") if isinstance(obj, dict) else None
    if not isinstance(files, list):
        return obj  # one recommendation (or not one: layouts_from_recommendation says so)
    from layoutbench.store.sources import resolve

    url = getattr(src, "url", str(src))
    for entry in files:
        if isinstance(entry, dict) and resolve(str(entry.get("file", ""))).url == url:
            return entry
    raise UserError(f"{rec}: has no recommendation for {url}")


def _layouts_for(src: object, obj: dict[str, object], rec: Path) -> dict[str, Any]:
    from layoutbench.write.apply_plan import layouts_from_recommendation

    return dict(layouts_from_recommendation(_entry_for(src, obj, rec), name=str(rec)))


def _shapes_for(src: object, obj: dict[str, object], rec: Path) -> object:
    from layoutbench.write.apply_plan import recommended_shapes

    return recommended_shapes(_entry_for(src, obj, rec))
