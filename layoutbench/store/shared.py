"""One embedded endpoint shared by many short-lived processes (asv benchmarks).

asv runs every benchmark in a process of its own. Starting moto and the gateway there, and
uploading the variants again, would cost more than most reads it measures, and moto keeps its
objects in memory, so nothing would survive from one benchmark to the next. Instead one
*service* process owns an :class:`~layoutbench.store.EmbeddedS3` and describes it in a state
file; every benchmark attaches to it (:meth:`EmbeddedS3.attach`) and controls the gateway
through its HTTP control API.

Nothing outlives its use for long: each attach touches the state file, and the service exits
when the file is gone (:func:`stop_shared`) or older than the idle timeout.

Run as ``python -m layoutbench.store.shared --state FILE [--idle-exit SECONDS]``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from layoutbench.atomic import write_json

from .embedded import EmbeddedS3
from .server import child_env, http_call

log = logging.getLogger(__name__)

STATE_NAME = "endpoint.json"
#: Default idle timeout: longer than any single benchmark, short enough to clean up after a run.
IDLE_EXIT = 900.0


def _alive(info: dict[str, Any]) -> bool:
    try:
        os.kill(int(info["pid"]), 0)
        status, _ = http_call(info["endpoint_url"], "GET", "/_layoutbench/stats", timeout=5.0)
    except (OSError, KeyError, ValueError):
        return False
    return status == 200


def _read_state(state: Path) -> dict[str, Any] | None:
    try:
        info: dict[str, Any] = json.loads(state.read_text())
    except (OSError, ValueError):
        return None
    return info if _alive(info) else None


@contextlib.contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    """Serialise attach/start between processes (asv may run benchmarks in parallel)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _start_service(state: Path, idle_exit: float, timeout: float) -> dict[str, Any]:
    log_path = state.with_suffix(".log")
    cmd = [sys.executable, "-m", "layoutbench.store.shared", "--state", str(state),
           "--idle-exit", repr(idle_exit)]
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(cmd, env=child_env(), stdin=subprocess.DEVNULL, stdout=out,
                                stderr=out, close_fds=True, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = _read_state(state)
        if info is not None and int(info["pid"]) == proc.pid:
            log.debug("started shared endpoint %s (pid %d)", info["endpoint_url"], proc.pid)
            return info
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    tail = log_path.read_text(errors="replace").splitlines()[-20:]
    raise RuntimeError("shared endpoint failed to start; log tail:\n" + "\n".join(tail))


def shared_endpoint(state_dir: str | os.PathLike[str], *, idle_exit: float = IDLE_EXIT,
                    start_timeout: float = 60.0) -> EmbeddedS3:
    """Attach to the shared endpoint described in ``state_dir``, starting it if needed.

    Objects uploaded by earlier attachers stay until the service exits; callers check for
    theirs (:meth:`EmbeddedS3.object_info`) and upload what is missing.
    """
    root = Path(state_dir)
    state = root / STATE_NAME
    with _locked(root):
        info = _read_state(state) or _start_service(state, idle_exit, start_timeout)
        os.utime(state)  # the heartbeat that keeps the service alive
    return EmbeddedS3.attach(info["endpoint_url"], info["upstream_url"], info["bucket"])


def stop_shared(state_dir: str | os.PathLike[str], timeout: float = 10.0) -> bool:
    """Stop the shared endpoint of ``state_dir`` if one runs; return whether one did."""
    root = Path(state_dir)
    state = root / STATE_NAME
    with _locked(root):
        info = _read_state(state)
        state.unlink(missing_ok=True)
    if info is None:
        return False
    with contextlib.suppress(OSError):
        os.kill(int(info["pid"]), signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(info):
        time.sleep(0.1)
    return True


def serve(state: Path, idle_exit: float) -> None:
    """Run the service until the state file is removed or left untouched for ``idle_exit`` s."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with EmbeddedS3() as s3:
        info = {"pid": os.getpid(), "endpoint_url": s3.endpoint_url,
                "upstream_url": s3.upstream_url, "bucket": s3.bucket}
        write_json(state, info)
        log.info("serving %s; state %s; idle exit %.0f s", s3.endpoint_url, state, idle_exit)
        try:
            while True:
                time.sleep(min(5.0, idle_exit / 10))
                try:
                    if time.time() - state.stat().st_mtime > idle_exit:
                        log.info("idle for %.0f s: exiting", idle_exit)
                        state.unlink(missing_ok=True)
                        break
                    if json.loads(state.read_text()).get("pid") != os.getpid():
                        break  # replaced by a newer service
                except (OSError, ValueError):
                    break  # removed: stop_shared()
        finally:
            log.info("stopping")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m layoutbench.store.shared")
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--idle-exit", type=float, default=IDLE_EXIT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    serve(args.state, args.idle_exit)


if __name__ == "__main__":
    main()
