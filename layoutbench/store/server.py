"""The two subprocesses behind :class:`~layoutbench.store.embedded.EmbeddedS3`.

* :class:`MotoServer` — moto in server mode, a *separate process* (not moto's in-process
  mock), so that readers that open their own connections (remfile, s3fs/aiohttp, h5py's ros3)
  see a real HTTP endpoint and so the server's CPU time does not share the benchmarked
  process's GIL. It is launched through :mod:`._moto_launcher`, which makes range GETs read
  only the requested bytes (see there for why and the measured effect).
* :class:`GatewayProcess` — the counting, throttling proxy of :mod:`.gateway`, and a client
  for its control API (:class:`GatewayStats` is the parsed counters).

Both children are tied to this interpreter three ways, so none outlives it: ``stop()`` (also
on ``__exit__``), an ``atexit`` hook, and ``--exit-with-stdin``: the child exits when its stdin
pipe closes, which the kernel does even if this process is killed with SIGKILL. Their output
goes to a log file in a private temporary directory whose tail is shown if a start fails.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.client import HTTPConnection
from pathlib import Path
from typing import IO, Any

from layoutbench.atomic import remove_stale
from layoutbench.plan.profiles import PROFILES, NetworkProfile

from ._moto_launcher import PATCH_OK_MARKER, PATCH_SKIPPED_MARKER
from .faults import FaultPlan
from .gateway import CONTROL_PREFIX

log = logging.getLogger(__name__)

_STOP_TIMEOUT = 5.0
_PORT_ATTEMPTS = 5
_PKG_ROOT = str(Path(__file__).resolve().parents[2])
#: The log folders of our server processes, ``layoutbench-<name>-<pid>-<random>``.
_STALE_DIR = re.compile(r"^layoutbench-[a-z]+-(\d+)-[a-z0-9_]+$")


def child_env() -> dict[str, str]:
    """The environment for our server processes: they import this package, so make it
    importable even from an uninstalled source tree."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PKG_ROOT, env.get("PYTHONPATH")]))
    return env


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (callers must handle losing the race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def http_call(
    url: str, method: str, path: str, body: bytes | None = None, timeout: float = 30.0
) -> tuple[int, bytes]:
    """One small HTTP request with the standard library (no proxies, no AWS config)."""
    host_port = url.split("://", 1)[1].rstrip("/")
    host, _, port = host_port.partition(":")
    conn = HTTPConnection(host, int(port or 80), timeout=timeout)
    try:
        headers = {"Content-Length": str(len(body))} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@dataclass(frozen=True, slots=True)
class GatewayStats:
    """What the gateway counted since its last reset (the server-side truth).

    Attributes
    ----------
    requests
        Proxied requests received (all methods; control calls excluded).
    bytes_sent
        Response *body* bytes written to clients (headers excluded, HEAD adds 0).
    by_method
        Requests per HTTP method.
    by_key
        Per URL path (``/bucket/key``, unquoted, without query): ``(requests, bytes_sent)``.
    """

    requests: int
    bytes_sent: int
    by_method: dict[str, int] = field(default_factory=dict)
    by_key: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: faults injected per kind (see :mod:`.faults`)
    faults: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GatewayStats:
        """Parse the JSON of ``GET /_layoutbench/stats``."""
        return cls(
            requests=int(data["requests"]),
            bytes_sent=int(data["bytes_sent"]),
            by_method={str(k): int(v) for k, v in data.get("by_method", {}).items()},
            by_key={
                str(k): (int(v["requests"]), int(v["bytes_sent"]))
                for k, v in data.get("by_key", {}).items()
            },
            faults={str(k): int(v) for k, v in data.get("faults", {}).items()},
        )


class _ChildProcess:
    """A child process with a private log file, stopped by ``stop()`` or at exit."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None
        self._tmpdir: Path | None = None
        self._log: IO[bytes] | None = None

    @property
    def log_path(self) -> Path | None:
        return None if self._tmpdir is None else self._tmpdir / f"{self.name}.log"

    def _spawn(self, cmd: list[str], capture_stdout: bool = False) -> subprocess.Popen[bytes]:
        if self._tmpdir is None:
            # named after this process, so that a folder left by a killed one is recognised
            remove_stale(tempfile.gettempdir(), _STALE_DIR)
            self._tmpdir = Path(tempfile.mkdtemp(prefix=f"layoutbench-{self.name}-"
                                                        f"{os.getpid()}-"))
            atexit.register(self.stop)
        assert self.log_path is not None
        if self._log is not None:
            self._log.close()
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        log.debug("starting %s: %s", self.name, " ".join(cmd))
        self.proc = subprocess.Popen(
            cmd,
            env=child_env(),
            stdin=subprocess.PIPE,  # closing it (or our death) makes the child exit
            stdout=subprocess.PIPE if capture_stdout else self._log,
            stderr=self._log,
            close_fds=True,
        )
        return self.proc

    def log_tail(self, lines: int = 30) -> str:
        path = self.log_path
        if path is None or not path.exists():
            return "(no log)"
        text = path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:]) or "(empty log)"

    def _kill_proc(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                log.warning(
                    "%s did not stop within %.0f s; killing it", self.name, _STOP_TIMEOUT
                )
                proc.kill()
                proc.wait()

    def stop(self) -> None:
        """Stop the process (terminate, then kill) and remove its log directory. Idempotent."""
        self._kill_proc()
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
            atexit.unregister(self.stop)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class MotoServer(_ChildProcess):
    """moto's S3 server as a child process on a free port.

    Parameters
    ----------
    host
        Interface to bind (loopback by default: the endpoint is unauthenticated).
    port
        Fixed port, or ``None`` to pick a free one (retried if another process takes it
        between our probe and moto's bind).
    patch_ranges
        Make single-range GETs read only the requested bytes (see :mod:`._moto_launcher`).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        patch_ranges: bool = True,
        startup_timeout: float = 60.0,
    ) -> None:
        super().__init__("moto")
        self.host = host
        self.port = port
        self.patch_ranges = patch_ranges
        self.startup_timeout = startup_timeout
        #: Whether the launcher reported the range patch as applied (None before start).
        self.range_patched: bool | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("moto server not started")
        return f"http://{self.host}:{self.port}"

    def start(self) -> MotoServer:
        """Start moto and wait until it answers HTTP. Raises RuntimeError with the log tail."""
        if self.running:
            return self
        fixed = self.port is not None
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            port = self.port if fixed and self.port is not None else free_port(self.host)
            cmd = [sys.executable, "-m", "layoutbench.store._moto_launcher"]
            cmd += ["--host", self.host, "--port", str(port), "--exit-with-stdin"]
            if not self.patch_ranges:
                cmd.append("--no-patch")
            self._spawn(cmd)
            self.port = port
            if self._wait_ready():
                self._read_patch_status()
                log.debug("moto S3 server at %s (range patch: %s)", self.url, self.range_patched)
                return self
            tail = self.log_tail()
            self._kill_proc()
            if "Address already in use" in tail and not fixed and attempt < _PORT_ATTEMPTS:
                log.debug("port %d was taken; retrying", port)
                continue
            self.stop()
            raise RuntimeError(f"moto server failed to start on port {port}; log tail:\n{tail}")
        raise AssertionError("unreachable")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                # GET on the reset endpoint is a harmless no-op: moto answers 400 "Need to POST
                # to reset Moto". Checking the text (and that our child still runs) rules out
                # another program that took the port between our probe and moto's bind.
                _, body = http_call(self.url, "GET", "/moto-api/reset", timeout=1.0)
                if b"Moto" in body and self.proc.poll() is None:
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def _read_patch_status(self) -> None:
        tail = self.log_tail(200)
        if PATCH_OK_MARKER in tail:
            self.range_patched = True
        else:
            self.range_patched = False
            if self.patch_ranges:
                reason = next((ln for ln in tail.splitlines() if PATCH_SKIPPED_MARKER in ln), "")
                log.warning("moto range patch not applied; range GETs will be slow. %s", reason)

    def reset(self) -> None:
        """Drop every bucket and object (moto's ``POST /moto-api/reset``)."""
        status, body = http_call(self.url, "POST", "/moto-api/reset")
        if status != 200:
            raise RuntimeError(f"moto reset failed: HTTP {status} {body[:200]!r}")

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class GatewayClient:
    """The gateway's control API (counters, profile) over HTTP, given its URL.

    Separate from :class:`GatewayProcess` so a process that did not start the gateway (an asv
    benchmark attached to a shared endpoint, see :mod:`.shared`) controls it the same way.
    """

    def __init__(self, url: str) -> None:
        self._url = url

    @property
    def url(self) -> str:
        return self._url

    def _control(self, method: str, call: str, payload: Any = None) -> dict[str, Any]:
        body = None if payload is None else json.dumps(payload).encode()
        status, answer = http_call(self.url, method, CONTROL_PREFIX + call, body)
        if status != 200:
            raise RuntimeError(f"gateway {call} failed: HTTP {status} {answer[:200]!r}")
        result: dict[str, Any] = json.loads(answer)
        return result

    def stats(self) -> GatewayStats:
        """Counters since the last reset."""
        return GatewayStats.from_dict(self._control("GET", "stats"))

    def profile(self) -> NetworkProfile:
        """The profile the gateway applies now."""
        return NetworkProfile.from_dict(self._control("GET", "stats")["profile"])

    def reset_counters(self) -> None:
        self._control("POST", "reset", {})

    def set_profile(self, profile: NetworkProfile) -> None:
        self._control("POST", "profile", profile.to_dict())

    def set_faults(self, plan: FaultPlan) -> None:
        """Inject ``plan``'s faults from the next request on (numbering restarts at 0)."""
        self._control("POST", "faults", plan.to_dict())


class GatewayProcess(_ChildProcess, GatewayClient):
    """The gateway (:mod:`.gateway`) as a child process, plus a client for its control API."""

    def __init__(
        self,
        upstream: str,
        profile: NetworkProfile | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout: float = 30.0,
        cafile: str | None = None,
    ) -> None:
        super().__init__("gateway")
        self.upstream = upstream
        self.cafile = cafile
        self.initial_profile = profile or PROFILES["loopback"]
        self.host = host
        self.port = port
        self.startup_timeout = startup_timeout

    @property
    def url(self) -> str:
        if not self.port:
            raise RuntimeError("gateway not started")
        return f"http://{self.host}:{self.port}"

    def start(self) -> GatewayProcess:
        """Start the gateway and learn its port from its ``LISTENING <port>`` line."""
        if self.running:
            return self
        p = self.initial_profile
        cmd = [sys.executable, "-m", "layoutbench.store.gateway", "--upstream", self.upstream]
        cmd += ["--host", self.host, "--port", str(self.port), "--exit-with-stdin"]
        if self.cafile:
            cmd += ["--upstream-cafile", self.cafile]
        cmd += ["--latency-ms", repr(p.latency_ms)]
        cmd += ["--bandwidth-mbps", "none" if p.bandwidth_mbps is None else repr(p.bandwidth_mbps)]
        proc = self._spawn(cmd, capture_stdout=True)
        stdout = proc.stdout
        assert stdout is not None
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(self.startup_timeout)
        text = line[0].decode(errors="replace").strip() if line else ""
        if not text.startswith("LISTENING "):
            tail = self.log_tail()
            self.stop()
            raise RuntimeError(f"gateway failed to start (got {text!r}); log tail:\n{tail}")
        self.port = int(text.split()[1])
        self.set_profile(p)  # keeps the name too (the command line only carries the numbers)
        log.debug("gateway at %s -> %s", self.url, self.upstream)
        return self

    def __enter__(self) -> GatewayProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
