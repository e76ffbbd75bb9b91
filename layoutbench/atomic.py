"""Files written so that a crash never leaves one that looks valid, and leftovers are cleaned.

Everything layoutbench writes (variants, rewritten files, results, reference sets, calibration,
samples, the shared endpoint's state) is written under a temporary name in the destination
folder, ``.<name>.<tag>-<pid>-<random>``, and renamed into place (atomic on POSIX) only when
complete and verified; on any error or interruption the temporary is removed. Hidden, tagged
and owned by a process id, a leftover of a process killed with SIGKILL (which no handler sees)
is recognised and removed by the next run that writes into the same folder
(:func:`remove_stale`), and two processes writing the same name never collide.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: ``.<name>.<tag>-<pid>-<random>``: what :func:`temp_path` makes and :func:`remove_stale` finds.
_TEMP = re.compile(r"^\..+\.(tmp|download|parts)-(\d+)-[0-9a-f]{8}$")
#: Attempts (50 ms apart) at removing a temporary folder that is still being written.
RMTREE_TRIES = 20


def temp_path(out: str | os.PathLike[str], tag: str = "tmp") -> Path:
    """A unique temporary name beside ``out`` owned by this process (see the module doc)."""
    p = Path(out)
    return p.with_name(f".{p.name}.{tag}-{os.getpid()}-{secrets.token_hex(4)}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        # a writer interrupted in the main thread may still have writes in flight on another
        # (zarr's event loop finishes the chunks it was sending, creating folders again as it
        # goes): remove until the folder stays gone, for at most about a second
        for _ in range(RMTREE_TRIES):
            shutil.rmtree(path, ignore_errors=True)
            time.sleep(0.05)
            if not path.exists():
                return
        log.warning("%s: could not be removed (still being written?)", path)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def alive(pid: int) -> bool:
    """Whether a process with this id exists (signal 0 probes without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_stale(folder: str | os.PathLike[str], pattern: re.Pattern[str] = _TEMP) -> int:
    """Remove temporaries in ``folder`` left by processes that no longer exist; how many.

    ``pattern`` matches the names to consider; its last group is the owner's process id.
    """
    removed = 0
    try:
        entries = list(Path(folder).iterdir())
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return 0
    for entry in entries:
        match = pattern.match(entry.name)
        pid = int(match.groups()[-1]) if match else 0
        if match and pid != os.getpid() and not alive(pid):
            _remove(entry)
            removed += 1
    if removed:
        log.info("removed %d temporary file(s) left in %s by processes that were killed",
                 removed, folder)
    return removed


def remove_stale_tree(root: str | os.PathLike[str], depth: int = 2) -> int:
    """:func:`remove_stale` in ``root`` and its folders ``depth`` levels down (a cache's
    per-source folders), whatever they hold: what a killed run left is removed by the next
    run that uses the cache, not only by one that rebuilds the same file. Zarr stores (folders
    named ``*.zarr``) are not entered: their temporaries are their writer's."""
    removed = remove_stale(root)
    if depth > 0:
        try:
            subs = [p for p in Path(root).iterdir() if p.is_dir() and p.suffix != ".zarr"]
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            return removed
        for sub in subs:
            removed += remove_stale_tree(sub, depth - 1)
    return removed


@contextlib.contextmanager
def atomic_output(out: str | os.PathLike[str], tag: str = "tmp") -> Iterator[Path]:
    """Yield a temporary name to write ``out`` under; rename it into place when the block ends
    normally, remove it on any exception (interrupts included). The folder must exist; stale
    temporaries of killed processes in it are removed first."""
    final = Path(out)
    remove_stale(final.parent)
    tmp = temp_path(final, tag)
    try:
        yield tmp
        if tmp.is_dir() and final.exists():  # a store (folder) replaces the old one whole
            _remove(final)
        os.replace(tmp, final)
    finally:
        _remove(tmp)


def write_json(path: str | os.PathLike[str], obj: Any, **dump_kwargs: Any) -> Path:
    """Write ``json.dump(obj, **dump_kwargs)`` to ``path`` atomically; return the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out) as tmp, open(tmp, "w") as f:
        json.dump(obj, f, **dump_kwargs)
    return out
