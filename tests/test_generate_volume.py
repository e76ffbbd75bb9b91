"""The synthetic microscopy volume: valid NWB and plain HDF5, realistic, deterministic, streamed."""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

import h5py
import numcodecs
import numpy as np
import pynwb
import pytest

from layoutbench.plan.layout import Layout, kind_of, neuroconv_chunks
from layoutbench.read.inspect import dataset_info
from layoutbench.synthetic import DATASET_PATHS, GENERATORS, GeneratedInfo, generate_volume
from layoutbench.synthetic._nwb import BlockIterator
from layoutbench.synthetic.volume import (
    AXES,
    DEFAULT_SHAPE,
    PLAIN_DATASET,
    VolumeModel,
    volume_shape,
)

SHAPE = (64, 128, 128)


@pytest.fixture(scope="module")
def volume() -> np.ndarray:
    return VolumeModel(SHAPE, seed=1).read(0, SHAPE[0])


@pytest.fixture(scope="module")
def nwb_file(tmp_path_factory: pytest.TempPathFactory) -> GeneratedInfo:
    return generate_volume(tmp_path_factory.mktemp("vol") / "v.nwb", shape=SHAPE, seed=1)


def _digest(data: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(data).tobytes(), digest_size=16).hexdigest()


def test_registry() -> None:
    assert GENERATORS["volume"] is generate_volume
    assert DATASET_PATHS["volume"] == "/acquisition/volume/data"


# -- valid files, expected layout ----------------------------------------------------------------
def test_nwb_reads_back(nwb_file: GeneratedInfo, volume: np.ndarray) -> None:
    chunks = neuroconv_chunks("volume", SHAPE, 2)
    assert nwb_file.shape == SHAPE and nwb_file.dtype == "uint16" and nwb_file.kind == "volume"
    assert nwb_file.chunks == chunks and nwb_file.nbytes == math.prod(SHAPE) * 2
    assert nwb_file.dataset == DATASET_PATHS["volume"]
    with pynwb.NWBHDF5IO(nwb_file.path, "r") as io:
        series = io.read().acquisition["volume"]
        assert isinstance(series, pynwb.image.ImageSeries)
        assert "z-stack" in series.description and "z-planes" in series.comments
        data = series.data
        assert data.name == DATASET_PATHS["volume"]
        assert data.shape == SHAPE and data.dtype == np.uint16 and data.chunks == chunks
        assert (data.compression, data.compression_opts) == ("gzip", 4)
        assert tuple(d.label for d in data.dims) == AXES
        np.testing.assert_array_equal(data[:], volume)
    assert os.listdir(os.path.dirname(nwb_file.path)) == ["v.nwb"]  # no temporary file left


def test_plain_hdf5(tmp_path: Path, volume: np.ndarray) -> None:
    layout = Layout("hdf5", (16, 32, 32), "zstd", shuffle=True)
    info = generate_volume(tmp_path / "v.h5", shape=SHAPE, seed=1, plain=True, layout=layout)
    assert info.dataset == PLAIN_DATASET and info.chunks == (16, 32, 32)
    with h5py.File(info.path, "r") as f:
        assert list(f) == ["volume"]  # nothing but the volume: no NWB groups
        dset = f[PLAIN_DATASET]
        assert dset.chunks == (16, 32, 32) and dset.shuffle and "32015" in dset._filters
        assert tuple(d.label for d in dset.dims) == AXES
        assert list(dset.attrs["voxel_size_um"]) == [2.0, 1.0, 1.0]
        np.testing.assert_array_equal(dset[:], volume)  # the same data as the NWB variant


def test_kind_detection(nwb_file: GeneratedInfo, tmp_path: Path) -> None:
    info = dataset_info(nwb_file.path)  # the largest array, as `layoutbench sweep` picks it
    assert info.path == DATASET_PATHS["volume"] and info.kind == "volume"
    assert info.neurodata_type == "ImageSeries" and info.axes == AXES
    plain = generate_volume(tmp_path / "p.h5", shape=(8, 32, 32), plain=True)
    assert dataset_info(plain.path).kind == "volume"


@pytest.mark.parametrize(
    ("neurodata_type", "ndim", "axes", "kind"),
    [
        ("ImageSeries", 3, ("z", "y", "x"), "volume"),  # a labelled z-stack in NWB
        ("ImageSeries", 3, None, "ophys"),  # unlabelled: NWB image series are time-first
        ("TwoPhotonSeries", 3, ("", "", ""), "ophys"),  # empty labels say nothing
        (None, 3, ("Depth", "y", "x"), "volume"),  # labels are case-insensitive
        (None, 3, None, "volume"),  # a plain-HDF5 3-d array: an image stack
        (None, 3, ("t", "y", "x"), "ophys"),  # ... unless it says its first axis is time
        ("TimeSeries", 3, None, "ophys"),  # another NWB series: time-first
        ("ElectricalSeries", 2, None, "ecephys"),
        (None, 2, None, "ecephys"),
        ("ImageSeries", 4, ("z", "y", "x", "c"), "ophys"),  # labels decide for 3-d arrays only
    ],
)
def test_kind_of(neurodata_type: str | None, ndim: int, axes: tuple[str, ...] | None,
                 kind: str) -> None:
    assert kind_of(neurodata_type, ndim, axes) == kind


# -- realistic content ---------------------------------------------------------------------------
def test_compressibility(volume: np.ndarray) -> None:
    """zstd-3 with byte shuffle (how the grid stores uint16) lands where real stacks do."""
    raw = volume.tobytes()
    shuffled = numcodecs.Shuffle(elementsize=2).encode(raw)
    ratio = len(raw) / len(numcodecs.Zstd(level=3).encode(shuffled))
    plain = len(raw) / len(numcodecs.Zstd(level=3).encode(raw))
    print(f"volume zstd-3 ratio {ratio:.2f} with byte shuffle, {plain:.2f} without")
    assert 1.3 < ratio < 6 and 1.3 < plain < 6


def test_uint8(tmp_path: Path) -> None:
    data = VolumeModel(SHAPE, seed=1, dtype="uint8").read(0, SHAPE[0])
    ratio = data.nbytes / len(numcodecs.Zstd(level=3).encode(data.tobytes()))
    print(f"uint8 volume zstd-3 ratio {ratio:.2f}")
    assert data.dtype == np.uint8 and 1.3 < ratio < 6
    assert np.percentile(data, 99.9) < 255 and np.median(data) > 5  # neither clipped nor dark
    info = generate_volume(tmp_path / "v8.nwb", shape=(8, 32, 32), dtype="uint8")
    assert info.dtype == "uint8" and info.nbytes == 8 * 32 * 32


def test_not_degenerate(volume: np.ndarray) -> None:
    data = volume.astype(np.float64)
    background = np.median(data)
    assert 110 < background < 200  # offset 100 + tens of background photons
    # cells: a bright tail far above the shot noise of the background
    assert np.percentile(data, 99.5) > background + 8 * math.sqrt(background - 100)
    # depth attenuation: deep planes are darker than shallow ones
    assert np.median(data[-8:]) < np.median(data[:8])
    # smooth structure: neighbouring voxels are correlated (noise alone would not be)
    centred = data - data.mean()
    corr = (centred[:, :, 1:] * centred[:, :, :-1]).mean() / centred.var()
    assert corr > 0.3


def test_structure_in_every_block() -> None:
    """Cells and neurites are spread through the depth, not crowded into the first block."""
    model = VolumeModel((96, 64, 64), seed=2)
    assert model.block_len == 32 and model.n_blocks == 3
    for block in range(model.n_blocks):
        data = model._make_block(block).astype(np.float64)
        assert np.percentile(data, 99.5) > np.median(data) + 60


# -- determinism and streaming -------------------------------------------------------------------
def test_determinism(volume: np.ndarray) -> None:
    # not pinned to a constant: float32 matrix products may round differently on other BLAS
    again = VolumeModel(SHAPE, seed=1).read(0, SHAPE[0])
    assert _digest(again) == _digest(volume)
    assert _digest(VolumeModel(SHAPE, seed=2).read(0, SHAPE[0])) != _digest(volume)


def test_blocks_do_not_depend_on_buffers(volume: np.ndarray) -> None:
    chunks = (5, 128, 128)  # chunks straddle the 32-plane generation blocks
    chunk_bytes = math.prod(chunks) * 2
    for buffer_bytes, n_min in ((chunk_bytes, 13), (4 * chunk_bytes, 4)):
        iterator = BlockIterator(VolumeModel(SHAPE, seed=1), chunks, buffer_bytes=buffer_bytes)
        out = np.empty(SHAPE, dtype=np.uint16)
        n = 0
        for chunk in iterator:
            out[chunk.selection] = chunk.data
            n += 1
        assert n >= n_min
        np.testing.assert_array_equal(out, volume)


def test_random_access_matches_sequential(volume: np.ndarray) -> None:
    model = VolumeModel(SHAPE, seed=1)
    np.testing.assert_array_equal(model.read(40, 64), volume[40:])
    np.testing.assert_array_equal(model.read(3, 35), volume[3:35])  # rewinds across a block


# -- sizes and bad arguments ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("size", "itemsize", "shape"),
    [
        (256 * 512 * 512 * 2, 2, DEFAULT_SHAPE),  # the default volume's bytes give its shape
        (2 * 10**6, 2, (61, 128, 128)),  # smaller: every axis shrinks, sides multiples of 16
        (10 * 10**9, 2, (1192, 2048, 2048)),  # planes stop at a camera's 2048 x 2048
        (600, 2, (1, 16, 16)),  # the smallest volume is one 16 x 16 plane
    ],
)
def test_size_scales_all_axes(size: int, itemsize: int, shape: tuple[int, int, int]) -> None:
    assert volume_shape(size, None, itemsize) == shape
    assert math.prod(shape) * itemsize <= size


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size": 10**6, "shape": (10, 64, 64)}, "either size or shape"),
        ({"size": 100}, "at least one 16 x 16 plane"),
        ({"shape": (10, 64)}, "shape must be 3"),
        ({"shape": (10, 0, 8)}, "positive"),
        ({"shape": (10, 8, 8), "dtype": "float32"}, "dtype must be one of uint16, uint8"),
        ({"shape": (10, 8, 8), "layout": Layout("zarr", (1, 8, 8))}, "NWB/HDF5 only"),
        ({"shape": (10, 8, 8), "seed": -1}, "seed"),
        ({"shape": (10, 8, 8), "n_cells": -3}, "n_cells"),
    ],
)
def test_rejects(tmp_path: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match) as excinfo:
        generate_volume(tmp_path / "x.nwb", **kwargs)
    assert "\n" not in str(excinfo.value)
    assert os.listdir(tmp_path) == []


# -- command line --------------------------------------------------------------------------------
def test_cli_generate_volume(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from layoutbench.cli import main

    runner = CliRunner()
    result = runner.invoke(main, ["generate", "volume", str(tmp_path / "v.nwb"), "--size", "1MB",
                                  "--seed", "2"])
    assert result.exit_code == 0, result.output
    assert dataset_info(tmp_path / "v.nwb").kind == "volume"
    result = runner.invoke(main, ["generate", "volume", str(tmp_path / "v.h5"), "--size", "1MB",
                                  "--plain", "--format", "json"])
    assert result.exit_code == 0 and '"dataset": "/volume"' in result.stdout
    with h5py.File(tmp_path / "v.h5") as f, h5py.File(tmp_path / "v.nwb") as g:
        assert f[PLAIN_DATASET].shape == g[DATASET_PATHS["volume"]].shape == (54, 96, 96)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ophys", "o.nwb", "--plain"], "--plain applies to volume data only, not ophys"),
        (["volume", "v.nwb", "--size", "100B"], "v.nwb: volume: size must be at least one"),
    ],
)
def test_cli_generate_errors(tmp_path: Path, args: list[str], message: str) -> None:
    from click.testing import CliRunner

    from layoutbench.cli import main

    args[1] = str(tmp_path / args[1])
    result = CliRunner().invoke(main, ["generate", *args])
    assert result.exit_code == 2
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0]
    assert os.listdir(tmp_path) == []
