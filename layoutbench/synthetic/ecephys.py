"""Synthetic extracellular recording: an ``ElectricalSeries`` from a 64-channel probe in NWB.

The access patterns we benchmark (one channel band-passed over minutes, one second of all
channels) and the codecs we compare are sensitive to what real wideband data look like: a
1/f-like local field potential shared by neighbouring channels, sparse large spikes seen on a
few neighbouring channels, and thermal noise that sets the floor of compressibility. Each part
is generated here with the minimum machinery that keeps it realistic and streamable:

* LFP: a few latent pink-noise sources placed along the probe, each a sum of AR(1) processes at
  time constants from 2 ms to 250 ms (a sum of Lorentzians approximates 1/f), filtered with
  :func:`scipy.signal.lfilter` whose state ``zi`` is carried from block to block, and mixed
  onto channels with a Gaussian falloff with distance;
* spikes: ~one unit per two channels, Poisson spike times (with a refractory period) drawn once
  for the whole recording, a ~2 ms biphasic template per unit on its 2-5 nearest channels;
  spikes straddling a block boundary contribute to both blocks;
* white thermal noise, per-channel level.

Values are int16 counts of an Intan-like amplifier (0.195 uV per bit).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pynwb import NWBFile
from pynwb.ecephys import ElectricalSeries
from scipy.signal import lfilter

from layoutbench.plan.layout import Layout
from layoutbench.synthetic._nwb import (
    BlockModel,
    GeneratedInfo,
    block_rng,
    check_seed,
    resolve_layout,
    resolve_shape,
    synthetic_nwbfile,
    write_nwb,
)
from layoutbench.synthetic.resources import check_resources

log = logging.getLogger(__name__)

DEFAULT_SHAPE = (1_800_000, 64)  # 60 s of 64 channels at 30 kHz
DTYPE = np.dtype("int16")
#: Intan RHD2000 conversion: volts per count.
CONVERSION = 0.195e-6
#: Samples per generation block (~1.1 s at 30 kHz), fixed so data never depend on buffering.
BLOCK_SAMPLES = 2**15
#: Time constants (s) of the AR(1) bank that makes each latent LFP source ~1/f.
LFP_TAUS = (0.002, 0.01, 0.05, 0.25)
LFP_STD = 25.0  # counts (~5 uV) of LFP per channel
NOISE_STD = (6.0, 10.0)  # counts, per-channel range of thermal noise
SPIKE_PEAK = (50.0, 300.0)  # counts, range of the trough on a unit's best channel
COLUMN_PITCH_UM, ROW_PITCH_UM = 32.0, 20.0  # two-column probe geometry
_STRUCTURE, _LFP, _NOISE = 0, 1, 2  # random streams


def probe_positions(n_channels: int) -> np.ndarray:
    """(channels, 2) x/y positions in um of a two-column probe, channel order by depth."""
    idx = np.arange(n_channels)
    return np.column_stack([(idx % 2) * COLUMN_PITCH_UM, (idx // 2) * ROW_PITCH_UM])


@dataclass
class _Unit:
    channels: np.ndarray  # channel indices of the footprint
    amplitudes: np.ndarray  # counts of the template trough on each of them (positive)
    onsets: np.ndarray  # sorted sample index of each waveform's first sample
    scales: np.ndarray  # per-spike amplitude jitter
    waveforms: np.ndarray  # (samples, footprint channels) float32 template in counts


def _template(rng: np.random.Generator, width: int, rate: float) -> np.ndarray:
    """A ~2 ms biphasic extracellular waveform, trough normalised to -1."""
    t = np.arange(width) / rate * 1e3  # ms
    trough = np.exp(-0.5 * ((t - 0.5) / rng.uniform(0.08, 0.18)) ** 2)
    repol = rng.uniform(0.2, 0.5) * np.exp(-0.5 * ((t - rng.uniform(0.8, 1.1))
                                                   / rng.uniform(0.2, 0.4)) ** 2)
    wave = repol - trough
    return wave / -wave.min()


def _spike_onsets(rng: np.random.Generator, firing_rate: float, n_samples: int,
                  refractory: int, rate: float) -> np.ndarray:
    """Poisson spike onsets with dead time ``refractory`` samples, for the whole recording.

    A dead time at least as long as the template keeps one unit's waveforms from overlapping,
    so they can be added with plain fancy indexing.
    """
    mean_isi = rate / firing_rate
    chunks: list[np.ndarray] = []
    last = -rng.exponential(mean_isi)
    while last < n_samples:
        n = int(1.2 * (n_samples - last) / mean_isi) + 16
        isi = refractory + rng.exponential(max(mean_isi - refractory, 1.0), n)
        times = last + np.cumsum(isi)
        chunks.append(times)
        last = float(times[-1])
    onsets = np.floor(np.concatenate(chunks)).astype(np.int64)
    return onsets[(onsets >= 0) & (onsets < n_samples)]


class EcephysModel(BlockModel):
    """The wideband recording as a deterministic function of (seed, shape, rate).

    Structure (geometry, LFP mixing, units and all spike times) is drawn up front; LFP
    innovations and thermal noise are drawn per generation block from seeded streams. The LFP
    filters carry state, so blocks are made in order; reading backwards restarts the (cheap)
    latent filtering from the beginning.
    """

    def __init__(self, shape: Sequence[int] = DEFAULT_SHAPE, *, seed: int = 0,
                 rate: float = 30000.0) -> None:
        super().__init__()
        if len(shape) != 2:
            raise ValueError(f"ecephys: shape must be (samples, channels), got {tuple(shape)}")
        if rate <= 0:
            raise ValueError(f"ecephys: rate must be positive, got {rate}")
        n_samples, n_channels = (int(n) for n in shape)
        self.shape = (n_samples, n_channels)
        self.dtype = DTYPE
        self.block_len = BLOCK_SAMPLES
        self.seed = check_seed(seed)
        self.rate = float(rate)
        self.positions = probe_positions(n_channels)
        rng = block_rng(self.seed, "ecephys", _STRUCTURE)
        self._init_lfp(rng)
        self.noise_std = rng.uniform(*NOISE_STD, n_channels).astype(np.float32)
        self.width = max(3, round(0.002 * self.rate))
        self.units = [self._make_unit(rng) for _ in range(max(3, round(n_channels / 2)))]
        self._reset_lfp()

    # -- structure ------------------------------------------------------------------------------
    def _init_lfp(self, rng: np.random.Generator) -> None:
        depth = float(self.positions[:, 1].max())
        n_sources = max(2, math.ceil(depth / 100.0) + 1)
        src_y = np.linspace(0, depth, n_sources) + rng.normal(0, 20, n_sources)
        src_x = rng.uniform(-20, COLUMN_PITCH_UM + 20, n_sources)
        d2 = ((self.positions[None, :, 0] - src_x[:, None]) ** 2
              + (self.positions[None, :, 1] - src_y[:, None]) ** 2)
        mixing = rng.uniform(0.5, 1.5, n_sources)[:, None] * np.exp(-d2 / (2 * 120.0**2))
        common = 0.3 * np.ones((1, len(self.positions)))  # a weak shared (reference) component
        mixing = np.vstack([mixing, common])
        # scale so the LFP std is LFP_STD on the median channel (latents have unit variance)
        mixing *= LFP_STD / float(np.median(np.sqrt((mixing**2).sum(axis=0))))
        self._mixing = mixing.astype(np.float32)  # (latents, channels)
        self._alphas = np.exp(-1.0 / (np.asarray(LFP_TAUS) * self.rate))
        self._zi_init = self._alphas[:, None] * rng.standard_normal((len(LFP_TAUS), len(mixing)))

    def _make_unit(self, rng: np.random.Generator) -> _Unit:
        depth = float(self.positions[:, 1].max())
        pos = np.array([rng.uniform(-10, COLUMN_PITCH_UM + 10), rng.uniform(0, depth)])
        dist = np.sqrt(((self.positions - pos) ** 2).sum(axis=1))
        n_ch = min(len(dist), int(rng.integers(2, 6)))
        channels = np.argsort(dist, kind="stable")[:n_ch]
        peak = float(np.clip(rng.lognormal(np.log(110.0), 0.45), *SPIKE_PEAK))
        falloff = np.exp(-(dist[channels] ** 2 - dist[channels[0]] ** 2) / (2 * 25.0**2))
        firing = float(np.clip(rng.lognormal(np.log(3.0), 0.8), 0.2, 40.0))
        template = _template(rng, self.width, self.rate)
        onsets = _spike_onsets(rng, firing, self.shape[0], self.width, self.rate)
        amplitudes = peak * falloff
        return _Unit(channels=channels, amplitudes=amplitudes, onsets=onsets,
                     scales=np.clip(rng.normal(1.0, 0.08, len(onsets)), 0.7, 1.3).astype(
                         np.float32),
                     waveforms=(template[:, None] * amplitudes[None, :]).astype(np.float32))

    # -- blocks -----------------------------------------------------------------------------------
    def _reset_lfp(self) -> None:
        self._lfp_next = 0
        self._zi = self._zi_init.copy()

    def _latents(self, block: int) -> np.ndarray:
        """(samples, latents) LFP sources of ``block``; advances the filter state in order."""
        if block < self._lfp_next:
            log.debug("ecephys: rewinding LFP filters from block %d to 0", self._lfp_next)
            self._reset_lfp()
        n_lat = self._mixing.shape[0]
        out: np.ndarray = np.zeros((0, n_lat))
        while self._lfp_next <= block:
            start, stop = self.block_bounds(self._lfp_next)
            rng = block_rng(self.seed, "ecephys", _LFP, self._lfp_next)
            innov = rng.standard_normal((len(self._alphas), n_lat, stop - start))
            total = np.zeros((n_lat, stop - start))
            for k, alpha in enumerate(self._alphas):
                y, zf = lfilter([math.sqrt(1 - alpha**2)], [1.0, -alpha], innov[k], axis=-1,
                                zi=self._zi[k][:, None])
                self._zi[k] = zf[:, 0]
                total += y
            self._lfp_next += 1
            out = total.T / math.sqrt(len(self._alphas))
        return out

    def _add_spikes(self, data: np.ndarray, start: int) -> None:
        n = len(data)
        offsets = np.arange(self.width)
        for unit in self.units:
            # every waveform overlapping [start, start + n), including those begun before
            lo = np.searchsorted(unit.onsets, start - self.width + 1)
            hi = np.searchsorted(unit.onsets, start + n)
            if hi <= lo:
                continue
            idx = (unit.onsets[lo:hi] - start)[:, None] + offsets[None, :]
            valid = (idx >= 0) & (idx < n)
            waves = unit.scales[lo:hi, None, None] * unit.waveforms[None, :, :]
            data[idx[valid][:, None], unit.channels[None, :]] += waves[valid]

    def _make_block(self, block: int) -> np.ndarray:
        start, stop = self.block_bounds(block)
        latents = self._latents(block).astype(np.float32)
        data = latents @ self._mixing
        noise = block_rng(self.seed, "ecephys", _NOISE, block).standard_normal(
            (stop - start, self.shape[1]), dtype=np.float32)
        data += noise * self.noise_std[None, :]
        self._add_spikes(data, start)
        info = np.iinfo(DTYPE)
        return np.clip(np.rint(data), info.min, info.max).astype(DTYPE)


def _build_nwbfile(data: object, model: EcephysModel) -> NWBFile:
    """NWB metadata of a plausible probe recording around ``data`` (an ``H5DataIO``)."""
    nwbfile = synthetic_nwbfile(
        "ecephys", model.seed, model.shape,
        f"Synthetic wideband extracellular recording generated by layoutbench "
        f"(seed={model.seed}, {len(model.units)} units)",
    )
    model_info = nwbfile.create_device_model(name="SyntheticProbe", manufacturer="layoutbench",
                                             description="simulated two-column silicon probe")
    device = nwbfile.create_device(name="Probe", description="two-column silicon probe",
                                   model=model_info)
    group = nwbfile.create_electrode_group(name="shank0", description="single shank",
                                           location="CA1", device=device)
    for x, y in model.positions:
        nwbfile.add_electrode(x=float(x), y=float(y), z=0.0, rel_x=float(x), rel_y=float(y),
                              location="CA1", group=group)
    region = nwbfile.create_electrode_table_region(
        region=list(range(model.shape[1])), description="all electrodes")
    series = ElectricalSeries(
        name="ElectricalSeries",
        data=data,
        electrodes=region,
        rate=model.rate,
        starting_time=0.0,
        conversion=CONVERSION,
        resolution=CONVERSION,
        filtering="wideband (Intan-like 0.1 Hz - 7.5 kHz hardware filter)",
        description="raw voltage in amplifier counts (synthetic)",
    )
    nwbfile.add_acquisition(series)
    return nwbfile


def generate_ecephys(
    path: str | os.PathLike[str],
    *,
    size: int | None = None,
    shape: tuple[int, int] | None = None,
    seed: int = 0,
    rate: float = 30000.0,
    layout: Layout | None = None,
    progress: bool = False,
) -> GeneratedInfo:
    """Write a synthetic extracellular NWB file with an ``ElectricalSeries`` at ``path``.

    Parameters
    ----------
    path
        Output ``.nwb`` file; written under a temporary name and renamed when complete.
    size
        Raw bytes of the recording; scales the number of samples of 64 int16 channels.
        Exclusive with ``shape``.
    shape
        ``(samples, channels)``; default ``(1_800_000, 64)``, 60 s at 30 kHz.
    seed
        Same seed (and other arguments), bit-identical recording.
    rate
        Sampling rate in Hz (sets waveform and filter lengths in samples and the series' rate).
    layout
        HDF5 layout of the recording; default :func:`layoutbench.plan.layout.neuroconv_default`.
    progress
        Show a tqdm bar of blocks written on stderr.

    Returns
    -------
    GeneratedInfo
        What was written, with the wall time.
    """
    resolved = resolve_shape("ecephys", DEFAULT_SHAPE, size, shape, DTYPE.itemsize)
    check_resources("ecephys", path, math.prod(resolved) * DTYPE.itemsize)
    fitted = resolve_layout("ecephys", resolved, DTYPE.itemsize, layout)
    model = EcephysModel(resolved, seed=seed, rate=rate)
    return write_nwb(path, "ecephys", model, fitted, lambda data: _build_nwbfile(data, model),
                     progress=progress)
