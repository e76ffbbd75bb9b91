"""Helpers shared by the server processes we spawn (the moto launcher and the gateway)."""

from __future__ import annotations

import os
import sys
import threading


def _watch_stdin() -> None:
    try:  # the raw fd, not sys.stdin: a buffered read would hold a lock at shutdown
        while os.read(sys.stdin.fileno(), 65536):
            pass
    except (OSError, ValueError):
        pass
    os._exit(0)


def exit_with_stdin() -> None:
    """Exit when stdin reaches EOF: the parent died or closed our pipe, so never orphan."""
    threading.Thread(target=_watch_stdin, name="stdin-watch", daemon=True).start()
