"""One variant cache shared by any number of processes and workers, and kept under a size.

Variants are written under unique temporary names and renamed into place
(:mod:`layoutbench.atomic`), and used only with their proof of verification; what this module
adds is for sharing:

* **built once**: a lock file per entry (``filelock``, which works across processes and,
  on a shared file system, across machines) is held while an entry is checked, written and
  verified, so a second worker asking for the same variant waits, then reuses it, instead of
  writing it again or reading it half-written;
* **kept under a size** (:func:`evict`): least recently used first (a reuse touches the proof),
  skipping entries another process holds, and removing the proof before the data, so an entry
  is never accepted half-removed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

#: Suffixes of an entry's companions: the proof of verification and the lock file.
MARKER, LOCK = ".verified.json", ".lock"
#: How long a worker waits for another to finish the same entry before failing loudly.
WAIT_SECONDS = 6 * 3600.0


def lock_path(entry: str | os.PathLike[str]) -> Path:
    p = Path(entry)
    return p.with_name(f".{p.name}{LOCK}")


@contextlib.contextmanager
def entry_lock(entry: str | os.PathLike[str], timeout: float = WAIT_SECONDS) -> Iterator[None]:
    """Hold ``entry``'s lock file for the block (blocking; the same process may re-enter)."""
    from filelock import FileLock

    path = lock_path(entry)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path, timeout=timeout)
    t0 = time.perf_counter()
    with lock:
        waited = time.perf_counter() - t0
        if waited > 1:
            log.debug("waited %.1f s for another worker's %s", waited, Path(entry).name)
        yield


def touch(marker: str | os.PathLike[str]) -> None:
    """Mark an entry as used now (what least-recently-used eviction orders by)."""
    with contextlib.suppress(OSError):
        os.utime(marker)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@dataclass(frozen=True, slots=True)
class Entry:
    """A verified entry of the cache: its data, its size and when it was last used."""

    path: Path
    size: int
    used: float

    @property
    def marker(self) -> Path:
        return self.path.with_name(self.path.name + MARKER)


def entries(cache_dir: str | os.PathLike[str]) -> list[Entry]:
    """Every verified entry under ``cache_dir`` (``SOURCE_ID/NAME`` + its proof), oldest first."""
    found = []
    for marker in Path(cache_dir).glob(f"*/*{MARKER}"):
        data = marker.with_name(marker.name.removesuffix(MARKER))
        try:
            found.append(Entry(data, _size(data), marker.stat().st_mtime))
        except OSError:  # removed meanwhile by another process
            continue
    return sorted(found, key=lambda e: (e.used, str(e.path)))


def evict(cache_dir: str | os.PathLike[str], limit: int | None,
          keep: frozenset[str] = frozenset()) -> int:
    """Remove least recently used entries until the cache holds at most ``limit`` bytes;
    bytes freed. Entries in ``keep`` (paths) and entries another process holds are skipped.
    """
    if limit is None:
        return 0
    from filelock import FileLock, Timeout

    found = entries(cache_dir)
    total = sum(e.size for e in found)
    freed = 0
    for entry in found:
        if total <= limit:
            break
        if str(entry.path) in keep:
            continue
        try:
            with FileLock(lock_path(entry.path), timeout=0):
                entry.marker.unlink(missing_ok=True)  # no longer valid before it is incomplete
                if entry.path.is_dir():
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    entry.path.unlink(missing_ok=True)
        except Timeout:  # in use by another worker: leave it
            continue
        total -= entry.size
        freed += entry.size
        log.debug("evicted %s (%.1f MB, cache limit %.1f GB)", entry.path.name,
                  entry.size / 1e6, limit / 1e9)
    if freed:
        log.info("cache over %.1f GB: removed %.1f MB of least recently used variants",
                 limit / 1e9, freed / 1e6)
    return freed


def parse_size(text: str | int | None) -> int | None:
    """``"10GB"``, ``"500MB"``, ``"2GiB"``, a number of bytes, or ``none``/``None`` (no limit)."""
    if text is None or isinstance(text, int):
        return text
    t = text.strip().lower().replace(" ", "")
    if t in ("none", "unlimited", ""):
        return None
    units = {"tib": 2**40, "gib": 2**30, "mib": 2**20, "kib": 2**10, "tb": 10**12, "gb": 10**9,
             "mb": 10**6, "kb": 10**3, "b": 1}
    unit = next((u for u in units if t.endswith(u)), "b")
    number, factor = t.removesuffix(unit), units[unit]
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"{text!r}: expected a size such as 10GB, 500MB or none") from None
    if value < 0:
        raise ValueError(f"{text!r}: a size cannot be negative")
    return int(value * factor)
