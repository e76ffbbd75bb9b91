"""Outputs never replace inputs: every path a command writes is checked against what it reads.

A user who types ``-o data.nwb`` for a JSON file, or names a results table after the recording,
must get one line of refusal, not an empty recording. The check compares resolved paths
(symbolic links followed) and file identities (device and inode, so a hard link to the input
is the input), before anything is written.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from layoutbench.errors import UserError


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def _nearest_folder(path: Path) -> Path:
    """``path`` or its nearest existing ancestor: where an output's folders would be made."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _inside(path: Path, folder: Path) -> bool:
    try:
        return folder.is_dir() and path.resolve().is_relative_to(folder.resolve())
    except OSError:
        return False


def check_outputs(inputs: Iterable[Any], outputs: Iterable[str | os.PathLike[str] | None]
                  ) -> None:
    """Raise :class:`UserError` if an output is one of the inputs (or lies inside an input
    folder, e.g. a Zarr store).

    ``inputs`` are paths or :class:`~layoutbench.store.sources.Source` objects (remote sources
    cannot be overwritten by a local output and are skipped); ``None`` outputs are skipped.
    """
    local = []
    for item in inputs:
        if item is None or getattr(item, "is_local", True) is False:
            continue
        local.append(Path(getattr(item, "path", item)))
    for out in outputs:
        if out is None:
            continue
        target = Path(out)
        for src in local:
            if _same_file(target, src) or _inside(target, src):
                raise UserError(f"{target}: is an input of this command ({src}); choose another "
                                "output name (inputs are never replaced)")


def check_folder_output(inputs: Iterable[str | os.PathLike[str]],
                        folder: str | os.PathLike[str]) -> None:
    """For an output folder written whole and renamed into place (replacing the old one): it is
    not an input or inside an input folder, and no input lies inside it."""
    check_outputs(list(inputs), [folder])
    out = Path(folder)
    for item in inputs:
        if _inside(Path(item), out):
            raise UserError(f"{item}: lies in {out}, which is replaced whole; move it or "
                            "choose another output folder (inputs are never replaced)")


def check_destinations(outputs: Iterable[str | os.PathLike[str] | None], *,
                       overwrite: bool) -> None:
    """Before any work: every output can be written, and none exists unless ``overwrite``.

    An existing file (or a folder that is not empty, for outputs that are folders) is never
    replaced without ``--overwrite``: a user's earlier results, recommendation or report are
    not ours to lose. Writability is probed by creating (and removing) a file in the nearest
    existing folder of each output, so an output under a read-only mount, ``/proc`` or an
    immutable folder is refused in one line before the work, not as a traceback after it.
    """
    import tempfile

    for out in outputs:
        if out is None:
            continue
        target = Path(out)
        if target.exists() and not overwrite and not (target.is_dir()
                                                      and not any(target.iterdir())):
            raise UserError(f"{target}: already exists (use --overwrite to replace it)")
        folder = _nearest_folder(target if target.is_dir() else target.parent)
        try:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".layoutbench-probe-"):
                pass
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise UserError(f"{target}: cannot write in {folder} ({reason})") from None


def check_space(out: str | os.PathLike[str], needed: int, what: str) -> None:
    """Before the work: ``needed`` bytes fit on the disk that will hold ``out`` (the nearest
    existing folder of it), or one line saying what is needed and what is free."""
    import shutil

    folder = _nearest_folder(Path(out).parent)
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise UserError(f"{out}: {what} needs about {needed / 1e9:,.2f} GB of disk; "
                        f"{free / 1e9:,.2f} GB are free in {folder}")
