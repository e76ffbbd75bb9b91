"""S3 faults injected by the gateway (seeded), survived by the readers' retries, and wrong data
always caught by the digest."""

from __future__ import annotations

import dataclasses
import http.client
import json
import socket
import time
from pathlib import Path

import pytest

from layoutbench.errors import UserError
from layoutbench.plan.layout import Layout
from layoutbench.run.faulty import judge, outcome
from layoutbench.run.sweep import run_sweep
from layoutbench.store import EmbeddedS3
from layoutbench.store.faults import FaultPlan, parse_faults
from layoutbench.synthetic import generate_ophys


@pytest.mark.parametrize(("spec", "match"), [
    ("503=0.5,nope=0.1", "KIND one of 503, 500, reset"),   # an unknown fault
    ("503=lots", "is not a probability"),                  # not a number
    ("503=1.5", r"must be in \[0, 1\]"),                   # not a probability
    ("503=0.6,500=0.6", "add up to more than 1"),          # impossible together
    ("503", "expected KIND=PROBABILITY"),                  # no probability
])
def test_bad_fault_specs(spec: str, match: str) -> None:
    with pytest.raises(UserError, match=match):
        parse_faults(spec)


def test_plans_replay_and_keep_their_rates() -> None:
    plan = parse_faults("503=0.05,500=0.02,reset=0.02,truncate=0.01,stall=0.01", seed=7)
    draws = [plan.draw(n) for n in range(20000)]
    assert draws == [plan.draw(n) for n in range(20000)]  # the same seed: the same faults
    assert draws != [dataclasses.replace(plan, seed=8).draw(n) for n in range(20000)]
    for kind, rate in plan.rates.items():
        assert abs(draws.count(kind) / len(draws) - rate) < 0.006, kind
    assert FaultPlan.from_dict(plan.to_dict()) == plan and plan.spec.startswith("503=0.05")


def _get(s3: EmbeddedS3, key: str) -> tuple[int, bytes, int]:
    """(status, body, Content-Length) of a plain GET through the gateway."""
    host, port = s3.endpoint_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", f"/{s3.bucket}/{key}")
        resp = conn.getresponse()
        length = int(resp.getheader("Content-Length") or -1)
        try:
            body = resp.read()
        except http.client.IncompleteRead as exc:
            body = exc.partial
        return resp.status, body, length
    finally:
        conn.close()


@pytest.mark.parametrize(("kind", "check"), [
    ("503", lambda s, b, n: s == 503 and b"<Code>SlowDown</Code>" in b),        # throttled
    ("500", lambda s, b, n: s == 500 and b"<Code>InternalError</Code>" in b),   # server error
    ("truncate", lambda s, b, n: s == 200 and len(b) == n // 2),               # cut short
])
def test_each_fault_as_a_client_sees_it(s3: EmbeddedS3, tmp_path: Path, kind: str,
                                        check: object) -> None:
    blob = tmp_path / "blob.bin"
    blob.write_bytes(bytes(range(256)) * 4096)
    s3.upload_file(blob, "blob.bin")
    s3.set_faults(parse_faults(f"{kind}=1"))
    status, body, length = _get(s3, "blob.bin")
    assert check(status, body, length)  # type: ignore[operator]
    assert s3.stats().faults == {kind: 1}


def test_reset_and_stall(s3: EmbeddedS3, tmp_path: Path) -> None:
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"x" * 2**20)
    s3.upload_file(blob, "blob.bin")
    s3.set_faults(parse_faults("reset=1"))
    with pytest.raises((ConnectionResetError, http.client.IncompleteRead)):
        host, port = s3.endpoint_url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(f"GET /{s3.bucket}/blob.bin HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            while sock.recv(65536):
                pass
            raise http.client.IncompleteRead(b"")  # a clean close is not a reset
    s3.set_faults(dataclasses.replace(parse_faults("stall=1"), stall_s=0.5))
    t0 = time.monotonic()
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        _get(s3, "blob.bin")
    assert time.monotonic() - t0 >= 0.5


def test_readers_survive_faults_or_say_why(s3: EmbeddedS3, tmp_path: Path) -> None:
    """Every reader, under a heavy seeded mix: correct data or a clean error, never wrong
    data; and the faults really happened."""
    movie = tmp_path / "m.nwb"
    generate_ophys(movie, shape=(64, 64, 64), seed=2)
    layouts = [Layout("hdf5", (64, 32, 32), "zstd", shuffle=True),
               Layout("zarr", (64, 32, 32), "blosc-zstd", shuffle=True)]
    rows = run_sweep(movie, s3, "loopback", layouts=layouts,
                     patterns=["ophys-patch:offsets=2,frames=64"], repeats=2,
                     readers=["h5py-remfile", "h5py-fsspec", "kerchunk", "zarr"],
                     cache_dir=tmp_path / "v",
                     faults=parse_faults("503=0.15,500=0.1,reset=0.05,truncate=0.05", seed=3))
    assert len(rows) == 8 and {r.faults for r in rows} == {
        "503=0.15,500=0.1,reset=0.05,truncate=0.05"}
    assert all(outcome(r) in ("correct", "clean error") for r in rows)
    assert sum(outcome(r) == "correct" for r in rows) >= 6  # retries absorb most faults
    assert any(r.requests > 0 for r in rows)


def test_wrong_data_is_caught_and_said() -> None:
    """A digest that is not the data's is marked in the row, not passed off as a result."""
    from layoutbench.plan.measurement import Measurement

    good = Measurement.from_dict({
        "layout_json": json.dumps(Layout("hdf5", (4,)).to_dict()),
        "reader": "r", "reader_options": "{}", "pattern": "p", "pattern_params": "{}",
        "profile": "loopback", "profile_params": "{}", "dataset": "/x", "shape": "8",
        "dtype": "int16", "requests": 1, "bytes_transferred": 1, "bytes_needed": 1,
        "read_amplification": 1.0, "read_amplification_raw": 1.0, "chunks_touched": 1,
        "seconds": 0.1, "open_requests": 0, "open_bytes": 0, "open_seconds": 0.0,
        "stored_bytes": 1, "compression_ratio": 1.0, "write_seconds": 0.0, "digest": "aa",
        "versions": "{}", "timestamp": "t"})
    bad = dataclasses.replace(good, digest="bb")
    failed = dataclasses.replace(good, digest="", error="ClientError: gave up")
    judged = judge([good, bad, failed], {"p": "aa"})
    assert [outcome(r) for r in judged] == ["correct", "wrong data", "clean error"]
    assert judged[1].error is not None and "is not the data's (aa)" in judged[1].error


def _caused(exc: BaseException, cause: BaseException) -> BaseException:
    exc.__cause__ = cause
    return exc


@pytest.mark.parametrize(("exc", "io"), [
    (OSError("Can't read data (wrong B-tree signature)"), True),  # h5py over a bad response
    (TimeoutError("read timed out"), True),
    (ConnectionResetError(104, "reset"), True),
    (RuntimeError("zarr could not decode"), False),  # nothing I/O-like behind it: a bug
    (_caused(RuntimeError("failed"), OSError("refused")), True),  # raised over an I/O error
    (TypeError("unsupported operand"), False),  # a bug, ours or a reader's
    (AttributeError("'NoneType' object has no attribute 'read'"), False),
])
def test_only_io_failures_are_clean_errors(exc: BaseException, io: bool) -> None:
    from layoutbench.run.faulty import io_failure

    assert io_failure(exc) is io


def test_aiohttp_and_botocore_errors_are_io() -> None:
    import aiohttp
    from botocore.exceptions import ReadTimeoutError

    from layoutbench.run.faulty import io_failure

    assert io_failure(aiohttp.ClientPayloadError("cut short"))
    assert io_failure(ReadTimeoutError(endpoint_url="http://127.0.0.1:1"))
