"""``sweep --store s3://BUCKET/PREFIX``: variants on a lab's store (here a moto server of its
own, a real process on loopback) give the embedded endpoint's figures case for case, serially
and on a LocalCluster whose workers each measure through a gateway of their own; the store
holds nothing of the run afterwards; a store that anonymous requests cannot read is read with
signed requests, counted by the client; a bad store is one line and exit status 2."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import layoutbench
from layoutbench.cli import main
from layoutbench.plan.layout import Layout
from layoutbench.store.embedded import create_public_bucket, isolated_client
from layoutbench.store.server import MotoServer, free_port
from layoutbench.synthetic import generate_ophys

PREFIX = "some/prefix"
DETERMINISTIC = ["layout", "reader", "pattern", "requests", "bytes_transferred",
                 "chunks_touched", "stored_bytes", "digest"]
LAYOUTS = [Layout("hdf5", (10, 64, 64), label="frames-h5"),
           Layout("zarr", (120, 16, 16), label="tiles-zarr")]
KW: dict[str, Any] = {"layouts": LAYOUTS, "patterns": ["ophys-patch:frames=90,offsets=2"],
                      "readers": ["h5py-remfile", "h5py-fsspec", "zarr"], "profile": "loopback"}


@pytest.fixture(scope="module")
def lab() -> Iterator[tuple[str, Any]]:
    """The lab's store: moto on a free loopback port, a public-read bucket ``lab`` and a
    private one; this machine's (dummy) credentials in the environment, which the workers of a
    LocalCluster inherit, as workers elsewhere would have their own."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "lab-dummy-key")
        env.setenv("AWS_SECRET_ACCESS_KEY", "lab-dummy-secret")
        env.setenv("AWS_CONFIG_FILE", "/dev/null")
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        env.delenv("AWS_PROFILE", raising=False)
        with MotoServer() as moto:
            client = isolated_client(moto.url)
            create_public_bucket(client, "lab")
            client.create_bucket(Bucket="private")
            yield moto.url, client


@pytest.fixture(scope="module")
def movie(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("store") / "movie.nwb"
    generate_ophys(path, shape=(120, 64, 64), seed=3)
    return path


def _figures(frame: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in frame[DETERMINISTIC].itertuples(index=False)]


def _left(client: Any, bucket: str, prefix: str) -> list[str]:
    answer = client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [obj["Key"] for obj in answer.get("Contents", [])]


def test_a_store_gives_the_embedded_figures_serially_and_on_a_cluster(
        lab: tuple[str, Any], movie: Path, tmp_path: Path) -> None:
    url, client = lab
    cache = tmp_path / "cache"
    embedded = layoutbench.sweep(movie, cache_dir=cache, **KW)
    serial = layoutbench.sweep(movie, cache_dir=cache, store=f"s3://lab/{PREFIX}",
                               endpoint_url=url, **KW)
    assert _left(client, "lab", PREFIX) == []  # what the run uploaded, it removed
    cluster = layoutbench.sweep(movie, cache_dir=cache, store=f"s3://lab/{PREFIX}/",
                                endpoint_url=url, workers=2, **KW)
    assert _left(client, "lab", PREFIX) == []
    assert len(embedded) == 3 and (embedded["requests"] > 0).all()
    assert _figures(serial) == _figures(embedded)
    assert _figures(cluster) == _figures(embedded)
    assert set(serial["counts"]) == set(cluster["counts"]) == {"gateway"}


def test_a_store_anonymous_requests_cannot_read_is_read_signed(
        lab: tuple[str, Any], movie: Path, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    url, client = lab
    cache = tmp_path / "cache"
    embedded = layoutbench.sweep(movie, cache_dir=cache, **KW)
    signed = layoutbench.sweep(movie, cache_dir=cache, store="s3://private/p",
                               endpoint_url=url, **KW)
    assert _left(client, "private", "p") == []
    assert "skipping h5py-remfile" in caplog.text  # remfile cannot sign its requests
    assert set(signed["reader"]) == {"h5py-fsspec", "zarr"}
    assert set(signed["counts"]) == {"client"}
    same = embedded[embedded["reader"] != "h5py-remfile"]
    assert _figures(signed) == _figures(same)  # the client counted what the gateway counts


@pytest.mark.parametrize("store, message", [
    ("s3://missing-bucket/p", "no bucket missing-bucket"),
    ("https://lab/p", "expected s3://BUCKET/PREFIX"),
    ("s3://lab/p@unreachable", "cannot be reached"),
])
def test_a_bad_store_is_one_line_and_exit_2(lab: tuple[str, Any], movie: Path, tmp_path: Path,
                                            store: str, message: str) -> None:
    url, _ = lab
    if store.endswith("@unreachable"):
        store, url = store.removesuffix("@unreachable"), f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(main, ["-q", "sweep", str(movie), "--store", store,
                                       "--endpoint-url", url, "--grid", "quick",
                                       "-o", str(tmp_path / "out.csv")])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]], ids=["serial", "cluster"])
def test_ctrl_c_leaves_nothing_in_the_store(lab: tuple[str, Any], movie: Path, tmp_path: Path,
                                            workers: list[str]) -> None:
    """Interrupted after its first variant, while others are being built and uploaded (by the
    workers of a LocalCluster too): exit 130, and nothing of the run under the prefix."""
    url, client = lab
    env = {**os.environ, "LAYOUTBENCH_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "layoutbench", "sweep", str(movie), "--store", "s3://lab/int",
           "--endpoint-url", url, "--grid", "quick", "--readers", "h5py-fsspec",
           "--patterns", "ophys-frames", *workers, "-o", str(tmp_path / "s.csv")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    assert proc.stderr is not None
    err = b""
    while b"cases measured" not in err:
        line = proc.stderr.readline()
        assert line, f"exited early: {err[-2000:]!r}"
        err += line
    proc.send_signal(signal.SIGINT)
    err += proc.stderr.read()
    assert proc.wait(30) == 130, err[-2000:]
    assert b"Traceback" not in err
    assert _left(client, "lab", "int") == []
