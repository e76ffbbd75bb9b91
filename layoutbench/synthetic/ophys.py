"""Synthetic two-photon calcium imaging: a ``TwoPhotonSeries`` movie in an NWB file.

Layout benchmarks are only as good as their data: chunk-size trade-offs and codec ratios on
white noise or on constants say nothing about real movies. The model here has the structure
that matters for both: a static, spatially smooth background (vignetting, blood vessels,
texture) that compresses somewhat, sparse cells whose brightness changes over time, slow drift,
and photon shot noise that bounds the compression ratio the way it does on a real microscope.

The expected photon count of pixel ``p`` in frame ``t`` is::

    lam[t, p] = drift[t] * (static[p] + sum_c A[p, c] * F0[c] * dff[c] * calcium[c, t])

with ``static = background + A @ F0`` and ``calcium`` the AR(1) filtered Poisson spike train of
each cell; the stored value is ``Poisson(lam)`` clipped to uint16.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence

import numpy as np
import scipy.sparse
from pynwb import NWBFile
from pynwb.ophys import OpticalChannel, TwoPhotonSeries
from scipy.ndimage import gaussian_filter
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

DEFAULT_SHAPE = (1000, 256, 256)
DTYPE = np.dtype("uint16")
#: Frames per generation block (fixed, so the data never depend on the write buffer).
BLOCK_FRAMES = 32
#: Mean background photon count per pixel and frame at the centre of the field of view.
BACKGROUND_PHOTONS = 300.0
#: Cells per 256 x 256 frame (a typical GCaMP field of view at ~1 um/pixel).
CELLS_PER_FRAME = 150
_STRUCTURE, _NOISE = 0, 1  # random streams


def default_n_cells(height: int, width: int) -> int:
    """~150 cells per 256 x 256 frame, scaled by area, at least one."""
    return max(1, round(CELLS_PER_FRAME * height * width / 256**2))


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Expected background photons: vignetting x texture x dark blood vessels."""
    yy, xx = np.meshgrid(np.linspace(-1, 1, height), np.linspace(-1, 1, width), indexing="ij")
    vignette = 1.0 - 0.35 * (yy**2 + xx**2) / 2.0
    coarse = gaussian_filter(rng.standard_normal((height, width)), sigma=max(height, width) / 16)
    fine = gaussian_filter(rng.standard_normal((height, width)), sigma=2.0)
    texture = 1.0 + 0.12 * coarse / (coarse.std() or 1.0) + 0.05 * fine / (fine.std() or 1.0)
    vessels = np.ones((height, width))
    py, px = np.mgrid[0:height, 0:width].astype(float)
    for _ in range(int(rng.integers(2, 6))):
        theta = rng.uniform(0, np.pi)
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        normal = -np.sin(theta) * (px - cx) + np.cos(theta) * (py - cy)
        along = np.cos(theta) * (px - cx) + np.sin(theta) * (py - cy)
        wiggle = rng.uniform(2, 8) * np.sin(2 * np.pi * along / rng.uniform(40, 120)
                                            + rng.uniform(0, 2 * np.pi))
        half_width = rng.uniform(1.5, 4.5)
        vessels *= 1.0 - rng.uniform(0.4, 0.7) * np.exp(-((normal - wiggle) ** 2)
                                                        / (2 * half_width**2))
    return BACKGROUND_PHOTONS * vignette * np.clip(texture, 0.5, None) * vessels


def _footprints(rng: np.random.Generator, height: int, width: int, n_cells: int
                ) -> scipy.sparse.csr_matrix:
    """Soft elliptical somata (4-8 px radius, dim nucleus) as a sparse (pixels, cells) matrix."""
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    for cell in range(n_cells):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        a = rng.uniform(4, 8)
        b = a * rng.uniform(0.7, 1.0)
        theta = rng.uniform(0, np.pi)
        r = math.ceil(1.5 * a)
        y0, y1 = max(0, int(cy) - r), min(height, int(cy) + r + 1)
        x0, x1 = max(0, int(cx) - r), min(width, int(cx) + r + 1)
        if y0 >= y1 or x0 >= x1:
            continue
        py, px = np.mgrid[y0:y1, x0:x1].astype(float)
        u = np.cos(theta) * (px - cx) + np.sin(theta) * (py - cy)
        v = -np.sin(theta) * (px - cx) + np.cos(theta) * (py - cy)
        rho = np.sqrt((u / a) ** 2 + (v / b) ** 2)
        shape = 1.0 / (1.0 + np.exp((rho - 1.0) / 0.12)) * (1.0 - 0.6 * np.exp(-(rho / 0.45) ** 2))
        keep = shape > 0.01
        rows.append((py[keep] * width + px[keep]).astype(np.int64))
        cols.append(np.full(int(keep.sum()), cell, dtype=np.int64))
        vals.append(shape[keep])
    if not rows:
        return scipy.sparse.csr_matrix((height * width, n_cells))
    return scipy.sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(height * width, n_cells),
    )


def _calcium(rng: np.random.Generator, n_cells: int, n_frames: int, rate: float) -> np.ndarray:
    """(cells, frames) float32 calcium: Poisson events through an AR(1) decay, tau 0.5-1 s.

    ``c[t] = gamma * c[t-1] + s[t]`` with ``gamma = exp(-1 / (tau * rate))`` is the standard
    generative model of deconvolution methods (OASIS, CaImAn); it runs over the whole time axis
    once, cell by cell, so the traces cost ``4 * cells * frames`` bytes (~50 MB for 10 GB).
    """
    traces = np.empty((n_cells, n_frames), dtype=np.float32)
    event_rates = np.clip(rng.lognormal(np.log(0.15), 1.0, n_cells), 0.005, 3.0)  # Hz
    taus = rng.uniform(0.5, 1.0, n_cells)
    for cell in range(n_cells):
        events = rng.poisson(event_rates[cell] / rate, n_frames).astype(np.float64)
        gamma = math.exp(-1.0 / (taus[cell] * rate))
        traces[cell] = lfilter([1.0], [1.0, -gamma], events)
    return traces


def _drift(rng: np.random.Generator, n_frames: int, rate: float) -> np.ndarray:
    """Multiplicative drift: photobleaching (exponential decay) x slow baseline wander."""
    t = np.arange(n_frames) / rate
    bleach = 1.0 - rng.uniform(0.15, 0.35) * (1.0 - np.exp(-t / rng.uniform(300.0, 900.0)))
    wander = np.ones(n_frames)
    for _ in range(3):
        wander += rng.uniform(0.005, 0.02) * np.sin(2 * np.pi * t / rng.uniform(10.0, 120.0)
                                                    + rng.uniform(0, 2 * np.pi))
    return bleach * wander


class OphysModel(BlockModel):
    """The two-photon movie as a deterministic function of (seed, shape, n_cells, rate).

    The structure (background, footprints, traces, drift) is drawn once up front from the
    structure stream; shot noise is drawn per generation block of :data:`BLOCK_FRAMES` frames
    from its own seeded stream, so frames can be produced in any order.
    """

    def __init__(self, shape: Sequence[int] = DEFAULT_SHAPE, *, seed: int = 0,
                 n_cells: int | None = None, rate: float = 30.0) -> None:
        super().__init__()
        if len(shape) != 3:
            raise ValueError(f"ophys: shape must be (frames, height, width), got {tuple(shape)}")
        n_frames, height, width = (int(n) for n in shape)
        if rate <= 0:
            raise ValueError(f"ophys: rate must be positive, got {rate}")
        self.shape = (n_frames, height, width)
        self.dtype = DTYPE
        self.block_len = BLOCK_FRAMES
        self.seed = check_seed(seed)
        self.rate = float(rate)
        self.n_cells = default_n_cells(height, width) if n_cells is None else int(n_cells)
        if self.n_cells < 0:
            raise ValueError(f"ophys: n_cells must be >= 0, got {n_cells}")
        rng = block_rng(self.seed, "ophys", _STRUCTURE)
        background = _background(rng, height, width).ravel()
        footprints = _footprints(rng, height, width, self.n_cells)
        f0 = rng.uniform(0.25, 0.7, self.n_cells) * BACKGROUND_PHOTONS  # resting brightness
        dff = rng.uniform(0.4, 1.2, self.n_cells)  # dF/F of one event
        self._static = background + footprints @ f0
        self._weights = (footprints @ scipy.sparse.diags(f0 * dff)).tocsr()
        self._calcium = _calcium(rng, self.n_cells, n_frames, self.rate)
        self._drift = _drift(rng, n_frames, self.rate)

    def _make_block(self, block: int) -> np.ndarray:
        start, stop = self.block_bounds(block)
        dynamic = np.asarray(self._weights @ self._calcium[:, start:stop].astype(np.float64)).T
        lam = self._drift[start:stop, None] * (self._static[None, :] + dynamic)
        counts = block_rng(self.seed, "ophys", _NOISE, block).poisson(np.maximum(lam, 0.0))
        np.minimum(counts, np.iinfo(DTYPE).max, out=counts)
        return counts.astype(DTYPE).reshape(stop - start, *self.shape[1:])


def _build_nwbfile(data: object, model: OphysModel) -> NWBFile:
    """NWB metadata of a plausible 2p session around ``data`` (an ``H5DataIO``)."""
    _, height, width = model.shape
    nwbfile = synthetic_nwbfile(
        "ophys", model.seed, model.shape,
        f"Synthetic two-photon GCaMP6f imaging generated by layoutbench (seed={model.seed}, "
        f"{model.n_cells} cells)",
    )
    model_info = nwbfile.create_device_model(name="SyntheticScope", manufacturer="layoutbench",
                                             description="simulated two-photon microscope")
    device = nwbfile.create_device(name="Microscope", description="two-photon microscope",
                                   model=model_info)
    channel = OpticalChannel(name="OpticalChannel", description="green PMT channel",
                             emission_lambda=510.0)
    plane = nwbfile.create_imaging_plane(
        name="ImagingPlane",
        optical_channel=channel,
        description="layer 2/3, 1 um pixels",
        device=device,
        excitation_lambda=920.0,
        imaging_rate=model.rate,
        indicator="GCaMP6f",
        location="VISp",
        grid_spacing=[1e-6, 1e-6],
        grid_spacing_unit="meters",
        origin_coords=[0.0, 0.0, 200e-6],
        origin_coords_unit="meters",
    )
    series = TwoPhotonSeries(
        name="TwoPhotonSeries",
        data=data,
        imaging_plane=plane,
        rate=model.rate,
        starting_time=0.0,
        unit="n.a.",
        field_of_view=[height * 1e-6, width * 1e-6],
        description="raw photon counts (synthetic)",
    )
    nwbfile.add_acquisition(series)
    return nwbfile


def generate_ophys(
    path: str | os.PathLike[str],
    *,
    size: int | None = None,
    shape: tuple[int, int, int] | None = None,
    seed: int = 0,
    n_cells: int | None = None,
    rate: float = 30.0,
    layout: Layout | None = None,
    progress: bool = False,
) -> GeneratedInfo:
    """Write a synthetic two-photon NWB file with a ``TwoPhotonSeries`` at ``path``.

    Parameters
    ----------
    path
        Output ``.nwb`` file; written under a temporary name and renamed when complete.
    size
        Raw bytes of the movie; scales the number of frames of 256 x 256 uint16 frames
        (so benchmarks can ask for "10GB" without caring about shapes). Exclusive with ``shape``.
    shape
        ``(frames, height, width)``; default ``(1000, 256, 256)``.
    seed
        Same seed (and other arguments), bit-identical movie.
    n_cells
        Number of cells; default ~150 per 256 x 256 frame, scaled by area.
    rate
        Frame rate in Hz (sets the calcium decay in frames and the series' ``rate``).
    layout
        HDF5 layout of the movie; default :func:`layoutbench.plan.layout.neuroconv_default`.
    progress
        Show a tqdm bar of blocks written on stderr.

    Returns
    -------
    GeneratedInfo
        What was written, with the wall time.
    """
    resolved = resolve_shape("ophys", DEFAULT_SHAPE, size, shape, DTYPE.itemsize)
    check_resources("ophys", path, math.prod(resolved) * DTYPE.itemsize)
    fitted = resolve_layout("ophys", resolved, DTYPE.itemsize, layout)
    model = OphysModel(resolved, seed=seed, n_cells=n_cells, rate=rate)
    return write_nwb(path, "ophys", model, fitted, lambda data: _build_nwbfile(data, model),
                     progress=progress)
