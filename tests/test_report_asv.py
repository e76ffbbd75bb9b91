"""The offline asv dashboard: every CDN script and stylesheet of asv's page has a local copy
from the npm registry, and the published dashboard in reports/ loads none from another host."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from layoutbench.errors import UserError
from layoutbench.reporting import asv_offline

REPO = Path(__file__).resolve().parents[1]
DASHBOARD = REPO / "reports" / "asv" / "html"


def _asv_template() -> str:
    import asv

    return (Path(asv.__file__).parent / "www" / "index.html").read_text()


def test_every_url_of_the_installed_asv_has_an_offline_copy() -> None:
    urls = asv_offline.external_urls(_asv_template())
    assert len(urls) >= 10  # jQuery, 4 flot files, orderBars, stupidtable, md5, bootstrap x2
    assets = asv_offline.assets_for(urls)  # an asv upgrade with a new URL fails here
    html = asv_offline.rewrite(_asv_template(), assets)
    assert asv_offline.external_urls(html) == []
    assert "integrity=" not in html.split("<body")[0]
    assert 'src="vendor/jquery/dist/jquery.min.js"' in html


def test_an_unknown_cdn_url_is_refused() -> None:
    with pytest.raises(UserError, match=r"cdn\.example\.org"):
        asv_offline.assets_for(["https://cdn.example.org/lib.js"])


def test_links_that_load_nothing_are_not_external_loads() -> None:
    html = ('<a href="https://github.com/x">x</a><link rel="alternate" href="https://x/feed">'
            '<link rel="stylesheet" href="//cdn.x/a.css"><script src="local.js"></script>')
    assert asv_offline.external_urls(html) == ["//cdn.x/a.css"]


def test_vendor_copies_files_licences_and_fonts(tmp_path: Path) -> None:
    modules = tmp_path / "node_modules"
    for asset in asv_offline.CDN_ASSETS.values():  # a stand-in for what npm installs
        package = modules / asset.package
        (package / asset.path).parent.mkdir(parents=True, exist_ok=True)
        (package / asset.path).write_text(f"/* {asset.spec} {asset.path} */")
        (package / "package.json").write_text(json.dumps({"version": asset.version}))
        (package / "LICENSE").write_text("licence")
        for folder in asset.extra:
            (package / folder).mkdir(parents=True, exist_ok=True)
            (package / folder / "font.woff").write_text("font")
    html_dir = tmp_path / "html"
    html_dir.mkdir()
    (html_dir / "index.html").write_text(_asv_template())
    local = asv_offline.vendor_dashboard(html_dir, tmp_path / "npm", modules=modules)
    assert all((html_dir / p).is_file() for p in local)
    assert (html_dir / "vendor/bootstrap/dist/fonts/font.woff").is_file()
    assert (html_dir / "vendor/jquery/LICENSE").is_file()
    assert asv_offline.external_urls((html_dir / "index.html").read_text()) == []
    # a package of another version than pinned is refused
    (modules / "jquery" / "package.json").write_text(json.dumps({"version": "9.9.9"}))
    (html_dir / "index.html").write_text(_asv_template())
    with pytest.raises(UserError, match=r"9\.9\.9"):
        asv_offline.vendor_dashboard(html_dir, tmp_path / "npm", modules=modules)


@pytest.mark.skipif(shutil.which("npm") is not None, reason="npm is installed")
def test_without_npm_the_error_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="npm not found"):
        asv_offline.npm_install(["jquery@3.3.1"], tmp_path)


def test_published_dashboard_loads_nothing_from_a_cdn() -> None:
    html = (DASHBOARD / "index.html").read_text()
    assert asv_offline.external_urls(html) == []
    for asset in asv_offline.assets_for(asv_offline.external_urls(_asv_template())).values():
        assert (DASHBOARD / asset.local).is_file(), asset.local
        assert asset.local in html
