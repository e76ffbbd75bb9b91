"""The asv support: a shared endpoint across processes, prepared suites, counted cases."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from benchmarks import _kit as benchkit
from layoutbench.errors import UserError
from layoutbench.store.shared import STATE_NAME, shared_endpoint, stop_shared

ROOT = Path(__file__).resolve().parents[1]


def test_shared_endpoint_is_shared_between_processes(tmp_path: Path) -> None:
    state_dir = tmp_path / "endpoint"
    s3 = shared_endpoint(state_dir)
    try:
        (tmp_path / "x.bin").write_bytes(b"layoutbench" * 100)
        s3.upload_file(tmp_path / "x.bin", "x.bin")
        s3.reset_counters()
        code = ("import sys, urllib.request\n"
                "from layoutbench.store.shared import shared_endpoint\n"
                "s3 = shared_endpoint(sys.argv[1])\n"
                "print(len(urllib.request.urlopen(s3.http_url('x.bin')).read()))\n")
        out = subprocess.run([sys.executable, "-c", code, str(state_dir)], check=True,
                             capture_output=True, text=True).stdout
        assert out.strip() == "1100"  # the other process attached to the same server
        assert s3.stats().requests == 1  # and went through the same counting gateway
        with pytest.raises(RuntimeError, match="cannot be reset"):
            s3.reset()
    finally:
        assert stop_shared(state_dir)
    assert not stop_shared(state_dir)  # already stopped


def test_shared_endpoint_exits_when_idle(tmp_path: Path) -> None:
    state_dir = tmp_path / "endpoint"
    shared_endpoint(state_dir, idle_exit=1.0)
    pid = json.loads((state_dir / STATE_NAME).read_text())["pid"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (state_dir / STATE_NAME).exists():
        time.sleep(0.2)
    assert not (state_dir / STATE_NAME).exists()
    proc = Path(f"/proc/{pid}/status")
    while time.monotonic() < deadline and proc.exists() and "zombie" not in proc.read_text():
        time.sleep(0.2)
    assert not proc.exists() or "zombie" in proc.read_text()


@pytest.mark.parametrize(("domain", "n_layouts"), [
    ("ophys", 7),    # quick grid (6) + the demo's best patch layout
    ("ecephys", 6),  # quick grid
    ("volume", 6),   # quick grid
    ("open", 4),     # as-is + paged 1/4/8 MiB
])
def test_suite_params_are_known_without_data(domain: str, n_layouts: int,
                                             monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.setenv("LAYOUTBENCH_BENCH_DIR", str(tmp_path))
    monkeypatch.setenv("LAYOUTBENCH_PROFILE", "home")
    params, names = benchkit.suite_params(domain)
    assert names == ["profile", "layout", "reader"]
    assert params[0] == ["home"]  # the profile is recorded as a parameter
    assert len(params[1]) == n_layouts == len(set(params[1]))
    assert params[1][0] in ("neuroconv-default", "as-is")
    assert not list(tmp_path.iterdir())  # discovery generated nothing


def test_bad_size_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAYOUTBENCH_BENCH_SIZE", "huge")
    with pytest.raises(UserError, match="LAYOUTBENCH_BENCH_SIZE='huge'"):
        benchkit.size_name()


def test_case_is_counted_once_per_run_and_repeatable(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    monkeypatch.setenv("LAYOUTBENCH_BENCH_DIR", str(tmp_path))
    monkeypatch.setenv("LAYOUTBENCH_BENCH_SIZE", "small")
    small = {**benchkit.DOMAINS["ophys"].sizes, "small": {"shape": (40, 64, 64)}}
    monkeypatch.setitem(benchkit.DOMAINS, "ophys",
                        replace(benchkit.DOMAINS["ophys"], sizes=small))
    try:
        prepared = benchkit.prepare("ophys")
        layout = next(n for n in prepared.variants if n.startswith("h5-"))
        with pytest.raises(NotImplementedError):
            benchkit.open_case(prepared, "ophys-patch", layout, "zarr", "loopback")
        first = benchkit.open_case(prepared, "ophys-patch", layout, "h5py-fsspec", "loopback")
        m1 = first.measure()
        assert first.record is not None and first.record.exists()
        again = benchkit.open_case(prepared, "ophys-patch", layout, "h5py-fsspec", "loopback")
        assert again.measure() == m1  # the other track_* read the run's record
        # a new run (new setup_cache) measures again, and gets the same deterministic figures
        rerun = benchkit.prepare("ophys")
        assert rerun.run_id != prepared.run_id
        m2 = benchkit.open_case(rerun, "ophys-patch", layout, "h5py-fsspec", "loopback").measure()
        assert (m2.requests, m2.bytes_transferred) == (m1.requests, m1.bytes_transferred)
        assert m1.requests > 0 and m1.digest == m2.digest
    finally:
        benchkit.stop()


def test_asv_check_passes(tmp_path: Path) -> None:
    # this checkout's package (not whatever an editable install points at) under its suites
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path),
           "LAYOUTBENCH_BENCH_DIR": str(tmp_path / "bench"), "ASV_PYTHONPATH": str(ROOT)}
    asv = str(Path(sys.executable).parent / "asv")
    done = subprocess.run([asv, "check", "--python=same"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No problems found" in done.stdout
