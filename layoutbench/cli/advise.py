"""Commands that decide and act: ``recommend`` a layout, ``calibrate`` the model, ``apply``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from layoutbench.cli.app import (
    echo_json,
    format_option,
    main,
    profile,
    profile_options,
    reach,
    settings,
    source_options,
)
from layoutbench.errors import UserError

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
@click.argument("source")
@click.option("--dataset", default=None, help="One dataset (default: every one over --min-mb).")
@click.option("--pattern", "--patterns", "specs", multiple=True,
              help="Pattern SPEC NAME[:KEY=VALUE,...][@WEIGHT]; repeatable (weights are "
                   "relative frequencies). Default: the patterns of each dataset's kind.")
@profile_options()
@source_options
@click.option("--format", "fmt", default="table", show_default=True, callback=_output_format,
              help="Output on stdout: table, json (what `apply` takes) or neuroconv.")
@click.option("--storage", type=click.Choice(_STORAGES), default="hdf5",
              show_default=True, help="Storage format the recommendation may use.")
@click.option("--reader", default=None,
              help="Reader to optimise for (default: h5py-fsspec for HDF5, zarr for Zarr), or "
                   "`any` to recommend the reader too (e.g. kerchunk references).")
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
def recommend(source: str, dataset: str | None, specs: tuple[str, ...], profile_name: str,
              latency_ms: float | None, bandwidth_mbps: float | None, endpoint_url: str | None,
              anon: bool | None, region: str | None, ca_bundle: str | None, fmt: str,
              storage: str, reader: str | None, max_chunk_mb: float, min_ratio: float,
              min_gain: float, min_mb: float, measure: bool, get_price: float, egress_price: float,
              output: Path | None) -> None:
    """Recommend the layout that reads SOURCE's datasets fastest for the given workload.

    SOURCE is a path, or an s3:// or http(s):// URL. Reads metadata and a few MB of chunks (no
    rewrite unless --measure): fast on large files, and cheap on remote ones (what reading
    cost is reported).
    """
    from layoutbench.outputs import check_outputs
    from layoutbench.plan.search import Constraints
    from layoutbench.report.recommendation import neuroconv_config, render_table
    from layoutbench.run.recommend import recommend as run
    from layoutbench.sources import resolve

    src = resolve(source, reach(endpoint_url, anon, region, ca_bundle))
    check_outputs([src], [output])
    rec = run(src, dataset=dataset, patterns=list(specs),
              profile=profile(profile_name, latency_ms, bandwidth_mbps),
              constraints=Constraints(format=storage, max_chunk_mb=max_chunk_mb,
                                      min_ratio_vs_current=min_ratio, min_gain=min_gain),
              reader=reader, threshold=int(min_mb * 1e6),
              prices={"get_price": get_price, "egress_per_gb": egress_price}, measure=measure,
              progress=measure and settings().progress).to_dict()
    if output is not None:
        output.write_text(json.dumps(rec, indent=1) + "\n")
    if fmt == "json":
        echo_json(rec)
    elif fmt == "neuroconv":
        echo_json(neuroconv_config(rec))
    else:
        click.echo(render_table(rec))


@main.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to store the constants (default: the cache, used by recommend).")
@format_option("table", "json")
def calibrate(results: tuple[Path, ...], output: Path | None, fmt: str) -> None:
    """Fit the cost model's constants to measured sweep RESULTS and store them."""
    from layoutbench.outputs import check_outputs
    from layoutbench.run.calibration import calibrate_from_results, save_constants

    for path in results:
        if not path.exists():
            raise UserError(f"{path}: no such results file")
    if len(results) > 1:
        raise UserError("calibrate takes one results file (concatenate sweeps first)")
    check_outputs(results, [output])
    constants = calibrate_from_results(results[0])
    where = save_constants(constants, output, source=str(results[0]))
    if fmt == "json":
        echo_json({"stored": str(where), "source": str(results[0]),
                   "constants": constants.to_dict()})
        return
    click.echo(f"fitted on {constants.n_rows} rows (rms log error "
               f"{constants.rms_log_error:.3f}); stored in {where}")


@main.command("apply")
@click.argument("source")
@click.option("--recommendation", "rec", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="JSON from `layoutbench recommend --format json` (DESIGN.md §6).")
@click.option("-o", "--output", "out", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The rewritten file.")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists (never SOURCE).")
@source_options
@format_option("table", "json")
def apply_cmd(source: str, rec: Path, out: Path, overwrite: bool, endpoint_url: str | None,
              anon: bool | None, region: str | None, ca_bundle: str | None, fmt: str) -> None:
    """Rewrite the whole NWB/HDF5 SOURCE with the recommended datasets in their new layout.

    SOURCE is a path or a URL (a remote file is downloaded once, beside OUT, then removed).
    Everything else (groups, datasets, attributes, links, references) is copied unchanged;
    the output is verified bit for bit against the source before it is renamed into place.
    A Zarr recommendation writes OUT as an NWB-Zarr folder (name it *.nwb.zarr) with
    hdmf-zarr, which hdmf_zarr.NWBZarrIO(OUT, "r") reads.
    """
    from layoutbench.outputs import check_outputs
    from layoutbench.sources import resolve
    from layoutbench.write.apply import apply_to
    from layoutbench.write.apply_plan import (
        layouts_from_recommendation,
        load_recommendation,
        recommended_shapes,
    )
    from layoutbench.write.rewrite import VerificationError

    src = resolve(source, reach(endpoint_url, anon, region, ca_bundle))
    check_outputs([src, rec], [out])
    obj = load_recommendation(rec)
    layouts = layouts_from_recommendation(obj, name=str(rec))
    try:
        result = apply_to(src, layouts, out, overwrite=overwrite, progress=settings().progress,
                          shapes=recommended_shapes(obj))
    except VerificationError as exc:
        raise UserError(f"{out}: not written, verification failed: {exc}") from None
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    for change in result.to_dict()["datasets"]:
        click.echo(f"{change['path']}: chunks {change['old_chunks']} {change['old_codec']} -> "
                   f"{change['new_chunks']} {change['new_codec']}; stored "
                   f"{change['stored_bytes_before'] / 1e6:.1f} MB -> "
                   f"{change['stored_bytes_after'] / 1e6:.1f} MB")
    if result.format == "nwb-zarr":
        click.echo(f"wrote {result.output} (NWB-Zarr, verified bit-exact; open it with "
                   f"hdmf_zarr.NWBZarrIO(path, 'r'))")
        return
    click.echo(f"wrote {result.output} (verified bit-exact)")
    if any(lay.codec not in ("none", "gzip") for lay in layouts.values()):
        click.echo("note: readers need `import hdf5plugin` (or HDF5_PLUGIN_PATH) to decode "
                   "zstd/Blosc/LZ4 datasets", err=True)
