"""Synthetic NWB session of many small objects: a file whose remote *open* dominates its reads.

pynwb opens a file by walking the metadata of every group and dataset, each a few small range
requests over HTTP; intracellular sessions (a stimulus and a response per sweep, the icephys
tables) and behaviour-heavy ones have hundreds of objects and take tens of seconds to open over
a 100 ms link, however little data they hold. This file has their object shapes, dtypes,
attributes and signals, to measure remedies (kerchunk references, HDF5 paged aggregation):

* whole-cell sweeps: a stimulus (``/stimulus/presentation/data_NNNNN_DA0``, float32 with a
  conversion) and a response (``/acquisition/data_NNNNN_AD0``, int16 counts with a conversion;
  MIES naming) of a leaky neuron with action potentials (current clamp) or with leak,
  capacitive and Na/K currents (voltage clamp); all five icephys tables; a table of the APs;
* behaviour in a ``behavior`` module: pose ``Position`` containers whose ``SpatialSeries``
  share camera timestamps (links), ``BehavioralTimeSeries`` of DAQ signals sharing a clock,
  plain ``TimeSeries``, each 500-50,000 irregular timestamps long;
* a trials table of 16 columns (floats, ints, booleans, strings, a ragged column).

:data:`DATASET_PATH` (``DATASET_PATHS["many-series"]``) is the first sweep's response data,
int16 x 20,000, the same whatever the seed and ``n_series``.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np
from hdmf.backends.hdf5.h5_utils import H5DataIO
from hdmf.common import DynamicTable, VectorData
from pynwb import NWBFile, TimeSeries, icephys
from pynwb.behavior import BehavioralTimeSeries, Position, SpatialSeries
from scipy.signal import lfilter
from tqdm.auto import tqdm

from layoutbench.synthetic._nwb import (
    DATASET_PATHS,
    GeneratedInfo,
    block_rng,
    check_seed,
    synthetic_nwbfile,
    write_nwbfile,
)

log = logging.getLogger(__name__)

KIND = "many-series"
DATASET_PATH = DATASET_PATHS[KIND]
DEFAULT_N_SERIES = 300
SESSION_SECONDS = 1800.0
CC_CONVERSION = 5e-6  # volts per count of current-clamp responses (+-164 mV)
VC_CONVERSION = 5e-13  # amperes per count of voltage-clamp responses (+-16 nA)
HOLD_MV = -70.0
_CELL, _SWEEP, _BEHAVIOR, _TRIALS = 0, 1, 2, 3  # random streams


@dataclass(frozen=True)
class Protocol:
    """A stimulus family, one sweep per amplitude: pA (the end of a ramp) or command mV."""

    name: str
    clamp: str
    rate: float
    n_samples: int
    amplitudes: tuple[float, ...]
    onset: float
    width: float
    ramp: bool = False


PROTOCOLS = (
    Protocol("long_square", "cc", 20e3, 20_000, tuple(range(-110, 331, 40)), 0.1, 0.6),
    Protocol("short_square", "cc", 50e3, 2_500, (900, 1100, 1300, 1500), 0.01, 0.003),
    Protocol("ramp", "cc", 20e3, 16_000, (400, 500), 0.05, 0.7, ramp=True),
    Protocol("test_pulse", "vc", 20e3, 1_000, (-60, -60, -60), 0.01, 0.02),
    Protocol("vc_steps", "vc", 20e3, 8_000, (-90, -70, -50, -30, -10, 10, 30), 0.05, 0.2),
)


def sweep_plan(n_sweeps: int) -> list[tuple[int, int, Protocol, float]]:
    """(repetition, sequential run, protocol, amplitude) of each sweep, protocols in cycle."""
    plan: list[tuple[int, int, Protocol, float]] = []
    run = 0
    while len(plan) < n_sweeps:
        p = PROTOCOLS[run % len(PROTOCOLS)]
        plan += [(run // len(PROTOCOLS), run, p, float(a)) for a in p.amplitudes]
        run += 1
    return plan[:n_sweeps]


def _smooth(rng: np.random.Generator, n: int, tau: float) -> np.ndarray:
    """Unit-variance noise low-passed twice by an AR(1) of ``tau`` samples (no white noise)."""
    b = math.exp(-1.0 / max(tau, 1e-3))
    x = lfilter([1 - b], [1, -b], lfilter([1 - b], [1, -b], rng.standard_normal(n)))
    return x / (x.std() or 1.0)


def _gz(data: np.ndarray) -> H5DataIO:
    """neuroconv's default for series: gzip level 4; one chunk, as these arrays are small."""
    return H5DataIO(data=data, compression="gzip", compression_opts=4, chunks=data.shape)


#: Uniform ranges (SI units; gain in Hz per pA above rheobase) of a layer 2/3 pyramidal cell.
CELL_RANGES = {"v_rest": (-0.072, -0.065), "r_in": (120e6, 300e6), "tau": (0.012, 0.03),
               "v_th": (-0.048, -0.042), "gain": (0.08, 0.2), "peak": (0.02, 0.04),
               "ahp": (0.006, 0.012), "r_s": (12e6, 22e6), "g_na": (4e-8, 8e-8),
               "g_k": (1.5e-8, 3e-8)}
Cell = dict[str, float]


def stimulus(p: Protocol, amplitude: float) -> np.ndarray:
    """The command: pA for current clamp, mV for voltage clamp (holding at -70 mV)."""
    t = np.arange(p.n_samples) / p.rate
    on = (t >= p.onset) & (t < p.onset + p.width)
    if p.clamp == "vc":
        return np.where(on, amplitude, HOLD_MV)
    level = amplitude * (t - p.onset) / p.width if p.ramp else np.full(t.shape, amplitude)
    return np.where(on, level, 0.0)


def current_clamp(c: Cell, stim_pa: np.ndarray, rate: float, rng: np.random.Generator,
                  excitability: float = 1.0) -> tuple[np.ndarray, list[tuple[int, float]]]:
    """Membrane potential (V) and (index, half-width s) of each action potential.

    The passive response is the RC filter of the injected current; above threshold the cell
    fires at ``gain * (I - rheobase)`` Hz with adaptation, each spike a fast peak and an AHP.
    """
    dt = 1.0 / rate
    alpha = dt / c["tau"]
    v = c["v_rest"] + c["r_in"] * 1e-12 * lfilter([alpha], [1, alpha - 1], stim_pa)
    supra = v >= c["v_th"]
    rheobase = (c["v_th"] - c["v_rest"]) / c["r_in"] * 1e12
    since = np.cumsum(supra) * dt  # time spent above threshold: slows firing (adaptation)
    fire = np.where(supra, excitability * c["gain"] * (stim_pa - rheobase), 0.0)
    phase = 0.8 + np.cumsum(np.maximum(fire, 0.0) / (1.0 + since) * dt)
    onsets = np.flatnonzero(np.diff(np.floor(phase)) > 0) + 1
    v = np.where(supra, c["v_th"] - 0.004, v)
    t = np.arange(int(0.03 * rate)) * dt
    spikes = []
    for k in onsets:
        hw = rng.uniform(0.25e-3, 0.4e-3)
        wave = (c["peak"] - c["v_th"] + 0.004) * np.exp(-(((t - 1.5 * hw) / hw) ** 2))
        wave -= c["ahp"] * (np.exp(-t / 0.008) - np.exp(-t / 0.0008))
        n = min(len(wave), len(v) - k)
        v[k:k + n] += wave[:n]
        spikes.append((int(k), hw * 2 * math.sqrt(math.log(2))))
    noise = 0.15e-3 * _smooth(rng, len(v), 0.5e-3 * rate) + 0.05e-3 * rng.standard_normal(len(v))
    return v + noise, spikes


def voltage_clamp(c: Cell, cmd_mv: np.ndarray, rate: float,
                  rng: np.random.Generator) -> np.ndarray:
    """Holding current (A): leak, capacitive transients, fast Na and delayed K on steps."""
    dt = 1.0 / rate
    v = cmd_mv * 1e-3
    c_m = c["tau"] / c["r_in"]
    i = (v - c["v_rest"]) / c["r_in"]
    i += lfilter([1 / c["r_s"]], [1, -math.exp(-dt / (c["r_s"] * c_m))], np.diff(v, prepend=v[0]))
    step = np.cumsum(np.diff(v, prepend=v[0]) != 0)  # segment index after each edge
    start = np.searchsorted(step, step)  # first sample of each sample's segment
    t = (np.arange(len(v)) - start) * dt
    act = 1.0 / (1.0 + np.exp(-(v + 0.035) / 0.006))
    i += c["g_na"] * act * (v - 0.05) * (np.exp(-t / 1e-3) - np.exp(-t / 0.3e-3)) * (step > 0)
    act_k = 1.0 / (1.0 + np.exp(-(v + 0.025) / 0.008))
    i += c["g_k"] * act_k * (v + 0.09) * (1 - np.exp(-t / 3e-3)) ** 3 * (step > 0)
    return i + 4e-12 * _smooth(rng, len(v), 0.1e-3 * rate) + 1e-12 * rng.standard_normal(len(v))


def _counts(x: np.ndarray, conversion: float) -> np.ndarray:
    """int16 ADC counts of ``x`` (saturating, like the amplifier's digitiser)."""
    return np.clip(np.round(x / conversion), -32768, 32767).astype(np.int16)


def add_icephys(nwbfile: NWBFile, seed: int, n_sweeps: int, tick: Callable[[], None]) -> int:
    """Electrode, sweeps, icephys tables and an action-potential table; return the spike count."""
    rng = block_rng(seed, KIND, _CELL)
    c = {k: float(rng.uniform(*r)) for k, r in CELL_RANGES.items()}
    model = nwbfile.create_device_model(name="MultiClamp 700B", manufacturer="Molecular Devices",
                                        description="patch-clamp amplifier")
    device = nwbfile.create_device(name="amplifier", description="patch-clamp amplifier",
                                   model=model)
    electrode = icephys.IntracellularElectrode(
        name="electrode_0", device=device, description="whole-cell, K-gluconate internal",
        location="VISp layer 2/3", cell_id="cell_0", seal="2.1 GOhm", filtering="10 kHz Bessel",
        resistance=f"{rng.uniform(5e6, 8e6):.3g} Ohm",
        initial_access_resistance=f"{c['r_s']:.3g} Ohm")
    nwbfile.add_icephys_electrode(electrode)
    aps: list[tuple[float, ...]] = []  # (sweep, peak time, threshold, peak, trough, half-width)
    plan = sweep_plan(n_sweeps)
    repetitions: dict[int, list[int]] = {}
    sequential: dict[int, list[int]] = {}
    start = 5.0
    for sweep, (rep, run, p, amplitude) in enumerate(plan):
        srng = block_rng(seed, KIND, _SWEEP, sweep)
        command = stimulus(p, amplitude)
        common: dict[str, Any] = dict(electrode=electrode, rate=p.rate, starting_time=start,
                                      sweep_number=np.uint32(sweep), stimulus_description=p.name,
                                      comments=f"repetition {rep}, amplitude {amplitude:g}")
        if p.clamp == "cc":
            v, spikes = current_clamp(c, command, p.rate, srng, 1.0 + 0.3 * (rep % 2))
            stim: TimeSeries = icephys.CurrentClampStimulusSeries(
                name=f"data_{sweep:05d}_DA0", data=_gz(command.astype(np.float32)),
                conversion=1e-12, description=f"{p.name} current injection (pA)", **common)
            resp: TimeSeries = icephys.CurrentClampSeries(
                name=f"data_{sweep:05d}_AD0", data=_gz(_counts(v, CC_CONVERSION)),
                conversion=CC_CONVERSION, gain=1.0, bridge_balance=0.9 * c["r_s"],
                description="membrane potential", **common)
            for k, hw in spikes:
                w = v[k:k + int(0.03 * p.rate)]
                aps.append((sweep, start + (k + int(np.argmax(w))) / p.rate, v[k - 1], w.max(),
                            w.min(), hw))
        else:
            i = voltage_clamp(c, command, p.rate, srng)
            stim = icephys.VoltageClampStimulusSeries(
                name=f"data_{sweep:05d}_DA0", data=_gz(command.astype(np.float32)),
                conversion=1e-3, description=f"{p.name} command potential (mV)", **common)
            resp = icephys.VoltageClampSeries(
                name=f"data_{sweep:05d}_AD0", data=_gz(_counts(i, VC_CONVERSION)),
                conversion=VC_CONVERSION, gain=0.5e9, whole_cell_series_resistance_comp=c["r_s"],
                description="holding current", **common)
        row = nwbfile.add_intracellular_recording(electrode=electrode, stimulus=stim,
                                                  response=resp, id=sweep)
        sim = nwbfile.add_icephys_simultaneous_recording(recordings=[row])
        sequential.setdefault(run, []).append(sim)
        start += p.n_samples / p.rate + srng.uniform(3.0, 8.0)
        tick()
    for run, sims in sequential.items():
        seq = nwbfile.add_icephys_sequential_recording(
            simultaneous_recordings=sims, stimulus_type=PROTOCOLS[run % len(PROTOCOLS)].name)
        repetitions.setdefault(run // len(PROTOCOLS), []).append(seq)
    conditions: dict[int, list[int]] = {}
    for rep, seqs in repetitions.items():
        conditions.setdefault(rep % 2, []).append(nwbfile.add_icephys_repetition(
            sequential_recordings=seqs))
    table = nwbfile.get_icephys_experimental_conditions()
    table.add_column("condition", "bath solution")
    for cond, reps in conditions.items():
        nwbfile.add_icephys_experimental_condition(
            repetitions=reps, condition="ACSF" if cond == 0 else "ACSF + 50 uM 4-AP")
    values = np.array(aps, dtype=np.float64).reshape(-1, 6).T  # typed even when empty
    columns = [VectorData(name=name, description=desc, data=col) for (name, desc), col in zip(
        [("sweep_number", "sweep of the spike"), ("peak_time", "s, session time"),
         ("threshold", "V"), ("peak", "V"), ("trough", "V, minimum of the AHP"),
         ("half_width", "s")], [values[0].astype(np.uint32), *values[1:]], strict=True)]
    module = nwbfile.create_processing_module("icephys", "features of the whole-cell sweeps")
    module.add(DynamicTable(name="action_potentials", columns=columns, id=np.arange(len(aps)),
                            description="action potentials of the current-clamp sweeps"))
    return len(aps)


def _timestamps(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """Camera/DAQ frame times: 1% jitter and a few dropped frames, somewhere in the session."""
    dt = np.full(n, 1.0 / rate) * (1 + 0.01 * rng.standard_normal(n))
    dt[rng.random(n) < 0.002] *= 2
    return rng.uniform(0, max(1.0, SESSION_SECONDS - n / rate)) + np.cumsum(dt) - dt[0]


BODY_PARTS = ("nose", "left_ear", "right_ear", "neck", "body_centre", "tail_base", "left_paw",
              "right_paw")
#: (name, unit, description, signal from (rng, n, rate)) of DAQ-sampled behaviour signals.
SIGNALS = (
    ("running_speed", "m/s", "treadmill speed from the rotary encoder",
     lambda r, n, hz: 0.15 * np.maximum(_smooth(r, n, 2.0 * hz) + 0.3, 0)),
    ("pupil_diameter", "mm", "pupil diameter from the eye camera",
     lambda r, n, hz: 2.5 + 0.4 * _smooth(r, n, 3.0 * hz) + 0.01 * r.standard_normal(n)),
    ("lick_sensor", "volts", "capacitive lick sensor",
     lambda r, n, hz: 4.8 * (_smooth(r, n, 0.05 * hz) > 1.8) + 0.02 * r.standard_normal(n)),
    ("whisker_angle", "degrees", "mean whisker angle",
     lambda r, n, hz: 10 * _smooth(r, n, 1.0 * hz) * (1 + np.sin(np.arange(n) * 16 * np.pi / hz))
     + 0.3 * r.standard_normal(n)),
    ("wheel_position", "radians", "cumulative wheel angle",
     lambda r, n, hz: np.cumsum(np.maximum(_smooth(r, n, 2.0 * hz), 0)) / hz),
)


def add_behavior(nwbfile: NWBFile, seed: int, n_series: int, tick: Callable[[], None]) -> None:
    """``n_series`` behaviour series in streams that share timestamps, as real rigs write."""
    module = nwbfile.create_processing_module("behavior", "tracked and sensed behaviour")
    done = stream = 0
    while done < n_series:
        rng = block_rng(seed, KIND, _BEHAVIOR, stream)
        n = int(math.exp(rng.uniform(math.log(500), math.log(50_000))))
        shape = stream % 3
        rate = float(rng.choice([30.0, 60.0])) if shape == 0 else float(rng.choice([100., 200.]))
        ts: Any = _gz(_timestamps(rng, n, rate))
        k = min(n_series - done, int(rng.integers(4, 9)) if shape == 0 else
                int(rng.integers(2, 6)) if shape == 1 else 1)
        if shape == 0:
            container: Any = Position(name=f"pose_camera{stream:02d}")
            heading = np.cumsum(0.05 * _smooth(rng, n, 0.5 * rate))
            centre = 0.25 * np.tanh(np.column_stack([_smooth(rng, n, 4 * rate) for _ in "xy"]))
            for part in range(k):
                off = rng.uniform(-0.04, 0.04, 2)
                rot = np.column_stack([off[0] * np.cos(heading) - off[1] * np.sin(heading),
                                       off[0] * np.sin(heading) + off[1] * np.cos(heading)])
                xy = centre + rot + 0.001 * rng.standard_normal((n, 2))
                name = BODY_PARTS[part]
                ss = SpatialSeries(name=name, data=_gz(xy.astype(np.float32)), timestamps=ts,
                                   reference_frame="arena centre, x east, y north",
                                   description=f"{name} position (pose estimation)",
                                   comments="keypoint tracking, likelihood > 0.9")
                container.add_spatial_series(ss)
                ts = ss  # the other parts link to the first part's timestamps
                tick()
        else:
            container = BehavioralTimeSeries(name=f"daq{stream:02d}") if shape == 1 else module
            for j in range(k):
                name, unit, desc, make = SIGNALS[(stream + j) % len(SIGNALS)]
                series = TimeSeries(name=name if shape == 1 else f"{name}_{stream:02d}",
                                    data=_gz(make(rng, n, rate).astype(np.float32)), unit=unit,
                                    timestamps=ts, description=desc, comments=f"{rate:g} Hz DAQ")
                (container.add if shape == 2 else container.add_timeseries)(series)
                ts = series
                tick()
        if container is not module:
            module.add(container)
        done += k
        stream += 1


def add_trials(nwbfile: NWBFile, seed: int) -> None:
    """A two-alternative task: trials back to back over the session, 14 extra columns."""
    rng = block_rng(seed, KIND, _TRIALS)
    for name, desc in [
        ("trial_type", "go or nogo"), ("stim_side", "left or right"), ("contrast", "0-1"),
        ("stim_on_time", "s"), ("go_cue_time", "s"), ("response_time", "s; NaN: no response"),
        ("choice", "-1 left, 0 none, 1 right"), ("correct", "choice matched the stimulus side"),
        ("feedback_type", "1 reward, -1 timeout"), ("reward_volume", "uL"),
        ("block_index", "block of constant probability_left"),
        ("probability_left", "prior of a left stimulus"), ("quiescence_period", "s")]:
        nwbfile.add_trial_column(name, desc)
    nwbfile.add_trial_column("lick_times", "s, all licks in the trial", index=True)
    t, trial = 2.0, 0
    while t < SESSION_SECONDS - 10:
        block = trial // 60
        p_left = (0.5, 0.8, 0.2)[block % 3]
        side = "left" if rng.random() < p_left else "right"
        quiet = rng.uniform(0.4, 0.7)
        stim_on = t + quiet
        go = stim_on + rng.uniform(0.1, 0.3)
        responded = rng.random() < 0.9
        rt = go + rng.lognormal(math.log(0.35), 0.4) if responded else math.nan
        choice = (1 if (rng.random() < 0.8) == (side == "right") else -1) if responded else 0
        correct = choice == (1 if side == "right" else -1)
        stop = (rt if responded else go + 1.5) + rng.uniform(1.0, 2.0)
        licks = np.sort(rng.uniform(go, stop, int(rng.poisson(6 if correct else 1))))
        nwbfile.add_trial(start_time=t, stop_time=stop, trial_type="go" if trial % 5 else "nogo",
                          stim_side=side, contrast=float(rng.choice([0.0, 0.06, 0.12, 0.25, 1])),
                          stim_on_time=stim_on, go_cue_time=go, response_time=rt, choice=choice,
                          correct=bool(correct), feedback_type=1 if correct else -1,
                          reward_volume=3.0 if correct else 0.0, block_index=block,
                          probability_left=p_left, quiescence_period=quiet,
                          lick_times=licks.tolist())
        t, trial = stop + rng.uniform(0.5, 1.0), trial + 1


def count_objects(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(groups, datasets) of an HDF5 file, root excluded: what a full open must visit."""
    kinds: list[bool] = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda _name, obj: kinds.append(isinstance(obj, h5py.Group)))
    return sum(kinds), len(kinds) - sum(kinds)


def generate_many_series(path: str | os.PathLike[str], *, n_series: int = DEFAULT_N_SERIES,
                         seed: int = 0, page_size: int | None = None, progress: bool = False,
                         size: int | None = None, shape: tuple[int, ...] | None = None,
                         ) -> GeneratedInfo:
    """Write an NWB session of ~``n_series`` small series and their tables at ``path``.

    Parameters
    ----------
    path
        Output ``.nwb`` file; written under a temporary name and renamed when complete.
    n_series
        Number of TimeSeries (at least 4): ``n_series // 4`` sweeps of a stimulus and a
        response each, the rest behaviour. The object count grows ~linearly with it
        (~1,200 groups and datasets at the default 300, ~830 at 200).
    seed
        Same seed and ``n_series``, identical datasets, whether ``page_size`` is set or not.
    page_size
        HDF5 paged aggregation page size in bytes (``fs_strategy="page"``), or ``None``.
    progress
        Show a tqdm bar of series built on stderr.
    size, shape
        Accepted for the interface the CLI and demo share with the other kinds; this file has
        no main array to scale, so anything but ``None`` is a ``ValueError`` (use ``n_series``).

    Returns
    -------
    GeneratedInfo
        ``dataset``/``shape``/``dtype``/``nbytes`` describe :data:`DATASET_PATH`.
    """
    if size is not None:
        raise ValueError("many-series has no --size; use n_series")
    if shape is not None:
        raise ValueError("many-series has no shape; use n_series")
    if isinstance(n_series, bool) or not isinstance(n_series, int | np.integer) or n_series < 4:
        raise ValueError(f"many-series: n_series must be an integer >= 4, got {n_series!r}")
    if page_size is not None and page_size < 512:
        raise ValueError(f"page_size must be at least 512 bytes, got {page_size}")
    seed = check_seed(seed)
    started = time.perf_counter()
    n_sweeps = n_series // 4
    nwbfile = synthetic_nwbfile(
        KIND, seed, (int(n_series),),
        f"Synthetic in vivo whole-cell recording during a two-alternative task, generated by "
        f"layoutbench (seed={seed}, n_series={n_series})",
        experiment_description="many small objects, to benchmark the remote open of NWB files",
    )
    with tqdm(total=n_series, desc=KIND, unit="series", file=sys.stderr,
              disable=not progress) as bar:
        n_spikes = add_icephys(nwbfile, seed, n_sweeps, lambda: bar.update(2))
        add_behavior(nwbfile, seed, n_series - 2 * n_sweeps, lambda: bar.update(1))
        add_trials(nwbfile, seed)
        bar.set_postfix_str("writing")  # pynwb's write is about half of the time
        final = write_nwbfile(path, nwbfile, page_size=page_size)
    seconds = time.perf_counter() - started
    groups, datasets = count_objects(final)
    n = PROTOCOLS[0].n_samples
    log.info("wrote %s: %d series, %d spikes, %d trials, %d groups + %d datasets, %.1f MB "
                "in %.1f s", final, n_series, n_spikes, len(nwbfile.trials), groups, datasets,
                os.path.getsize(final) / 1e6, seconds)
    return GeneratedInfo(path=final, kind=KIND, dataset=DATASET_PATH, shape=(n,),
                         dtype="int16", chunks=(n,), nbytes=2 * n, seconds=seconds)
