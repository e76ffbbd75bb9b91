"""``refs``: kerchunk references, so a remote HDF5 file opens without walking its metadata."""

from __future__ import annotations

from pathlib import Path

import click

from layoutbench.cli.app import (
    echo_json,
    format_option,
    main,
    overwrite_option,
    reach,
    source_options,
)


@main.group()
def refs() -> None:
    """kerchunk references: open a remote HDF5/NWB file without walking its metadata."""


@refs.command("build")
@click.argument("source")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the references to this JSON file: a standard reference set "
                   "(version 1) that fsspec.filesystem('reference', fo=PATH) opens.")
@overwrite_option()
@source_options
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--sidecar", is_flag=True, help="Also use/write FILE.refs.json next to an s3:// "
              "object, so other machines skip the translation too.")
@format_option("table", "json")
def refs_build(source: str, output: Path | None, overwrite: bool, endpoint_url: str | None,
               anon: bool | None, region: str | None, ca_bundle: str | None, cache_dir: Path | None,
               sidecar: bool, fmt: str) -> None:
    """Translate SOURCE (path, s3:// or http(s):// URL) into cached kerchunk references."""
    from layoutbench.read.refs import refs_for
    from layoutbench.store.sources import resolve

    src = resolve(source, reach(endpoint_url, anon, region, ca_bundle))
    refset = refs_for(src, output, overwrite=overwrite, cache_dir=cache_dir, sidecar=sidecar)
    summary = {
        "source": src.url, "obtained": refset.source, "chunks": refset.n_chunks,
        "build_seconds": round(refset.build_seconds, 3), "unsupported": refset.unsupported,
        "identity": refset.identity.to_dict(), "output": str(output) if output else None,
    }
    if fmt == "json":
        echo_json(summary)
        return
    click.echo(f"{src.url}: {refset.n_chunks} chunk references ({refset.source}, built in "
               f"{refset.build_seconds:.2f}s)" + (f" -> {output}" if output else ""))
    for path, reason in refset.unsupported.items():
        click.echo(f"  not expressible, readers fall back to h5py: {path}: {reason}")
