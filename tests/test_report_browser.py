"""The report and the asv dashboard in a real browser (Chromium), offline.

Each page is opened the way a user opens it (the report from ``file://``; the asv dashboard,
which fetches its JSON, from a loopback HTTP server), waited on until its plots are drawn, and
must have made no request to another host, logged no console error, thrown nothing, and drawn
as many plots as its data calls for. A screenshot of each lands in the test's temp folder.
"""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from browser import PLOTS_RENDERED, Browser, count_plots
from report_data import WIDE, recommendation, results_frame

from layoutbench.reporting import evidence
from layoutbench.reporting.site import build_site

REPO = Path(__file__).resolve().parents[1]
DASHBOARD = REPO / "reports" / "asv" / "html"


def test_report_renders_offline_from_file(chromium: Browser, tmp_path: Path) -> None:
    once = results_frame()
    # two repeats (the second 20 % slower), and the recommended layout (WIDE) measured in the
    # same run under the label `sweep --recommendation` gives it
    frame = pd.concat([once, once.assign(seconds=once["seconds"] * 1.2)], ignore_index=True)
    frame.loc[frame["layout"] == WIDE.name, "layout"] = "recommended"
    site = build_site(frame, [recommendation()], tmp_path / "site")
    # what the data calls for: 3 figures per (source, profile, dataset, pattern), the
    # recommendation's workload (its profile's dataset) and one predicted-vs-measured figure
    # per recommended dataset with measured cases
    groups = frame.groupby(list(evidence.GROUP)).ngroups
    expected = 3 * groups + 1 + 1
    url = site.index.resolve().as_uri()
    with chromium.visit(url, wait_for=PLOTS_RENDERED) as (page, seen):
        assert seen.problems == []
        assert all(u.startswith("file://") for u in seen.requests), seen.requests
        assert any(u.endswith("/assets/plotly.min.js") for u in seen.requests)
        assert count_plots(page) == expected == site.figures
        # the card says whether to rewrite, keep or download the file, and which figures are
        # predictions
        verdict = page.locator(".card .verdict").first
        assert verdict.is_visible() and "wins" in (verdict.text_content() or "")
        assert page.locator(".card th", has_text="predicted seconds").count() >= 1
        assert page.locator(".card th", has_text="measured seconds").count() >= 1
        # the workload's chart first; the recommended layout starred in every bar chart, its
        # bars drawn with the spread of the repeats
        first = _first_bars(page)
        assert first.endswith("-workload-bars")
        bars = page.locator('.plotly-graph-div[id$="-bars"]')
        for i in range(bars.count()):
            chart = bars.nth(i)
            assert chart.locator(".ytick text", has_text="★ recommended").count() == 1
            assert chart.locator("g.errorbar path").count() > 0
        # hovering a bar names its layout and reader
        bar = page.locator(f"#{_first_bars(page)} g.trace.bars path").first
        bar.evaluate("el => el.scrollIntoView({block: 'center'})")
        box = bar.bounding_box()
        assert box is not None
        # the bar's visible end (on a log axis its start lies far left, clipped)
        page.mouse.move(box["x"] + box["width"] - 4, box["y"] + box["height"] / 2, steps=4)
        page.wait_for_selector(".hoverlayer .hovertext", timeout=5000)
        hover = page.locator(".hoverlayer .hovertext").first.text_content() or ""
        assert any(r in hover for r in ("h5py-fsspec", "kerchunk", "zarr")), hover
        assert any(name in hover for name in set(frame["layout"])), hover
        # the table sorts by a click on a header, numerically
        header = page.locator("#results-table th", has_text="seconds")
        header.click()
        first = _column(page, "seconds")
        assert first == sorted(first)
        header.click()
        assert _column(page, "seconds") == sorted(first, reverse=True)
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        assert seen.problems == []
    assert (tmp_path / "report.png").stat().st_size > 50_000


def _first_bars(page: Any) -> str:
    return str(page.evaluate(
        "() => document.querySelector('.plotly-graph-div[id$=\"-bars\"]').id"))


def _column(page: Any, name: str) -> list[float]:
    return [float(v) for v in page.evaluate(
        """(name) => {
             const t = document.getElementById('results-table');
             const i = [...t.tHead.rows[0].cells].findIndex(c => c.textContent.trim() === name);
             return [...t.tBodies[0].rows].map(r => r.cells[i].getAttribute('data-v'));
           }""", name)]


@pytest.fixture
def dashboard_server() -> Iterator[str]:
    """reports/asv/html over HTTP on a free loopback port (asv's page fetches JSON, which
    browsers refuse from file://)."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(DASHBOARD))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_asv_dashboard_works_offline(chromium: Browser, dashboard_server: str,
                                     tmp_path: Path) -> None:
    benchmarks = json.loads((DASHBOARD / "index.json").read_text())["benchmarks"]
    grid = f"""() => document.querySelectorAll('.benchmark-plot canvas.flot-base').length
                     >= {len(benchmarks)}"""
    with chromium.visit(f"{dashboard_server}/index.html", wait_for=grid,
                        viewport=(1400, 6000)) as (page, seen):
        # asv draws a summary plot per benchmark (when in view: the viewport holds them all)
        assert page.locator(".benchmark-plot canvas.flot-base").count() == len(benchmarks)
        page.screenshot(path=str(tmp_path / "asv-grid.png"))
        # one benchmark's page: the main graph (flot with the time and selection plugins)
        name = "ophys.Patch.time_pattern" if "ophys.Patch.time_pattern" in benchmarks \
            else next(iter(benchmarks))
        page.goto(f"{dashboard_server}/index.html#{name}")
        page.wait_for_selector("#main-graph canvas.flot-base", timeout=30_000)
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(tmp_path / "asv-benchmark.png"))
        assert seen.problems == []
        assert all(u.startswith(dashboard_server) for u in seen.requests), seen.requests
        assert any("/vendor/jquery/" in u for u in seen.requests)


def test_published_report_renders_offline(chromium: Browser, tmp_path: Path) -> None:
    """reports/report/ (make report) as committed: every plot its inputs call for, offline."""
    import pandas as pd

    data = REPO / "reports" / "report-data"
    frame = pd.concat([pd.read_parquet(p) for p in sorted(data.glob("*.parquet"))])
    recs = [json.loads(p.read_text()) for p in sorted(data.glob("*.recommendation.json"))]
    measured = sum(1 for r in recs for d in r["datasets"] if d.get("measured"))
    expected = 3 * frame.groupby(list(evidence.GROUP)).ngroups + measured
    index = REPO / "reports" / "report" / "index.html"
    with chromium.visit(index.as_uri(), wait_for=PLOTS_RENDERED) as (page, seen):
        assert seen.problems == []
        assert count_plots(page) >= expected
        page.screenshot(path=str(tmp_path / "published.png"))
