"""The slab a big dataset is swept on: its first rows, copied once as they are stored.

A default-grid sweep of a 1 GB movie wrote 8 GB of variants; of a 10 GB one, it would write
80 GB and take hours, to measure patterns that read a 32x32 patch over 1,000 frames or 10
frames. Where every selection of the patterns spans fewer rows than the slab and each layout's
chunk fits in it (:func:`layoutbench.run.sweep.slab_rows`), the layouts are compared on the
slab: each layout cuts it as it would cut the whole, and each pattern reads as much of it. The
rows' ``slab`` column says so (``rows 0:15000 of 76293``).

The slab is copied raw (:func:`layoutbench.write.extract.extract_dataset`: the source's own
chunks, never decoded), cached by source identity and rows beside the variants, under the
entry's lock (built once for all workers).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from layoutbench.atomic import atomic_output
from layoutbench.plan.dataset import DatasetInfo
from layoutbench.write.cache_lock import entry_lock
from layoutbench.write.rewrite import source_id

log = logging.getLogger(__name__)


def slab_copy(path: str | os.PathLike[str], info: DatasetInfo, rows: int, cache: Path) -> Path:
    """The file holding the first ``rows`` of ``info``'s dataset of ``path`` (made once)."""
    import h5py

    from layoutbench.write.extract import extract_dataset

    out = cache / "slabs" / f"{source_id(path, info.path)}-{rows}.h5"
    out.parent.mkdir(parents=True, exist_ok=True)
    with entry_lock(out):
        if out.exists():
            return out
        log.info("copying the first %d rows of %s:%s (as stored) to sweep them", rows,
                 info.file, info.path)
        with atomic_output(out) as tmp, h5py.File(path, "r") as f:
            extract_dataset(f[info.path], tmp, rows=rows)
    return out
