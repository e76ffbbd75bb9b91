"""A test server (run as a script): serves files by ranges, every body cut to half of its
Content-Length, as a broken proxy or a dropped connection does."""
import http.server
import os
import re
import sys

ROOT = sys.argv[2]

class H(http.server.BaseHTTPRequestHandler):
    def _file(self):
        return os.path.join(ROOT, self.path.lstrip("/"))

    def do_HEAD(self):
        size = os.path.getsize(self._file())
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()

    def do_GET(self):
        path = self._file()
        size = os.path.getsize(path)
        m = re.match(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        start, end = (int(m.group(1)), int(m.group(2) or size - 1)) if m else (0, size - 1)
        end = min(end, size - 1)
        with open(path, "rb") as f:
            f.seek(start)
            body = f.read(end - start + 1)
        self.send_response(206 if m else 200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self.wfile.write(body[: max(0, len(body) // 2)])  # half of it, then the connection ends
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
