"""Will a sample fit? Free disk and memory checked before a generator starts.

A generator asked for ``--size 10TB`` used to allocate until the kernel's OOM killer ended it
(volume: 24 GB resident), fill the disk (ecephys) or fail deep inside numpy (ophys). The data
are streamed in blocks, but each model draws its structure up front (calcium traces per frame,
spike times per unit, somata per cubic millimetre), which grows with the size; the factors
below were measured with ``tracemalloc`` on models of 0.4-10 GB (peak bytes of structure per
raw byte). Files are written compressed; ``MIN_RATIO`` is a pessimistic compression ratio
(neuroconv's gzip reaches 1.6-2.9 on these data), so a sample refused for disk space would not
have fitted.
"""

from __future__ import annotations

import os
import shutil

#: Peak bytes of a model's up-front structure per raw byte of data, and what the writer holds
#: at once besides (blocks, hdmf's buffer, the HDF5 chunk cache).
STATE_PER_RAW_BYTE = {"ophys": 0.006, "ecephys": 0.001, "volume": 0.11}
WRITER_BYTES = 700 * 10**6
#: The file is at least raw / MIN_RATIO bytes.
MIN_RATIO = 1.5
#: Leave this share of the available memory to everything else.
MEMORY_SHARE = 0.8


def available_memory() -> int | None:
    """Bytes of memory available to new allocations (Linux: MemAvailable), None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_resources(kind: str, out: str | os.PathLike[str], raw_bytes: int) -> None:
    """Raise ``ValueError`` (one line, what is needed and what there is) if a ``kind`` sample
    of ``raw_bytes`` cannot fit in memory or on the disk holding ``out``."""
    memory = WRITER_BYTES + STATE_PER_RAW_BYTE.get(kind, 0.0) * raw_bytes
    have = available_memory()
    if have is not None and memory > MEMORY_SHARE * have:
        raise ValueError(f"a {raw_bytes / 1e9:,.1f} GB {kind} sample needs about "
                         f"{memory / 1e9:,.1f} GB of memory to generate; "
                         f"{have / 1e9:,.1f} GB are available")
    folder = os.path.dirname(os.path.abspath(out))
    disk = raw_bytes / MIN_RATIO
    free = shutil.disk_usage(folder).free
    if disk > free:
        raise ValueError(f"a {raw_bytes / 1e9:,.1f} GB {kind} sample needs about "
                         f"{disk / 1e9:,.1f} GB of disk; {free / 1e9:,.1f} GB are free in "
                         f"{folder}")
