"""Assemble the static report: ``SITE/index.html``, ``SITE/assets/plotly.min.js`` and the tables
as CSV, nothing that needs another host.

plotly's JavaScript is written once into ``assets/`` and referenced relatively, so the folder
works from ``file://``, from any static host, and offline. Sections: recommendation cards
(when recommendations are given), then per dataset and pattern the three figures of
:mod:`.figures`, predicted against measured seconds, the full sortable table with its CSV, and
what was measured where (profile, versions, machine, dates).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from layoutbench.atomic import atomic_output
from layoutbench.errors import UserError
from layoutbench.reporting import evidence, figures, page
from layoutbench.reporting.recommendation import neuroconv_config

log = logging.getLogger(__name__)

#: plotly's options for every figure: no logo, PNG export at twice the size for slides.
PLOT_CONFIG = {"displaylogo": False, "responsive": True,
               "toImageButtonOptions": {"format": "png", "scale": 2}}


@dataclass(frozen=True, slots=True)
class Site:
    """What :func:`build_site` wrote."""

    index: Path
    figures: int
    groups: int
    cards: int
    rows: int
    rho: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"index": str(self.index), "figures": self.figures, "groups": self.groups,
                "cards": self.cards, "rows": self.rows,
                "spearman": {k: None if v != v else v for k, v in self.rho.items()}}


def _write_text(path: Path, text: str) -> None:
    """Write under a temporary name, then rename (:func:`~layoutbench.atomic.atomic_output`):
    a browser or a static host never serves half a page."""
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _slug(*parts: Any) -> str:
    text = "-".join(str(p) for p in parts)
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "x"


def _plot(fig: Any, ident: str) -> str:
    import plotly.io as pio

    html = pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=ident,
                       config=PLOT_CONFIG)
    return f'<div class="plot">{html}</div>'


def write_assets(out_dir: Path) -> Path:
    """plotly.min.js into ``out_dir/assets/`` (rewritten only when it differs)."""
    from plotly.offline import get_plotlyjs

    target = out_dir / "assets" / "plotly.min.js"
    text = get_plotlyjs()
    if not (target.exists() and target.stat().st_size == len(text.encode())):
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_text(target, text)
    return target


def _sections(table: pd.DataFrame, frame: pd.DataFrame, colors: Mapping[str, str],
              workloads: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]] | None = None
              ) -> tuple[list[str], list[tuple[str, str]], int, int]:
    """Per dataset of a run: first the workload a recommendation weighs (``workloads``:
    (dataset, profile) -> its patterns), then per pattern the bars, the trade-off and
    requests/chunks."""
    nets = evidence.profiles(frame)
    html, nav, count, groups = [], [], 0, 0
    for (source, profile, dataset), runs in table.groupby(list(evidence.GROUP[:3]), sort=False):
        anchor = _slug("d", source, profile, dataset)
        nav.append((anchor, f"{Path(str(source)).name}: {dataset}"))
        html.append(f'<section id="{anchor}"><h2>{escape(str(dataset))} '
                    f'<small>in {escape(str(source))} · profile '
                    f"{escape(str(profile))}</small></h2>")
        patterns = (workloads or {}).get((str(dataset), str(profile)), ())
        weighed = evidence.workload(runs, patterns)
        if not weighed.empty:
            mix = " + ".join(f"{p['name']}@{float(p['weight']):g}" for p in patterns)
            html.append(f'<h3 id="{anchor}-workload">the recommendation\'s workload</h3>'
                        f'<p class="note">{escape(mix)}: each layout\'s seconds and bytes '
                        "weighted as the recommendation weighs its patterns (layouts measured "
                        "on all of them).</p>")
            html.append(_plot(figures.pattern_figure(
                weighed, None, colors, f"workload {mix} · {dataset}: seconds and bytes by "
                "layout"), f"{anchor}-workload-bars"))
            count += 1
        for pattern, group in runs.groupby("pattern", sort=False):
            groups += 1
            group = group.reset_index(drop=True)
            ident = _slug(anchor, pattern)
            download = evidence.whole_file(group, nets.get(str(profile)))
            base = ", ".join(sorted(set(group["baseline"].dropna()))) or "none"
            ref = ("" if download is None else
                   f" Dashed line: downloading {escape(download.label)} once "
                   f"({download.stored_bytes / 1e6:,.1f} MB"
                   + ("" if download.seconds is None else
                      f", {download.seconds:.2f} s at the profile's latency and bandwidth")
                   + ").")
            html.append(f'<h3 id="{ident}">{escape(str(pattern))}</h3>'
                        f'<p class="note">Baseline: {escape(base)}, read by the same '
                        f"reader (or its fastest reader where it cannot read it).{ref}</p>")
            title = f"{pattern} · {dataset}"
            html.append(_plot(figures.pattern_figure(group, download, colors,
                                                     f"{title}: seconds and bytes by layout"),
                              f"{ident}-bars"))
            html.append(_plot(figures.tradeoff_figure(group, colors,
                                                      f"{title}: trade-offs (Pareto front)"),
                              f"{ident}-tradeoff"))
            html.append(_plot(figures.requests_figure(group, colors,
                                                      f"{title}: requests against chunks touched"),
                              f"{ident}-requests"))
            count += 3
        html.append("</section>")
    return html, nav, count, groups


def build_site(frame: pd.DataFrame, recs: Sequence[Mapping[str, Any]],
               out_dir: str | os.PathLike[str], *, title: str = "layoutbench report",
               results_names: Sequence[str] = ()) -> Site:
    """Write the report of ``frame`` (results rows, see :func:`.inputs.load_results`) and the
    recommendations ``recs`` into ``out_dir``; return what was written.

    The figures are computed from the data only, so the same inputs give the same page (but
    for the date it was written). The folder is written whole under a temporary name beside
    ``out_dir`` and renamed into place (replacing a previous report) only when complete: an
    interrupted report leaves nothing that looks like one.
    """
    final = Path(out_dir)
    final.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(final) as tmp:
        tmp.mkdir()
        site = _build_into(frame, recs, tmp, title=title, results_names=results_names)
    site = dataclasses.replace(site, index=final / site.index.name)
    log.info("wrote %s: %d figures, %d recommendation cards, %d rows", site.index, site.figures,
             site.cards, site.rows)
    return site


def _build_into(frame: pd.DataFrame, recs: Sequence[Mapping[str, Any]], out: Path, *,
                title: str, results_names: Sequence[str]) -> Site:
    everything = frame
    failed = evidence.failed(frame)
    frame = frame[~failed]
    if frame.empty:
        raise UserError(f"no case to draw: all {len(everything)} rows are failed cases "
                        "(their error column says why)")
    out.mkdir(parents=True, exist_ok=True)
    write_assets(out)
    table = evidence.summary(frame)
    colors = figures.reader_colors([*table["reader"].unique(),
                                    *(c.get("reader", "") for r in recs for d in r["datasets"]
                                      for c in (d["current"], d["recommended"]))])
    points = evidence.prediction_points(frame, recs)
    body, nav, n_figs = [], [], 0
    cards = []
    for i, rec in enumerate(recs):
        config = neuroconv_config(dict(rec))
        for d in rec["datasets"]:
            measured = evidence.measured_seconds(d, points, rec.get("file"))
            location = d["path"].lstrip("/")
            cards.append(page.card(d, rec, {location: config[location]}, measured,
                                   _slug("rec", i, d["path"])))
    if cards:
        nav.append(("recommendations", "recommendations"))
        body.append('<section id="recommendations"><h2>Recommendations</h2>'
                    '<p class="note">What <code>layoutbench recommend</code> chose per dataset: '
                    "predicted by the cost model; measured where the layouts were measured "
                    f'side by side.</p><div class="cards">{"".join(cards)}</div></section>')
    workloads = {(str(d["path"]), str(r.get("profile"))): d.get("patterns") or ()
                 for r in recs for d in r["datasets"]}
    sections, more_nav, count, groups = _sections(table, frame, colors, workloads)
    body += sections
    nav += more_nav
    n_figs += count
    rho: dict[str, float] = {}
    if not points.empty:
        nav.append(("predicted", "predicted vs measured"))
        body.append('<section id="predicted"><h2>Predicted against measured seconds</h2>'
                    '<p class="note">Each point is a case the cost model predicted and that was '
                    "measured: the recommender only needs the model to rank layouts as the "
                    "measurements do, which Spearman's ρ says.</p>")
        for (file, dataset), pts in points.groupby(["file", "dataset"], sort=False):
            fig, r = figures.prediction_figure(pts.reset_index(drop=True), colors,
                                               f"{Path(str(file)).name}: {dataset}")
            rho[f"{file}:{dataset}"] = r
            origins = ", ".join(f"{n} from {o}" for o, n in pts["origin"].value_counts(
                sort=False).items())
            body.append(f"<h3>{escape(str(dataset))} <small>in "
                        f"{escape(str(file))}</small></h3><p class=\"note\">Spearman ρ "
                        f"= {'n/a' if r != r else format(r, '.2f')} over {len(pts)} cases "
                        f"({escape(origins)}).</p>")
            body.append(_plot(fig, _slug("pred", file, dataset)))
            n_figs += 1
        body.append("</section>")
    summary_csv, results_csv = out / "summary.csv", out / "results.csv"
    _write_text(summary_csv, table.to_csv(index=False))
    _write_text(results_csv, everything.to_csv(index=False))
    nav += [("table", "full table"), ("run", "run information")]
    body.append('<section id="table"><h2>Full table</h2><p class="note">One row per '
                "(source, profile, dataset, pattern, layout, reader): medians over repeats. "
                'Click a header to sort. Download: <a href="summary.csv" download>this table '
                '(CSV)</a> · <a href="results.csv" download>every measured row (CSV)</a>.'
                f"</p>{page.table(table)}</section>")
    info = evidence.run_info(everything)
    built = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    left_out = ("" if not failed.any() else
                f'<p class="note">{int(failed.sum())} failed cases (an error under injected '
                "faults, or wrong data) are not drawn; results.csv has them with their error."
                "</p>")
    body.append(f'<section id="run"><h2>Run information</h2>{page.run_info(info, built)}'
                f"{left_out}</section>")
    names = ", ".join(results_names) or f"{info['rows']} rows"
    subtitle = [f"{names} · {len(info['profiles'])} profile(s): "
                f"{', '.join(info['profiles']) or '?'} · measured {info['last'] or '?'}",
                "Timings compare as ratios within one run; requests and bytes are exact."]
    index = out / "index.html"
    _write_text(index, page.frame(title, subtitle, nav, "".join(body)))
    return Site(index, n_figs, groups, len(cards), len(table), rho)



def write_report(results: Sequence[str | os.PathLike[str]],
                 recommendations: Sequence[str | os.PathLike[str]] = (),
                 out_dir: str | os.PathLike[str] = "report", *,
                 title: str = "layoutbench report", overwrite: bool = False) -> Site:
    """Read results tables and recommendation JSON files (checked, see :mod:`.inputs`) and
    :func:`build_site` them into ``out_dir``: what ``layoutbench report``, ``lb.report`` and the
    demo do. The folder is checked first: not a file, not an input (nor holding one: it is
    replaced whole), not an existing report unless ``overwrite``, writable."""
    from layoutbench.outputs import check_destinations, check_folder_output
    from layoutbench.reporting.inputs import load_recommendation, load_results
    from layoutbench.results import results_format

    for path in results:
        results_format(Path(path))
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    check_folder_output([*results, *recommendations], out)
    check_destinations([out], overwrite=overwrite)
    frame = load_results(results)
    recs = [load_recommendation(p) for p in recommendations]
    return build_site(frame, recs, out, title=title,
                      results_names=[Path(p).name for p in results])
