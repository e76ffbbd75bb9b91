"""Pure geometry of selections against chunk grids (no I/O).

These are the deterministic figures a result row carries beside its measurements
(``bytes_needed``, ``chunks_touched``) and, later, the inputs of the cost model.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

Selection = tuple[slice, ...]


def normalise(selection: Selection, shape: Sequence[int]) -> Selection:
    """Clip a selection to ``shape`` and make every bound explicit (step 1 only)."""
    if len(selection) != len(shape):
        raise ValueError(f"selection has {len(selection)} axes, array has {len(shape)}")
    out = []
    for s, n in zip(selection, shape, strict=True):
        start, stop, step = s.indices(n)
        if step != 1:
            raise ValueError("only contiguous (step 1) selections are supported")
        out.append(slice(start, max(start, stop)))
    return tuple(out)


def selection_shape(selection: Selection) -> tuple[int, ...]:
    return tuple(max(0, s.stop - s.start) for s in selection)


def selection_size(selection: Selection) -> int:
    """Number of elements selected."""
    return math.prod(selection_shape(selection))


def chunk_ranges(selection: Selection, chunks: Sequence[int]) -> tuple[range, ...]:
    """Per axis, the indices of the chunks the selection intersects."""
    out = []
    for s, c in zip(selection, chunks, strict=True):
        if s.stop <= s.start:
            out.append(range(0))
        else:
            out.append(range(s.start // c, (s.stop - 1) // c + 1))
    return tuple(out)


def chunks_touched(selection: Selection, chunks: Sequence[int]) -> int:
    """How many chunks a selection intersects (each must be fetched and decoded whole)."""
    return math.prod(len(r) for r in chunk_ranges(selection, chunks))


def iter_chunk_indices(selection: Selection, chunks: Sequence[int]) -> Iterator[tuple[int, ...]]:
    """The grid index of every chunk the selection intersects, in C order."""
    ranges = chunk_ranges(selection, chunks)
    if any(len(r) == 0 for r in ranges):
        return
    idx = [r.start for r in ranges]
    while True:
        yield tuple(idx)
        ax = len(idx) - 1
        while ax >= 0:
            idx[ax] += 1
            if idx[ax] < ranges[ax].stop:
                break
            idx[ax] = ranges[ax].start
            ax -= 1
        if ax < 0:
            return


def chunk_selection(index: Sequence[int], chunks: Sequence[int], shape: Sequence[int]
                    ) -> Selection:
    """The region of the array a chunk covers (edge chunks are clipped to the array)."""
    return tuple(
        slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(index, chunks, shape, strict=True)
    )
