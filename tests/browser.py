"""A real browser for tests: Debian's Chromium driven by Playwright, offline by construction.

Playwright is pointed at the system's ``/usr/bin/chromium`` (no browser download), launched
headless with a fresh profile and with Chromium's own background traffic (updates, sync,
component downloads) turned off, so every request seen is one the page made. Each request
is recorded, and any that is not ``file://``, ``data:``/``blob:`` or loopback is aborted and
reported: a page that needs the network fails its test instead of quietly using it.

Also a command, for the README's screenshot (``make report``)::

    python tests/browser.py reports/report/index.html docs/report.png [--height 1800]
    python tests/browser.py reports/report/index.html docs/verdict.png --element '.card >> nth=2'
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium")
                                         else None)
ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
        "--disable-default-apps", "--disable-extensions")
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
#: Plotly draws each figure into ``svg.main-svg`` layers inside its ``.plotly-graph-div``.
PLOTS_RENDERED = """() => {
  const divs = [...document.querySelectorAll('.plotly-graph-div')];
  return divs.length > 0 && divs.every(d => d.querySelector('svg.main-svg g.trace'));
}"""


def is_local(url: str) -> bool:
    """file://, data:, blob:, about: and loopback HTTP(S): what an offline page may load."""
    parts = urlsplit(url)
    if parts.scheme in ("file", "data", "blob", "about", "chrome-error"):
        return True
    return parts.scheme in ("http", "https", "ws") and (parts.hostname or "") in LOOPBACK


@dataclass
class Visit:
    """What one page did: every request, the console's errors, uncaught exceptions."""

    requests: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return ([f"external request {u}" for u in self.external]
                + [f"console error: {m}" for m in self.console_errors]
                + [f"page error: {m}" for m in self.page_errors]
                + [f"failed request: {m}" for m in self.failed])


class Browser:
    """One headless Chromium (fresh profile) for a test session; :meth:`visit` opens pages."""

    def __init__(self, profile_dir: str | os.PathLike[str]) -> None:
        from playwright.sync_api import sync_playwright

        if CHROMIUM is None:
            raise RuntimeError("chromium is not installed (apt-get install chromium)")
        self._pw = sync_playwright().start()
        try:
            self._context = self._pw.chromium.launch_persistent_context(
                str(profile_dir), executable_path=CHROMIUM, headless=True, args=list(ARGS),
                viewport={"width": 1400, "height": 1000}, service_workers="block")
        except BaseException:
            self._pw.stop()
            raise

    def close(self) -> None:
        try:
            self._context.close()
        finally:
            self._pw.stop()

    @contextmanager
    def visit(self, url: str, *, wait_for: str | None = None, timeout_s: float = 30.0,
              settle_ms: int = 300, viewport: tuple[int, int] | None = None
              ) -> Iterator[tuple[Any, Visit]]:
        """Open ``url`` in a new page (of ``viewport`` width and height), wait for
        ``wait_for`` (a JS predicate) and for the network to go quiet; yield the page and what
        it did so far."""
        seen = Visit()
        page = self._context.new_page()
        if viewport is not None:
            page.set_viewport_size({"width": viewport[0], "height": viewport[1]})

        def route(r: Any) -> None:
            url = r.request.url
            if is_local(url):
                r.continue_()
            else:
                seen.external.append(url)
                r.abort()

        page.route("**/*", route)
        page.on("request", lambda r: seen.requests.append(r.url))
        page.on("requestfailed", lambda r: None if not is_local(r.url) else seen.failed.append(
            f"{r.url} ({r.failure})"))
        page.on("console", lambda m: seen.console_errors.append(m.text)
                if m.type == "error" else None)
        page.on("pageerror", lambda e: seen.page_errors.append(str(e)))
        try:
            page.goto(url, wait_until="load", timeout=timeout_s * 1000)
            if wait_for:
                page.wait_for_function(wait_for, timeout=timeout_s * 1000)
            page.wait_for_load_state("networkidle", timeout=timeout_s * 1000)
            page.wait_for_timeout(settle_ms)
            yield page, seen
        finally:
            page.close()


def count_plots(page: Any) -> int:
    """Plotly figures that rendered (their SVG layers exist and have a size)."""
    return int(page.evaluate("""() => [...document.querySelectorAll('.plotly-graph-div')]
        .filter(d => { const s = d.querySelector('svg.main-svg');
                       return s && s.getBoundingClientRect().width > 0; }).length"""))


def screenshot(target: str, out: Path, height: int = 1800, element: str | None = None) -> Path:
    """A PNG of the top ``height`` pixels of a report page (1400 px wide), or of the first
    ``element`` (a Playwright selector, e.g. ``.card >> nth=1``)."""
    url = target if "://" in target else Path(target).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="layoutbench-chromium-") as profile:
        browser = Browser(profile)
        try:
            with browser.visit(url, wait_for=PLOTS_RENDERED) as (page, seen):
                if seen.problems:
                    raise SystemExit("\n".join(seen.problems))
                out.parent.mkdir(parents=True, exist_ok=True)
                if element is not None:
                    page.locator(element).first.screenshot(path=str(out))
                    return out
                page.screenshot(path=str(out), clip={"x": 0, "y": 0, "width": 1400,
                                                     "height": height}, full_page=True)
        finally:
            browser.close()
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Screenshot of a report page in Chromium.")
    parser.add_argument("page")
    parser.add_argument("out", type=Path)
    parser.add_argument("--height", type=int, default=1800)
    parser.add_argument("--element", default=None,
                        help="Screenshot this element only (a Playwright selector).")
    a = parser.parse_args()
    print(screenshot(a.page, a.out, a.height, a.element))
    sys.exit(0)
