"""A counting, network-emulating HTTP/1.1 reverse proxy in front of the embedded S3 server, or of
any HTTP(S) server a file lives on (``layoutbench measure``).

Every reader under test talks to this gateway, never to moto directly, for two reasons:

* **counting** — the request and byte counts every result reports (DESIGN.md §3) are taken
  here, on the server side, so they are the same whatever the client library (remfile, s3fs,
  boto3, requests) and whatever it does internally (retries, read-ahead, HEADs);
* **network emulation** — a per-request latency before the first byte and a per-connection
  bandwidth cap (DESIGN.md §4), so layouts are compared under realistic conditions on one
  machine. Latency is measured from the request's arrival, so time to first byte is
  ``max(latency, server time)``; the cap paces the body so that the bytes sent since its first
  byte never exceed ``elapsed × bandwidth``.

It runs as its own process (``python -m layoutbench.store.gateway --upstream URL ...``) so that
its sleeping and copying never compete with the benchmarked reader for the GIL, and prints
``LISTENING <port>`` once bound. A control API under ``/_layoutbench/`` (a prefix no S3 bucket
can have, since bucket names cannot start with ``_``) reads and resets the counters and changes
the profile at run time; it is neither counted nor delayed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import socket
import ssl
import struct
import sys
import threading
import time
from http.client import HTTPConnection, HTTPException, HTTPResponse, HTTPSConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from layoutbench.plan.profiles import PROFILES, NetworkProfile, get_profile
from layoutbench.store._child import exit_with_stdin
from layoutbench.store.faults import ERROR_BODIES, FaultPlan, parse_faults
from layoutbench.store.faults import NONE as NO_FAULTS

log = logging.getLogger(__name__)

CONTROL_PREFIX = "/_layoutbench/"
#: Body pieces: small when paced (smooth rate even for small bodies), big when unlimited.
PIECE_PACED = 64 * 1024
PIECE_UNLIMITED = 1024 * 1024
#: Hop-by-hop headers (RFC 9110 §7.6.1): about one connection, never forwarded.
_HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "trailers", "transfer-encoding", "upgrade",
})
_CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)


class Counters:
    """Thread-safe request and byte counters (one lock; updates are a few dict operations)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests = 0
        self._served = 0  # request numbers for the fault plan: reset with the plan, not here
        self._bytes = 0
        self._by_method: dict[str, int] = {}
        self._by_key: dict[str, list[int]] = {}
        self._faults: dict[str, int] = {}

    def reset(self) -> None:
        with self._lock:
            self._requests = 0
            self._bytes = 0
            self._by_method = {}
            self._by_key = {}
            self._faults = {}

    def restart_numbering(self) -> None:
        with self._lock:
            self._served = 0

    def add_request(self, method: str, key: str) -> int:
        """Count a request; its number in the run (0, 1, ...), which the fault plan draws on."""
        with self._lock:
            number = self._served
            self._served += 1
            self._requests += 1
            self._by_method[method] = self._by_method.get(method, 0) + 1
            self._by_key.setdefault(key, [0, 0])[0] += 1
            return number

    def add_fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] = self._faults.get(kind, 0) + 1

    def add_bytes(self, key: str, n: int) -> None:
        with self._lock:
            self._bytes += n
            self._by_key.setdefault(key, [0, 0])[1] += n

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self._requests,
                "bytes_sent": self._bytes,
                "by_method": dict(self._by_method),
                "by_key": {
                    k: {"requests": r, "bytes_sent": b} for k, (r, b) in self._by_key.items()
                },
                "faults": dict(self._faults),
            }


class GatewayServer(ThreadingHTTPServer):
    """The listening server: shared upstream address, profile and counters."""

    daemon_threads = True
    request_queue_size = 512  # zarr/s3fs open many connections at once
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], upstream: str, profile: NetworkProfile,
                 cafile: str | None = None) -> None:
        parts = urlsplit(upstream)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream must be an http(s):// URL, got {upstream!r}")
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or (443 if parts.scheme == "https" else 80)
        self.upstream_netloc = parts.netloc
        #: TLS towards an https:// upstream: the system's authorities plus ``cafile``
        self.upstream_tls: ssl.SSLContext | None = None
        if parts.scheme == "https":
            self.upstream_tls = ssl.create_default_context(cafile=cafile)
            if cafile:
                self.upstream_tls.load_default_certs()
        self.profile = profile  # replaced atomically; each request takes a snapshot
        self.faults = NO_FAULTS  # likewise
        self.counters = Counters()
        super().__init__(address, GatewayHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, _CLIENT_GONE):
            log.debug("client %s went away: %r", client_address, exc)
            return
        log.exception("unexpected error serving %s", client_address)


class GatewayHandler(BaseHTTPRequestHandler):
    """One client connection (one thread): keep-alive, with its own upstream connection."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms stalls
    timeout = 600  # reclaim threads of idle keep-alive connections
    server: GatewayServer
    _upstream: HTTPConnection | None = None
    _arrival = 0.0

    # -- plumbing ------------------------------------------------------------------------
    def parse_request(self) -> bool:
        self._arrival = time.perf_counter()  # the request line has just been read
        return super().parse_request()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def finish(self) -> None:
        self._drop_upstream()
        with contextlib.suppress(*_CLIENT_GONE):
            super().finish()

    def _drop_upstream(self) -> None:
        if self._upstream is not None:
            self._upstream.close()
            self._upstream = None

    def _read_body(self) -> bytes | None:
        """The request body (Content-Length or chunked), ``None`` if the request has none."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65536).strip():  # trailers up to a blank line
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline(8)  # the CRLF after each chunk
        length = self.headers.get("Content-Length")
        return None if length is None else self.rfile.read(int(length))

    def _reply(self, status: int, body: bytes, content_type: str) -> int:
        self.send_response_only(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
            return len(body)
        return 0

    # -- dispatch ------------------------------------------------------------------------
    def _dispatch(self) -> None:
        try:
            if urlsplit(self.path).path.startswith(CONTROL_PREFIX):
                self._control()
            else:
                self._proxy()
        except _CLIENT_GONE:
            self.close_connection = True
            self._drop_upstream()

    # http.server looks up ``do_<METHOD>``: every method goes through the same path.
    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    def _control(self) -> None:
        path = urlsplit(self.path).path[len(CONTROL_PREFIX) :]
        body = self._read_body() or b""
        answer: dict[str, Any]
        try:
            if self.command == "GET" and path == "stats":
                answer = self.server.counters.snapshot()
                answer["profile"] = self.server.profile.to_dict()
            elif self.command == "POST" and path == "reset":
                self.server.counters.reset()
                answer = {"reset": True}
            elif self.command == "POST" and path == "faults":
                self.server.faults = FaultPlan.from_dict(json.loads(body))
                self.server.counters.restart_numbering()
                log.info("faults set to %s", self.server.faults)
                answer = {"faults": self.server.faults.to_dict()}
            elif self.command == "POST" and path == "profile":
                self.server.profile = NetworkProfile.from_dict(json.loads(body))
                log.info("profile set to %s", self.server.profile)
                answer = {"profile": self.server.profile.to_dict()}
            else:
                self._reply(404, b'{"error": "unknown control call"}', "application/json")
                return
        except (ValueError, KeyError, TypeError) as exc:
            error = json.dumps({"error": str(exc)}).encode()
            self._reply(400, error, "application/json")
            return
        self._reply(200, json.dumps(answer).encode(), "application/json")

    # -- proxy ---------------------------------------------------------------------------
    def _proxy(self) -> None:
        profile = self.server.profile
        method = self.command
        target = self.path
        if not target.startswith("/"):  # absolute-form request target
            parts = urlsplit(target)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        key = unquote(urlsplit(target).path)
        body = self._read_body()
        number = self.server.counters.add_request(method, key)
        fault = self.server.faults.draw(number)
        if fault is not None:
            self.server.counters.add_fault(fault)
            if fault in ERROR_BODIES or fault == "stall":
                self._fail(fault, key, profile)
                return

        named = {t.strip().lower() for t in self.headers.get("Connection", "").split(",")}
        drop = _HOP_BY_HOP | named | {"host", "expect", "content-length"}
        headers = [(n, v) for n, v in self.headers.items() if n.lower() not in drop]
        headers.append(("Host", self.server.upstream_netloc))
        if body is not None:
            headers.append(("Content-Length", str(len(body))))
        try:
            resp = self._forward(method, target, headers, body)
        except (OSError, HTTPException) as exc:
            log.warning("upstream failed for %s %s: %r", method, target, exc)
            self._drop_upstream()
            self._sleep_until(self._arrival + profile.latency_s)
            self.close_connection = True
            sent = self._reply(502, f"gateway: upstream failed: {exc!r}\n".encode(), "text/plain")
            self.server.counters.add_bytes(key, sent)
            return
        try:
            self._relay(resp, key, profile, cut=fault)
        finally:
            resp.close()

    def _fail(self, fault: str, key: str, profile: NetworkProfile) -> None:
        """Answer with an S3 error document, or stall past the client's read timeout."""
        self._sleep_until(self._arrival + profile.latency_s)
        if fault == "stall":
            time.sleep(self.server.faults.stall_s)
            self.close_connection = True
            return
        code, message = ERROR_BODIES[fault]
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                f"<Message>{message}</Message><Resource>{key}</Resource></Error>").encode()
        sent = self._reply(int(fault), body, "application/xml")
        self.server.counters.add_bytes(key, sent)

    def _forward(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes | None
    ) -> HTTPResponse:
        """Send to the upstream on this connection's upstream connection.

        A request that fails on a *reused* connection (the upstream may have closed it while
        idle) is retried once on a fresh one; a failure on a fresh connection is final, so a
        non-idempotent request is never sent twice because of a real upstream error.
        """
        while True:
            if self._upstream is None:
                server = self.server
                if server.upstream_tls is not None:
                    self._upstream = HTTPSConnection(server.upstream_host, server.upstream_port,
                                                     timeout=300, context=server.upstream_tls)
                else:
                    self._upstream = HTTPConnection(server.upstream_host, server.upstream_port,
                                                    timeout=300)
            conn = self._upstream
            reused = conn.sock is not None
            try:
                conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
                for name, value in headers:
                    conn.putheader(name, value)
                conn.endheaders(body)
                return conn.getresponse()
            except (ConnectionError, HTTPException):
                self._drop_upstream()
                if not reused:
                    raise

    @staticmethod
    def _sleep_until(deadline: float) -> None:
        delay = deadline - time.perf_counter()
        if delay > 0:
            time.sleep(delay)

    def _relay(self, resp: HTTPResponse, key: str, profile: NetworkProfile,
               cut: str | None = None) -> None:
        """Status and headers after the latency, then the body at the profile's bandwidth.

        ``cut`` (a fault): ``reset`` sends half the body then resets the connection,
        ``truncate`` sends half the body then closes it cleanly."""
        no_body = self.command == "HEAD" or resp.status in (204, 304) or resp.status < 200
        length_header = resp.getheader("Content-Length")
        chunked = "chunked" in (resp.getheader("Transfer-Encoding") or "").lower()
        buffered: bytes | None = None
        if not no_body and (length_header is None or chunked):
            buffered = resp.read()  # rare (small XML answers): re-frame with a length
        headers = [
            (n, v)
            for n, v in resp.getheaders()
            if n.lower() not in _HOP_BY_HOP
            and not (buffered is not None and n.lower() == "content-length")
        ]
        if buffered is not None:
            headers.append(("Content-Length", str(len(buffered))))

        self._sleep_until(self._arrival + profile.latency_s)
        self.send_response_only(resp.status, resp.reason)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if no_body:
            return
        length = len(buffered) if buffered is not None else int(length_header or 0)
        readinto = io.BytesIO(buffered).readinto if buffered is not None else resp.readinto
        if cut is None:
            self._send_paced(key, profile, readinto, length)
            return
        self._send_paced(key, profile, readinto, length // 2)
        self.wfile.flush()
        self.close_connection = True
        self._drop_upstream()
        if cut == "reset":  # RST instead of FIN: linger 0 then close
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()

    def _send_paced(self, key: str, profile: NetworkProfile, readinto: Any, length: int) -> None:
        """Write ``length`` body bytes in pieces, never ahead of ``elapsed × bandwidth``.

        Bytes are counted just *before* each write (and un-counted if it fails), so a client
        that has received the whole body always sees it in the stats.
        """
        bps = profile.bytes_per_second
        piece = PIECE_UNLIMITED if bps is None else PIECE_PACED
        view = memoryview(bytearray(min(piece, max(length, 1))))
        counters = self.server.counters
        sent = 0
        start = time.perf_counter()
        while sent < length:
            n = readinto(view[: min(len(view), length - sent)])
            if not n:
                self.close_connection = True  # upstream body ended early: cannot recover
                self._drop_upstream()
                log.warning("upstream body of %s ended after %d of %d bytes", key, sent, length)
                return
            if bps is not None:
                self._sleep_until(start + (sent + n) / bps)
            counters.add_bytes(key, n)
            try:
                self.wfile.write(view[:n])
            except BaseException:
                counters.add_bytes(key, -n)
                raise
            sent += n


def _bandwidth_arg(text: str) -> float | None:
    if text.lower() in ("", "none", "unlimited", "inf"):
        return None
    value = float(text)
    return None if value <= 0 else value


def main(argv: list[str] | None = None) -> None:
    """Command line: bind, print ``LISTENING <port>``, serve until killed."""
    parser = argparse.ArgumentParser(description="layoutbench counting/throttling S3 gateway")
    parser.add_argument("--upstream", required=True,
                        help="server to forward to, http(s)://host[:port] (moto, or any server)")
    parser.add_argument("--upstream-cafile", default=None,
                        help="extra certificate authorities (PEM) for an https:// upstream")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--profile", choices=sorted(PROFILES), help="named network profile")
    parser.add_argument("--latency-ms", type=float, default=None)
    parser.add_argument(
        "--bandwidth-mbps", type=_bandwidth_arg, default=None, help="MB/s; none/0 = unlimited"
    )
    parser.add_argument("--faults", default=None, help="fault plan, e.g. 503=0.05,reset=0.02")
    parser.add_argument("--fault-seed", type=int, default=0)
    parser.add_argument("--exit-with-stdin", action="store_true", help="exit when stdin closes")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(name)s %(levelname)s %(message)s")

    if args.profile:
        profile = get_profile(args.profile, args.latency_ms, args.bandwidth_mbps)
    else:
        custom = args.latency_ms is not None or args.bandwidth_mbps is not None
        profile = NetworkProfile(
            "custom" if custom else "loopback", args.latency_ms or 0.0, args.bandwidth_mbps
        )
    server = GatewayServer((args.host, args.port), args.upstream, profile,
                           cafile=args.upstream_cafile)
    server.faults = parse_faults(args.faults, args.fault_seed)
    if args.exit_with_stdin:
        exit_with_stdin()
    print(f"LISTENING {server.server_address[1]}", flush=True)
    log.info("gateway -> %s with %s", args.upstream, profile)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
