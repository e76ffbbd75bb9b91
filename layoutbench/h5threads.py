"""Keep the garbage collector off other threads while this one works inside h5py.

h5py serialises every call through one global lock. When h5py reads through a Python file
object served by another thread (s3fs's event loop for ``h5py-fsspec`` and kerchunk's
translation, zarr's loop for the arrays kerchunk writes while h5py iterates chunks), the calling
thread holds that lock while it waits for the other thread. If the cyclic garbage collector runs
on that other thread and finalises an h5py object left in a reference cycle (pynwb's
``NWBHDF5IO`` is one: its ``__del__`` asks h5py whether the file is open), the finaliser waits
for the lock the waiting thread holds: a deadlock, seen as a hung run that no timeout ends.

The remedy is deterministic: collect garbage on the calling thread (which may take h5py's lock,
since it is reentrant), then keep the collector off until the h5py work is done. Cycles made in
between are collected when the outermost block ends.

A full collection scans every object the process holds (54 ms per collection with pandas,
zarr and botocore loaded: 40 % of a small sweep's time, two per measured case). The first
block therefore freezes what is alive after its collection (``gc.freeze``: modules and their
tables, which never become garbage), and later collections scan only objects made since.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.RLock()  # a finaliser run by gc.collect() below may re-enter
_depth = 0
_was_enabled = False
_frozen = False


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Collect now and pause the cyclic collector for the block (re-entrant, thread-safe)."""
    global _depth, _was_enabled, _frozen
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.collect()
            if not _frozen:  # what lives now (modules, their tables) is never scanned again
                gc.freeze()
                _frozen = True
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                gc.collect()
                if _was_enabled:
                    gc.enable()
