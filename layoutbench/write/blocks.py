"""Copying and comparing arrays block by block, and the error a failed comparison raises.

What :mod:`.rewrite` (one dataset), :mod:`.repack`, :mod:`.apply` and their checks
(:mod:`.verify`, :mod:`.verify_nwb`) share: :func:`block_shape` and :func:`iter_blocks` walk an
array in blocks of whole chunks within a memory budget, :func:`same_bytes` compares two blocks
bit for bit, and :class:`VerificationError` says a copy does not hold what its source holds.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from layoutbench.errors import LayoutbenchError
from layoutbench.interrupts import checkpoint

#: Default memory budget for one block of the copy (source slab plus its encoded form).
BLOCK_BYTES = 256 * 2**20


class VerificationError(LayoutbenchError, RuntimeError):
    """A variant does not hold exactly the source data (or cannot be decoded)."""


def block_shape(shape: Sequence[int], unit: Sequence[int], itemsize: int,
                budget: int = BLOCK_BYTES) -> tuple[int, ...]:
    """A copy block: whole units (chunks or shards), as long in axis 0 as ``budget`` allows.

    Blocks aligned to the target's units mean each chunk (or shard) is encoded exactly once;
    trailing axes are split (at unit multiples) only when a single unit-row exceeds the budget.
    """
    unit = [max(1, min(u, n)) for u, n in zip(unit, shape, strict=True)]
    block = [unit[0], *shape[1:]]
    for ax in range(1, len(shape)):  # split outer trailing axes first: rows stay contiguous
        while math.prod(block) * itemsize > budget and block[ax] > unit[ax]:
            block[ax] = max(unit[ax], (block[ax] // 2 // unit[ax]) * unit[ax])
    rows = max(1, budget // max(1, math.prod(block) * itemsize))
    block[0] = min(shape[0], unit[0] * rows) if shape[0] else 1
    return tuple(max(1, b) for b in block)


def iter_blocks(shape: Sequence[int], block: Sequence[int]) -> Iterator[tuple[slice, ...]]:
    """Every block of the array, in C order, as a tuple of slices."""
    counts = [math.ceil(n / b) if n else 0 for n, b in zip(shape, block, strict=True)]
    for idx in np.ndindex(*counts):
        checkpoint()  # a Ctrl-C or SIGTERM stops here, within one block (layoutbench.interrupts)
        yield tuple(
            slice(i * b, min((i + 1) * b, n)) for i, b, n in zip(idx, block, shape, strict=True)
        )


def same_bytes(va: Any, vb: Any, step: int = 16 * 2**20) -> bool:
    """Bitwise equality without copying the blocks (NaNs equal NaNs with the same payload)."""
    xa = np.ascontiguousarray(va).reshape(-1).view(np.uint8)
    xb = np.ascontiguousarray(vb).reshape(-1).view(np.uint8)
    if xa.size != xb.size:
        return False
    return all(np.array_equal(xa[i:i + step], xb[i:i + step]) for i in range(0, xa.size, step))
