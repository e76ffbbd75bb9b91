"""``refs``: kerchunk references, so a remote HDF5 file opens without walking its metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from layoutbench.cli.app import echo_json, format_option, main


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
@format_option("table", "json")
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
        echo_json(summary)
        return
    click.echo(f"{source}: {refset.n_chunks} chunk references ({refset.source}, built in "
               f"{refset.build_seconds:.2f}s)" + (f" -> {output}" if output else ""))
    for path, reason in refset.unsupported.items():
        click.echo(f"  not expressible, readers fall back to h5py: {path}: {reason}")


