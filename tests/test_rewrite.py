"""Rewriter: bit-exact variants for every grid layout, corruption caught, nothing half-written."""

from __future__ import annotations

import os
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from layoutbench.plan.layout import Layout, default_grid
from layoutbench.write import rewrite
from layoutbench.write.blocks import VerificationError, block_shape, iter_blocks
from layoutbench.write.rewrite import (
    build_variant,
    cached_variant,
    verify_variant,
    write_variant,
)

OPHYS = "/acquisition/TwoPhotonSeries/data"
ECEPHYS = "/acquisition/ElectricalSeries/data"


def _movie(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """Small movie with structure and shot noise (compressible like imaging, not noise)."""
    rng = np.random.default_rng(seed)
    t, y, x = shape
    yy, xx = np.mgrid[0:y, 0:x]
    background = 200 + 100 * np.cos(yy / 7.0) * np.sin(xx / 5.0)
    drift = 1 + 0.1 * np.sin(np.arange(t) / 20.0)
    return rng.poisson(background[None] * drift[:, None, None]).astype(np.uint16)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("src") / "source.nwb"
    rng = np.random.default_rng(1)
    with h5py.File(path, "w") as f:
        f.create_dataset(OPHYS, data=_movie((90, 40, 48)), chunks=(30, 40, 48),
                         compression="gzip", compression_opts=4)
        trace = np.cumsum(rng.normal(0, 3, (5000, 6)), axis=0) + rng.normal(0, 8, (5000, 6))
        f.create_dataset(ECEPHYS, data=trace.astype(np.int16), chunks=(5000, 6),
                         compression="gzip")
    return path


def _grid_cases() -> list:
    cases = [(OPHYS, lay) for lay in default_grid("ophys", (90, 40, 48), 2)]
    cases += [(ECEPHYS, lay) for lay in default_grid("ecephys", (5000, 6), 2)]
    return [pytest.param(ds, lay, id=lay.name + ("-ecephys" if ds == ECEPHYS else ""))
            for ds, lay in cases]


@pytest.mark.parametrize(("dataset", "layout"), _grid_cases())
def test_every_grid_layout_round_trips_bit_exact(source: Path, tmp_path: Path, dataset: str,
                                                 layout: Layout) -> None:
    out = tmp_path / ("v.h5" if layout.format == "hdf5" else "v.zarr")
    # a tiny block budget forces many blocks, exercising the block-wise copy
    v = write_variant(source, dataset, layout, out, budget=64 * 1024)
    with h5py.File(source) as f:
        expected = f[dataset][...]
    arr, close = rewrite._open_variant(out, dataset, v.layout)
    try:
        got = arr[...]
    finally:
        close()
    assert got.dtype == expected.dtype and np.array_equal(got, expected)
    assert v.stored_bytes > 0 and v.layout == layout
    if layout.codec != "none":
        assert v.compression_ratio > 1.1  # the codec really compresses
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_hdf5_lz4_filter_round_trips(source: Path, tmp_path: Path) -> None:
    v = write_variant(source, OPHYS, Layout("hdf5", (30, 16, 16), "lz4", shuffle=True),
                      tmp_path / "lz4.h5")
    with h5py.File(v.path) as f:
        assert "32004" in f[OPHYS]._filters


@pytest.mark.parametrize("page_size", [2**20, 4 * 2**20])
def test_paged_hdf5_layout(source: Path, tmp_path: Path, page_size: int) -> None:
    layout = Layout("hdf5", (90, 16, 16), "zstd", shuffle=True, page_size=page_size)
    v = write_variant(source, OPHYS, layout, tmp_path / "paged.h5")
    with h5py.File(v.path) as f:
        plist = f.id.get_create_plist()
        strategy, _persist, _threshold = plist.get_file_space_strategy()
        assert strategy == h5py.h5f.FSPACE_STRATEGY_PAGE
        assert plist.get_file_space_page_size() == page_size


def _corrupt_hdf5(path: Path, dataset: str) -> None:
    with h5py.File(path) as f:
        info = f[dataset].id.get_chunk_info(1)
    with open(path, "r+b") as fh:
        fh.seek(info.byte_offset + info.size // 2)
        byte = fh.read(1)
        fh.seek(info.byte_offset + info.size // 2)
        fh.write(bytes([byte[0] ^ 0x5A]))


def _corrupt_zarr(path: Path, dataset: str) -> None:
    chunk = sorted((path / dataset.strip("/") / "c").rglob("*"))[-1]
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0x5A
    chunk.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "layout",
    [
        Layout("hdf5", (90, 16, 16), "none"),  # silent corruption: caught by comparison
        Layout("hdf5", (90, 16, 16), "zstd"),  # corrupt compressed chunk: decode error or diff
        Layout("zarr", (90, 16, 16), "none"),
        Layout("zarr", (90, 16, 16), "blosc-zstd", shuffle=True),
    ],
    ids=lambda lay: lay.name,
)
def test_corrupted_variant_is_caught(source: Path, tmp_path: Path, layout: Layout) -> None:
    out = tmp_path / ("v.h5" if layout.format == "hdf5" else "v.zarr")
    write_variant(source, OPHYS, layout, out)
    (_corrupt_hdf5 if layout.format == "hdf5" else _corrupt_zarr)(out, OPHYS)
    with pytest.raises(VerificationError):
        verify_variant(source, OPHYS, out, layout)


def test_failed_verification_leaves_nothing(source: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise VerificationError("simulated mismatch")

    monkeypatch.setattr(rewrite, "verify_variant", broken)
    out = tmp_path / "v.h5"
    with pytest.raises(VerificationError):
        write_variant(source, OPHYS, Layout("hdf5", (10, 40, 48), "gzip"), out)
    assert list(tmp_path.iterdir()) == []


def test_cache_reuses_verified_variants_and_notices_a_changed_source(
        source: Path, tmp_path: Path) -> None:
    src = tmp_path / "copy.nwb"
    src.write_bytes(source.read_bytes())
    layout = Layout("zarr", (30, 16, 16), "zstd")
    first = build_variant(tmp_path / "cache", src, OPHYS, layout)
    mtime = os.stat(first.path).st_mtime_ns
    again = build_variant(tmp_path / "cache", src, OPHYS, layout)
    assert again.path == first.path and os.stat(again.path).st_mtime_ns == mtime
    os.utime(src, ns=(mtime + 10**9, mtime + 10**9))  # the source changed
    assert cached_variant(tmp_path / "cache", src, OPHYS, layout) is None
    assert build_variant(tmp_path / "cache", src, OPHYS, layout).path != first.path


def test_cache_ignores_variant_without_marker(source: Path, tmp_path: Path) -> None:
    layout = Layout("hdf5", (30, 16, 16), "zstd")
    v = build_variant(tmp_path, source, OPHYS, layout)
    Path(v.path + ".verified.json").unlink()
    assert cached_variant(tmp_path, source, OPHYS, layout) is None


@pytest.mark.parametrize(
    ("shape", "unit", "budget", "expected"),
    [
        # whole trailing dims, as many unit rows along axis 0 as fit
        ((1000, 256, 256), (76, 256, 256), 64 * 2**20, (456, 256, 256)),
        # a single unit row over budget splits trailing axes at unit multiples
        ((1000, 256, 256), (1000, 16, 16), 32 * 2**20, (1000, 64, 256)),
        ((1_800_000, 64), (262144, 1), 256 * 2**20, (1_800_000, 64)),
    ],
)
def test_block_shape(shape: tuple, unit: tuple, budget: int, expected: tuple) -> None:
    block = block_shape(shape, unit, 2, budget)
    assert block == expected
    assert all(b % u == 0 or b == n for b, u, n in zip(block, unit, shape, strict=True))
    blocks = iter_blocks(shape, block)
    covered = sum(int(np.prod([s.stop - s.start for s in sel])) for sel in blocks)
    assert covered == int(np.prod(shape))


def test_cached_plugin_variant_reads_in_a_fresh_process(source: Path, tmp_path: Path) -> None:
    """Readers register hdf5plugin's filters themselves: a cached zstd variant read in a new
    process (where nothing was written, so nothing imported hdf5plugin) must decode."""
    import subprocess
    import sys

    v = write_variant(source, OPHYS, Layout("hdf5", (30, 16, 16), "zstd"), tmp_path / "z.h5")
    code = ("from layoutbench.read.readers import _h5_dataset; import sys; "
            f"f, d = _h5_dataset({v.path!r}, {OPHYS!r}); print(int(d[0:2, 0:4, 0:4].sum()))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    with h5py.File(source) as f:
        assert int(proc.stdout) == int(f[OPHYS][0:2, 0:4, 0:4].sum())


@pytest.mark.parametrize("damage", ["truncate", "rewrite"])
def test_a_damaged_variant_is_never_reused(source: Path, tmp_path: Path, damage: str,
                                           caplog: pytest.LogCaptureFixture) -> None:
    """Truncated or changed after its verification: rewritten, and the log says so."""
    layout = Layout("hdf5", (20, 16, 16), "zstd", 3, shuffle=True)
    v = build_variant(tmp_path, source, OPHYS, layout)
    path = Path(v.path)
    data = path.read_bytes()
    time.sleep(0.01)  # a later modification time, even on coarse clocks
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else data)
    with caplog.at_level("WARNING"):
        assert cached_variant(tmp_path, source, OPHYS, layout) is None
    assert "changed since it was verified" in caplog.text
    again = build_variant(tmp_path, source, OPHYS, layout)
    assert Path(again.path).read_bytes() == data  # written (and verified) again
