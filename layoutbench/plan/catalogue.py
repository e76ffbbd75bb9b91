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
    """One parameter of a pattern: its name, type (``int``, ``float``, ``size``, ``channels``)
    and default.

    A ``size`` is written ``AxB`` or ``AxBxC``: as many positive integers as its default has.
    ``channels`` is a count (``3``: that many electrodes, drawn at random) or the electrodes
    themselves (``3+17+40``: those, pinned).
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
        if isinstance(value, float) and not math.isfinite(value):
            return f"{self.name} must be a finite number, got {value}"
        if isinstance(value, tuple) and self.type == "channels":
            if len(set(value)) != len(value):
                return f"{self.name} lists an electrode twice: {'+'.join(map(str, value))}"
            return None
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
    #: (params) -> how many positions one run reads (patches, electrodes, cutouts...): 1 for a
    #: pattern that reads one place per run
    count: Callable[[dict[str, Any]], int] | None = None
    #: (params) -> whether any position is left free (drawn at random in a run, spread over the
    #: whole range in the expected cost); ``None``: the pattern reads no positions at all
    free: Callable[[dict[str, Any]], bool] | None = None
    #: the key of :data:`EXPECTED_POSITIONS` the expectation takes
    positions: str = "single"

    def count_of(self, params: dict[str, Any]) -> int:
        return self.count(params) if self.count is not None else 1


#: Positions a pattern's *expected* cost is taken over, per kind of position: enough that a
#: ranking no longer moves with where a few particular patches happen to fall.
EXPECTED_POSITIONS = {"offsets": 16, "cutouts": 8, "blocks": 8, "channels": 16, "single": 16}
_GOLDEN = (math.sqrt(5) - 1) / 2
#: A parameter no SPEC can set: selections on the lattice of :func:`_spread` instead of seeds.
LATTICE = "_lattice"
#: A parameter no SPEC can set: how many positions to draw (the expectation asks for more).
COUNT = "_count"
#: ``start`` (or a plane's position) left free: drawn at random, anywhere.
ANYWHERE = -1


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


def _axis(n: int, value: int, room: int, seed: int, axis: int, p: dict[str, Any]) -> list[int]:
    """Per position, the start along one axis: ``value`` if the user pinned it (>= 0, clipped
    to ``room``), else spread over ``[0, room]`` (random with ``seed``, or the lattice)."""
    if value >= 0:
        return [min(int(value), room)] * n
    return _spread(n, 0, room, seed, axis, bool(p.get(LATTICE)))


def _n(p: dict[str, Any], key: str) -> int:
    return int(p.get(COUNT) or p[key])


def _ophys_patch(p: dict[str, Any], shape: tuple[int, ...], rate: float | None) -> list[Selection]:
    """``offsets`` patches, each at its own place in y, x and time: a cell's neighbourhood is
    read around whatever frames an analysis needs, not from frame 0 (``start`` pins time)."""
    t, y, x = shape
    py, px = (min(p["patch"][0], y), min(p["patch"][1], x))
    frames = min(p["frames"], t)
    n = _n(p, "offsets")
    ys = _spread(n, 0, y - py, p["seed"], 0, bool(p.get(LATTICE)))
    xs = _spread(n, 0, x - px, p["seed"] + 1, 1, bool(p.get(LATTICE)))
    ts = _axis(n, p["start"], t - frames, p["seed"] + 2, 2, p)
    return [
        (slice(t0, t0 + frames), slice(y0, y0 + py), slice(x0, x0 + px))
        for t0, y0, x0 in zip(ts, ys, xs, strict=True)
    ]


def _ophys_frames(p: dict[str, Any], shape: tuple[int, ...], rate: float | None
                  ) -> list[Selection]:
    """Whole consecutive frames from anywhere in the movie (a viewer is scrubbed), or from
    ``start``."""
    t = shape[0]
    frames = min(p["frames"], t)
    starts = _axis(_n(p, "frames") if COUNT in p else 1, p["start"], t - frames, p["seed"], 0, p)
    return [(slice(s, s + frames), slice(None), slice(None)) for s in starts]


def _samples(seconds: float, rate: float | None, total: int) -> int:
    if seconds <= 0:
        return total
    return min(total, round(seconds * (rate or 30000.0)))


def _at(seconds: float, rate: float | None) -> int:
    """The sample at ``seconds`` from the start."""
    return round(seconds * (rate or 30000.0))


def _electrodes(n: int, channels: int, seed: int, lattice: bool) -> list[int]:
    """``n`` electrodes of ``channels``: distinct and at random (seeded), or, on the lattice,
    the midpoints of ``n`` equal strata of the probe."""
    if lattice:
        return _spread(n, 0, channels - 1, seed, 0, True)
    rng = np.random.default_rng(seed)
    k = min(n, channels)
    picked = [int(v) for v in rng.choice(channels, size=k, replace=False)]
    return [*picked, *(picked[i % k] for i in range(n - k))]


def _channel_count(p: dict[str, Any]) -> int:
    return len(p["channels"]) if isinstance(p["channels"], tuple) else int(p["channels"])


def _ecephys_channel(p: dict[str, Any], shape: tuple[int, ...], rate: float | None
                     ) -> list[Selection]:
    """Electrodes each read over ``seconds`` from a start of its own: which electrodes and
    when are drawn at random unless ``channels`` lists them (``3+17+40``) and ``start`` pins
    the time."""
    t, c = shape
    n = _samples(p["seconds"], rate, t)
    lattice = bool(p.get(LATTICE))
    if isinstance(p["channels"], tuple):  # pinned electrodes, repeated for extra positions
        pinned = [min(int(ch), c - 1) for ch in p["channels"]]
        count = int(p.get(COUNT) or len(pinned))
        chans = [pinned[i % len(pinned)] for i in range(count)]
    else:
        count = _n(p, "channels")
        chans = _electrodes(count, c, p["seed"], lattice)
    pinned_start = _at(p["start"], rate) if p["start"] >= 0 else ANYWHERE
    starts = _axis(count, pinned_start, t - n, p["seed"] + 1, 1, p)
    return [(slice(s, s + n), slice(ch, ch + 1)) for s, ch in zip(starts, chans, strict=True)]


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
    """A window of all channels from anywhere in the recording, or from ``start``."""
    t = shape[0]
    n = _samples(p["seconds"], rate, t)
    pinned = min(_at(p["start"], rate), t - n) if p["start"] >= 0 else ANYWHERE
    starts = _axis(int(p.get(COUNT) or 1), pinned, t - n, p["seed"], 0, p)
    return [(slice(s, s + n), slice(None)) for s in starts]


def _volume_planes(p: dict[str, Any], shape: tuple[int, ...], rate: float | None
                   ) -> list[Selection]:
    """One XY, one XZ and one YZ plane through a point (z, y, x): an orthogonal viewer, moved
    anywhere in the volume unless the point is given.

    The three orientations are what make volume layouts differ: slabs of whole planes serve
    XY planes with one chunk but must fetch every chunk of the volume for an XZ or YZ plane,
    while cubic chunks cost about the same in every orientation.
    """
    nz, ny, nx = shape
    n = int(p.get(COUNT) or 1)
    zs = _axis(n, p["z"], nz - 1, p["seed"], 0, p)
    ys = _axis(n, p["y"], ny - 1, p["seed"] + 1, 1, p)
    xs = _axis(n, p["x"], nx - 1, p["seed"] + 2, 2, p)
    out: list[Selection] = []
    for z, y, x in zip(zs, ys, xs, strict=True):
        out += [(slice(z, z + 1), slice(None), slice(None)),
                (slice(None), slice(y, y + 1), slice(None)),
                (slice(None), slice(None), slice(x, x + 1))]
    return out


def _volume_cutout(p: dict[str, Any], shape: tuple[int, ...], rate: float | None
                   ) -> list[Selection]:
    """``cutouts`` sub-volumes of ``size``, at random positions (or centred with seed=-1).

    Random positions, as for patches, because an analysis crops around a cell, not around a
    chunk boundary; centred cutouts are available for exact, hand-checkable figures.
    """
    size = [min(c, n) for c, n in zip(p["size"], shape, strict=True)]
    count = max(0, _n(p, "cutouts"))
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
    starts = _spread(_n(p, "blocks"), 0, shape[0] - n, p["seed"], 0, bool(p.get(LATTICE)))
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
    chans = (c - 1,) * len(p["channels"]) if isinstance(p["channels"], tuple) else c
    return {"channels": chans, "seconds": duration, "high": _rate(rate) / 2,
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


def _free_start(p: dict[str, Any]) -> bool:
    return bool(p["start"] < 0)


def _free_patch(p: dict[str, Any]) -> bool:
    return True  # y and x are always drawn


def _free_channels(p: dict[str, Any]) -> bool:
    return not isinstance(p["channels"], tuple) or p["start"] < 0


def _free_planes(p: dict[str, Any]) -> bool:
    return min(p["z"], p["y"], p["x"]) < 0


def _free_seeded(p: dict[str, Any]) -> bool:
    return bool(p["seed"] >= 0)


_SEED = Param("seed", "int", 0, "seed of the positions drawn at random", 0)

PATTERNS: dict[str, PatternDef] = {
    d.name: d
    for d in (
        PatternDef(
            "ophys-patch", "ophys",
            (
                Param("patch", "size", (32, 32), "patch height x width in pixels"),
                Param("frames", "int", 1000, "consecutive frames per patch", 1),
                Param("offsets", "int", 3, "how many patch positions are read", 1),
                Param("start", "int", ANYWHERE, "first frame (-1: anywhere, at random)", -1),
                _SEED,
            ),
            "a small patch over many frames (a cell's neighbourhood over time)",
            _ophys_patch,
            limits=_ophys_limits,
            count=lambda p: int(p["offsets"]),
            free=_free_patch,
            positions="offsets",
        ),
        PatternDef(
            "ophys-frames", "ophys",
            (
                Param("frames", "int", 10, "consecutive whole frames", 1),
                Param("start", "int", ANYWHERE, "first frame (-1: anywhere, at random)", -1),
                _SEED,
            ),
            "a few whole frames (what a viewer shows)",
            _ophys_frames,
            limits=_frames_limits,
            free=_free_start,
        ),
        PatternDef(
            "ecephys-channel-filter", "ecephys",
            (
                Param("channels", "channels", 3,
                      "how many electrodes, at random; or which (e.g. 3+17+40)", 1),
                Param("seconds", "float", 60.0, "duration per electrode (0: all of it)", 0),
                Param("start", "float", float(ANYWHERE),
                      "start time in seconds (-1: anywhere, at random)", -1),
                Param("low", "float", 300.0, "band-pass low edge, Hz", 0, above=True),
                Param("high", "float", 6000.0, "band-pass high edge, Hz", 0, above=True),
                Param("order", "int", 4, "Butterworth order", 1),
                _SEED,
            ),
            "one electrode's trace, band-pass filtered, for several electrodes",
            _ecephys_channel,
            _bandpass,
            limits=_channel_limits,
            count=_channel_count,
            free=_free_channels,
            positions="channels",
        ),
        PatternDef(
            "ecephys-window", "ecephys",
            (
                Param("seconds", "float", 1.0, "window length", 0, above=True),
                Param("start", "float", float(ANYWHERE),
                      "start time in seconds (-1: anywhere, at random)", -1),
                _SEED,
            ),
            "a short window of all channels",
            _ecephys_window,
            limits=_window_limits,
            free=_free_start,
        ),
        PatternDef(
            "volume-planes", "volume",
            (
                Param("z", "int", ANYWHERE, "depth of the XY plane (-1: anywhere)", -1),
                Param("y", "int", ANYWHERE, "row of the XZ plane (-1: anywhere)", -1),
                Param("x", "int", ANYWHERE, "column of the YZ plane (-1: anywhere)", -1),
                _SEED,
            ),
            "one XY, one XZ and one YZ plane through a point (an orthogonal viewer)",
            _volume_planes,
            limits=_planes_limits,
            free=_free_planes,
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
            count=lambda p: int(p["cutouts"]),
            free=_free_seeded,
            positions="cutouts",
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
            count=lambda p: int(p["blocks"]),
            free=_free_seeded,
            positions="blocks",
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
