"""Commands about inputs: ``generate`` samples, list the ``layouts`` and ``patterns`` there are."""

from __future__ import annotations

from pathlib import Path

import click

from layoutbench.cli.app import echo_json, format_option, main, reach, settings, source_options
from layoutbench.errors import UserError
from layoutbench.plan.layout import GRIDS


@main.command()
@click.argument("kind", type=click.Choice(["ophys", "ecephys", "volume", "many-series"]))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--size", default=None, help="Raw size of the main dataset, e.g. 500MB or 10GB.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--plain", is_flag=True,
              help="volume only: a plain HDF5 file with the volume at /volume, not NWB.")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@click.option("--layout", "writer", type=click.Choice(["neuroconv", "pynwb"]),
              default="neuroconv", show_default=True,
              help="Storage as written by neuroconv (~10 MB gzip chunks) or by pynwb's "
                   "defaults (contiguous, uncompressed).")
@format_option("table", "json")
def generate(kind: str, out: Path, size: str | None, seed: int, plain: bool, overwrite: bool,
             writer: str, fmt: str) -> None:
    """Write a realistic synthetic NWB file (neuroconv's default layout).

    With --plain (volume only), a plain HDF5 file holding just the volume, as stacks outside
    NWB are stored. With --layout pynwb, the data are stored as pynwb writes them unless told
    otherwise: contiguous.
    """
    from layoutbench.outputs import check_destinations
    from layoutbench.synthetic import generate as write_sample
    from layoutbench.synthetic import parse_size

    try:
        nbytes = parse_size(size) if size else None
    except ValueError as exc:
        raise UserError(f"--size: {exc}") from None
    if out.parent and not out.parent.exists():
        raise UserError(f"{out}: folder {out.parent} does not exist")
    if out.is_dir():
        raise UserError(f"{out}: is a directory, expected an output file name")
    check_destinations([out], overwrite=overwrite)  # exists, or a folder we cannot write in
    info = write_sample(kind, out, size=nbytes, seed=seed, writer=writer, plain=plain,
                        progress=settings().progress)
    if fmt == "json":
        echo_json(info.to_dict())
    else:
        file_bytes = Path(info.path).stat().st_size
        click.echo(f"{info.path}: {file_bytes / 1e6:.1f} MB file in {info.seconds:.1f}s; dataset "
                   f"{info.dataset} {info.shape} {info.dtype} "
                   + ("contiguous" if writer == "pynwb" else f"chunks {info.chunks}"))


@main.command()
@click.argument("source")
@click.option("--dataset", default=None, help="Dataset path (default: the largest array).")
@click.option("--grid", type=click.Choice(GRIDS), default="default", show_default=True)
@source_options
@format_option("table", "json")
def layouts(source: str, dataset: str | None, grid: str, endpoint_url: str | None,
            anon: bool | None, region: str | None, ca_bundle: str | None, fmt: str) -> None:
    """List the layouts a sweep of SOURCE (path or URL) would compare."""
    from layoutbench.plan.layout import default_grid
    from layoutbench.run.describe import describe
    from layoutbench.store.sources import resolve

    info = describe(resolve(source, reach(endpoint_url, anon, region, ca_bundle)), dataset)
    grid_layouts = default_grid(info.kind, info.shape, info.itemsize, grid)
    if fmt == "json":
        echo_json([lay.to_dict() for lay in grid_layouts])
        return
    click.echo(f"{info.file}:{info.path} {info.shape} {info.dtype} ({info.kind}), grid {grid}")
    click.echo(f"  {'layout':44} {'format':6} {'chunks':18} {'shards':16} {'codec':16}")
    for lay in grid_layouts:
        codec = lay.codec + ("" if lay.level is None else f" {lay.level}") + \
            (" +shuffle" if lay.shuffle else "")
        shards = "x".join(map(str, lay.shards)) if lay.shards else "-"
        page = f"  page {lay.page_size}" if lay.page_size else ""
        click.echo(f"  {lay.name:44} {lay.format:6} {'x'.join(map(str, lay.chunks)):18} "
                   f"{shards:16} {codec:16}{page}")


@main.command("patterns")
@format_option("table", "json")
def list_patterns(fmt: str) -> None:
    """List the access patterns and their parameters (for --patterns SPEC)."""
    from layoutbench.plan.catalogue import PATTERNS

    if fmt == "json":
        echo_json([{"name": d.name, "kind": d.kind, "description": d.description,
                    "params": [{"name": p.name, "type": p.type,
                                "default": list(p.default) if isinstance(p.default, tuple)
                                else p.default, "help": p.help} for p in d.params]}
                   for d in PATTERNS.values()])
        return
    for d in PATTERNS.values():
        click.echo(f"{d.name} ({d.kind}): {d.description}")
        for p in d.params:
            default = "x".join(map(str, p.default)) if isinstance(p.default, tuple) else p.default
            click.echo(f"    {p.name}={default}  {p.help}")
