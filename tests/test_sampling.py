"""Compression predicted as written: the sampler's windows and blocks, and its predicted stored
size of every codec of the grid against the variant the rewriter writes, within 5 %."""

from __future__ import annotations

import itertools
import math
from datetime import UTC
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from layoutbench.plan.layout import Layout
from layoutbench.plan.search import CODECS, stored_data
from layoutbench.read.sample_regions import (
    block_shape,
    block_starts,
    plan_places,
    window_shape,
    window_starts,
)
from layoutbench.read.sampling import Sampler, sample_key

# -- where the sample is read (pure) ------------------------------------------------------------
MOVIE = (1000, 256, 256)
FRAMES = (76, 256, 256)  # neuroconv's whole-frame chunks


def test_windows_are_whole_source_chunks_spread_and_within_the_fetch_budget() -> None:
    stored = {tuple(i * c for i, c in zip(idx, FRAMES, strict=True)): 5_000_000
              for idx in itertools.product(range(14), range(1), range(1))}
    places = plan_places(MOVIE, 2, FRAMES, stored, [(1000, 16, 16), (64, 64, 64)],
                         window_bytes=16 * 2**20, n_windows=6, fetch_bytes=40_000_000)
    assert places.region == (76, 256, 256)  # one source chunk: a second would pass 16 MB
    starts = [st[0] for st in places.starts]
    assert all(s % 76 == 0 for s in starts[:-1]) and len(set(starts)) == len(starts)
    assert places.fetched_bytes <= 40_000_000 and len(starts) == 6
    assert min(starts) < 250 and max(starts) > 700  # spread over the whole movie


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 2000), st.integers(1, 300)), min_size=1, max_size=3),
       st.integers(1, 12))
def test_windows_never_overlap(axes: list[tuple[int, int]], n: int) -> None:
    """Two windows sharing data make the sample repeat itself (457 frames in windows of 76
    once gave windows at 380 and 381, and LZ4 13 % too much compression)."""
    shape = tuple(size for size, _ in axes)
    window = tuple(min(w, size) for size, w in axes)
    starts = window_starts(shape, window, n)
    assert 1 <= len(starts) <= n and len(set(starts)) == len(starts)
    for a, b in itertools.combinations(starts, 2):
        assert any(abs(x - y) >= w for x, y, w in zip(a, b, window, strict=True)), (a, b)
    for st_ in starts:
        assert all(s >= 0 and s + w <= size for s, w, size in zip(st_, window, shape,
                                                                  strict=True))


def test_a_window_grows_toward_the_candidates_chunks() -> None:
    # small source chunks: the window grows along the axis the candidates need most
    window = window_shape((4096, 64), (256, 64), [(2048, 1), (64, 64)], 2, budget=2**20)
    assert window[0] >= 2048 and window[1] == 64
    # contiguous: whole rows of the first axis within the budget
    assert window_shape((100, 512, 512), None, [(1, 512, 512)], 2, budget=2**20) == (2, 512, 512)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 300), min_size=1, max_size=3),
       st.lists(st.integers(1, 64), min_size=3, max_size=3), st.integers(1, 6),
       st.integers(1, 200))
def test_blocks_stay_inside_their_window_and_never_overlap(window: list[int], chunk: list[int],
                                                           n_windows: int, count: int) -> None:
    chunk = chunk[:len(window)]
    block = block_shape(chunk, window, 2, max_bytes=4096)
    assert math.prod(block) * 2 <= max(4096, 2) or max(block) == 1
    assert all(b <= min(c, w) for b, c, w in zip(block, chunk, window, strict=True))
    starts = block_starts(window, block, n_windows, count)
    assert 1 <= len(starts) <= count
    assert len(set(starts)) == len(starts)
    for w, start in starts:
        assert 0 <= w < n_windows
        assert all(s % b == 0 and s + b <= n for s, b, n in zip(start, block, window,
                                                                 strict=True))
    # every window gives blocks when there are enough of them
    if count >= n_windows:
        assert {w for w, _ in starts} == set(range(n_windows))


# -- predicted against written ------------------------------------------------------------------
def _pynwb_gzip(path: Path) -> Path:
    """A file as a lab writes it with pynwb alone: square tiles of 50 frames, gzip."""
    from datetime import datetime

    from hdmf.backends.hdf5.h5_utils import H5DataIO
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries

    from layoutbench.synthetic.ophys import OphysModel

    data = OphysModel((400, 128, 128), seed=7).read(0, 400)
    nwb = NWBFile("foreign", "foreign-1", datetime(2026, 1, 1, tzinfo=UTC))
    nwb.add_acquisition(TimeSeries(name="movie", data=H5DataIO(data, compression="gzip",
                                                               chunks=(50, 64, 64)),
                                   unit="a.u.", rate=30.0))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    from layoutbench.synthetic import generate_ecephys, generate_ophys, generate_volume

    root = tmp_path_factory.mktemp("sampling")
    # neuroconv's layout scaled down: whole frames (or all channels) per chunk, gzip 4
    generate_ophys(root / "ophys.nwb", shape=(300, 96, 96), seed=3,
                   layout=Layout("hdf5", (25, 96, 96), "gzip", 4))
    generate_ecephys(root / "ecephys.nwb", shape=(240_000, 16), seed=3,
                     layout=Layout("hdf5", (20_000, 16), "gzip", 4))
    generate_volume(root / "volume.nwb", shape=(64, 160, 160), seed=3,
                    layout=Layout("hdf5", (4, 160, 160), "gzip", 4))
    return {
        "ophys": (root / "ophys.nwb", "/acquisition/TwoPhotonSeries/data"),
        "ecephys": (root / "ecephys.nwb", "/acquisition/ElectricalSeries/data"),
        "volume": (root / "volume.nwb", "/acquisition/volume/data"),
        "pynwb-gzip": (_pynwb_gzip(root / "foreign.nwb"), "/acquisition/movie/data"),
    }


#: Chunk shapes per sample: along time, across space, whole frames or channels, and shapes that
#: do not divide the array (edge chunks).
SHAPES = {
    "ophys": [(300, 16, 16), (64, 32, 32), (1, 96, 96), (50, 40, 40)],
    "ecephys": [(65536, 1), (4096, 16), (30000, 4)],
    "volume": [(16, 16, 16), (1, 160, 160), (64, 20, 20)],
    "pynwb-gzip": [(400, 16, 16), (8, 128, 128), (64, 40, 40)],
}
# small windows and budgets, so that a small sample is sampled, not read whole
SMALL = {"window_bytes": 2**18, "n_windows": 6, "fetch_bytes": 3 * 2**20,
         "compress_bytes": 2**20, "max_block_bytes": 2**18}


@pytest.mark.parametrize("kind", list(SHAPES))
@pytest.mark.parametrize("fmt", ["hdf5", "zarr"])
def test_predicted_stored_size_is_what_the_rewriter_writes(samples: dict, kind: str, fmt: str,
                                                           tmp_path: Path) -> None:
    from layoutbench.write.rewrite import write_variant

    path, data = samples[kind]
    layouts = [Layout(fmt, chunks, codec, level, shuffle=shuffle)
               for chunks in SHAPES[kind] for codec, level, shuffle in CODECS[fmt]]
    with h5py.File(path) as f:
        dset = f[data]
        shape, itemsize = dset.shape, dset.dtype.itemsize
        sampler = Sampler(dset, [lay.chunks for lay in layouts], **SMALL)
        # the sample is a part of the dataset, not all of it
        assert sum(r.nbytes for r in sampler.regions) < 0.7 * math.prod(shape) * itemsize
        figures = sampler.figures(layouts)
    errors = {}
    for layout in layouts:
        fitted = layout.fitted(shape)
        predicted = stored_data(fitted, shape, itemsize, figures[sample_key(layout)].ratio)
        variant = write_variant(path, data, layout, tmp_path / f"{layout.name}.{fmt}")
        if fmt == "hdf5":  # the chunks alone, without the file's metadata
            with h5py.File(variant.path) as f:
                written = f[data].id.get_storage_size()
        else:
            written = _zarr_chunk_bytes(Path(variant.path))
        errors[layout.name] = predicted / written - 1
    worst = max(errors, key=lambda k: abs(errors[k]))
    assert abs(errors[worst]) <= 0.05, f"{worst}: {errors[worst]:+.1%} ({len(errors)} layouts)"


def _zarr_chunk_bytes(root: Path) -> int:
    """Bytes of a Zarr store's chunk objects (not its metadata documents)."""
    return sum(p.stat().st_size for p in root.rglob("*")
               if p.is_file() and not p.name.startswith(("zarr.json", ".z")))


def test_the_control_variate_corrects_a_biased_sample(tmp_path: Path) -> None:
    """Quiet first half, noisy second half: windows that fall in one half are corrected by the
    source codec's own per-chunk sizes."""
    from layoutbench.codecs import ensure_hdf5_filters, h5py_filter_kwargs

    ensure_hdf5_filters()
    rng = np.random.default_rng(0)
    quiet = rng.poisson(4, (200, 64, 64))
    noisy = rng.poisson(400, (200, 64, 64))
    data = np.concatenate([quiet, noisy]).astype(np.uint16)
    path = tmp_path / "half.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("d", data=data, chunks=(25, 64, 64), compression="gzip")
    layout = Layout("hdf5", (400, 8, 8), "zstd", 3, shuffle=True)
    with h5py.File(path) as f:
        sampler = Sampler(f["d"], [layout.chunks], window_bytes=2**18, n_windows=1,
                          fetch_bytes=2**30, compress_bytes=2**17)
        ratio = sampler.figures([layout])[sample_key(layout)].ratio
    with h5py.File(tmp_path / "w.h5", "w") as g:
        written = g.create_dataset("d", data=data, chunks=layout.chunks,
                                   **h5py_filter_kwargs(layout)).id.get_storage_size()
    assert sampler.correction != 1.0
    assert data.nbytes / ratio == pytest.approx(written, rel=0.15)
