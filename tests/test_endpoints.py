"""One suite for every :class:`~layoutbench.store.endpoint.Endpoint` (as zarr's ``StoreTests``
run against each store): the embedded S3 and a remote store on a real moto server, both behind
the counting gateway. Counts are exact: a read of N bytes is N bytes and its requests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from layoutbench.plan.profiles import get_profile
from layoutbench.store import EmbeddedS3
from layoutbench.store.embedded import create_public_bucket, isolated_client
from layoutbench.store.endpoint import Counters, Endpoint
from layoutbench.store.remote_store import RemoteStore
from layoutbench.store.server import MotoServer
from layoutbench.store.sources import SourceOptions

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


@pytest.fixture(scope="module")
def lab() -> Iterator[str]:
    """A moto server with a public bucket, as a lab's own S3 would be."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in (("AWS_ACCESS_KEY_ID", "lab-dummy-key"),
                            ("AWS_SECRET_ACCESS_KEY", "lab-dummy-secret"),
                            ("AWS_CONFIG_FILE", "/dev/null"),
                            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")):
            env.setenv(name, value)
        with MotoServer() as moto:
            create_public_bucket(isolated_client(moto.url), "lab")
            yield moto.url


@pytest.fixture(params=["embedded", "remote"])
def endpoint(request: pytest.FixtureRequest, lab: str) -> Iterator[Endpoint]:
    # the embedded S3 of every sweep; a store of `sweep --store s3://lab/suite`
    if request.param == "embedded":
        with EmbeddedS3() as s3:
            yield s3
    else:
        store = RemoteStore("s3://lab/suite", SourceOptions(endpoint_url=lab, anon=True))
        with store:
            yield store


def _read(endpoint: Endpoint, key: str, start: int, stop: int) -> bytes:
    with endpoint.source(key).open(cache_type="none") as f:
        f.seek(start)
        return bytes(f.read(stop - start))


def test_it_is_an_endpoint(endpoint: Endpoint) -> None:
    assert isinstance(endpoint, Endpoint) and isinstance(endpoint, Counters)
    assert endpoint.counts == "gateway"  # unsigned reads: counted on the server side


def test_a_range_read_is_counted_exactly(endpoint: Endpoint, tmp_path: Path) -> None:
    local = tmp_path / "blob.bin"
    local.write_bytes(PAYLOAD)
    endpoint.upload_file(local, "blob.bin")
    endpoint.set_profile(get_profile("loopback"))
    endpoint.reset_counters()
    assert _read(endpoint, "blob.bin", 1000, 5096) == PAYLOAD[1000:5096]
    stats = endpoint.stats()
    assert stats.bytes_sent == 4096  # the range, not the object (a HEAD sends no body)
    assert stats.by_method.get("GET") == 1
    endpoint.reset_counters()
    assert endpoint.stats().requests == 0


def test_trees_upload_and_prefixes_delete(endpoint: Endpoint, tmp_path: Path) -> None:
    tree = tmp_path / "store.zarr"
    (tree / "a" / "0").mkdir(parents=True)
    for name in ("zarr.json", "a/zarr.json", "a/0/0", "a/0/1"):
        (tree / name).write_bytes(os.urandom(64))
    url = endpoint.upload_tree(tree, "t/store.zarr")
    assert url.rstrip("/").endswith("t/store.zarr")
    assert _read(endpoint, "t/store.zarr/a/0/1", 0, 64) == (tree / "a/0/1").read_bytes()
    assert endpoint.delete_prefix("t/store.zarr") == 4
    assert endpoint.delete_prefix("t/store.zarr") == 0


def test_an_expected_key_does_not_outlive_the_endpoint(lab: str, tmp_path: Path) -> None:
    """What a run said it may upload is gone once the endpoint stops (interrupted runs)."""
    local = tmp_path / "v.h5"
    local.write_bytes(PAYLOAD)
    store = RemoteStore("s3://lab/expect", SourceOptions(endpoint_url=lab, anon=True))
    with store:
        store.expect("v.h5")
        store.upload_file(local, "v.h5")
    client = isolated_client(lab)
    assert client.list_objects_v2(Bucket="lab", Prefix="expect/").get("KeyCount", 0) == 0
