"""Tests of the synthetic NWB generators: validity, layout, realism, determinism, streaming."""

from __future__ import annotations

import itertools
import math
import os
import re
from pathlib import Path

import numcodecs
import numpy as np
import pynwb
import pytest
from scipy.signal import butter, sosfiltfilt

from layoutbench.plan.layout import Layout, neuroconv_chunks
from layoutbench.synthetic import (
    DATASET_PATHS,
    GENERATORS,
    GeneratedInfo,
    generate_ecephys,
    generate_ophys,
    parse_size,
)
from layoutbench.synthetic._nwb import BlockIterator
from layoutbench.synthetic.ecephys import EcephysModel
from layoutbench.synthetic.ophys import OphysModel

OPHYS_SHAPE = (200, 64, 64)
ECEPHYS_SHAPE = (60000, 16)


@pytest.fixture(scope="module")
def ophys_file(tmp_path_factory: pytest.TempPathFactory) -> GeneratedInfo:
    return generate_ophys(tmp_path_factory.mktemp("ophys") / "o.nwb", shape=OPHYS_SHAPE, seed=1)


@pytest.fixture(scope="module")
def ecephys_file(tmp_path_factory: pytest.TempPathFactory) -> GeneratedInfo:
    return generate_ecephys(tmp_path_factory.mktemp("ecephys") / "e.nwb", shape=ECEPHYS_SHAPE,
                            seed=1)


@pytest.fixture(scope="module")
def ophys_data() -> np.ndarray:
    return OphysModel(OPHYS_SHAPE, seed=1).read(0, OPHYS_SHAPE[0])


@pytest.fixture(scope="module")
def ecephys_data() -> np.ndarray:
    return EcephysModel(ECEPHYS_SHAPE, seed=1).read(0, ECEPHYS_SHAPE[0])


def test_registry() -> None:
    assert set(GENERATORS) == set(DATASET_PATHS) == {"ophys", "ecephys", "many-series", "volume"}
    assert GENERATORS["ophys"] is generate_ophys and GENERATORS["ecephys"] is generate_ecephys
    assert DATASET_PATHS["ophys"] == "/acquisition/TwoPhotonSeries/data"
    assert DATASET_PATHS["ecephys"] == "/acquisition/ElectricalSeries/data"


# -- valid NWB, expected layout ------------------------------------------------------------------
def test_ophys_reads_back(ophys_file: GeneratedInfo, ophys_data: np.ndarray) -> None:
    chunks = neuroconv_chunks("ophys", OPHYS_SHAPE, 2)
    assert ophys_file.shape == OPHYS_SHAPE and ophys_file.dtype == "uint16"
    assert ophys_file.chunks == chunks and ophys_file.nbytes == math.prod(OPHYS_SHAPE) * 2
    assert ophys_file.dataset == DATASET_PATHS["ophys"]
    assert ophys_file.to_dict()["shape"] == list(OPHYS_SHAPE)
    with pynwb.NWBHDF5IO(ophys_file.path, "r") as io:
        nwb = io.read()
        series = nwb.acquisition["TwoPhotonSeries"]
        assert isinstance(series, pynwb.ophys.TwoPhotonSeries)
        data = series.data
        assert data.name == DATASET_PATHS["ophys"]
        assert data.shape == OPHYS_SHAPE and data.dtype == np.uint16
        assert data.chunks == chunks
        assert (data.compression, data.compression_opts) == ("gzip", 4)
        assert series.rate == 30.0
        plane = series.imaging_plane
        assert plane.indicator == "GCaMP6f" and plane.excitation_lambda == 920.0
        assert plane.imaging_rate == 30.0
        np.testing.assert_array_equal(data[:], ophys_data)


def test_ecephys_reads_back(ecephys_file: GeneratedInfo, ecephys_data: np.ndarray) -> None:
    chunks = neuroconv_chunks("ecephys", ECEPHYS_SHAPE, 2)
    assert ecephys_file.shape == ECEPHYS_SHAPE and ecephys_file.dtype == "int16"
    assert ecephys_file.chunks == chunks
    with pynwb.NWBHDF5IO(ecephys_file.path, "r") as io:
        nwb = io.read()
        series = nwb.acquisition["ElectricalSeries"]
        assert isinstance(series, pynwb.ecephys.ElectricalSeries)
        data = series.data
        assert data.name == DATASET_PATHS["ecephys"]
        assert data.shape == ECEPHYS_SHAPE and data.dtype == np.int16
        assert data.chunks == chunks
        assert (data.compression, data.compression_opts) == ("gzip", 4)
        assert series.rate == 30000.0 and series.conversion == pytest.approx(0.195e-6)
        assert len(series.electrodes) == ECEPHYS_SHAPE[1]
        assert len(nwb.electrodes) == ECEPHYS_SHAPE[1]
        assert set(nwb.electrodes.colnames) >= {"x", "y", "z", "location", "group"}
        np.testing.assert_array_equal(data[:], ecephys_data)


def test_custom_layout_and_size(tmp_path: Path) -> None:
    # zstd goes through hdf5plugin's filter id; size scales the time axis only
    layout = Layout("hdf5", (16, 16, 16), "zstd", shuffle=True)
    info = generate_ophys(tmp_path / "z.nwb", size=40 * 256 * 256 * 2, layout=layout, n_cells=5)
    assert info.shape == (40, 256, 256) and info.chunks == (16, 16, 16)
    with pynwb.NWBHDF5IO(info.path, "r") as io:
        data = io.read().acquisition["TwoPhotonSeries"].data
        assert data.chunks == (16, 16, 16) and data.shuffle and "32015" in data._filters
        assert data[:2].shape == (2, 256, 256)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size": 10**6, "shape": (10, 64, 64)}, "either size or shape"),
        ({"size": 5}, "at least one time step"),
        ({"shape": (10, 64)}, "shape must be 3"),
        ({"shape": (10, 8, 8), "layout": Layout("zarr", (1, 8, 8))}, "NWB/HDF5 only"),
        ({"shape": (10, 8, 8), "seed": -1}, "seed"),
    ],
)
def test_ophys_rejects(tmp_path: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        generate_ophys(tmp_path / "x.nwb", **kwargs)
    assert os.listdir(tmp_path) == []


# -- realistic content ---------------------------------------------------------------------------
def _zstd_ratio(data: np.ndarray) -> float:
    raw = np.ascontiguousarray(data).tobytes()
    return len(raw) / len(numcodecs.Zstd(level=3).encode(raw))


def test_ophys_compressibility(ophys_data: np.ndarray) -> None:
    ratio = _zstd_ratio(ophys_data)
    print(f"ophys zstd-3 ratio {ratio:.2f}")
    assert 1.3 < ratio < 6


def test_ecephys_compressibility(ecephys_data: np.ndarray) -> None:
    ratio = _zstd_ratio(ecephys_data)
    print(f"ecephys zstd-3 ratio {ratio:.2f}")
    assert 1.3 < ratio < 6


def test_ophys_not_degenerate(ophys_data: np.ndarray) -> None:
    data = ophys_data.astype(np.float64)
    mean = data.mean(axis=0)
    assert 100 < np.median(mean) < 1000  # baseline of a few hundred photon counts
    # structured background: the mean frame varies far more than its shot noise
    assert mean.std() > 20 * np.sqrt(mean.mean() / len(data))
    # active cells fluctuate far more than the shot-noise-limited background
    std = data.std(axis=0)
    assert np.percentile(std, 99.5) > 1.5 * np.median(std)
    # shot noise: background pixels vary about as Poisson predicts (std ~ sqrt(mean))
    assert 0.8 < np.median(std / np.sqrt(mean)) < 1.5


def test_ecephys_not_degenerate(ecephys_data: np.ndarray) -> None:
    data = ecephys_data.astype(np.float64)
    assert 5 < np.median(data.std(axis=0)) < 60
    high = sosfiltfilt(butter(4, 300, "highpass", fs=30000, output="sos"), data, axis=0)
    noise = np.median(np.abs(high), axis=0) / 0.6745  # robust noise level per channel
    assert np.all((noise > 4) & (noise < 20))
    crossings = ((high[1:] < -6 * noise) & (high[:-1] >= -6 * noise)).sum(axis=0)
    assert crossings.sum() > 30 and (crossings > 5).sum() >= 3  # spikes, on several channels
    assert high.min() < -50
    corr = np.corrcoef(data.T)
    n = data.shape[1]
    neighbours = np.mean([corr[i, i + 1] for i in range(n - 1)])
    distant = np.mean([corr[i, n - 1 - i] for i in range(3)])
    assert neighbours > distant + 0.03


def test_spikes_split_across_blocks() -> None:
    model = EcephysModel((20000, 8), seed=4)
    whole = np.zeros((20000, 8), dtype=np.float32)
    model._add_spikes(whole, 0)
    # cut right through waveforms of one unit
    onsets = model.units[0].onsets
    cuts = sorted({0, 20000, *(int(o) + 17 for o in onsets[:5] if o + 17 < 20000)})
    pieces = []
    for lo, hi in itertools.pairwise(cuts):
        piece = np.zeros((hi - lo, 8), dtype=np.float32)
        model._add_spikes(piece, lo)
        pieces.append(piece)
    np.testing.assert_array_equal(np.concatenate(pieces), whole)
    assert np.abs(whole).max() >= 40


# -- determinism and streaming -------------------------------------------------------------------
def test_ophys_determinism(ophys_data: np.ndarray) -> None:
    np.testing.assert_array_equal(OphysModel(OPHYS_SHAPE, seed=1).read(0, 200), ophys_data)
    assert not np.array_equal(OphysModel(OPHYS_SHAPE, seed=2).read(0, 200), ophys_data)


def test_ecephys_determinism(ecephys_data: np.ndarray) -> None:
    np.testing.assert_array_equal(EcephysModel(ECEPHYS_SHAPE, seed=1).read(0, 60000),
                                  ecephys_data)
    assert not np.array_equal(EcephysModel(ECEPHYS_SHAPE, seed=2).read(0, 60000), ecephys_data)


def _collect(iterator: BlockIterator) -> tuple[np.ndarray, int]:
    out = np.empty(iterator.maxshape, dtype=iterator.dtype)
    n = 0
    for chunk in iterator:
        out[chunk.selection] = chunk.data
        n += 1
    return out, n


@pytest.mark.parametrize(
    ("make", "chunks", "reference"),
    [
        (lambda: OphysModel(OPHYS_SHAPE, seed=1), (7, 64, 64), "ophys_data"),
        (lambda: EcephysModel(ECEPHYS_SHAPE, seed=1), (1000, 16), "ecephys_data"),
    ],
    ids=["ophys", "ecephys"],
)
def test_buffer_size_does_not_change_data(make, chunks, reference,
                                          request: pytest.FixtureRequest) -> None:
    expected = request.getfixturevalue(reference)
    chunk_bytes = math.prod(chunks) * 2
    small, n_small = _collect(BlockIterator(make(), chunks, buffer_bytes=chunk_bytes))
    large, n_large = _collect(BlockIterator(make(), chunks, buffer_bytes=5 * chunk_bytes))
    assert n_small > n_large > 1  # really different buffering
    np.testing.assert_array_equal(small, expected)
    np.testing.assert_array_equal(large, expected)


def test_random_access_matches_sequential(ecephys_data: np.ndarray) -> None:
    model = EcephysModel(ECEPHYS_SHAPE, seed=1)
    np.testing.assert_array_equal(model.read(50000, 60000), ecephys_data[50000:])
    np.testing.assert_array_equal(model.read(100, 40000), ecephys_data[100:40000])  # rewinds


# -- files ---------------------------------------------------------------------------------------
def test_no_temp_file_left(ophys_file: GeneratedInfo, ecephys_file: GeneratedInfo) -> None:
    for info in (ophys_file, ecephys_file):
        assert os.listdir(os.path.dirname(info.path)) == [os.path.basename(info.path)]


def test_temp_file_removed_on_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(self: EcephysModel, block: int) -> np.ndarray:
        # the partial file exists under its temporary name while data are being written
        (name,) = [p.name for p in tmp_path.iterdir()]
        assert re.fullmatch(rf"\.e\.nwb\.tmp-{os.getpid()}-[0-9a-f]{{8}}", name), name
        raise RuntimeError("boom")

    monkeypatch.setattr(EcephysModel, "_make_block", fail)
    with pytest.raises(RuntimeError, match="boom"):
        generate_ecephys(tmp_path / "e.nwb", shape=(1000, 4))
    assert os.listdir(tmp_path) == []


# -- parse_size ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10GB", 10 * 10**9),  # decimal gigabytes
        ("500MB", 500 * 10**6),  # decimal megabytes
        ("1.5GiB", 3 * 2**29),  # fractional binary unit, exact
        ("123456", 123456),  # bare number of bytes
        ("7B", 7),  # explicit bytes
        ("2KiB", 2048),  # binary kibibytes
        ("1kB", 1000),  # SI spelling of kilobytes
        ("0.5MB", 500_000),  # fraction of a decimal unit
        (" 64 mib ", 64 * 2**20),  # spaces and lower case
        ("3G", 3 * 10**9),  # bare prefix means the decimal unit
        ("1TB", 10**12),  # terabytes
        ("0", 0),  # zero is a size (generators reject it themselves)
    ],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",  # empty
        "abc",  # no number
        "MB",  # unit without a number
        "10XB",  # unknown unit
        "-5MB",  # negative
        "1.5B",  # not a whole number of bytes
        "1e9",  # scientific notation is not accepted
        "10 G B",  # unit split by a space
    ],
)
def test_parse_size_errors(text: str) -> None:
    with pytest.raises(ValueError, match="size") as excinfo:
        parse_size(text)
    assert "\n" not in str(excinfo.value)


def test_progress_bar_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    generate_ecephys(tmp_path / "e.nwb", shape=(3000, 4), progress=True)
    captured = capsys.readouterr()
    assert "ecephys blocks" in captured.err and "1/1" in captured.err
    assert captured.out == ""


def test_generation_memory_is_bounded_by_blocks_not_file_size(tmp_path: Path) -> None:
    """Peak RSS does not grow with the file: a recording three times larger is generated in
    about the same memory (write buffers and generation blocks, not the file)."""
    import subprocess
    import sys

    def peak(size: int) -> int:
        code = (
            "import resource\n"
            "from layoutbench.synthetic import generate_ecephys\n"
            f"generate_ecephys({str(tmp_path / f'{size}.nwb')!r}, size={size}, seed=1)\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)\n"
        )
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, proc.stderr
        return int(proc.stdout.strip().splitlines()[-1])

    small, large = peak(100_000_000), peak(300_000_000)
    print(f"peak RSS: {small / 1e6:.0f} MB for 100 MB, {large / 1e6:.0f} MB for 300 MB")
    assert large - small < 50e6  # +200 MB of file, not of memory
