"""Layout: validation, stable names, JSON round trip, and the default grids."""

from __future__ import annotations

import json

import h5py
import pytest

from layoutbench.plan.layout import (
    Layout,
    LayoutError,
    default_grid,
    h5py_auto_chunks,
    neuroconv_chunks,
)


@pytest.mark.parametrize(
    ("layout", "name"),
    [
        # derived names carry format, chunks, codec+level and flags
        (Layout("hdf5", (1000, 32, 32), "zstd", shuffle=True), "h5-1000x32x32-zstd3-shuf"),
        # Blosc codecs get short names that do not run level into codec digits
        (Layout("hdf5", (100, 4), "blosc-lz4"), "h5-100x4-lz4b5"),
        # shards and page sizes appear in the name
        (Layout("zarr", (10, 8), "blosc-zstd", shards=(100, 64)), "zarr-10x8-s100x64-bzstd5"),
        (Layout("hdf5", (10, 8), "none", page_size=4 * 2**20), "h5-10x8-raw-p4m"),
        # a label wins over the derived name
        (Layout("hdf5", (76, 256, 256), "gzip", 4, label="neuroconv-default"),
         "neuroconv-default"),
    ],
)
def test_names(layout: Layout, name: str) -> None:
    assert layout.name == name


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"format": "tiff", "chunks": (1,)}, "unknown format"),  # format typo
        ({"format": "hdf5", "chunks": (1,), "codec": "lzma"}, "unknown codec"),
        ({"format": "hdf5", "chunks": (0, 4)}, "positive"),  # zero-length chunk
        ({"format": "hdf5", "chunks": (4,), "codec": "gzip", "level": 12}, "level"),
        ({"format": "hdf5", "chunks": (4,), "shards": (8,)}, "Zarr v3 feature"),
        ({"format": "zarr", "chunks": (4,), "shards": (6,)}, "multiples"),
        ({"format": "zarr", "chunks": (4,), "page_size": 2**20}, "HDF5 layouts only"),
        ({"format": "zarr", "chunks": (4,), "codec": "zstd", "shuffle": True}, "Blosc"),
        ({"format": "zarr", "chunks": (4,), "codec": "lz4"}, "for HDF5 layouts"),
        ({"format": "hdf5", "chunks": (4,), "codec": "lz4", "level": 3}, "takes no level"),
    ],
)
def test_invalid_layouts(kwargs: dict, message: str) -> None:
    with pytest.raises(LayoutError, match=message):
        Layout(**kwargs)


def test_round_trip_through_json() -> None:
    for kind, shape in [("ophys", (1000, 256, 256)), ("ecephys", (1_800_000, 64)),
                        ("volume", (256, 512, 512))]:
        for layout in default_grid(kind, shape, 2):
            back = Layout.from_dict(json.loads(json.dumps(layout.to_dict())))
            assert back == layout and back.name == layout.name


def test_from_dict_rejects_unknown_keys() -> None:
    with pytest.raises(LayoutError, match="unknown layout keys"):
        Layout.from_dict({"format": "hdf5", "chunks": [4], "chunk": [4]})


@pytest.mark.parametrize(
    ("shape", "itemsize"),
    [((1000, 256, 256), 2), ((1_800_000, 64), 2), ((200, 64, 64), 2), ((10, 10), 8), ((7,), 1)],
)
def test_h5py_auto_matches_h5py(shape: tuple[int, ...], itemsize: int) -> None:
    assert h5py_auto_chunks(shape, itemsize) == h5py._hl.filters.guess_chunk(shape, None, itemsize)


def test_neuroconv_chunks() -> None:
    # 10 MB of whole 256x256 uint16 frames is 76 frames (int(1e7 / 131072))
    assert neuroconv_chunks("ophys", (1000, 256, 256), 2) == (76, 256, 256)
    # 64 channels of int16: 10e6 // 128 = 78125 frames
    assert neuroconv_chunks("ecephys", (1_800_000, 384), 2) == (78125, 64)
    # clipped to a short recording and to few channels
    assert neuroconv_chunks("ecephys", (1000, 16), 2) == (1000, 16)


@pytest.mark.parametrize(("kind", "shape"), [("ophys", (1000, 256, 256)),
                                              ("ecephys", (1_800_000, 64))])
def test_default_grid_contents(kind: str, shape: tuple[int, ...]) -> None:
    grid = default_grid(kind, shape, 2)
    names = [lay.name for lay in grid]
    assert len(grid) >= 12
    assert names[:2] == ["neuroconv-default", "h5py-auto"]
    assert len(set(names)) == len(names)
    assert any(lay.shards for lay in grid if lay.format == "zarr")  # a sharded Zarr v3 layout
    long_narrow = [lay for lay in grid if lay.chunks[0] >= min(shape[0], 1000)
                   and all(c <= 32 for c in lay.chunks[1:])]
    assert long_narrow, "a long-in-time, narrow-in-space layout"
    if kind == "ophys":
        assert any(lay.chunks[0] == 1 and lay.chunks[1:] == shape[1:] for lay in grid)
        assert any(len(set(lay.chunks)) == 1 for lay in grid)  # balanced (cubic) chunks
    for lay in grid:
        lay.validate(shape)
        assert all(c <= n for c, n in zip(lay.chunks, shape, strict=True))


def test_volume_grid_contents() -> None:
    shape = (256, 512, 512)
    grid = default_grid("volume", shape, 2)
    names = [lay.name for lay in grid]
    assert len(grid) >= 12 and len(set(names)) == len(names)
    assert names[:2] == ["neuroconv-default", "h5py-auto"]
    chunks = {lay.chunks for lay in grid}
    assert {(64, 64, 64), (128, 128, 128), (32, 32, 32)} <= chunks  # cubes, big and small
    one_plane = grid[names.index("one-plane")]
    assert one_plane.chunks == (1, 512, 512)  # the slab a microscope writes plane by plane
    assert any(1 < lay.chunks[0] <= 16 and lay.chunks[1:] == shape[1:] for lay in grid)
    assert any(lay.shards for lay in grid if lay.format == "zarr")  # a sharded Zarr v3 layout
    assert {"zstd", "blosc-zstd"} <= {lay.codec for lay in grid}
    for lay in grid:
        lay.validate(shape)


def test_volume_quick_grid() -> None:
    quick = [lay.name for lay in default_grid("volume", (256, 512, 512), 2, "quick")]
    assert quick[:3] == ["neuroconv-default", "h5py-auto", "one-plane"]
    assert len(quick) <= 6 and any(name.startswith("zarr") and "-s" in name for name in quick)


def test_grid_is_fitted_and_deduplicated_for_small_data() -> None:
    grid = default_grid("ophys", (50, 20, 20), 2)
    assert len({lay for lay in grid}) == len(grid)
    assert all(lay.chunks[0] <= 50 and lay.chunks[1] <= 20 for lay in grid)
