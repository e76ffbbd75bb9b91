"""Access patterns: what a user reads (and computes) in one go, parametrised by a SPEC string.

A SPEC is ``NAME[:KEY=VALUE[,KEY=VALUE...]][@WEIGHT]`` (DESIGN.md §6), the same in ``sweep``,
``recommend`` and the Python API. Selections are pure functions of the array shape and the
pattern's parameters, so the geometry of a pattern can be computed without touching data;
:meth:`AccessPattern.run` is the only part that reads.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from layoutbench.errors import UserError
from layoutbench.plan.geometry import Selection, normalise, selection_size


class PatternError(UserError):
    """An unknown pattern, key or value in a SPEC."""


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a pattern: its name, type (``int``, ``float``, ``size``) and default.

    A ``size`` is written ``AxB`` or ``AxBxC``: as many positive integers as its default has.
    """

    name: str
    type: str
    default: Any
    help: str


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


# -- selections -------------------------------------------------------------------------------
def _spread(n_items: int, lo: int, hi: int, seed: int) -> list[int]:
    """``n_items`` deterministic pseudo-random starts in ``[lo, hi]``.

    Random rather than grid-aligned offsets: real users do not know (or care about) chunk
    boundaries, and aligned offsets would flatter layouts whose chunks match the pattern size.
    """
    rng = np.random.default_rng(seed)
    return [int(v) for v in rng.integers(lo, max(lo, hi) + 1, size=n_items)]


def _ophys_patch(p: dict[str, Any], shape: tuple[int, ...], rate: float | None) -> list[Selection]:
    t, y, x = shape
    py, px = (min(p["patch"][0], y), min(p["patch"][1], x))
    frames = min(p["frames"], t)
    start = min(p["start"], t - frames)
    ys = _spread(p["offsets"], 0, y - py, p["seed"])
    xs = _spread(p["offsets"], 0, x - px, p["seed"] + 1)
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
        per_axis = [_spread(count, 0, n - c, p["seed"] + axis)
                    for axis, (c, n) in enumerate(zip(size, shape, strict=True))]
        starts = [list(s) for s in zip(*per_axis, strict=True)]
    return [tuple(slice(s, s + c) for s, c in zip(start, size, strict=True))
            for start in starts]


def _block_read(p: dict[str, Any], shape: tuple[int, ...], rate: float | None
                ) -> list[Selection]:
    """Whole rows of the first axis, ``mb`` per block: what a generic analysis streams."""
    row = max(1, math.prod(shape[1:]))  # elements per index of axis 0
    n = max(1, min(shape[0], round(p["mb"] * 1e6 / 2 / row)))  # 2 B per element, typical
    starts = _spread(p["blocks"], 0, shape[0] - n, p["seed"])
    return [(slice(s, s + n), *(slice(None),) * (len(shape) - 1)) for s in starts]


def _no_selection(p: dict[str, Any], shape: tuple[int, ...], rate: float | None
                  ) -> list[Selection]:
    return []


PATTERNS: dict[str, PatternDef] = {
    d.name: d
    for d in (
        PatternDef(
            "ophys-patch", "ophys",
            (
                Param("patch", "size", (32, 32), "patch height x width in pixels"),
                Param("frames", "int", 1000, "consecutive frames per patch"),
                Param("offsets", "int", 3, "how many patch positions are read"),
                Param("start", "int", 0, "first frame"),
                Param("seed", "int", 0, "seed of the patch positions"),
            ),
            "a small patch over many frames (a cell's neighbourhood over time)",
            _ophys_patch,
        ),
        PatternDef(
            "ophys-frames", "ophys",
            (
                Param("frames", "int", 10, "consecutive whole frames"),
                Param("start", "int", -1, "first frame (-1: the middle of the movie)"),
            ),
            "a few whole frames (what a viewer shows)",
            _ophys_frames,
        ),
        PatternDef(
            "ecephys-channel-filter", "ecephys",
            (
                Param("channels", "int", 3, "how many electrodes, spread over the probe"),
                Param("seconds", "float", 60.0, "duration per electrode (0: all of it)"),
                Param("start", "float", 0.0, "start time in seconds"),
                Param("low", "float", 300.0, "band-pass low edge, Hz"),
                Param("high", "float", 6000.0, "band-pass high edge, Hz"),
                Param("order", "int", 4, "Butterworth order"),
            ),
            "one electrode's trace, band-pass filtered, for several electrodes",
            _ecephys_channel,
            _bandpass,
        ),
        PatternDef(
            "ecephys-window", "ecephys",
            (
                Param("seconds", "float", 1.0, "window length"),
                Param("start", "float", -1.0, "start time in seconds (-1: the middle)"),
            ),
            "a short window of all channels",
            _ecephys_window,
        ),
        PatternDef(
            "volume-planes", "volume",
            (
                Param("z", "int", -1, "depth of the XY plane (-1: the middle)"),
                Param("y", "int", -1, "row of the XZ plane (-1: the middle)"),
                Param("x", "int", -1, "column of the YZ plane (-1: the middle)"),
            ),
            "one XY, one XZ and one YZ plane through a point (an orthogonal viewer)",
            _volume_planes,
        ),
        PatternDef(
            "volume-cutout", "volume",
            (
                Param("size", "size", (128, 128, 128), "cutout depth x height x width in voxels"),
                Param("cutouts", "int", 1, "how many cutouts are read"),
                Param("seed", "int", 0, "seed of the cutout positions (-1: centred)"),
            ),
            "a sub-volume around a region of interest (an analysis crop)",
            _volume_cutout,
        ),
        PatternDef(
            "block-read", "any",
            (
                Param("mb", "float", 10.0, "uncompressed MB per block (whole rows of axis 0)"),
                Param("blocks", "int", 3, "how many blocks, spread over the first axis"),
                Param("seed", "int", 0, "seed of the block positions"),
            ),
            "contiguous blocks along the first axis (any array: the generic read)",
            _block_read,
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


# -- the noun -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PatternRun:
    """What running a pattern on an array produced (deterministic for given data)."""

    reads: int
    bytes_needed: int
    digest: str


@dataclass(frozen=True, slots=True)
class AccessPattern:
    """A pattern with every parameter resolved, plus its relative frequency ``weight``."""

    name: str
    params: tuple[tuple[str, Any], ...]
    weight: float = 1.0

    @property
    def definition(self) -> PatternDef:
        return PATTERNS[self.name]

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def spec(self) -> str:
        """Canonical SPEC: only the parameters that differ from the defaults, in order."""
        defaults = {p.name: p.default for p in self.definition.params}
        parts = [f"{k}={_fmt_value(v)}" for k, v in self.params if defaults.get(k) != v]
        text = self.name + (":" + ",".join(parts) if parts else "")
        return text + (f"@{_fmt_value(self.weight)}" if self.weight != 1 else "")

    @property
    def label(self) -> str:
        """The SPEC without its weight: what identifies the pattern in a results table."""
        return self.spec.split("@", 1)[0]

    def selections(self, shape: Sequence[int], rate: float | None = None) -> list[Selection]:
        shape = tuple(int(n) for n in shape)
        if self.definition.kind == "any":
            return [normalise(s, shape) for s in self.definition.selections(self.kwargs, shape,
                                                                            rate)]
        expected = KIND_NDIM[self.definition.kind]
        if len(shape) != expected:
            raise PatternError(
                f"pattern {self.name} needs a {expected}-d {self.definition.kind} array, "
                f"got shape {shape}"
            )
        return [normalise(s, shape) for s in self.definition.selections(self.kwargs, shape, rate)]

    def bytes_needed(self, shape: Sequence[int], itemsize: int, rate: float | None = None) -> int:
        return sum(selection_size(s) for s in self.selections(shape, rate)) * itemsize

    def run(self, array: Any, rate: float | None = None) -> PatternRun:
        """Read every selection from ``array`` (any sliceable) and apply the compute step.

        The digest covers the raw bytes read, so every reader and layout must produce the same
        digest for the same pattern: a cheap end-to-end correctness check on every case.
        """
        h = hashlib.blake2b(digest_size=16)
        needed = 0
        if self.definition.includes_open:
            # reach the metadata a viewer shows; attributes are read, but only shape and dtype
            # enter the digest (kerchunk adds attributes of its own, e.g. _ARRAY_DIMENSIONS)
            dict(getattr(array, "attrs", {}))
            h.update(repr((tuple(array.shape), str(np.dtype(array.dtype)))).encode())
        sels = self.selections(array.shape, rate)
        for sel in sels:
            data = np.ascontiguousarray(array[sel])
            needed += data.nbytes
            h.update(data.tobytes())
            if self.definition.compute is not None:
                self.definition.compute(data, self.kwargs, rate)
        return PatternRun(reads=len(sels), bytes_needed=needed, digest=h.hexdigest())

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "params": {k: _jsonable(v) for k, v in self.params},
                "weight": self.weight, "spec": self.spec}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AccessPattern:
        return make_pattern(d["name"], {k: _parse_value(d["name"], k, str(_fmt_value(v)))
                                        for k, v in d.get("params", {}).items()},
                            float(d.get("weight", 1.0)))


def _jsonable(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def _fmt_value(v: Any) -> str:
    if isinstance(v, tuple | list):
        return "x".join(str(int(i)) for i in v)
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _param(name: str, key: str) -> Param:
    for p in PATTERNS[name].params:
        if p.name == key:
            return p
    valid = ", ".join(p.name for p in PATTERNS[name].params)
    raise PatternError(f"pattern {name}: unknown key {key!r} (valid keys: {valid})")


def _parse_value(name: str, key: str, text: str) -> Any:
    p = _param(name, key)
    try:
        if p.type == "size":
            parts = tuple(int(v) for v in text.lower().split("x"))
            if len(parts) != len(p.default) or min(parts) < 1:
                raise ValueError
            return parts
        value = int(text) if p.type == "int" else float(text)
    except ValueError:
        form = _size_form(len(p.default)) if p.type == "size" else p.type
        raise PatternError(f"pattern {name}: {key}={text!r} is not a valid {form}") from None
    return value


def _size_form(ndim: int) -> str:
    """How a size of ``ndim`` axes is written: ``AxB``, ``AxBxC``, ..."""
    return "x".join("ABCDEFGH"[:ndim])


def make_pattern(name: str, overrides: dict[str, Any] | None = None, weight: float = 1.0
                 ) -> AccessPattern:
    """Build a pattern from its name and parameter overrides (values already typed)."""
    if name not in PATTERNS:
        raise PatternError(f"unknown pattern {name!r} (valid: {', '.join(PATTERNS)})")
    overrides = dict(overrides or {})
    for key in overrides:
        _param(name, key)
    if not (weight > 0 and math.isfinite(weight)):
        raise PatternError(f"pattern {name}: weight must be a positive number, got {weight}")
    params = tuple((p.name, overrides.get(p.name, p.default)) for p in PATTERNS[name].params)
    return AccessPattern(name, params, float(weight))


def parse_spec(spec: str) -> AccessPattern:
    """Parse ``NAME[:KEY=VALUE[,KEY=VALUE...]][@WEIGHT]`` into an :class:`AccessPattern`."""
    text = spec.strip()
    weight = 1.0
    if "@" in text:
        text, _, wtext = text.rpartition("@")
        try:
            weight = float(wtext)
        except ValueError:
            raise PatternError(f"pattern spec {spec!r}: weight {wtext!r} is not a number") from None
    name, _, rest = text.partition(":")
    name = name.strip()
    if name not in PATTERNS:
        raise PatternError(f"unknown pattern {name!r} (valid: {', '.join(PATTERNS)})")
    overrides: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq:
            raise PatternError(f"pattern spec {spec!r}: expected KEY=VALUE, got {item!r}")
        overrides[key.strip()] = _parse_value(name, key.strip(), value.strip())
    return make_pattern(name, overrides, weight)


def default_patterns(kind: str) -> list[AccessPattern]:
    """The patterns a data kind is judged by when the user names none."""
    if kind not in DEFAULT_PATTERNS:
        raise PatternError(f"no default patterns for data kind {kind!r}")
    return [make_pattern(n) for n in DEFAULT_PATTERNS[kind]]


def as_patterns(patterns: str | AccessPattern | Iterable[str | AccessPattern] | None
                ) -> list[AccessPattern]:
    """Patterns from SPEC strings, :class:`AccessPattern` objects or a mix (``None``: none).

    One SPEC alone is one pattern, not a sequence of one-letter names: ``patterns="ophys-patch"``
    is what a notebook user writes as often as ``patterns=["ophys-patch"]``.
    """
    if patterns is None:
        return []
    if isinstance(patterns, str | AccessPattern):
        patterns = [patterns]
    out = []
    for p in patterns:
        if isinstance(p, AccessPattern):
            out.append(p)
        elif isinstance(p, str):
            out.append(parse_spec(p))
        else:
            raise PatternError(f"a pattern is a SPEC string or an AccessPattern, not {p!r}")
    return out
