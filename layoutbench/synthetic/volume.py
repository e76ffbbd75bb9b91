"""Synthetic microscopy volume: a z-stack of labelled brain tissue, in NWB or plain HDF5.

Volume layouts are judged by how they serve orthogonal planes and sub-volume cutouts, and by
how well their chunks compress; both depend on the data looking like real light-sheet or
two-photon stacks. The model here has what matters for both: somata (rotated ellipsoids,
either cytosolic with a dim nucleus or membrane-labelled with a bright rim), thin and thick
neurites (smooth random curves), a neuropil texture, a background that varies smoothly across
the field and in depth, vignetting, depth attenuation, and photon shot noise that bounds the
compression ratio the way it does on a real detector.

The expected photon count of voxel ``v`` at depth ``z`` is::

    lam[v] = attenuation(z) * vignette(y, x) * (background(v) + cells(v) + neurites(v))

and the stored value is ``offset + gain * Poisson(lam)``, clipped to the dtype. Voxels are
2 µm in z and 1 µm in y and x (:data:`VOXEL_UM`).

Representation in NWB: NWB core has no 3-D volume type (``Image`` is 2-D, ``ImageSeries`` is
``(frame, x, y[, z])``), so the stack is an ``ImageSeries`` named ``volume`` whose frames are
the planes, in the order the microscope acquired them (one plane after the other, at
:data:`PLANE_RATE` Hz, stepping ``dz`` in depth); this is how z-stacks are commonly stored in
NWB files. The alternative, a single ``(1, x, y, z)`` frame, would put depth on the fastest
axis and add a singleton axis every reader must know to drop. What makes the array a volume
rather than a movie is said twice: in the series' description and comments for people, and
as HDF5 dimension labels ``("z", "y", "x")`` on the dataset for programs
(:func:`layoutbench.plan.layout.kind_of`); a user can label a real stack the same way with
``dset.dims[0].label = "z"``.

Generation streams along z in blocks of planes: cells and neurite segments are drawn once
from a seeded list (a few dozen bytes each) and rasterised per block; the neuropil texture
is seeded per plane and the shot noise per block, so any block is reproducible on its own and
memory is bounded by a block and a write buffer, not by the volume.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import h5py
import numpy as np
from pynwb import NWBFile
from pynwb.image import ImageSeries
from scipy.ndimage import gaussian_filter

from layoutbench.plan.layout import Layout
from layoutbench.synthetic._nwb import (
    DATASET_PATHS,
    BlockModel,
    GeneratedInfo,
    block_rng,
    check_seed,
    label_axes,
    resolve_layout,
    resolve_shape,
    synthetic_nwbfile,
    write_hdf5,
    write_nwb,
)
from layoutbench.synthetic.resources import check_resources

log = logging.getLogger(__name__)

KIND = "volume"
#: (z, y, x): 512 x 512 x 512 µm of cortex, 134 MB of uint16.
DEFAULT_SHAPE = (256, 512, 512)
DTYPES = ("uint16", "uint8")
#: Voxel size (z, y, x) in µm: 1 µm pixels, 2 µm steps in depth (a typical cleared-tissue stack).
VOXEL_UM = (2.0, 1.0, 1.0)
#: Axis names written as HDF5 dimension labels; ``kind_of`` reads a first axis "z" as a volume.
AXES = ("z", "y", "x")
#: Where ``plain=True`` puts the volume.
PLAIN_DATASET = "/volume"
#: Planes acquired per second (the ``ImageSeries`` rate: its frames are the planes).
PLANE_RATE = 10.0
#: Labelled somata per mm³ (~a third of cortical neurons, e.g. a pan-neuronal nuclear-excluded
#: label at moderate expression) and labelled neurites per mm³ (sparse, so they stay distinct).
CELLS_PER_MM3 = 60_000
NEURITES_PER_MM3 = 8_000
#: Mean background photons at the surface, centre of the field.
BACKGROUND_PHOTONS = 40.0
#: Detector offset and photons-to-counts gain per dtype: 8-bit data are scaled down by the ADC.
OFFSET = {"uint16": 100, "uint8": 5}
GAIN = {"uint16": 1.0, "uint8": 0.25}
#: ``size`` grows all axes (keeping z:y:x = 1:2:2) until planes reach a camera's 2048 x 2048.
MAX_SIDE = 2048
#: Voxels per generation block: 32 planes of 512 x 512, fewer planes of larger ones.
BLOCK_VOXELS = 2**23
MAX_BLOCK_PLANES = 32
#: Neurites are polylines with a vertex every SEG_UM (smooth at this sampling after the PSF).
SEG_UM = 4.0
#: Somata look longer in z than they are: the axial point-spread function stretches them.
AXIAL_STRETCH = 1.3
#: Lateral blur (pixels) of thin (axons) and thick (dendrites, neuropil) structures, and the
#: axial extent (planes, sigma) of both: an axial PSF about twice the lateral one.
THIN_SIGMA, THICK_SIGMA, AXIAL_SIGMA = 0.6, 1.3, 0.7
_STRUCTURE, _NOISE, _NEUROPIL = 0, 1, 2  # random streams


def volume_shape(size: int | None, shape: Sequence[int] | None, itemsize: int
                 ) -> tuple[int, int, int]:
    """The (z, y, x) shape from ``size`` (raw bytes), ``shape``, or :data:`DEFAULT_SHAPE`.

    A bigger volume is more tissue in every direction, as when a microscope tiles a larger
    region: all axes grow in the default 1:2:2 proportion (sides rounded to multiples of 16)
    until a plane is 2048 x 2048 (one sCMOS frame), then only depth grows. This keeps planes
    small enough for bounded-memory generation and gives 10 GB a plausible 1192 x 2048 x 2048.
    """
    if size is None:
        z, y, x = resolve_shape(KIND, DEFAULT_SHAPE, None, shape, itemsize)
        return z, y, x
    if shape is not None:
        raise ValueError(f"{KIND}: give either size or shape, not both")
    if isinstance(size, bool) or not isinstance(size, int | np.integer):
        raise ValueError(f"{KIND}: size must be an integer number of bytes, got {size!r}")
    side = 2 * (max(int(size), 0) / itemsize / 4) ** (1 / 3)
    side_px = int(min(MAX_SIDE, max(16, 16 * round(side / 16))))
    planes = int(size) // (side_px * side_px * itemsize)
    if planes < 1:
        raise ValueError(f"{KIND}: size must be at least one 16 x 16 plane "
                         f"({16 * 16 * itemsize} bytes), got {size!r}")
    return planes, side_px, side_px


def _rotations(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` uniformly random 3-D rotation matrices (from unit quaternions)."""
    q = rng.standard_normal((n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, a, b, c = q.T
    return np.stack([
        np.stack([1 - 2 * (b * b + c * c), 2 * (a * b - c * w), 2 * (a * c + b * w)], -1),
        np.stack([2 * (a * b + c * w), 1 - 2 * (a * a + c * c), 2 * (b * c - a * w)], -1),
        np.stack([2 * (a * c - b * w), 2 * (b * c + a * w), 1 - 2 * (a * a + b * b)], -1),
    ], axis=1)


@dataclass
class _Cells:
    """Somata, sorted by first plane: centre (voxels), voxel->unit-sphere map, extents, look."""

    centre: np.ndarray  # (n, 3) float
    to_unit: np.ndarray  # (n, 3, 3): offset in voxels -> coordinates where the cell is |u| < 1
    half: np.ndarray  # (n, 3) int: bounding box half-extent in voxels
    photons: np.ndarray  # (n,) peak brightness
    membrane: np.ndarray  # (n,) bool: membrane label (bright rim) or cytosolic (dim nucleus)
    nucleus: np.ndarray  # (n,) how dark the nucleus of a cytosolic cell is (0..1)

    def __post_init__(self) -> None:
        # bounding boxes: corner + 2 * half + 2 voxels; cells are sorted by corner[:, 0]
        self.corner = np.floor(self.centre).astype(np.int64) - self.half
        self.max_depth = 2 * int(self.half[:, 0].max(initial=0)) + 2

    @classmethod
    def draw(cls, rng: np.random.Generator, shape: tuple[int, int, int], n: int) -> _Cells:
        voxel = np.array(VOXEL_UM) / np.array([AXIAL_STRETCH, 1.0, 1.0])
        centre = rng.uniform(0, 1, (n, 3)) * np.array(shape)
        axes_um = rng.uniform(4.5, 7.5, (n, 1)) * np.column_stack(
            [np.ones(n), rng.uniform(0.75, 1.0, (n, 2))])
        # u = diag(1/axes) R^T diag(voxel) d maps a voxel offset d into the cell's unit sphere
        to_unit = (_rotations(rng, n).transpose(0, 2, 1) / axes_um[:, :, None]) * voxel
        half = np.ceil(1.3 * axes_um.max(axis=1, keepdims=True) / voxel).astype(np.int64)
        photons = rng.lognormal(math.log(250.0), 0.35, n)
        membrane = rng.random(n) < 0.3
        nucleus = rng.uniform(0.4, 0.8, n)
        order = np.argsort(np.floor(centre[:, 0]) - half[:, 0], kind="stable")  # by first plane
        return cls(centre[order], to_unit[order], half[order], photons[order], membrane[order],
                   nucleus[order])

    def render(self, out: np.ndarray, z0: int) -> None:
        """Add every soma intersecting planes ``z0:z0 + len(out)`` to ``out`` (full planes)."""
        z1 = z0 + out.shape[0]
        bounds = (z1, out.shape[1], out.shape[2])
        corner = self.corner
        for k in range(np.searchsorted(corner[:, 0], z0 - self.max_depth),
                       np.searchsorted(corner[:, 0], z1)):
            start = np.maximum(corner[k], (z0, 0, 0))
            stop = np.minimum(corner[k] + 2 * self.half[k] + 2, bounds)
            if np.any(start >= stop):
                continue
            dz, dy, dx = (np.arange(a, b, dtype=np.float64) - c
                          for a, b, c in zip(start, stop, self.centre[k], strict=True))
            dz, dy, dx = dz[:, None, None], dy[None, :, None], dx[None, None, :]
            m = self.to_unit[k]
            rho2 = sum((m[i, 0] * dz + m[i, 1] * dy + m[i, 2] * dx) ** 2 for i in range(3))
            rho = np.sqrt(rho2)
            inside = 1.0 / (1.0 + np.exp(np.clip((rho - 1.0) / 0.1, -50, 50)))
            if self.membrane[k]:
                profile = np.exp(-(((rho - 1.0) / 0.12) ** 2)) + 0.15 * inside
            else:
                profile = inside * (1.0 - self.nucleus[k] * np.exp(-rho2 / 0.3))
            (za, ya, xa), (zb, yb, xb) = start, stop
            out[za - z0:zb - z0, ya:yb, xa:xb] += (self.photons[k] * profile).astype(out.dtype)


@dataclass
class _Neurites:
    """Neurite polyline segments in voxel coordinates, sorted by their lower z."""

    p0: np.ndarray  # (n, 3) float32
    p1: np.ndarray  # (n, 3) float32
    photons: np.ndarray  # (n,) float32 peak brightness
    thick: np.ndarray  # (n,) bool

    @classmethod
    def draw(cls, rng: np.random.Generator, shape: tuple[int, int, int], n: int,
             cells: _Cells) -> _Neurites:
        voxel = np.array(VOXEL_UM)
        extent = np.array(shape) * voxel
        # half are dendrites leaving a soma, half axons passing through from anywhere
        thick = rng.random(n) < (0.5 if len(cells.photons) else 0.0)
        start = rng.uniform(0, 1, (n, 3)) * extent
        if thick.any():
            owner = rng.integers(0, len(cells.photons), int(thick.sum()))
            start[thick] = cells.centre[owner] * voxel
        direction = rng.standard_normal((n, 3))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        start[thick] += 5.0 * direction[thick]  # begin at the soma's surface
        n_seg = np.ceil(rng.uniform(80.0, 300.0, n) / SEG_UM).astype(np.int64)
        photons = np.where(thick, rng.lognormal(math.log(120.0), 0.3, n),
                           rng.lognormal(math.log(70.0), 0.3, n))
        points = [start]
        for _ in range(int(n_seg.max(initial=0))):
            direction = direction + 0.25 * rng.standard_normal((n, 3))  # persistent random turns
            direction /= np.linalg.norm(direction, axis=1, keepdims=True)
            points.append(points[-1] + SEG_UM * direction)
        path = np.stack(points, axis=1) / voxel  # (n, steps + 1, 3) in voxels
        keep = np.arange(path.shape[1] - 1)[None, :] < n_seg[:, None]
        p0, p1 = path[:, :-1][keep], path[:, 1:][keep]
        which = np.nonzero(keep)[0]
        low, high = np.minimum(p0, p1), np.maximum(p0, p1)
        inside = np.all((high > -3) & (low < np.array(shape) + 3), axis=1)
        order = np.argsort(low[inside, 0], kind="stable")
        sel = np.nonzero(inside)[0][order]
        return cls(p0[sel].astype(np.float32), p1[sel].astype(np.float32),
                   photons[which[sel]].astype(np.float32), thick[which[sel]])

    def render(self, out: np.ndarray, z0: int, thick: bool) -> None:
        """Splat the (thin or thick) segments near planes ``z0:z0 + len(out)`` into ``out``.

        Each segment is sampled every half voxel; each sample is spread over nearby planes with
        the axial Gaussian analytically and bilinearly in-plane, and the caller blurs in-plane.
        Because the axial spread is computed, not filtered, a block needs no margin planes and
        blocks join seamlessly.
        """
        nz, ny, nx = out.shape
        reach = math.ceil(3 * AXIAL_SIGMA)
        zlow = np.minimum(self.p0[:, 0], self.p1[:, 0])
        lo = np.searchsorted(zlow, z0 - reach - SEG_UM / VOXEL_UM[0] - 1)
        hi = np.searchsorted(zlow, z0 + nz + reach)
        pick = lo + np.nonzero(self.thick[lo:hi] == thick)[0]
        if len(pick) == 0:
            return
        p0, delta = self.p0[pick], self.p1[pick] - self.p0[pick]
        n_sub = np.maximum(1, np.ceil(2 * np.abs(delta).max(axis=1))).astype(np.int64)
        seg = np.repeat(np.arange(len(pick)), n_sub)
        t = (np.arange(len(seg)) - np.repeat(np.cumsum(n_sub) - n_sub, n_sub) + 0.5)
        t /= np.repeat(n_sub, n_sub)
        pts = p0[seg] + t[:, None].astype(np.float32) * delta[seg]
        sigma = THICK_SIGMA if thick else THIN_SIGMA
        # a line along x then peaks at about ``photons`` after the in-plane blur
        weight = (self.photons[pick] * SEG_UM * math.sqrt(2 * math.pi) * max(sigma, 0.5)
                  / n_sub)[seg]
        flat, vals = [], []
        iz = np.floor(pts[:, 0]).astype(np.int64)
        iy, ix = np.floor(pts[:, 1]).astype(np.int64), np.floor(pts[:, 2]).astype(np.int64)
        fy, fx = pts[:, 1] - iy, pts[:, 2] - ix
        for dz in range(-reach, reach + 2):
            z = iz + dz
            wz = weight * np.exp(-((z - pts[:, 0]) ** 2) / (2 * AXIAL_SIGMA**2))
            for oy, wy in ((0, 1 - fy), (1, fy)):
                for ox, wx in ((0, 1 - fx), (1, fx)):
                    y, x = iy + oy, ix + ox
                    ok = (z >= z0) & (z < z0 + nz) & (y >= 0) & (y < ny) & (x >= 0) & (x < nx)
                    flat.append((((z - z0) * ny + y) * nx + x)[ok])
                    vals.append((wz * wy * wx)[ok])
        idx = np.concatenate(flat)
        acc = np.bincount(idx, weights=np.concatenate(vals), minlength=out.size)
        out += acc.reshape(out.shape).astype(out.dtype)


def _knot_weights(n: int, step: float, spacing: float) -> np.ndarray:
    """(n, knots) smooth partition-of-unity weights: Gaussian bumps every ``spacing`` µm."""
    knots = np.arange(0.0, n * step + spacing, spacing)
    pos = (np.arange(n) + 0.5) * step
    w = np.exp(-0.5 * ((pos[:, None] - knots[None, :]) / (0.8 * spacing)) ** 2)
    return w / w.sum(axis=1, keepdims=True)


class VolumeModel(BlockModel):
    """The z-stack as a deterministic function of (seed, shape, dtype, n_cells, n_neurites).

    The structure (cells, neurites, background knots, attenuation) is drawn once from the
    structure stream; the neuropil texture is drawn per plane and the shot noise per block of
    planes from their own seeded streams, so planes can be produced in any order.
    """

    def __init__(self, shape: Sequence[int] = DEFAULT_SHAPE, *, seed: int = 0,
                 dtype: str = "uint16", n_cells: int | None = None,
                 n_neurites: int | None = None) -> None:
        super().__init__()
        if len(shape) != 3 or any(int(n) < 1 for n in shape):
            raise ValueError(f"{KIND}: shape must be 3 positive integers (z, y, x), "
                             f"got {tuple(shape)}")
        if str(dtype) not in DTYPES:
            raise ValueError(f"{KIND}: dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        z, y, x = (int(n) for n in shape)
        self.shape = (z, y, x)
        self.dtype = np.dtype(str(dtype))
        self.block_len = max(1, min(MAX_BLOCK_PLANES, BLOCK_VOXELS // (y * x)))
        self.seed = check_seed(seed)
        mm3 = math.prod(n * v for n, v in zip(self.shape, VOXEL_UM, strict=True)) / 1e9
        self.n_cells = round(CELLS_PER_MM3 * mm3) if n_cells is None else int(n_cells)
        self.n_neurites = round(NEURITES_PER_MM3 * mm3) if n_neurites is None else int(n_neurites)
        if self.n_cells < 0 or self.n_neurites < 0:
            raise ValueError(f"{KIND}: n_cells and n_neurites must be >= 0")
        rng = block_rng(self.seed, KIND, _STRUCTURE)
        self._cells = _Cells.draw(rng, self.shape, self.n_cells)
        self._neurites = _Neurites.draw(rng, self.shape, self.n_neurites, self._cells)
        spacing = 120.0  # µm between background knots: smooth at the scale of cortical layers
        self._wz = _knot_weights(z, VOXEL_UM[0], spacing)
        self._wy = _knot_weights(y, VOXEL_UM[1], spacing).astype(np.float32)
        self._wx = _knot_weights(x, VOXEL_UM[2], spacing).astype(np.float32)
        knots = (self._wz.shape[1], self._wy.shape[1], self._wx.shape[1])
        self._knots = np.clip(1.0 + 0.3 * rng.standard_normal(knots), 0.3, None)
        self._attenuation_um = rng.uniform(300.0, 500.0)
        yy = np.linspace(-1, 1, y, dtype=np.float32)[:, None]
        xx = np.linspace(-1, 1, x, dtype=np.float32)[None, :]
        self._vignette = 1.0 - 0.3 * (yy**2 + xx**2) / 2.0

    def _make_block(self, block: int) -> np.ndarray:
        z0, z1 = self.block_bounds(block)
        nz, (_, ny, nx) = z1 - z0, self.shape
        coarse = np.tensordot(self._wz[z0:z1], self._knots, axes=1).astype(np.float32)
        lam = BACKGROUND_PHOTONS * (self._wy @ coarse @ self._wx.T)  # (nz, ny, nx)
        self._cells.render(lam, z0)
        for thick, sigma in ((False, THIN_SIGMA), (True, THICK_SIGMA)):
            fine = np.zeros((nz, ny, nx), dtype=np.float32)
            self._neurites.render(fine, z0, thick)
            if thick:  # neuropil: a dense mesh of unresolved processes, drawn per plane
                for i in range(nz):
                    e = block_rng(self.seed, KIND, _NEUROPIL, z0 + i).standard_exponential(
                        (ny, nx), dtype=np.float32)
                    fine[i] += 0.2 * BACKGROUND_PHOTONS * 0.5 * e * e
            lam += gaussian_filter(fine, sigma=(0, sigma, sigma), truncate=3.0)
        depth = (np.arange(z0, z1) + 0.5) * VOXEL_UM[0]
        lam *= np.exp(-depth / self._attenuation_um).astype(np.float32)[:, None, None]
        lam *= self._vignette
        counts = block_rng(self.seed, KIND, _NOISE, block).poisson(np.maximum(lam, 0.0))
        name = str(self.dtype)
        if GAIN[name] != 1:  # an ADC that scales photons down: quantise after the noise
            counts = np.rint(counts * GAIN[name])
        counts += OFFSET[name]
        np.minimum(counts, np.iinfo(self.dtype).max, out=counts)
        return counts.astype(self.dtype)


def _describe(model: VolumeModel) -> str:
    z, y, x = model.shape
    dz, dy, dx = VOXEL_UM
    return (f"z-stack (volume) of synthetic labelled cortex, axes (z, y, x) = ({z}, {y}, {x}) "
            f"voxels of {dz:g} x {dy:g} x {dx:g} um; frame i is the plane at depth i * {dz:g} um "
            f"(layoutbench, seed={model.seed}, {model.n_cells} cells, "
            f"{model.n_neurites} neurites)")


def _build_nwbfile(data: object, model: VolumeModel) -> NWBFile:
    """An NWB session holding the stack as the ``ImageSeries`` ``volume`` (see module doc)."""
    nwbfile = synthetic_nwbfile(KIND, model.seed, model.shape,
                                "Synthetic volumetric microscopy of cleared mouse cortex "
                                f"generated by layoutbench (seed={model.seed})")
    model_info = nwbfile.create_device_model(name="SyntheticScope", manufacturer="layoutbench",
                                             description="simulated volumetric microscope")
    device = nwbfile.create_device(name="Microscope", model=model_info,
                                   description="light-sheet or two-photon microscope")
    series = ImageSeries(
        name=KIND,
        data=data,
        unit="n.a.",
        rate=PLANE_RATE,
        starting_time=0.0,
        device=device,
        description=_describe(model),
        comments="frames are z-planes acquired in sequence (not time points); "
                 "the data's HDF5 dimension labels are z, y, x",
    )
    nwbfile.add_acquisition(series)
    return nwbfile


def generate_volume(
    path: str | os.PathLike[str],
    *,
    size: int | None = None,
    shape: tuple[int, int, int] | None = None,
    seed: int = 0,
    dtype: str = "uint16",
    n_cells: int | None = None,
    n_neurites: int | None = None,
    layout: Layout | None = None,
    plain: bool = False,
    progress: bool = False,
) -> GeneratedInfo:
    """Write a synthetic microscopy z-stack to ``path``: NWB by default, plain HDF5 if asked.

    Parameters
    ----------
    path
        Output file; written under a temporary name and renamed when complete.
    size
        Raw bytes of the volume; grows all axes together up to 2048 x 2048 planes, then depth
        (see :func:`volume_shape`). Exclusive with ``shape``.
    shape
        ``(z, y, x)`` voxels; default ``(256, 512, 512)`` (134 MB of uint16).
    seed
        Same seed (and other arguments), bit-identical volume.
    dtype
        ``"uint16"`` (a scientific camera or PMT) or ``"uint8"`` (an 8-bit export).
    n_cells, n_neurites
        Counts of somata and neurites; default by density (:data:`CELLS_PER_MM3`,
        :data:`NEURITES_PER_MM3`) over the imaged tissue.
    layout
        HDF5 layout of the volume; default :func:`layoutbench.plan.layout.neuroconv_default`.
    plain
        Write a plain HDF5 file with the volume at :data:`PLAIN_DATASET` instead of NWB, as
        volumes outside NWB are usually stored; the data are the same.
    progress
        Show a tqdm bar of blocks written on stderr.

    Returns
    -------
    GeneratedInfo
        What was written, with the wall time.
    """
    if str(dtype) not in DTYPES:
        raise ValueError(f"{KIND}: dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    itemsize = np.dtype(str(dtype)).itemsize
    resolved = volume_shape(size, shape, itemsize)
    check_resources("volume", path, math.prod(resolved) * itemsize)
    fitted = resolve_layout(KIND, resolved, itemsize, layout)
    model = VolumeModel(resolved, seed=seed, dtype=dtype, n_cells=n_cells, n_neurites=n_neurites)
    if plain:
        return write_hdf5(path, KIND, model, fitted, PLAIN_DATASET, axes=AXES,
                          attrs={"description": _describe(model),
                                 "voxel_size_um": np.array(VOXEL_UM)},
                          progress=progress)

    def finalize(h5: h5py.File) -> None:
        label_axes(h5[DATASET_PATHS[KIND]], AXES)

    return write_nwb(path, KIND, model, fitted, lambda data: _build_nwbfile(data, model),
                     progress=progress, finalize=finalize)
