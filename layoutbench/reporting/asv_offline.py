"""Make a published asv dashboard work offline: its CDN scripts and styles served from the site.

asv's ``index.html`` loads jQuery, flot and its plugins, stupidtable, blueimp-md5 and Bootstrap
from public CDNs, so on an air-gapped node (or any offline browser) the dashboard shows only its
"external dependencies failed to load" page. This module maps every such URL to the same
library in the npm registry (exact versions, installed with ``npm`` at build time, never at
view time), copies the files into ``HTML_DIR/vendor/`` and points the page at them.

An asv upgrade that loads a URL not in :data:`CDN_ASSETS` makes :func:`vendor_dashboard` fail
with the URL named, rather than publish a dashboard that silently needs the network again
(``tests/test_report_asv.py`` checks the installed asv's template too).

Run as ``python -m layoutbench.reporting.asv_offline HTML_DIR`` (what ``make dashboard`` does).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from layoutbench.errors import InputNotFoundError, UserError


@dataclass(frozen=True, slots=True)
class Asset:
    """One file of an npm package standing in for a CDN URL.

    Parameters
    ----------
    package, version
        The npm package and its exact version (what ``npm install`` is asked for).
    path
        The file inside the package.
    extra
        Folders of the package copied beside it, because the file refers to them by relative
        URL (Bootstrap's CSS loads ``../fonts/``).
    """

    package: str
    version: str
    path: str
    extra: tuple[str, ...] = ()

    @property
    def spec(self) -> str:
        return f"{self.package}@{self.version}"

    @property
    def local(self) -> str:
        """Where the file lands, relative to the dashboard's folder."""
        return f"vendor/{self.package}/{self.path}"


_FLOT = "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/"
#: Every external URL asv 0.6's index.html loads, and the npm file serving it. flot 0.8.3 is
#: published on npm unminified (same code); stupidtable 1.0.1 is not on npm at all, and 1.1.3
#: (same ``$.fn.stupidtable`` API, bug fixes) stands in for it.
CDN_ASSETS: dict[str, Asset] = {
    "https://code.jquery.com/jquery-3.3.1.min.js": Asset("jquery", "3.3.1", "dist/jquery.min.js"),
    _FLOT + "jquery.flot.min.js": Asset("flot", "0.8.3", "jquery.flot.js"),
    _FLOT + "jquery.flot.time.min.js": Asset("flot", "0.8.3", "jquery.flot.time.js"),
    _FLOT + "jquery.flot.selection.min.js": Asset("flot", "0.8.3", "jquery.flot.selection.js"),
    _FLOT + "jquery.flot.categories.min.js": Asset("flot", "0.8.3", "jquery.flot.categories.js"),
    "https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js":
        Asset("flot-orderbars", "1.0.0", "js/jquery.flot.orderBars.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/stupidtable/1.0.1/stupidtable.min.js":
        Asset("stupid-table-plugin", "1.1.3", "stupidtable.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/blueimp-md5/2.19.0/js/md5.min.js":
        Asset("blueimp-md5", "2.19.0", "js/md5.min.js"),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js":
        Asset("bootstrap", "3.1.1", "dist/js/bootstrap.min.js"),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css":
        Asset("bootstrap", "3.1.1", "dist/css/bootstrap.min.css", extra=("dist/fonts",)),
}

#: A tag that makes the browser fetch something: a script's ``src`` or a stylesheet's ``href``.
_TAG = re.compile(r"<(script|link)\b[^>]*>", re.IGNORECASE)
_URL_ATTR = re.compile(r"""\b(src|href)\s*=\s*(["'])(.*?)\2""", re.IGNORECASE)
#: Attributes that only make sense for a cross-origin copy (a local file needs no SRI check).
_CDN_ATTRS = re.compile(r"""\s+(integrity|crossorigin|referrerpolicy)(\s*=\s*(["']).*?\3)?""",
                        re.IGNORECASE)
_LICENSES = ("LICENSE", "LICENSE.txt", "LICENSE.md", "license")


def external_urls(html: str) -> list[str]:
    """URLs of other hosts that the page loads (scripts and stylesheets; plain links, which
    load nothing until clicked, are not counted)."""
    out = []
    for tag in _TAG.finditer(html):
        text = tag.group(0)
        if tag.group(1).lower() == "link" and not re.search(r"rel\s*=\s*[\"']?[^>]*stylesheet",
                                                            text, re.IGNORECASE):
            continue
        for attr in _URL_ATTR.finditer(text):
            url = attr.group(3)
            if url.startswith(("http://", "https://", "//")):
                out.append(url)
    return out


def assets_for(urls: Sequence[str]) -> dict[str, Asset]:
    """The npm file for each URL; :class:`UserError` naming the URLs that have none."""
    missing = [u for u in urls if u not in CDN_ASSETS]
    if missing:
        raise UserError(f"no offline copy known for {', '.join(missing)}: add it to "
                        "layoutbench.reporting.asv_offline.CDN_ASSETS")
    return {u: CDN_ASSETS[u] for u in urls}


def rewrite(html: str, assets: dict[str, Asset]) -> str:
    """``html`` with each CDN URL replaced by its local copy (and the SRI/CORS attributes that
    only a cross-origin copy needs dropped)."""
    def fix(tag: re.Match[str]) -> str:
        text = tag.group(0)
        found = [a for a in _URL_ATTR.finditer(text) if a.group(3) in assets]
        if not found:
            return text
        for attr in found:
            quote = attr.group(2)
            text = text.replace(attr.group(0), f"{attr.group(1)}={quote}"
                                f"{assets[attr.group(3)].local}{quote}")
        return _CDN_ATTRS.sub("", text)

    return _TAG.sub(fix, html)


def npm_install(specs: Sequence[str], prefix: Path) -> Path:
    """Install the npm packages ``specs`` (``name@version``) under ``prefix`` (no lifecycle
    scripts); reuse what a previous build installed. Returns the ``node_modules`` folder."""
    modules = prefix / "node_modules"
    wanted = sorted(set(specs))
    stamp = prefix / "installed.txt"
    if stamp.exists() and stamp.read_text().split() == wanted and modules.is_dir():
        return modules
    npm = shutil.which("npm")
    if npm is None:
        raise UserError("npm not found: the offline dashboard installs its JavaScript from the "
                        "npm registry (apt-get install npm, or Node.js)")
    prefix.mkdir(parents=True, exist_ok=True)
    cmd = [npm, "install", "--prefix", str(prefix), "--no-save", "--no-audit", "--no-fund",
           "--ignore-scripts", "--loglevel=error", *wanted]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise UserError(f"npm install failed ({done.returncode}): "
                        f"{done.stderr.strip().splitlines()[-1:] or ''}")
    stamp.write_text("\n".join(wanted) + "\n")
    return modules


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dst, dirs_exist_ok=True)
    else:
        shutil.copyfile(src, dst)


def vendor_dashboard(html_dir: str | os.PathLike[str], npm_prefix: str | os.PathLike[str],
                     modules: Path | None = None) -> list[str]:
    """Serve every CDN dependency of ``html_dir/index.html`` from ``html_dir/vendor/``.

    Parameters
    ----------
    html_dir
        The folder ``asv publish`` wrote.
    npm_prefix
        Where the npm packages are installed (a build folder, kept between builds).
    modules
        An existing ``node_modules`` folder to copy from instead of installing (tests).

    Returns
    -------
    list of str
        The local paths the page now loads instead of the CDNs.
    """
    root = Path(html_dir)
    index = root / "index.html"
    if not index.is_file():
        raise InputNotFoundError(f"{index}: no such file (run asv publish first)")
    html = index.read_text(encoding="utf-8")
    assets = assets_for(external_urls(html))
    if modules is None:
        modules = npm_install([a.spec for a in assets.values()], Path(npm_prefix))
    for asset in assets.values():
        package = modules / asset.package
        installed = _installed_version(package)
        if installed != asset.version:
            raise UserError(f"{package}: version {installed}, expected {asset.version}")
        _copy(package / asset.path, root / asset.local)
        for folder in asset.extra:
            _copy(package / folder, root / "vendor" / asset.package / folder)
        for name in _LICENSES:  # the licences travel with the code they cover
            if (package / name).is_file():
                _copy(package / name, root / "vendor" / asset.package / name)
    index.write_text(rewrite(html, assets), encoding="utf-8")
    left = external_urls(index.read_text(encoding="utf-8"))
    if left:
        raise UserError(f"{index}: still loads {', '.join(left)}")
    return sorted({a.local for a in assets.values()})


def _installed_version(package: Path) -> str | None:
    import json

    try:
        return str(json.loads((package / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m layoutbench.reporting.asv_offline HTML_DIR [--npm-prefix DIR]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("html_dir", type=Path)
    parser.add_argument("--npm-prefix", type=Path, default=Path("build/asv-vendor"),
                        help="where the npm packages are installed (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        local = vendor_dashboard(args.html_dir, args.npm_prefix)
    except UserError as exc:
        print(f"asv_offline: error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.html_dir / 'index.html'}: {len(local)} scripts and styles served from "
          f"{args.html_dir / 'vendor'} (no CDN)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
