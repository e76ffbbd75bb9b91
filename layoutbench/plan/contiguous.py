"""How HDF5 readers fetch a contiguous dataset, simulated without I/O.

A contiguous dataset (what pynwb writes unless told otherwise) is one run of bytes in C order.
It is not "one chunk": h5py reads a selection of it as one file read per contiguous run of the
selection (HDF5's sieve buffer is a feature of its own file drivers, and the Python file object
h5py reads remote files through does not offer it), so a 32x32 patch over 1,000 frames is
32,000 reads of 64 bytes and one channel of a 64-channel recording one read of 2 bytes per
sample. What those reads cost over the network is then the reader's file object's business:
fsspec's readahead block turns each read outside its block into one request of the read plus
64 KiB; remfile's block runs grow while reads walk forward. kerchunk refers to a contiguous
dataset as one chunk (it does not split it), so a reader fetches the whole of it at once, which
:mod:`.geometry` already models as a chunk.

Selections become run start offsets vectorised by numpy; the file objects are replayed only
where they issue a request, so a channel of 600,000 samples costs ~1,200 steps, not 600,000.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from layoutbench.plan.h5sim import READAHEAD_BLOCK, REMFILE_BLOCK, Remfile

Selection = tuple[slice, ...]

#: Where a contiguous variant written by :mod:`layoutbench.write.rewrite` stores its data: after
#: the superblock, the groups of an NWB path two deep (``/acquisition/X/data``) and the dataset's
#: object header (h5py 3, earliest file format; allocated at the first write).
#: tests/test_model_measured.py checks it.
CONTIGUOUS_OFFSET = 3464


def runs(sel: Selection, shape: Sequence[int], itemsize: int) -> tuple[np.ndarray, int]:
    """Start offsets (bytes, from the data's start, ascending) and length of the contiguous
    runs of bytes a hyperslab selection of a C-order array is made of."""
    starts = [s.start for s in sel]
    sizes = [s.stop - s.start for s in sel]
    if 0 in sizes:
        return np.zeros(0, np.int64), 0
    ndim = len(shape)
    k = ndim - 1  # the outermost axis of the run: every axis inside it is selected whole
    while k > 0 and sizes[k] == shape[k]:
        k -= 1
    strides = [math.prod(shape[i + 1:]) * itemsize for i in range(ndim)]
    length = sizes[k] * strides[k]
    base = starts[k] * strides[k]
    offsets = np.array([base], np.int64)
    for axis in range(k - 1, -1, -1):  # outer axes: every combination, in C order
        along = (np.arange(sizes[axis], dtype=np.int64) + starts[axis]) * strides[axis]
        offsets = np.add.outer(along, offsets).ravel()
    return np.sort(offsets), length


class _Readahead:
    """fsspec's ``ReadAheadCache`` as :class:`.h5sim.Readahead`, stepping over the reads its
    block already holds with one search instead of one step each."""

    def __init__(self, size: int) -> None:
        self.size, self.requests, self.nbytes = size, 0, 0
        self.start, self.end = 0, min(size, 8 + READAHEAD_BLOCK)

    def read_runs(self, starts: np.ndarray, length: int) -> None:
        ends = np.minimum(starts + length, self.size)
        i, n = 0, len(starts)
        while i < n:
            start, end = int(starts[i]), int(ends[i])
            if start >= self.size or start >= end:
                i += 1
                continue
            if self.start <= start and end <= self.end:
                # every following run inside the block is served too (runs ascend)
                i = max(i + 1, int(np.searchsorted(ends, self.end, side="right")))
                continue
            if self.start <= start < self.end:
                start = self.end
            stop = min(self.size, end + READAHEAD_BLOCK)
            self.requests += 1
            self.nbytes += stop - start
            self.start, self.end = start, stop
            i += 1


def _remfile_runs(fobj: Remfile, starts: np.ndarray, length: int) -> None:
    """remfile's reads for ascending runs: only the first visit of each block in a row of
    visits can load anything, so consecutive repeats are dropped before the replay."""
    if not len(starts):
        return
    first = starts // REMFILE_BLOCK
    last = (starts + length - 1) // REMFILE_BLOCK
    span = last - first + 1
    blocks = np.repeat(first, span) + (np.arange(int(span.sum()))
                                       - np.repeat(np.cumsum(span) - span, span))
    needed = np.repeat(last, span) - blocks + 1
    keep = np.ones(len(blocks), bool)
    keep[1:] = blocks[1:] != blocks[:-1]
    for block, need in zip(blocks[keep].tolist(), needed[keep].tolist(), strict=True):
        fobj.visit(block, need)


def plan_contiguous(sels: Sequence[Selection], shape: Sequence[int], itemsize: int,
                    offset: int, file_size: int, mode: str) -> dict[str, int]:
    """Requests and bytes h5py sends reading ``sels`` of a contiguous dataset stored at
    ``offset`` in a file of ``file_size`` bytes, through the reader's file object (``mode``:
    ``"readahead"`` or ``"remfile"``); the fields of a
    :class:`~layoutbench.plan.geometry.ReadPlan` it determines."""
    fobj: _Readahead | Remfile = _Readahead(file_size) if mode == "readahead" else Remfile(
        file_size)
    for sel in sels:
        starts, length = runs(sel, shape, itemsize)
        if isinstance(fobj, _Readahead):
            fobj.read_runs(starts + offset, length)
        else:
            _remfile_runs(fobj, starts + offset, length)
    needed = sum(math.prod(s.stop - s.start for s in sel) for sel in sels) * itemsize
    return {"chunks_read": len(sels), "requests": fobj.requests, "index_requests": 0,
            "bytes_transferred": fobj.nbytes, "bytes_decoded": needed,
            "rounds": fobj.requests, "serial_bytes": fobj.nbytes}
