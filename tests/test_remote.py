"""Every command on a file where it lives (nginx over HTTP and HTTPS): the same answers as for the
local copy, and exactly the reads the server logged."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest
from servers import Nginx

import layoutbench as lb
from layoutbench.recommender.source import recommend
from layoutbench.run.sweep import run_sweep
from layoutbench.store import EmbeddedS3
from layoutbench.store.sources import SourceOptions
from layoutbench.synthetic import generate_ophys

DATA = "/acquisition/TwoPhotonSeries/data"
PATCH = "ophys-patch:patch=24x24,frames=100,offsets=2"
DETERMINISTIC = ["layout", "reader", "pattern", "requests", "bytes_transferred", "bytes_needed",
                 "chunks_touched", "stored_bytes", "digest"]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAYOUTBENCH_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def movie(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("remote") / "movie.nwb"
    generate_ophys(path, shape=(200, 96, 96), seed=5)
    return path


@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
def test_recommend_remote_is_the_local_answer(nginx: Nginx, movie: Path, https: bool) -> None:
    name = nginx.publish(movie, f"rec-{https}.nwb")
    local = recommend(movie, profile="same-region", threshold=10**6)
    before = nginx.log()
    remote = recommend(nginx.url(name, https=https), profile="same-region", threshold=10**6,
                       options=SourceOptions(ca_bundle=str(nginx.cert)))
    served = nginx.log()[len(before):]
    assert remote.to_dict()["datasets"] == local.to_dict()["datasets"]  # the same answer
    assert remote.file == nginx.url(name, https=https) and local.spent is None
    spent = remote.spent
    assert spent is not None and spent["counts"] == "gateway"
    # every request sent, the gateway's count and the HEAD that found where the object lives
    assert spent["requests"] == len(served)
    assert spent["bytes"] == sum(sent for *_, sent, _ in served)
    # metadata (512 KiB blocks) and a sample of chunks fetched together: a few requests;
    # the sample is bounded by FETCH_BYTES (40 MB), here by the dataset's own stored size
    with h5py.File(movie) as f:
        stored = f[DATA].id.get_storage_size()
    assert spent["requests"] <= 6 and spent["bytes"] <= 2 * 2**19 + stored


def test_sweep_of_a_url_streams_once_and_measures_alike(nginx: Nginx, movie: Path,
                                                        s3: EmbeddedS3, tmp_path: Path) -> None:
    name = nginx.publish(movie, "sweep.nwb")
    layouts = [lb.Layout("hdf5", (200, 32, 32), "zstd", shuffle=True)]
    kw = {"layouts": layouts, "readers": ["h5py-fsspec"], "patterns": [PATCH],
          "cache_dir": tmp_path / "variants"}
    local = run_sweep(movie, s3, "loopback", dataset=DATA, **kw)
    before = len(nginx.log())
    first = run_sweep(nginx.url(name), s3, "loopback", dataset=DATA, **kw)
    served_first = nginx.log()[before:]
    with h5py.File(movie) as f:  # the dataset's chunks once, and two 512 KiB metadata blocks
        assert sum(sent for *_, sent, _ in served_first) <= f[DATA].id.get_storage_size() \
            + 2 * 2**19
    before = len(nginx.log())
    second = run_sweep(nginx.url(name), s3, "loopback", dataset=DATA, **kw)
    assert [m for m, *_ in nginx.log()[before:]] == ["HEAD"]  # the identity check, nothing else
    for a, b, c in zip(local, first, second, strict=True):
        da, db, dc = (r.to_dict() for r in (a, b, c))
        assert [da[k] for k in DETERMINISTIC] == [db[k] for k in DETERMINISTIC] \
            == [dc[k] for k in DETERMINISTIC]
        assert db["source"] == dc["source"] == nginx.url(name)


def test_apply_a_url_to_a_local_file(nginx: Nginx, movie: Path, tmp_path: Path) -> None:
    name = nginx.publish(movie, "apply.nwb")
    rec = recommend(movie, profile="same-region", threshold=10**6).to_dict()
    out = tmp_path / "out.nwb"
    result = lb.apply(nginx.url(name), rec, out)
    assert result.verified and result.source == nginx.url(name)
    with h5py.File(out) as f, h5py.File(movie) as g:
        assert np.array_equal(f[DATA][...], g[DATA][...])
        assert f[DATA].chunks == tuple(rec["datasets"][0]["recommended"]["chunks"])
    assert not list(tmp_path.glob(".*download*"))  # the temporary download is gone


@pytest.mark.parametrize("args", [
    ["layouts", "{url}", "--format", "json"],                          # the grid of a URL
    ["refs", "build", "{url}", "-o", "{out}/r.json", "--format", "json"],  # references
])
def test_cli_on_urls(nginx: Nginx, movie: Path, tmp_path: Path, args: list[str]) -> None:
    name = nginx.publish(movie, "cli.nwb")
    argv = [a.format(url=nginx.url(name, https=True), out=tmp_path) for a in args]
    proc = subprocess.run([sys.executable, "-m", "layoutbench", "-q", *argv,
                           "--ca-bundle", str(nginx.cert)], capture_output=True, text=True,
                          timeout=300, env={**__import__("os").environ,
                                            "LAYOUTBENCH_CACHE": str(tmp_path / "c")})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)
    if args[0] == "refs":  # a standard reference set, opened by fsspec as it is
        import fsspec

        fs = fsspec.filesystem("reference", fo=str(tmp_path / "r.json"))
        assert "acquisition" in {e["name"] for e in fs.ls("")}


@pytest.fixture
def no_range_server(movie: Path, tmp_path: Path) -> Iterator[str]:
    """Python's http.server, which answers a Range request with the whole file (HTTP 200)."""
    import shutil
    import subprocess
    import sys
    import time
    import urllib.request

    from layoutbench.store.server import free_port

    shutil.copy(movie, tmp_path / "movie.nwb")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                             "127.0.0.1", "--directory", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/movie.nwb"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url, timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait()


@pytest.mark.parametrize("command", [
    ["recommend", "{url}"],  # its sample is read by ranges
    ["measure", "{url}", "-o", "{out}"],  # every reader reads by ranges
])
def test_a_server_without_ranges_is_one_line(no_range_server: str, command: list[str],
                                             tmp_path: Path) -> None:
    from click.testing import CliRunner

    from layoutbench.cli import main

    out = tmp_path / "out"
    out.mkdir()
    args = [a.format(url=no_range_server, out=out / "m.csv") for a in command]
    result = CliRunner().invoke(main, ["-q", *args])
    assert result.exit_code == 2, (result.stderr, result.exception)
    (line,) = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert "movie.nwb: the server does not serve byte ranges (HTTP 200" in line
    assert list(out.iterdir()) == []


def test_a_server_that_cuts_bodies_short_is_one_line(movie: Path, tmp_path: Path) -> None:
    import shutil
    import time
    import urllib.request

    from click.testing import CliRunner

    from layoutbench.cli import main
    from layoutbench.store.server import free_port

    shutil.copy(movie, tmp_path / "movie.nwb")
    port = free_port()
    server = Path(__file__).with_name("short_body_server.py")
    proc = subprocess.Popen([sys.executable, str(server), str(port), str(tmp_path)])
    url = f"http://127.0.0.1:{port}/movie.nwb"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        result = CliRunner().invoke(main, ["-q", "recommend", url, "--min-mb", "0"])
    finally:
        proc.terminate()
        proc.wait()
    assert result.exit_code == 2, (result.stderr, result.exception)
    (line,) = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert f"{url}: the server broke off a response" in line
