"""Real HTTP servers for tests: nginx (Debian's ``nginx-light``) on loopback, HTTP and HTTPS.

Each :class:`Nginx` runs with its own configuration, document root, access log and a
self-signed certificate made here, on free ports; its access log is the server-side truth
tests compare the gateway's counts with (one line per request: method, status, bytes).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import subprocess
import time
from pathlib import Path

from layoutbench.store.server import free_port

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx")
                                  else None)

_CONF = """
daemon off;
master_process on;
worker_processes 1;
{user}
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 256; }}
http {{
    log_format counted '$request_method $uri $status $body_bytes_sent "$http_range"';
    access_log {root}/access.log counted;
    client_body_temp_path {root}/tmp/body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
    types {{ application/octet-stream nwb h5 json; }}
    default_type application/octet-stream;
    sendfile on;
    keepalive_requests 10000;
    server {{
        listen 127.0.0.1:{http_port};
        listen 127.0.0.1:{https_port} ssl;
        ssl_certificate {root}/cert.pem;
        ssl_certificate_key {root}/key.pem;
        root {docs};
        location / {{ }}
    }}
}}
"""


def self_signed(cert: Path, key: Path) -> None:
    """A certificate for 127.0.0.1 and localhost, valid for a day, signed by itself."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "layoutbench-test")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(private.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256()))
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))


class Nginx:
    """nginx serving ``root / "docs"`` on two free loopback ports (HTTP and HTTPS)."""

    def __init__(self, root: Path) -> None:
        if NGINX is None:
            raise RuntimeError("nginx is not installed (Debian: apt-get install nginx-light)")
        self.root = root
        self.docs = root / "docs"
        self.docs.mkdir(parents=True, exist_ok=True)
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (root / "tmp" / sub).mkdir(parents=True, exist_ok=True)
        self.cert = root / "cert.pem"
        self_signed(self.cert, root / "key.pem")
        self.http_port, self.https_port = free_port(), free_port()
        user = "user root;" if os.geteuid() == 0 else ""  # workers must read pytest's tmp dirs
        (root / "nginx.conf").write_text(_CONF.format(
            root=root, docs=self.docs, http_port=self.http_port, https_port=self.https_port,
            user=user))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Nginx:
        assert NGINX is not None
        self.proc = subprocess.Popen([NGINX, "-p", str(self.root), "-c",
                                      str(self.root / "nginx.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        import socket

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"nginx exited: {err}")
            try:
                with socket.create_connection(("127.0.0.1", self.http_port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not start listening")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def url(self, name: str, https: bool = False) -> str:
        if https:
            return f"https://127.0.0.1:{self.https_port}/{name}"
        return f"http://127.0.0.1:{self.http_port}/{name}"

    def publish(self, path: Path, name: str | None = None) -> str:
        """Copy a file (or folder) into the document root; its URL path."""
        dest = self.docs / (name or path.name)
        if path.is_dir():
            shutil.copytree(path, dest, dirs_exist_ok=True)
        else:
            shutil.copyfile(path, dest)
        return dest.name

    def log(self) -> list[tuple[str, str, int, int, str]]:
        """Every request so far: (method, path, status, body bytes, Range header)."""
        out = []
        log = self.root / "access.log"
        for line in (log.read_text().splitlines() if log.exists() else []):
            method, uri, status, sent, rng = line.split(" ", 4)
            out.append((method, uri, int(status), int(sent), rng.strip('"')))
        return out
