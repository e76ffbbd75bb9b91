"""Tests of the many-series generator: a valid NWB file of many small objects, deterministic,
identical whether written with paged aggregation or not, written atomically."""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pynwb
import pytest

from layoutbench.synthetic import DATASET_PATHS, GENERATORS, GeneratedInfo, generate_many_series
from layoutbench.synthetic.many import PROTOCOLS, count_objects, sweep_plan

N = 40  # series in most tests: 10 sweeps (20 series) and 20 behaviour series
MiB = 2**20


def _generate(factory: pytest.TempPathFactory, name: str, **kwargs: Any) -> GeneratedInfo:
    return generate_many_series(factory.mktemp(name) / f"{name}.nwb", **kwargs)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> GeneratedInfo:
    return _generate(tmp_path_factory, "small", n_series=N, seed=0)


@pytest.fixture(scope="module")
def small_again(tmp_path_factory: pytest.TempPathFactory) -> GeneratedInfo:
    return _generate(tmp_path_factory, "again", n_series=N, seed=0)


@pytest.fixture(scope="module")
def small_paged(tmp_path_factory: pytest.TempPathFactory) -> GeneratedInfo:
    return _generate(tmp_path_factory, "paged", n_series=N, seed=0, page_size=MiB)


def _norm(f: h5py.File, value: Any) -> Any:
    """A dataset's value with object references replaced by the paths they point to."""
    if isinstance(value, h5py.Reference):
        return f[value].name
    if isinstance(value, np.ndarray) and value.dtype.names:
        return {n: _norm(f, value[n]) for n in value.dtype.names}
    if isinstance(value, np.ndarray) and value.dtype == object:
        return [_norm(f, v) for v in value.ravel()]
    return value


def _contents(path: str) -> dict[str, Any]:
    """Every dataset of the file, by path (attributes such as random object ids left out)."""
    out: dict[str, Any] = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, _norm(f, obj[()]))
                     if isinstance(obj, h5py.Dataset) else None)
    return out


def _read_clean(path: str) -> tuple[pynwb.NWBHDF5IO, pynwb.NWBFile]:
    """Open with pynwb, failing on any warning (they signal invalid or deprecated content)."""
    io = pynwb.NWBHDF5IO(path, "r")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return io, io.read()


# -- contract ------------------------------------------------------------------------------------
def test_registry(small: GeneratedInfo) -> None:
    assert GENERATORS["many-series"] is generate_many_series
    assert DATASET_PATHS["many-series"] == "/acquisition/data_00000_AD0/data"
    assert small.kind == "many-series" and small.dataset == DATASET_PATHS["many-series"]
    with h5py.File(small.path, "r") as f:
        data = f[small.dataset]
        assert np.issubdtype(data.dtype, np.number) and str(data.dtype) == small.dtype
        assert data.shape == small.shape and data.chunks == small.chunks
        assert small.nbytes == data.size * data.dtype.itemsize


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size": 10**6}, "no --size; use n_series"),
        ({"shape": (10,)}, "no shape"),
        ({"n_series": 3}, "n_series must be an integer >= 4"),
        ({"n_series": 10.0}, "n_series must be an integer"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"page_size": 100}, "at least 512 bytes"),
    ],
)
def test_rejects_bad_arguments(tmp_path: Path, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        generate_many_series(tmp_path / "x.nwb", **kwargs)
    assert os.listdir(tmp_path) == []


# -- content -------------------------------------------------------------------------------------
def test_reads_back_with_pynwb(small: GeneratedInfo) -> None:
    io, nwb = _read_clean(small.path)
    with io:
        n_sweeps = N // 4
        plan = sweep_plan(n_sweeps)
        assert sorted(nwb.acquisition) == [f"data_{i:05d}_AD0" for i in range(n_sweeps)]
        assert sorted(nwb.stimulus) == [f"data_{i:05d}_DA0" for i in range(n_sweeps)]
        for i, (_rep, _run, protocol, amplitude) in enumerate(plan):
            resp, stim = nwb.acquisition[f"data_{i:05d}_AD0"], nwb.stimulus[f"data_{i:05d}_DA0"]
            assert resp.sweep_number == stim.sweep_number == i
            assert resp.data.dtype == np.int16 and stim.data.dtype == np.float32
            assert 1_000 <= resp.data.shape[0] == protocol.n_samples <= 20_000
            assert resp.rate == protocol.rate and resp.conversion != 1.0
            assert resp.description and resp.comments and resp.electrode is not None
            assert np.isclose(np.abs(stim.data[:]).max(), abs(amplitude))
        assert len(nwb.intracellular_recordings) == n_sweeps
        assert len(nwb.icephys_simultaneous_recordings) == n_sweeps
        assert len(nwb.icephys_sequential_recordings) == len({run for _, run, _, _ in plan})
        assert len(nwb.icephys_repetitions) >= 1 and len(nwb.icephys_experimental_conditions) >= 1

        behavior = nwb.processing["behavior"]
        series = [s for c in behavior.data_interfaces.values()
                  for s in ([c] if isinstance(c, pynwb.TimeSeries) else c.children)]
        assert len(series) == N - 2 * n_sweeps
        kinds = {type(c).__name__ for c in behavior.data_interfaces.values()}
        assert {"Position", "BehavioralTimeSeries", "TimeSeries"} <= kinds
        for s in series:
            assert s.timestamps is not None and s.rate is None
            assert 500 <= len(s.timestamps) <= 50_000 and len(s.data) == len(s.timestamps)
            assert s.description and s.unit

        trials = nwb.trials.to_dataframe()
        assert 10 <= len(trials.columns) <= 20 and len(trials) >= 100
        assert isinstance(trials["lick_times"].iloc[0], list | np.ndarray)
        assert trials["trial_type"].map(type).eq(str).all()
        assert (trials["stop_time"] > trials["start_time"]).all()
        assert len(nwb.processing["icephys"]["action_potentials"]) > 0


def test_signals_are_realistic(small: GeneratedInfo) -> None:
    io, nwb = _read_clean(small.path)
    with io:
        # a sweep that fired: resting near -70 mV before the step, spikes overshoot 0 mV
        aps = nwb.processing["icephys"]["action_potentials"].to_dataframe()
        resp = nwb.acquisition[f"data_{aps['sweep_number'].iloc[0]:05d}_AD0"]
        v = resp.data[:] * resp.conversion
        assert resp.stimulus_description == "long_square"
        assert -0.08 < np.median(v[:1000]) < -0.06 and v.max() > 0.0
        assert 0.0 < np.std(v[:1000]) < 1e-3  # quiet baseline, not silent
        assert (aps["peak"] > 0).all() and (aps["trough"] < aps["threshold"]).all()
        assert aps["half_width"].between(2e-4, 1e-3).all()
        # behaviour: smooth signals (strong lag-1 autocorrelation) on irregular clocks
        for c in nwb.processing["behavior"].data_interfaces.values():
            for s in [c] if isinstance(c, pynwb.TimeSeries) else c.children:
                x = np.asarray(s.data[:], dtype=float).reshape(len(s.data), -1)[:, 0]
                if np.ptp(x) > 0 and s.name.split("_0")[0] != "lick_sensor":
                    assert np.corrcoef(x[:-1], x[1:])[0, 1] > 0.8, s.name
                dt = np.diff(s.timestamps[:])
                assert (dt > 0).all() and dt.std() > 0


def test_object_count_scales_with_n_series(small: GeneratedInfo, tmp_path: Path) -> None:
    groups, datasets = count_objects(small.path)
    bigger = generate_many_series(tmp_path / "b.nwb", n_series=2 * N)
    groups2, datasets2 = count_objects(bigger.path)
    # each extra series is at least a group and a data dataset
    assert groups2 + datasets2 >= groups + datasets + 2 * N


def test_default_size_has_hundreds_of_objects(tmp_path: Path) -> None:
    # called the way the CLI and the demo call every generator
    info = GENERATORS["many-series"](tmp_path / "default.nwb", size=None, shape=None, seed=0,
                                     progress=True)
    groups, datasets = count_objects(info.path)
    assert groups + datasets >= 400
    assert 1e6 < os.path.getsize(info.path) < 60e6  # a few MB to a few tens of MB
    assert info.seconds < 15


# -- determinism ---------------------------------------------------------------------------------
def test_same_seed_identical_datasets(small: GeneratedInfo, small_again: GeneratedInfo) -> None:
    a, b = _contents(small.path), _contents(small_again.path)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_equal(a[name], b[name], err_msg=name)


def test_different_seed_different_data(small: GeneratedInfo, tmp_path: Path) -> None:
    other = generate_many_series(tmp_path / "other.nwb", n_series=N, seed=1)
    with h5py.File(small.path, "r") as f, h5py.File(other.path, "r") as g:
        assert not np.array_equal(f[small.dataset][()], g[other.dataset][()])
        assert not np.array_equal(f["intervals/trials/start_time"][()],
                                  g["intervals/trials/start_time"][()])


# -- paged aggregation ---------------------------------------------------------------------------
def test_paged_file_strategy_and_equal_data(small: GeneratedInfo,
                                            small_paged: GeneratedInfo) -> None:
    with h5py.File(small_paged.path, "r") as f:
        plist = f.id.get_create_plist()
        assert plist.get_file_space_strategy()[0] == h5py.h5f.FSPACE_STRATEGY_PAGE
        assert plist.get_file_space_page_size() == MiB
    with h5py.File(small.path, "r") as f:
        assert f.id.get_create_plist().get_file_space_strategy()[0] != (
            h5py.h5f.FSPACE_STRATEGY_PAGE)
    a, b = _contents(small.path), _contents(small_paged.path)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_equal(a[name], b[name], err_msg=name)
    for info in (small, small_paged):  # both read back with pynwb, to the same values
        io, nwb = _read_clean(info.path)
        with io:
            np.testing.assert_array_equal(nwb.acquisition["data_00000_AD0"].data[:],
                                          a[small.dataset.lstrip("/")])


# -- files ---------------------------------------------------------------------------------------
def test_no_temp_file_left(small: GeneratedInfo, small_paged: GeneratedInfo) -> None:
    for info in (small, small_paged):
        assert os.listdir(os.path.dirname(info.path)) == [os.path.basename(info.path)]


def test_temp_file_removed_on_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(self: pynwb.NWBHDF5IO, *args: Any, **kwargs: Any) -> None:
        # the partial file exists under its temporary name while pynwb writes
        (name,) = [p.name for p in tmp_path.iterdir()]
        assert re.fullmatch(rf"\.m\.nwb\.tmp-{os.getpid()}-[0-9a-f]{{8}}", name), name
        raise RuntimeError("boom")

    monkeypatch.setattr(pynwb.NWBHDF5IO, "write", fail)
    with pytest.raises(RuntimeError, match="boom"):
        generate_many_series(tmp_path / "m.nwb", n_series=8)
    assert os.listdir(tmp_path) == []


def test_progress_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    generate_many_series(tmp_path / "p.nwb", n_series=8, progress=True)
    out, err = capsys.readouterr()
    assert out == "" and "many-series" in err


def test_sweep_plan_cycles_protocols() -> None:
    plan = sweep_plan(60)
    assert len(plan) == 60 and plan[0][2] is PROTOCOLS[0]
    assert [p.name for p in dict.fromkeys(p for _, _, p, _ in plan)] == [
        p.name for p in PROTOCOLS]
    runs = [run for _, run, _, _ in plan]
    assert runs == sorted(runs)
