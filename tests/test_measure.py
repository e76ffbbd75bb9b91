"""``measure``: a file as it is, where it is, counted exactly by the gateway in front of a real
server (nginx over HTTP and HTTPS), or by the client for signed S3 requests."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import h5py
import pytest
from servers import Nginx

from layoutbench.errors import UserError
from layoutbench.plan.layout import Layout
from layoutbench.run import measure_source as ms
from layoutbench.run.measure_source import measure_source
from layoutbench.store import EmbeddedS3
from layoutbench.store.sources import SourceOptions
from layoutbench.synthetic import generate_ophys
from layoutbench.write.rewrite import write_variant

DATA = "/acquisition/TwoPhotonSeries/data"
PATCH = "ophys-patch:patch=24x24,frames=60,offsets=2"


@pytest.fixture(scope="module")
def movie(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("measure") / "movie.nwb"
    generate_ophys(path, shape=(120, 64, 64), seed=4)
    return path


@pytest.fixture
def per_case_log(nginx: Nginx, monkeypatch: pytest.MonkeyPatch
                 ) -> list[tuple[Any, int, int, int]]:
    """Per measured case: (row, requests nginx logged, body bytes nginx sent for range
    requests, body bytes it sent for whole-object GETs)."""
    cases: list[tuple[Any, int, int, int]] = []
    real = ms.measure_under

    def spy(*args: Any, **kwargs: Any) -> Any:
        before = len(nginx.log())
        row = real(*args, **kwargs)
        lines = nginx.log()[before:]
        ranged = sum(sent for *_, sent, rng in lines if rng != "-")
        whole = sum(sent for *_, sent, rng in lines if rng == "-")
        cases.append((row, len(lines), ranged, whole))
        return row

    monkeypatch.setattr(ms, "measure_under", spy)
    return cases


@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
def test_gateway_counts_equal_the_servers_log(nginx: Nginx, movie: Path, tmp_path: Path,
                                              per_case_log: list[tuple[Any, int, int, int]],
                                              https: bool) -> None:
    name = nginx.publish(movie, f"movie-{'s' if https else 'p'}.nwb")
    rows = measure_source(nginx.url(name, https=https), dataset=DATA, patterns=[PATCH],
                          options=SourceOptions(ca_bundle=str(nginx.cert)),
                          cache_dir=tmp_path / "refs")
    assert [r.reader for r in rows] == ["h5py-remfile", "h5py-fsspec", "kerchunk"]
    assert len(per_case_log) == 3
    for row, (_, logged, ranged, whole) in zip(rows, per_case_log, strict=True):
        # opening and reading, as the gateway counted them, are exactly what nginx served
        assert row.requests + row.open_requests == logged, row.reader
        # bytes: every range request is delivered whole. remfile opens with a whole-object
        # GET it abandons after the headers: nginx counts what it pushed into the socket
        # before the close, the gateway what reached the reader (between none and all of it)
        delivered = row.bytes_transferred + row.open_bytes
        assert ranged <= delivered <= ranged + whole, row.reader
        assert whole == 0 or row.reader == "h5py-remfile"
        assert row.requests > 0 and row.counts == "gateway"
        assert row.source == nginx.url(name, https=https) and row.layout.name == "as-is"
    assert len({r.digest for r in rows}) == 1
    with h5py.File(movie) as f:  # the file as it is: its own chunks
        assert rows[0].layout.chunks == f[DATA].chunks


def test_zarr_store_on_nginx(nginx: Nginx, movie: Path, tmp_path: Path,
                             per_case_log: list[tuple[Any, int, int, int]]) -> None:
    store = write_variant(movie, DATA, Layout("zarr", (60, 32, 32), "blosc-zstd", 5, True),
                          tmp_path / "movie.zarr")
    import zarr

    parent = zarr.open_group(store.path, path="acquisition/TwoPhotonSeries", mode="a")
    parent.attrs["neurodata_type"] = "TwoPhotonSeries"  # as NWB-Zarr files mark their series
    name = nginx.publish(Path(store.path), "movie.zarr")
    rows = measure_source(nginx.url(name), dataset=DATA, patterns=[PATCH])
    # both zarr readers by default: over fsspec's HTTP file system, and obstore's HTTPStore
    assert [r.reader for r in rows] == ["zarr", "zarr-obstore"]
    for row, (_, logged, ranged, whole) in zip(rows, per_case_log, strict=True):
        assert row.layout.format == "zarr"
        assert row.layout.chunks == (60, 32, 32) and row.layout.codec == "blosc-zstd"
        assert row.requests + row.open_requests == logged, row.reader
        assert row.bytes_transferred + row.open_bytes == ranged + whole  # whole chunk objects
    # the same chunks fetched either way
    assert len({(r.requests, r.bytes_transferred, r.digest) for r in rows}) == 1


def test_local_file_is_measured_as_is_on_the_embedded_s3(movie: Path, s3: EmbeddedS3) -> None:
    rows = measure_source(str(movie), dataset=DATA, patterns=[PATCH], readers=["h5py-fsspec"],
                          endpoint=s3)
    (row,) = rows
    with h5py.File(movie) as f:
        assert row.layout.chunks == f[DATA].chunks and row.layout.codec == "gzip"
        assert row.compression_ratio == pytest.approx(
            f[DATA].size * 2 / f[DATA].id.get_storage_size())
    assert row.source == str(movie) and row.stored_bytes == movie.stat().st_size


def test_profile_adds_latency_on_top(nginx: Nginx, movie: Path) -> None:
    name = nginx.publish(movie, "slow.nwb")
    (row,) = measure_source(nginx.url(name), dataset=DATA, patterns=[PATCH],
                            readers=["h5py-fsspec"], profile="home")
    assert row.profile == "home"
    assert row.seconds >= row.requests * 0.150  # 150 ms before each response's first byte


@pytest.mark.parametrize(("url", "error"), [
    ("{base}/nothing-here.nwb", "no such object (HTTP 404)"),       # a missing object
    ("{base}/notes.nwb", "not an HDF5/NWB file"),                     # not HDF5
    ("ftp2://host/x.nwb", "unknown URL scheme 'ftp2'"),               # not a protocol
    ("http://127.0.0.1:9/x.nwb", "cannot connect"),                   # no server there
])
def test_bad_remote_sources_are_one_line(nginx: Nginx, tmp_path: Path, url: str,
                                         error: str) -> None:
    (nginx.docs / "notes.nwb").write_text("not HDF5\n" * 100)
    base = nginx.url("").rstrip("/")
    with pytest.raises(UserError, match=re.escape(error)):
        measure_source(url.format(base=base), patterns=["ophys-patch"])


def test_cli_measure_json(nginx: Nginx, movie: Path, tmp_path: Path) -> None:
    name = nginx.publish(movie, "cli.nwb")
    out = tmp_path / "m.csv"
    proc = subprocess.run([sys.executable, "-m", "layoutbench", "-q", "measure",
                           nginx.url(name), "--dataset", DATA, "--patterns", PATCH,
                           "--readers", "h5py-remfile", "-o", str(out), "--format", "json"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)  # the median of three repeats, by default, and spread
    assert row["layout"] == "as-is" and row["requests"] > 0 and row["repeats"] == 3
    assert row["seconds_min"] <= row["seconds"] <= row["seconds_max"]
    import pandas as pd

    frame = pd.read_csv(out)  # every repeat
    assert list(frame["source"]) == [nginx.url(name)] * 3
    assert set(frame["counts"]) == {"gateway"}


def test_measure_refuses_to_overwrite_its_input(movie: Path, tmp_path: Path) -> None:
    copy = tmp_path / "in.csv"
    copy.write_bytes(movie.read_bytes())
    proc = subprocess.run([sys.executable, "-m", "layoutbench", "measure", str(copy), "-o",
                           str(copy)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "is an input" in proc.stderr
    assert copy.read_bytes() == movie.read_bytes()


def test_private_s3_with_credentials(tmp_path: Path, movie: Path) -> None:
    """Signed requests cannot pass a proxy: measured directly, counted by the client; the
    secret appears in no output at -vv, nor in the results."""
    from layoutbench.store.embedded import isolated_client

    secret = "layoutbench-test-secret-Zq8r"
    key_id = "LBTESTKEYID0000000000"
    with EmbeddedS3() as s3:
        client = isolated_client(s3.upstream_url)
        client.create_bucket(Bucket="private")  # no public ACL or policy
        client.upload_file(str(movie), "private", "m.nwb")
        env = {"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret,
               "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
        import os

        out = tmp_path / "m.parquet"
        args = [sys.executable, "-m", "layoutbench", "-vv", "measure", "s3://private/m.nwb",
                "--endpoint-url", s3.endpoint_url, "--dataset", DATA, "--patterns", PATCH,
                "-o", str(out), "--format", "json"]
        # anonymous: refused by the bucket, one line
        anon = subprocess.run([*args[:6], "--anon", *args[6:]],
                              capture_output=True, text=True, timeout=300,
                              env={**os.environ, **env})
        assert anon.returncode == 2 and "denied" in anon.stderr.splitlines()[-1]
        s3.reset_counters()
        proc = subprocess.run(args, capture_output=True, text=True, timeout=300,
                              env={**os.environ, **env})
        assert proc.returncode == 0, proc.stderr[-3000:]
        rows = json.loads(proc.stdout)
        assert {r["reader"] for r in rows} == {"h5py-fsspec", "kerchunk"}  # remfile can't sign
        import pandas as pd

        frame = pd.read_parquet(out)
        assert set(frame["counts"]) == {"client"}
        # the client's count is the server's: the gateway in front of moto saw the same
        total = int((frame["requests"] + frame["open_requests"]).sum())
        assert total > 0 and s3.stats().requests >= total
        outputs = [proc.stdout, proc.stderr, anon.stderr, out.read_bytes().decode("latin-1")]
        # the other commands that take a source, at -vv too
        common = ["--endpoint-url", s3.endpoint_url, "--no-anon"]
        for argv in (["recommend", "s3://private/m.nwb", *common, "--min-mb", "1",
                      "--format", "json", "-o", str(tmp_path / "rec.json")],
                     ["sweep", "s3://private/m.nwb", *common, "--grid", "quick", "--readers",
                      "h5py-fsspec", "--patterns", PATCH, "--repeats", "1", "-o",
                      str(tmp_path / "s.csv")],
                     ["layouts", "s3://private/m.nwb", *common],
                     ["refs", "build", "s3://private/m.nwb", *common, "-o",
                      str(tmp_path / "refs.json")]):
            run = subprocess.run([sys.executable, "-m", "layoutbench", "-vv", *argv],
                                 capture_output=True, text=True, timeout=600,
                                 env={**os.environ, **env,
                                      "LAYOUTBENCH_CACHE": str(tmp_path / "cache")})
            assert run.returncode == 0, (argv[0], run.stderr[-2000:])
            outputs += [run.stdout, run.stderr]
        outputs += [f.read_bytes().decode("latin-1") for f in tmp_path.rglob("*")
                    if f.is_file()]
        for text in outputs:
            assert secret not in text and key_id not in text


def test_client_counts_equal_the_servers(tmp_path: Path, movie: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Counted by botocore's events, case by case, as the server side (the embedded gateway
    in front of moto) counted the same requests."""
    from layoutbench.store.embedded import isolated_client

    for name, value in {"AWS_ACCESS_KEY_ID": "LBTESTKEYID", "AWS_SECRET_ACCESS_KEY": "x",
                        "AWS_CONFIG_FILE": "/dev/null",
                        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}.items():
        monkeypatch.setenv(name, value)
    with EmbeddedS3() as s3:
        client = isolated_client(s3.upstream_url)
        client.create_bucket(Bucket="private")
        client.upload_file(str(movie), "private", "m.nwb")
        cases: list[tuple[int, int]] = []
        real = ms.measure_under

        def spy(*args: Any, **kwargs: Any) -> Any:
            s3.reset_counters()
            row = real(*args, **kwargs)
            cases.append((s3.stats().requests, s3.stats().bytes_sent))
            return row

        monkeypatch.setattr(ms, "measure_under", spy)
        rows = measure_source("s3://private/m.nwb", dataset=DATA, patterns=[PATCH],
                              options=SourceOptions(endpoint_url=s3.endpoint_url, anon=False),
                              cache_dir=tmp_path / "refs")
    assert [r.reader for r in rows] == ["h5py-fsspec", "kerchunk"]
    for row, (requests, sent) in zip(rows, cases, strict=True):
        assert row.counts == "client"
        assert (row.requests + row.open_requests, row.bytes_transferred + row.open_bytes) == \
            (requests, sent), row.reader
