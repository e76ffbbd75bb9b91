"""``layoutbench report``: the evidence as pictures, a static site from results tables."""

from __future__ import annotations

from pathlib import Path

import click

from layoutbench.cli.app import echo_json, format_option, main, overwrite_option


@main.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--recommendation", "recs", multiple=True, type=click.Path(path_type=Path),
              help="JSON of `layoutbench recommend --format json` (with --measure: predicted "
                   "against measured); repeatable, one per file.")
@click.option("-o", "--output", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder of the site: index.html, assets/, summary.csv, results.csv.")
@overwrite_option("OUTPUT (a folder that is not empty)")
@click.option("--title", default="layoutbench report", show_default=True)
@format_option("table", "json")
def report(results: tuple[Path, ...], recs: tuple[Path, ...], output: Path, overwrite: bool,
           title: str, fmt: str) -> None:
    """Write a self-contained HTML report of RESULTS (sweep and measure tables, .parquet or
    .csv; several files, profiles and sources together) into a folder.

    Open OUTPUT/index.html in a browser, from disk or any static web server: it loads nothing
    from another host. Per pattern: seconds and bytes by layout against the baseline and a
    whole-file download; stored size and cost against seconds (Pareto front); requests
    against chunks touched; with --recommendation, a card per dataset and predicted against
    measured seconds.
    """
    from layoutbench.reporting.site import write_report

    site = write_report(results, recs, output, title=title, overwrite=overwrite)
    if fmt == "json":
        echo_json(site.to_dict())
    else:
        click.echo(f"{site.index}  ({site.figures} plots, {site.cards} recommendation cards, "
                   f"{site.rows} table rows)")
        click.echo(f"  open it: file://{site.index.resolve()}")
