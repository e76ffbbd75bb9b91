"""The embedded S3 endpoint, its gateway (counting, latency, bandwidth) and the moto patch.

Counts are asserted exactly (they are the server-side truth every result reports); times only
as lower bounds, which a slow machine cannot break.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import requests

from layoutbench.store import PROFILES, EmbeddedS3, GatewayStats, NetworkProfile, get_profile
from layoutbench.store.embedded import create_public_bucket, isolated_client
from layoutbench.store.server import MotoServer

SIZE = 6 * 10**6 + 123  # above moto's 5 MiB in-memory limit: the key's buffer is a real file


@pytest.fixture(scope="module")
def payload() -> bytes:
    return np.random.default_rng(0).bytes(SIZE)


@pytest.fixture
def obj(s3: EmbeddedS3, payload: bytes, tmp_path: Path) -> str:
    """``payload`` uploaded as ``data/blob.bin``; returns its gateway URL."""
    path = tmp_path / "blob.bin"
    path.write_bytes(payload)
    s3.upload_file(path, "data/blob.bin")
    s3.reset_counters()
    return s3.http_url("data/blob.bin")


# -- profiles -----------------------------------------------------------------------------
def test_profiles_are_design_defaults() -> None:
    assert {n: (p.latency_ms, p.bandwidth_mbps) for n, p in PROFILES.items()} == {
        "loopback": (0, None),
        "same-region": (20, 100),
        "cross-region": (80, 40),
        "home": (150, 10),
    }
    for p in PROFILES.values():
        assert NetworkProfile.from_dict(p.to_dict()) == p


def test_get_profile_overrides_and_errors() -> None:
    p = get_profile("home", latency_ms=5)
    assert p == NetworkProfile("home", 5.0, 10.0)  # the name is kept
    assert get_profile("same-region", bandwidth_mbps=1).bandwidth_mbps == 1.0
    with pytest.raises(ValueError, match="loopback, same-region, cross-region, home"):
        get_profile("moon")
    with pytest.raises(ValueError):
        NetworkProfile("bad", -1.0, None)
    with pytest.raises(ValueError):
        NetworkProfile("bad", 0.0, 0.0)


# -- correctness through the gateway ------------------------------------------------------
def test_anonymous_get_returns_exact_bytes(s3: EmbeddedS3, obj: str, payload: bytes) -> None:
    r = requests.get(obj, timeout=30)
    assert r.status_code == 200
    assert r.content == payload
    assert int(r.headers["Content-Length"]) == SIZE
    assert r.headers["ETag"] == s3.object_info("data/blob.bin").etag
    assert s3.object_info("data/blob.bin")["size"] == SIZE


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-0", slice(0, 1)),  # first byte
        ("bytes=0-1023", slice(0, 1024)),  # first KiB
        ("bytes=3000000-3065535", slice(3000000, 3065536)),  # middle, 64 KiB
        (f"bytes={SIZE - 1}-{SIZE - 1}", slice(SIZE - 1, SIZE)),  # last byte
        ("bytes=-100", slice(SIZE - 100, SIZE)),  # suffix
        (f"bytes=-{SIZE + 10}", slice(0, SIZE)),  # suffix longer than the object: all of it
        ("bytes=5999000-", slice(5999000, SIZE)),  # open-ended
        ("bytes=10-99999999999", slice(10, SIZE)),  # end past the object: clamped
    ],
)
def test_range_get_returns_exact_bytes(
    obj: str, payload: bytes, header: str, expected: slice
) -> None:
    r = requests.get(obj, headers={"Range": header}, timeout=30)
    assert r.status_code == 206
    assert r.content == payload[expected]
    start, stop, _ = expected.indices(SIZE)
    assert r.headers["Content-Range"] == f"bytes {start}-{stop - 1}/{SIZE}"


def test_out_of_range_is_416(obj: str) -> None:
    assert requests.get(obj, headers={"Range": f"bytes={SIZE}-"}, timeout=30).status_code == 416


def test_concurrent_ranges_of_one_key(obj: str, payload: bytes) -> None:
    # the patched moto seeks in a shared buffer: concurrent reads must not interleave
    starts = [i * 97_531 for i in range(48)]
    with ThreadPoolExecutor(16) as pool:
        got = list(
            pool.map(
                lambda b: requests.get(obj, headers={"Range": f"bytes={b}-{b + 9999}"}), starts
            )
        )
    assert all(r.content == payload[b : b + 10000] for r, b in zip(got, starts, strict=True))


# -- counting -----------------------------------------------------------------------------
def test_counting_is_exact(s3: EmbeddedS3, obj: str) -> None:
    lengths = [1, 10, 100, 1000, 4096, 65536, 1_000_000]
    with requests.Session() as session:  # one keep-alive connection
        for i, n in enumerate(lengths):
            r = session.get(obj, headers={"Range": f"bytes={i * 1000}-{i * 1000 + n - 1}"})
            assert len(r.content) == n
    stats = s3.stats()
    assert (stats.requests, stats.bytes_sent) == (7, sum(lengths))
    assert stats.by_method == {"GET": 7}
    assert stats.by_key == {f"/{s3.bucket}/data/blob.bin": (7, sum(lengths))}

    assert requests.head(obj, timeout=30).status_code == 200
    stats = s3.stats()  # HEAD: one more request, no body bytes
    assert (stats.requests, stats.bytes_sent, stats.by_method["HEAD"]) == (8, sum(lengths), 1)

    for _ in range(3):  # control calls are not counted
        s3.stats()
        s3.set_profile(PROFILES["loopback"])
    assert s3.stats().requests == 8
    s3.reset_counters()
    assert s3.stats() == GatewayStats(0, 0, {}, {})


def test_s3fs_anonymous_cat_file_is_counted(s3: EmbeddedS3, obj: str, payload: bytes) -> None:
    import s3fs

    fs = s3fs.S3FileSystem(**s3.storage_options())
    assert fs.cat_file(f"{s3.bucket}/data/blob.bin") == payload
    stats = s3.stats()
    assert stats.by_method.get("GET", 0) >= 1
    assert stats.bytes_sent == SIZE  # a HEAD may come first; it adds no body bytes


def test_every_method_passes_through(s3: EmbeddedS3) -> None:
    # a signed boto3 client on the gateway: PUT, GET, HEAD, list, POST (batch delete), DELETE
    c = isolated_client(s3.endpoint_url)
    c.put_object(Bucket=s3.bucket, Key="m/a", Body=b"abc")
    assert c.get_object(Bucket=s3.bucket, Key="m/a")["Body"].read() == b"abc"
    assert c.head_object(Bucket=s3.bucket, Key="m/a")["ContentLength"] == 3
    assert [o["Key"] for o in c.list_objects_v2(Bucket=s3.bucket)["Contents"]] == ["m/a"]
    c.delete_objects(Bucket=s3.bucket, Delete={"Objects": [{"Key": "m/a"}]})
    c.delete_object(Bucket=s3.bucket, Key="m/b")
    assert s3.stats().by_method == {"PUT": 1, "GET": 2, "HEAD": 1, "POST": 1, "DELETE": 1}


def test_chunked_request_body_is_forwarded(s3: EmbeddedS3) -> None:
    parts = [b"x" * 1000, b"y" * 70_000, b"z"]
    r = requests.put(s3.http_url("chunked.bin"), data=iter(parts), timeout=30)  # chunked
    assert r.status_code == 200
    assert requests.get(s3.http_url("chunked.bin"), timeout=30).content == b"".join(parts)


def test_client_disconnect_mid_body_is_harmless(s3: EmbeddedS3, obj: str) -> None:
    s3.set_profile(NetworkProfile("slow", 0, 10))
    host, port = s3.endpoint_url.removeprefix("http://").split(":")
    received = 0
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(f"GET /{s3.bucket}/data/blob.bin HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        while received < 200_000:  # headers and part of the body, then hang up
            received += len(sock.recv(65536))
    time.sleep(0.2)
    s3.set_profile(PROFILES["loopback"])
    stats = s3.stats()
    assert stats.requests == 1
    assert received - 1000 < stats.bytes_sent < SIZE
    assert requests.get(obj, headers={"Range": "bytes=0-9"}, timeout=30).status_code == 206


# -- network emulation (lower bounds on time only) -----------------------------------------
def _timed_get(url: str, header: str | None = None) -> tuple[float, float, int]:
    start = time.perf_counter()
    r = requests.get(url, headers={"Range": header} if header else {}, timeout=60)
    return start, time.perf_counter(), len(r.content)


def test_latency_is_a_lower_bound(s3: EmbeddedS3, obj: str) -> None:
    s3.set_profile(NetworkProfile("test", latency_ms=50, bandwidth_mbps=None))
    start = time.perf_counter()
    with requests.Session() as session:
        for i in range(20):
            session.get(obj, headers={"Range": f"bytes={i}-{i}"})
    assert time.perf_counter() - start >= 20 * 0.050
    assert s3.stats().requests == 20


def test_bandwidth_is_a_cap(s3: EmbeddedS3, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 * 10**6))
    s3.upload_file(big, "big.bin")
    url = s3.http_url("big.bin")
    t0, t1, n = _timed_get(url)  # unlimited first: it is the cap that makes the next one slow
    s3.set_profile(NetworkProfile("test", latency_ms=0, bandwidth_mbps=10))
    c0, c1, m = _timed_get(url)
    assert n == m == 20 * 10**6
    assert c1 - c0 >= 2.0  # 20 MB at 10 MB/s
    assert t1 - t0 < c1 - c0


def test_bandwidth_is_per_connection(s3: EmbeddedS3, obj: str) -> None:
    s3.set_profile(NetworkProfile("test", latency_ms=0, bandwidth_mbps=10))
    with ThreadPoolExecutor(2) as pool:  # two connections, 5 MB each
        runs = list(pool.map(lambda r: _timed_get(obj, r), ["bytes=0-4999999", "bytes=-5000000"]))
    for start, end, n in runs:
        assert n == 5 * 10**6
        assert end - start >= 0.5
    assert max(r[0] for r in runs) < min(r[1] for r in runs)  # they did overlap


# -- Zarr through s3fs --------------------------------------------------------------------
def test_upload_tree_zarr_roundtrip(s3: EmbeddedS3, tmp_path: Path) -> None:
    import zarr

    data = np.arange(60 * 40, dtype="int32").reshape(60, 40)
    local = zarr.create_array(
        store=str(tmp_path / "a.zarr"), shape=data.shape, chunks=(16, 16), dtype=data.dtype
    )
    local[:] = data
    prefix = s3.upload_tree(tmp_path / "a.zarr", "stores/a.zarr/")
    assert prefix == "stores/a.zarr"
    s3.reset_counters()
    store = zarr.storage.FsspecStore.from_url(
        s3.s3_url(prefix), storage_options=s3.storage_options(), read_only=True
    )
    np.testing.assert_array_equal(zarr.open_array(store, mode="r")[:], data)
    assert s3.stats().requests >= 1 + 4 * 3  # metadata + 12 chunks
    assert s3.delete_prefix("stores/") == 1 + 4 * 3


# -- the moto range patch: same answers as unpatched moto ----------------------------------
@pytest.fixture(scope="module")
def unpatched() -> Iterator[MotoServer]:
    with MotoServer(patch_ranges=False) as server:
        yield server


RANGE_CASES = [
    "bytes=0-0",  # first byte
    "bytes=100-199",  # inner
    f"bytes={SIZE - 10}-{SIZE - 1}",  # last bytes
    f"bytes={SIZE - 10}-{SIZE + 50}",  # end past the object
    "bytes=-10",  # suffix
    f"bytes=-{SIZE * 2}",  # suffix longer than the object
    "bytes=-0",  # empty suffix: 416
    "bytes=5000000-",  # open-ended
    f"bytes={SIZE}-",  # starts past the end: 416
    "bytes=50-10",  # reversed: moto serves the whole object (200)
    "bytes=0-1,5-6",  # multi-range: moto serves the whole object (200)
    "bytes=abc",  # unparsable: whole object (200)
]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_range_patch_matches_unpatched_moto(
    s3: EmbeddedS3, unpatched: MotoServer, obj: str, payload: bytes, method: str
) -> None:
    assert s3.range_patched
    ref = isolated_client(unpatched.url)
    if not ref.list_buckets()["Buckets"]:
        create_public_bucket(ref, s3.bucket)
        ref.put_object(Bucket=s3.bucket, Key="data/blob.bin", Body=payload, ACL="public-read")
    seen: set[int] = set()
    keep = ("content-range", "content-length", "content-type", "etag", "accept-ranges")
    for header in RANGE_CASES:
        answers = []
        for base in (s3.upstream_url, unpatched.url):
            r = requests.request(
                method, f"{base}/{s3.bucket}/data/blob.bin", headers={"Range": header}, timeout=30
            )
            answers.append(
                (
                    r.status_code,
                    {k: r.headers.get(k) for k in keep},
                    r.content if r.status_code < 300 else None,
                )
            )
        assert answers[0] == answers[1], header
        seen.add(answers[0][0])
    assert seen == {200, 206, 416}  # every branch of moto's range handling was compared


def test_range_patch_is_version_checked() -> None:
    import moto
    from moto.s3 import models, responses

    from layoutbench.store._moto_launcher import _check_internals

    assert _check_internals(responses, models, moto.__version__) is None
    assert "not a 5.x release" in str(_check_internals(responses, models, "6.0.0"))


def test_moto_start_retries_a_taken_port(monkeypatch: pytest.MonkeyPatch) -> None:
    import layoutbench.store.server as server

    real_free_port = server.free_port
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        offers = iter([busy])  # lose the race once, then get a really free port
        monkeypatch.setattr(
            server, "free_port", lambda host: next(offers, 0) or real_free_port(host)
        )
        with MotoServer() as moto:
            assert moto.port != busy and moto.running
            assert requests.get(f"{moto.url}/moto-api/reset", timeout=10).status_code == 400
        assert not moto.running
