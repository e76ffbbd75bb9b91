"""Where layoutbench keeps what it can rebuild: variants, references, calibration, asv samples.

One function decides, read at call time (not at import), so a test or a user can point
``LAYOUTBENCH_CACHE`` elsewhere at any moment. Without it, the platform's user cache folder
(``platformdirs``: ``~/.cache/layoutbench`` on Linux, ``~/Library/Caches/layoutbench`` on
macOS) is used, like pip's and pooch's caches.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable naming the cache folder (overrides the platform's default).
ENV = "LAYOUTBENCH_CACHE"


def cache_dir(*parts: str) -> Path:
    """The cache folder (``$LAYOUTBENCH_CACHE``, else the user cache dir), joined with ``parts``.

    Nothing is created: callers make the folders they write into.
    """
    root = os.environ.get(ENV)
    if root:
        base = Path(root).expanduser()
    else:
        import platformdirs

        base = Path(platformdirs.user_cache_dir("layoutbench", appauthor=False))
    return base.joinpath(*parts)
