"""Small JSON files written so that a crash never leaves a partial one that looks valid.

Calibration constants, reference sets, asv run records and the shared endpoint's state are
all read back later by other processes; each is written under a temporary name in the same
folder and renamed into place (atomic on POSIX), and the temporary is removed on any error.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_json(path: str | os.PathLike[str], obj: Any, **dump_kwargs: Any) -> Path:
    """Write ``json.dump(obj, **dump_kwargs)`` to ``path`` atomically; return the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, **dump_kwargs)
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return out
