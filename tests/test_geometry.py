"""Geometry: the chunks named for a selection cover it exactly (property-based)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from layoutbench.geometry import (
    chunk_selection,
    chunks_touched,
    iter_chunk_indices,
    normalise,
    selection_size,
)


@st.composite
def arrays_and_selections(draw: st.DrawFn) -> tuple:
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.integers(1, 12)) for _ in range(ndim))
    chunks = tuple(draw(st.integers(1, n + 2)) for n in shape)
    sel = []
    for n in shape:
        a = draw(st.integers(0, n))
        b = draw(st.integers(a, n))
        sel.append(slice(a, b))
    return shape, chunks, tuple(sel)


@settings(max_examples=300, deadline=None)
@given(arrays_and_selections())
def test_chunks_cover_selection_exactly(case: tuple) -> None:
    shape, chunks, sel = case
    sel = normalise(sel, shape)
    covered = np.zeros(shape, dtype=np.int32)
    wanted = np.zeros(shape, dtype=bool)
    wanted[sel] = True
    indices = list(iter_chunk_indices(sel, chunks))
    assert len(indices) == chunks_touched(sel, chunks)
    for idx in indices:
        region = chunk_selection(idx, chunks, shape)
        covered[region] += 1
        assert wanted[region].any(), "every named chunk intersects the selection"
    assert (covered[wanted] == 1).all(), "every selected element is in exactly one named chunk"
    assert int(wanted.sum()) == selection_size(sel)


def test_known_case() -> None:
    # a 4x4 selection straddling a chunk corner of an 8x8-chunked array touches four chunks
    assert chunks_touched((slice(6, 10), slice(6, 10)), (8, 8)) == 4
    assert chunks_touched((slice(0, 8), slice(0, 8)), (8, 8)) == 1
    assert chunks_touched((slice(3, 3), slice(0, 8)), (8, 8)) == 0
