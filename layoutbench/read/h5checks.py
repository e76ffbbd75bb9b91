"""Why an HDF5 file or dataset cannot be used, said in one line instead of HDF5's error stack.

HDF5 reports a truncated file, a file locked by a writer or a missing filter plugin with
messages about superblocks, ``flock`` and ``/usr/local/lib/plugin``, and only when the data are
read, deep inside a command. These checks run where a file is opened and a dataset chosen, so
the user reads what is wrong with *their input* and what to do, naming the file and dataset.
"""

from __future__ import annotations

import math
import re
from typing import Any

from layoutbench.errors import UserError

#: HDF5's message of a file shorter than its superblock says it is.
_TRUNCATED = re.compile(r"truncated file: eof = (\d+).*stored_eof = (\d+)")
#: Filters registered in HDF5's own library (always available): deflate, shuffle,
#: fletcher32, szip (where built), nbit, scaleoffset.
_BUILTIN = {1, 2, 3, 4, 5, 6}


def open_error(label: str, exc: OSError) -> UserError:
    """The one line for an ``OSError`` HDF5 raised opening ``label``."""
    text = str(exc)
    if match := _TRUNCATED.search(text):
        eof, stored = (int(g) for g in match.groups())
        if stored > 2**48:  # 256 TB: no file is that big, the superblock's bytes are wrong
            return UserError(f"{label}: damaged HDF5 file (its superblock records an end of "
                             f"file of {stored:,} bytes)")
        return UserError(f"{label}: truncated HDF5 file ({eof:,} of its {stored:,} bytes are "
                         "there): an interrupted copy or download?")
    # ("superblock" holds "lock": only HDF5's file-locking failures are a lock)
    if re.search(r"unable to lock|file lock|lock file|locking", text, re.IGNORECASE):
        return UserError(f"{label}: locked by another process that has it open for writing; "
                         "wait for it to finish (or set HDF5_USE_FILE_LOCKING=FALSE if you know "
                         "the file is complete)")
    if "signature" in text:
        return UserError(f"{label}: not an HDF5/NWB file (no HDF5 signature)")
    first = (text.splitlines() or [""])[0]
    return UserError(f"{label}: cannot be opened as HDF5 ({first})")


def filter_ids(dset: Any) -> list[int]:
    """The filter pipeline of a dataset, by filter id."""
    plist = dset.id.get_create_plist()
    return [int(plist.get_filter(i)[0]) for i in range(plist.get_nfilters())]


def missing_filters(dset: Any) -> list[int]:
    """Filters the dataset needs that this installation cannot run."""
    from h5py import h5z

    from layoutbench.codecs import ensure_hdf5_filters

    ensure_hdf5_filters()
    return [f for f in filter_ids(dset) if f not in _BUILTIN and not h5z.filter_avail(f)]


#: A chunked dataset with fewer than 1 in this many of its chunks written is refused as sparse.
SPARSE_FRACTION = 10


def unusable(dset: Any) -> str | None:
    """Why no layout can be measured or recommended for ``dset`` (None: it can)."""
    if not dset.shape or dset.dtype.kind not in "iufb":
        return f"not a numeric N-d array ({dset.dtype}, shape {dset.shape})"
    if 0 in dset.shape:
        return f"empty (shape {tuple(dset.shape)}): there is nothing to read"
    if dset.chunks is not None:
        # a shape is a declaration: a dataset of 10**7 frames with one chunk written holds
        # 0.5 MB, and judging layouts by its shape costs minutes and gigabytes for nothing
        grid = math.prod(-(-int(n) // int(c)) for n, c in zip(dset.shape, dset.chunks,
                                                              strict=True))
        written = dset.id.get_num_chunks()
        if written * SPARSE_FRACTION < grid:
            return (f"sparse: {written:,} of its {grid:,} chunks are written (the rest would "
                    "read as the fill value); a layout is judged on the data a file holds, "
                    "and this dataset holds little of what its shape declares")
    if missing := missing_filters(dset):
        names = ", ".join(str(f) for f in missing)
        return (f"compressed with HDF5 filter {names}, which is not installed here (an "
                "hdf5plugin release that has it, or its plugin in HDF5_PLUGIN_PATH)")
    return None
