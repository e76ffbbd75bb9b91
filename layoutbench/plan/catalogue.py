"""The catalogue of access patterns: what each one reads (its selections), from which
parameters, and what it computes on what it read.

Selections are pure functions of the array's shape and the pattern's parameters, so the
geometry of a pattern is known without touching data; :class:`layoutbench.plan.patterns.
AccessPattern` (the resolved, parsed pattern) is the noun the rest of the package uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from layoutbench.plan.geometry import Selection

# -- the nouns of the catalogue ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a pattern: its name, type (``int``, ``float``, ``size``) and default.

    A ``size`` is written ``AxB`` or ``AxBxC``: as many positive integers as its default has.
    """

    name: str
    type: str
    default: Any
    help: str
    #: smallest value that means something (``None``: any); ``above`` makes it exclusive
    low: float | None = None
    above: bool = False

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is meaningless for this parameter (None: it is fine)."""
        if self.low is None or self.type == "size":
            return None
        if value < self.low or (self.above and value == self.low):
            bound = f"> {self.low:g}" if self.above else f">= {self.low:g}"
            return f"{self.name} must be {bound}, got {value:g}"
        return None


@dataclass(frozen=True, slots=True)
class PatternDef:
    """A named access pattern: the data kind it applies to, its parameters and behaviour."""

    name: str
    kind: str
    params: tuple[Param, ...]
    description: str
    selections: Callable[[dict[str, Any], tuple[int, ...], float | None], list[Selection]]
    compute: Callable[[np.ndarray, dict[str, Any], float | None], np.ndarray] | None = None
    #: the pattern's cost includes opening the file (the ``open`` pattern measures exactly that)
    includes_open: bool = False
    #: (params, shape, rate) -> the largest value each parameter can take on that array, for
    #: the parameters bounded by it: a value given beyond it is refused, not silently clipped
    limits: Callable[[dict[str, Any], tuple[int, ...], float | None], dict[str, Any]] | None \
        = None
    #: the parameter counting positions drawn at random (``offsets``...), if the pattern has
    #: one: its expected cost is taken over :data:`EXPECTED_POSITIONS` lattice positions
    spread: str | None = None


#: Positions a pattern's *expected* cost is taken over, per count parameter: enough that a
#: ranking no longer moves with where three particular patches happen to fall.
EXPECTED_POSITIONS = {"offsets": 16, "cutouts": 8, "blocks": 8}
_GOLDEN = (math.sqrt(5) - 1) / 2
#: A parameter no SPEC can set: selections on the lattice of :func:`_spread` instead of seeds.
LATTICE = "_lattice"


def _spread(n_items: int, lo: int, hi: int, seed: int, axis: int = 0,
            lattice: bool = False) -> list[int]:
    """``n_items`` deterministic pseudo-random starts in ``[lo, hi]``.

    Random rather than grid-aligned offsets: real users do not know (or care about) chunk
    boundaries, and aligned offsets would flatter layouts whose chunks match the pattern size.
    With ``lattice``, the starts are instead the midpoints of ``n_items`` equal strata of the
    range, visited in the order of a rank-1 lattice (Korobov) with a generator near
    ``n_items * golden ratio ** axis``: each axis alone covers its range evenly, and the axes
    together cover the offset space evenly (a Fibonacci lattice in 2-d), so that the mean cost
    over the positions is the expected cost of a position chosen at random, whatever the seed.
    """
    if lattice:
        span = max(lo, hi) - lo + 1
        gen = 1 if axis == 0 else max(1, round(n_items * _GOLDEN ** axis))
        while math.gcd(gen, n_items) != 1:
            gen += 1
        return [lo + int(((k * gen) % n_items + 0.5) / n_items * span) for k in range(n_items)]
    rng = np.random.default_rng(seed)
    return [int(v) for v in rng.integers(lo, max(lo, hi) + 1, size=n_items)]


def _ophys_patch(p: dict[str, Any], shape: tuple[int, ...], rate: float | None) -> list[Selection]:
    t, y, x = shape
    py, px = (min(p["patch"][0], y), min(p["patch"][1], x))
    frames = min(p["frames"], t)
    start = min(p["start"], t - frames)
    lattice = bool(p.get(LATTICE))
    ys = _spread(p["offsets"], 0, y - py, p["seed"], 0, lattice)
    xs = _spread(p["offsets"], 0, x - px, p["seed"] + 1, 1, lattice)
    return [
        (slice(start, start + frames), slice(y0, y0 + py), slice(x0, x0 + px))
        for y0, x0 in zip(ys, xs, strict=True)
    ]


def _ophys_frames(p: dict[str, Any], shape: tuple[int, ...], rate: float | None
                  ) -> list[Selection]:
    t = shape[0]
    frames = min(p["frames"], t)
    start = (t - frames) // 2 if p["start"] < 0 else min(p["start"], t - frames)
    return [(slice(start, start + frames), slice(None), slice(None))]


def _samples(seconds: float, rate: float | None, total: int) -> int:
    if seconds <= 0:
        return total
    return min(total, round(seconds * (rate or 30000.0)))


def _electrodes(n: int, channels: int) -> list[int]:
    """``n`` electrodes spread evenly over the probe (distinct, deterministic)."""
    n = max(1, min(n, channels))
    return sorted({round(v) for v in np.linspace(0, channels - 1, n)})


def _ecephys_channel(p: dict[str, Any], shape: tuple[int, ...], rate: float | None
                     ) -> list[Selection]:
    t, c = shape
    n = _samples(p["seconds"], rate, t)
    start = min(_samples(p["start"], rate, t) if p["start"] > 0 else 0, t - n)
    return [(slice(start, start + n), slice(ch, ch + 1)) for ch in _electrodes(p["channels"], c)]


def _bandpass(data: np.ndarray, p: dict[str, Any], rate: float | None) -> np.ndarray:
    """The spike-band filter every sorter applies: zero-phase Butterworth, second-order sections."""
    from scipy.signal import butter, sosfiltfilt

    fs = rate or 30000.0
    high = min(p["high"], 0.45 * fs)
    sos = butter(p["order"], [p["low"], high], btype="bandpass", fs=fs, output="sos")
    x = data.reshape(data.shape[0], -1).astype(np.float32)
    if x.shape[0] <= 3 * (2 * len(sos) + 1):  # too short for filtfilt's padding
        return x
    return np.asarray(sosfiltfilt(sos, x, axis=0), dtype=np.float32)


def _ecephys_window(p: dict[str, Any], shape: tuple[int, ...], rate: float | None
                    ) -> list[Selection]:
    t = shape[0]
    n = _samples(p["seconds"], rate, t)
    start = (t - n) // 2 if p["start"] < 0 else min(_samples(p["start"], rate, t), t - n)
    return [(slice(start, start + n), slice(None))]


def _centre_or(value: int, n: int) -> int:
    """``value`` clipped into ``[0, n)``, with a negative value meaning the middle."""
    return n // 2 if value < 0 else min(value, n - 1)


def _volume_planes(p: dict[str, Any], shape: tuple[int, ...], rate: float | None
                   ) -> list[Selection]:
    """One XY, one XZ and one YZ plane through the point (z, y, x): an orthogonal viewer.

    The three orientations are what make volume layouts differ: slabs of whole planes serve
    XY planes with one chunk but must fetch every chunk of the volume for an XZ or YZ plane,
    while cubic chunks cost about the same in every orientation.
    """
    nz, ny, nx = shape
    z, y, x = _centre_or(p["z"], nz), _centre_or(p["y"], ny), _centre_or(p["x"], nx)
    return [
        (slice(z, z + 1), slice(None), slice(None)),
        (slice(None), slice(y, y + 1), slice(None)),
        (slice(None), slice(None), slice(x, x + 1)),
    ]


def _volume_cutout(p: dict[str, Any], shape: tuple[int, ...], rate: float | None
                   ) -> list[Selection]:
    """``cutouts`` sub-volumes of ``size``, at random positions (or centred with seed=-1).

    Random positions, as for patches, because an analysis crops around a cell, not around a
    chunk boundary; centred cutouts are available for exact, hand-checkable figures.
    """
    size = [min(c, n) for c, n in zip(p["size"], shape, strict=True)]
    count = max(0, p["cutouts"])
    if p["seed"] < 0:
        starts = [[(n - c) // 2 for c, n in zip(size, shape, strict=True)]] * count
    else:
        per_axis = [_spread(count, 0, n - c, p["seed"] + axis, axis, bool(p.get(LATTICE)))
                    for axis, (c, n) in enumerate(zip(size, shape, strict=True))]
        starts = [list(s) for s in zip(*per_axis, strict=True)]
    return [tuple(slice(s, s + c) for s, c in zip(start, size, strict=True))
            for start in starts]


def _block_read(p: dict[str, Any], shape: tuple[int, ...], rate: float | None
                ) -> list[Selection]:
    """Whole rows of the first axis, ``mb`` per block: what a generic analysis streams."""
    row = max(1, math.prod(shape[1:]))  # elements per index of axis 0
    n = max(1, min(shape[0], round(p["mb"] * 1e6 / 2 / row)))  # 2 B per element, typical
    starts = _spread(p["blocks"], 0, shape[0] - n, p["seed"], 0, bool(p.get(LATTICE)))
    return [(slice(s, s + n), *(slice(None),) * (len(shape) - 1)) for s in starts]


def _no_selection(p: dict[str, Any], shape: tuple[int, ...], rate: float | None
                  ) -> list[Selection]:
    return []

# -- how far each parameter can go on a given array ------------------------------------------------
def _rate(rate: float | None) -> float:
    return rate or 30000.0


def _ophys_limits(p: dict[str, Any], shape: tuple[int, ...], rate: float | None
                  ) -> dict[str, Any]:
    t, y, x = shape
    return {"patch": (y, x), "frames": t, "start": t - min(p["frames"], t)}


def _frames_limits(p: dict[str, Any], shape: tuple[int, ...], rate: float | None
                   ) -> dict[str, Any]:
    t = shape[0]
    return {"frames": t, "start": t - min(p["frames"], t)}


def _channel_limits(p: dict[str, Any], shape: tuple[int, ...], rate: float | None
                    ) -> dict[str, Any]:
    t, c = shape
    duration = t / _rate(rate)
    return {"channels": c, "seconds": duration, "high": _rate(rate) / 2,
            "start": max(0.0, duration - (p["seconds"] or duration))}


def _window_limits(p: dict[str, Any], shape: tuple[int, ...], rate: float | None
                   ) -> dict[str, Any]:
    duration = shape[0] / _rate(rate)
    return {"seconds": duration, "start": max(0.0, duration - p["seconds"])}


def _planes_limits(p: dict[str, Any], shape: tuple[int, ...], rate: float | None
                   ) -> dict[str, Any]:
    nz, ny, nx = shape
    return {"z": nz - 1, "y": ny - 1, "x": nx - 1}


def _cutout_limits(p: dict[str, Any], shape: tuple[int, ...], rate: float | None
                   ) -> dict[str, Any]:
    return {"size": tuple(shape)}


PATTERNS: dict[str, PatternDef] = {
    d.name: d
    for d in (
        PatternDef(
            "ophys-patch", "ophys",
            (
                Param("patch", "size", (32, 32), "patch height x width in pixels"),
                Param("frames", "int", 1000, "consecutive frames per patch", 1),
                Param("offsets", "int", 3, "how many patch positions are read", 1),
                Param("start", "int", 0, "first frame", 0),
                Param("seed", "int", 0, "seed of the patch positions", 0),
            ),
            "a small patch over many frames (a cell's neighbourhood over time)",
            _ophys_patch,
            limits=_ophys_limits,
            spread="offsets",
        ),
        PatternDef(
            "ophys-frames", "ophys",
            (
                Param("frames", "int", 10, "consecutive whole frames", 1),
                Param("start", "int", -1, "first frame (-1: the middle of the movie)", -1),
            ),
            "a few whole frames (what a viewer shows)",
            _ophys_frames,
            limits=_frames_limits,
        ),
        PatternDef(
            "ecephys-channel-filter", "ecephys",
            (
                Param("channels", "int", 3, "how many electrodes, spread over the probe", 1),
                Param("seconds", "float", 60.0, "duration per electrode (0: all of it)", 0),
                Param("start", "float", 0.0, "start time in seconds", 0),
                Param("low", "float", 300.0, "band-pass low edge, Hz", 0, above=True),
                Param("high", "float", 6000.0, "band-pass high edge, Hz", 0, above=True),
                Param("order", "int", 4, "Butterworth order", 1),
            ),
            "one electrode's trace, band-pass filtered, for several electrodes",
            _ecephys_channel,
            _bandpass,
            limits=_channel_limits,
        ),
        PatternDef(
            "ecephys-window", "ecephys",
            (
                Param("seconds", "float", 1.0, "window length", 0, above=True),
                Param("start", "float", -1.0, "start time in seconds (-1: the middle)", -1),
            ),
            "a short window of all channels",
            _ecephys_window,
            limits=_window_limits,
        ),
        PatternDef(
            "volume-planes", "volume",
            (
                Param("z", "int", -1, "depth of the XY plane (-1: the middle)", -1),
                Param("y", "int", -1, "row of the XZ plane (-1: the middle)", -1),
                Param("x", "int", -1, "column of the YZ plane (-1: the middle)", -1),
            ),
            "one XY, one XZ and one YZ plane through a point (an orthogonal viewer)",
            _volume_planes,
            limits=_planes_limits,
        ),
        PatternDef(
            "volume-cutout", "volume",
            (
                Param("size", "size", (128, 128, 128), "cutout depth x height x width in voxels"),
                Param("cutouts", "int", 1, "how many cutouts are read", 1),
                Param("seed", "int", 0, "seed of the cutout positions (-1: centred)", -1),
            ),
            "a sub-volume around a region of interest (an analysis crop)",
            _volume_cutout,
            limits=_cutout_limits,
            spread="cutouts",
        ),
        PatternDef(
            "block-read", "any",
            (
                Param("mb", "float", 10.0, "uncompressed MB per block (whole rows of axis 0)", 0,
                      above=True),
                Param("blocks", "int", 3, "how many blocks, spread over the first axis", 1),
                Param("seed", "int", 0, "seed of the block positions", 0),
            ),
            "contiguous blocks along the first axis (any array: the generic read)",
            _block_read,
            spread="blocks",
        ),
        PatternDef(
            "open", "any", (),
            "open the file and reach a dataset's shape, dtype and attributes (no data)",
            _no_selection,
            includes_open=True,
        ),
    )
}

DEFAULT_PATTERNS: dict[str, tuple[str, ...]] = {
    "ophys": ("ophys-patch", "ophys-frames"),
    "ecephys": ("ecephys-channel-filter", "ecephys-window"),
    "volume": ("volume-planes", "volume-cutout"),
    "other": ("block-read",),
}

#: The number of axes each data kind's arrays have.
KIND_NDIM: dict[str, int] = {"ophys": 3, "ecephys": 2, "volume": 3}
