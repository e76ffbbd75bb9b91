"""``layoutbench`` command line (DESIGN.md §6).

Data goes to stdout (``--format json`` for machines); progress bars and logs go to stderr.
A user mistake (missing file, not HDF5, unknown dataset, bad SPEC) is one line on stderr and
exit status 2, never a traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from layoutbench.errors import UserError
from layoutbench.plan.layout import GRIDS, LayoutError

log = logging.getLogger("layoutbench")


class _Group(click.Group):
    """Turns user errors into one line on stderr and a non-zero exit."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (UserError, LayoutError) as exc:
            click.echo(f"layoutbench: error: {exc}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("layoutbench: interrupted", err=True)
            ctx.exit(130)


def _profile_options(f: Any) -> Any:
    f = click.option("--bandwidth-mbps", type=float, default=None,
                     help="Override the profile's per-connection bandwidth (MB/s).")(f)
    f = click.option("--latency-ms", type=float, default=None,
                     help="Override the profile's per-request latency.")(f)
    f = click.option("--profile", "profile_name", default="same-region", show_default=True,
                     help="Network profile: loopback, same-region, cross-region, home.")(f)
    return f


def _profile(name: str, latency_ms: float | None, bandwidth_mbps: float | None) -> Any:
    from layoutbench.store import get_profile

    try:
        return get_profile(name, latency_ms=latency_ms, bandwidth_mbps=bandwidth_mbps)
    except ValueError as exc:
        raise UserError(str(exc)) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-vv for debug).")
@click.version_option(package_name="layoutbench")
def main(verbose: int) -> None:
    """Measure and recommend cloud-friendly layouts for NWB/HDF5 data."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.command()
@click.argument("kind", type=click.Choice(["ophys", "ecephys", "volume", "many-series"]))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--size", default=None, help="Raw size of the main dataset, e.g. 500MB or 10GB.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--plain", is_flag=True,
              help="volume only: a plain HDF5 file with the volume at /volume, not NWB.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def generate(kind: str, out: Path, size: str | None, seed: int, plain: bool, fmt: str) -> None:
    """Write a realistic synthetic NWB file (neuroconv's default layout).

    With --plain (volume only), a plain HDF5 file holding just the volume, as stacks outside
    NWB are stored.
    """
    from layoutbench.generate import GENERATORS, parse_size

    if plain and kind != "volume":
        raise UserError(f"--plain applies to volume data only, not {kind}")
    try:
        nbytes = parse_size(size) if size else None
    except ValueError as exc:
        raise UserError(f"--size: {exc}") from None
    if out.parent and not out.parent.exists():
        raise UserError(f"{out}: folder {out.parent} does not exist")
    options = {"plain": True} if plain else {}
    try:
        info = GENERATORS[kind](out, size=nbytes, seed=seed, progress=True, **options)
    except ValueError as exc:  # a size too small, a negative seed, ...: the user's arguments
        raise UserError(f"{out}: {exc}") from None
    if fmt == "json":
        click.echo(json.dumps(info.to_dict(), indent=1))
    else:
        file_bytes = Path(info.path).stat().st_size
        click.echo(f"{info.path}: {file_bytes / 1e6:.1f} MB file in {info.seconds:.1f}s; dataset "
                   f"{info.dataset} {info.shape} {info.dtype} chunks {info.chunks}")


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--dataset", default=None, help="Dataset path (default: the largest array).")
@click.option("--patterns", "specs", multiple=True,
              help="Pattern SPEC NAME[:KEY=VALUE,...][@WEIGHT]; repeatable.")
@_profile_options
@click.option("--grid", type=click.Choice(GRIDS), default="default", show_default=True)
@click.option("--readers", "reader_names", multiple=True, help="Readers to use (default: all).")
@click.option("--repeats", default=1, show_default=True, type=click.IntRange(1, 100))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Results table (.parquet or .csv).")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where verified variants are kept between runs.")
@click.option("--recommendation", "rec", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Also measure the layout a `recommend --format json` chose "
                                 "for the dataset (label `recommended`), side by side.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def sweep(file: Path, dataset: str | None, specs: tuple[str, ...], profile_name: str,
          latency_ms: float | None, bandwidth_mbps: float | None, grid: str,
          reader_names: tuple[str, ...], repeats: int, output: Path, cache_dir: Path | None,
          rec: Path | None, fmt: str) -> None:
    """Rewrite FILE's dataset across a layout grid and measure every reader × pattern."""
    from layoutbench.plan.patterns import parse_spec
    from layoutbench.read.inspect import dataset_info
    from layoutbench.run.results import results_format, to_frame, write_results
    from layoutbench.run.sweep import run_sweep
    from layoutbench.store import EmbeddedS3

    info = dataset_info(file, dataset)  # fail fast on bad input, before starting servers
    results_format(output)
    patterns = [parse_spec(s) for s in specs] or None
    profile = _profile(profile_name, latency_ms, bandwidth_mbps)
    layouts = None
    if rec is not None:
        from dataclasses import replace

        from layoutbench.plan.layout import default_grid
        from layoutbench.write.apply_plan import read_recommendation

        chosen = read_recommendation(rec)
        if info.path not in chosen:
            raise UserError(f"{rec}: has no recommendation for {info.path}")
        layouts = [*default_grid(info.kind, info.shape, info.itemsize, grid),
                   replace(chosen[info.path], label="recommended")]
    with EmbeddedS3() as s3:
        results = run_sweep(file, s3, profile, dataset=dataset, grid=grid, layouts=layouts,
                            readers=list(reader_names) or None, patterns=patterns,
                            cache_dir=cache_dir, progress=True, repeats=repeats)
    write_results(results, output)
    _print_results(to_frame(results), fmt)
    click.echo(f"wrote {len(results)} rows to {output}", err=True)


def _print_results(frame: Any, fmt: str) -> None:
    from layoutbench.report import ranked, ranked_table

    if fmt == "json":
        click.echo(ranked(frame).to_json(orient="records", indent=1))
    else:
        click.echo(ranked_table(frame))


@main.command()
@_profile_options
@click.option("--upload", "uploads", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="File or folder (Zarr store) to upload before serving; repeatable.")
def serve(profile_name: str, latency_ms: float | None, bandwidth_mbps: float | None,
          uploads: tuple[Path, ...]) -> None:
    """Run the embedded S3 endpoint and gateway in the foreground until interrupted."""
    import time

    from layoutbench.store import EmbeddedS3

    profile = _profile(profile_name, latency_ms, bandwidth_mbps)
    with EmbeddedS3() as s3:
        s3.set_profile(profile)
        for path in uploads:
            key = s3.upload_tree(path, path.name) if path.is_dir() else s3.upload_file(path,
                                                                                      path.name)
            click.echo(f"uploaded {path} -> {s3.http_url(key)}")
        click.echo(f"endpoint {s3.endpoint_url}  bucket {s3.bucket}  profile {profile.name} "
                   f"({profile.latency_ms} ms, {profile.bandwidth_mbps or 'unlimited'} MB/s)")
        click.echo(f"  s3fs: s3fs.S3FileSystem(anon=True, client_kwargs={{'endpoint_url': "
                   f"'{s3.endpoint_url}'}})")
        click.echo(f"  stats: {s3.endpoint_url}/_layoutbench/stats  (Ctrl-C to stop)")
        sys.stdout.flush()
        while True:
            time.sleep(3600)


@main.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("demo-output"), show_default=True)
@_profile_options
@click.option("--grid", type=click.Choice(GRIDS), default="default", show_default=True)
@click.option("--ophys-shape", default=None,
              help="Sample movie shape TxYxX (default 1000x256x256).")
@click.option("--ecephys-shape", default=None,
              help="Sample recording shape TxC (default 1800000x64).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def demo(out_dir: Path, profile_name: str, latency_ms: float | None,
         bandwidth_mbps: float | None, grid: str, ophys_shape: str | None,
         ecephys_shape: str | None, fmt: str) -> None:
    """Generate ophys and ecephys samples, sweep them on the embedded S3, print the rankings,
    then the layout `recommend` chooses for each (also written as KIND.recommendation.json)."""
    from layoutbench.run.demo import run_demo

    profile = _profile(profile_name, latency_ms, bandwidth_mbps)
    shapes = {}
    for kind, text, ndim in (("ophys", ophys_shape, 3), ("ecephys", ecephys_shape, 2)):
        if text:
            shapes[kind] = _parse_shape(f"--{kind}-shape", text, ndim)
    frames = run_demo(out_dir, profile, grid=grid, shapes=shapes)
    for frame in frames:
        _print_results(frame, fmt)
        click.echo()
    from layoutbench.report.recommendation import render_table
    from layoutbench.run.demo import recommend_samples

    for rec in recommend_samples(out_dir, profile):
        click.echo(json.dumps(rec, indent=1) if fmt == "json" else render_table(rec))
        click.echo()


def _parse_shape(option: str, text: str, ndim: int) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.lower().split("x"))
    except ValueError:
        shape = ()
    if len(shape) != ndim or min(shape) < 1:
        raise UserError(f"{option}: expected {ndim} positive sizes like "
                        f"{'x'.join(['N'] * ndim)}, got {text!r}")
    return shape


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--dataset", default=None)
@click.option("--grid", type=click.Choice(GRIDS), default="default", show_default=True)
def layouts(file: Path, dataset: str | None, grid: str) -> None:
    """List the layouts a sweep of FILE would compare."""
    from layoutbench.plan.layout import default_grid
    from layoutbench.read.inspect import dataset_info

    info = dataset_info(file, dataset)
    for lay in default_grid(info.kind, info.shape, info.itemsize, grid):
        click.echo(json.dumps(lay.to_dict()))


@main.group()
def refs() -> None:
    """kerchunk references: open a remote HDF5/NWB file without walking its metadata."""


@refs.command("build")
@click.argument("source")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the references (with identity and notes) to this JSON file.")
@click.option("--endpoint-url", default=None, help="S3 endpoint for s3:// URLs (e.g. "
              "the one `layoutbench serve` prints).")
@click.option("--anon/--no-anon", default=True, show_default=True,
              help="Anonymous S3 access (public buckets such as DANDI's).")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--sidecar", is_flag=True, help="Also use/write FILE.refs.json next to an s3:// "
              "object, so other machines skip the translation too.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def refs_build(source: str, output: Path | None, endpoint_url: str | None, anon: bool,
               cache_dir: Path | None, sidecar: bool, fmt: str) -> None:
    """Translate SOURCE (path, s3:// or http(s):// URL) into cached kerchunk references."""
    from layoutbench.read.refs import load_refs, write_refs_json

    storage_options: dict[str, Any] | None = None
    if source.startswith("s3://"):
        storage_options = {"anon": anon}
        if endpoint_url:
            storage_options["client_kwargs"] = {"endpoint_url": endpoint_url}
    elif "://" not in source:
        from layoutbench.read.inspect import check_hdf5_file

        check_hdf5_file(source)
    refset = load_refs(source, storage_options, cache_dir=cache_dir, sidecar=sidecar)
    if output:
        write_refs_json(refset, output)
    summary = {
        "source": source, "obtained": refset.source, "chunks": refset.n_chunks,
        "build_seconds": round(refset.build_seconds, 3), "unsupported": refset.unsupported,
        "identity": refset.identity.to_dict(), "output": str(output) if output else None,
    }
    if fmt == "json":
        click.echo(json.dumps(summary, indent=1))
        return
    click.echo(f"{source}: {refset.n_chunks} chunk references ({refset.source}, built in "
               f"{refset.build_seconds:.2f}s)" + (f" -> {output}" if output else ""))
    for path, reason in refset.unsupported.items():
        click.echo(f"  not expressible, readers fall back to h5py: {path}: {reason}")


_OUTPUT_FORMATS = ("table", "json", "neuroconv")
_STORAGE_FORMATS = ("hdf5", "zarr", "any")


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--dataset", default=None, help="One dataset (default: every one over --min-mb).")
@click.option("--pattern", "--patterns", "specs", multiple=True,
              help="Pattern SPEC NAME[:KEY=VALUE,...][@WEIGHT]; repeatable (weights are "
                   "relative frequencies). Default: the patterns of each dataset's kind.")
@_profile_options
@click.option("--format", "formats", multiple=True,
              type=click.Choice(_OUTPUT_FORMATS + _STORAGE_FORMATS),
              help="Output (table, json, neuroconv) and/or storage constraint (hdf5, zarr, "
                   "any); repeatable, e.g. --format json --format any. Defaults: table, hdf5.")
@click.option("--reader", default=None,
              help="Reader to optimise for (default: h5py-fsspec for HDF5, zarr for Zarr), or "
                   "`any` to recommend the reader too (e.g. kerchunk references).")
@click.option("--max-chunk-mb", type=float, default=10.0, show_default=True)
@click.option("--min-ratio", type=float, default=0.9, show_default=True,
              help="Lowest compression ratio allowed, relative to the current layout's.")
@click.option("--min-mb", type=float, default=10.0, show_default=True,
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
def recommend(file: Path, dataset: str | None, specs: tuple[str, ...], profile_name: str,
              latency_ms: float | None, bandwidth_mbps: float | None, formats: tuple[str, ...],
              reader: str | None, max_chunk_mb: float, min_ratio: float, min_mb: float,
              measure: bool, get_price: float, egress_price: float, output: Path | None) -> None:
    """Recommend the layout that reads FILE's datasets fastest for the given workload.

    Reads metadata and a few MB of chunks (no rewrite unless --measure): fast on large files.
    """
    from layoutbench.plan.patterns import parse_spec
    from layoutbench.plan.search import Constraints
    from layoutbench.report.recommendation import neuroconv_config, render_table
    from layoutbench.run.recommend import recommend as run

    outs = [f for f in formats if f in _OUTPUT_FORMATS]
    stores = [f for f in formats if f in _STORAGE_FORMATS]
    if len(outs) > 1 or len(stores) > 1:
        raise UserError("--format: give at most one output (table, json, neuroconv) and one "
                        "storage format (hdf5, zarr, any)")
    if max_chunk_mb <= 0 or min_ratio < 0 or min_mb < 0:
        raise UserError("--max-chunk-mb must be > 0, --min-ratio and --min-mb >= 0")
    patterns = [parse_spec(s) for s in specs]
    constraints = Constraints(format=stores[0] if stores else "hdf5", max_chunk_mb=max_chunk_mb,
                              min_ratio_vs_current=min_ratio)
    rec = run(file, dataset=dataset, patterns=patterns,
              profile=_profile(profile_name, latency_ms, bandwidth_mbps),
              constraints=constraints, reader=reader, threshold=int(min_mb * 1e6),
              prices={"get_price": get_price, "egress_per_gb": egress_price},
              measure=measure, progress=measure).to_dict()
    if output is not None:
        output.write_text(json.dumps(rec, indent=1) + "\n")
    fmt = outs[0] if outs else "table"
    if fmt == "json":
        click.echo(json.dumps(rec, indent=1))
    elif fmt == "neuroconv":
        click.echo(json.dumps(neuroconv_config(rec), indent=1))
    else:
        click.echo(render_table(rec))


@main.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to store the constants (default: the cache, used by recommend).")
def calibrate(results: tuple[Path, ...], output: Path | None) -> None:
    """Fit the cost model's constants to measured sweep RESULTS and store them."""
    from layoutbench.run.calibration import calibrate_from_results, save_constants

    for path in results:
        if not path.exists():
            raise UserError(f"{path}: no such results file")
    if len(results) > 1:
        raise UserError("calibrate takes one results file (concatenate sweeps first)")
    constants = calibrate_from_results(results[0])
    where = save_constants(constants, output, source=str(results[0]))
    click.echo(f"fitted on {constants.n_rows} rows (rms log error "
               f"{constants.rms_log_error:.3f}); stored in {where}")


@main.command("apply")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--recommendation", "rec", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="JSON from `layoutbench recommend --format json` (DESIGN.md §6).")
@click.option("-o", "--output", "out", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The rewritten file.")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists (never FILE).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def apply_cmd(file: Path, rec: Path, out: Path, overwrite: bool, fmt: str) -> None:
    """Rewrite the whole NWB/HDF5 FILE with the recommended datasets in their new layout.

    Everything else (groups, datasets, attributes, links, references) is copied unchanged;
    the output is verified bit for bit against FILE before it is renamed into place.
    """
    from layoutbench.write.apply import apply_layouts
    from layoutbench.write.apply_plan import read_recommendation
    from layoutbench.write.rewrite import VerificationError

    layouts = read_recommendation(rec)
    try:
        result = apply_layouts(file, layouts, out, overwrite=overwrite, progress=True)
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
    click.echo(f"wrote {result.output} (verified bit-exact)")
    if any(lay.codec not in ("none", "gzip") for lay in layouts.values()):
        click.echo("note: readers need `import hdf5plugin` (or HDF5_PLUGIN_PATH) to decode "
                   "zstd/Blosc/LZ4 datasets", err=True)


@main.command("patterns")
def list_patterns() -> None:
    """List the access patterns and their parameters (for --patterns SPEC)."""
    from layoutbench.plan.patterns import PATTERNS

    for d in PATTERNS.values():
        click.echo(f"{d.name} ({d.kind}): {d.description}")
        for p in d.params:
            default = "x".join(map(str, p.default)) if isinstance(p.default, tuple) else p.default
            click.echo(f"    {p.name}={default}  {p.help}")


if __name__ == "__main__":  # pragma: no cover
    main()
