"""Access patterns: what a user reads (and computes) in one go, parametrised by a SPEC string.

A SPEC is ``NAME[:KEY=VALUE[,KEY=VALUE...]][@WEIGHT]`` (DESIGN.md §6), the same in ``sweep``,
``recommend`` and the Python API. Selections are pure functions of the array shape and the
pattern's parameters, so the geometry of a pattern can be computed without touching data;
:meth:`AccessPattern.run` is the only part that reads.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from layoutbench.errors import BadValueError
from layoutbench.plan.catalogue import (
    COUNT,
    DEFAULT_PATTERNS,
    EXPECTED_POSITIONS,
    KIND_NDIM,
    LATTICE,
    PATTERNS,
    Param,
    PatternDef,
)
from layoutbench.plan.geometry import Selection, normalise, selection_size


class PatternError(BadValueError):
    """An unknown pattern, key or value in a SPEC (a ``ValueError``)."""


# -- the noun -----------------------------------------------------------------------------------



def _scramble(n: int) -> list[int]:
    """``0 .. n-1`` in a fixed order in which neighbours are far apart: the golden-ratio
    sequence's ranks (deterministic, so the expected cost, and with it the recommendation,
    never changes from run to run)."""
    golden = (5**0.5 - 1) / 2
    return sorted(range(n), key=lambda m: (m * golden) % 1.0)


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
        parts = [f"{k}={_fmt_value(v, k)}" for k, v in self.params if defaults.get(k) != v]
        text = self.name + (":" + ",".join(parts) if parts else "")
        return text + (f"@{_fmt_value(self.weight)}" if self.weight != 1 else "")

    @property
    def label(self) -> str:
        """The SPEC without its weight: what identifies the pattern in a results table."""
        return self.spec.split("@", 1)[0]

    def selections(self, shape: Sequence[int], rate: float | None = None) -> list[Selection]:
        """The regions the pattern reads from an array of ``shape`` (``rate``: samples per
        second, for patterns given in seconds).

        Defaults larger than the array are clipped to it (a test file has fewer frames than a
        patch's default 1,000); a value the user gave that the array cannot hold is refused,
        so a result never records parameters it did not use.
        """
        shape = tuple(int(n) for n in shape)
        self._check_fits(shape, rate)
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

    def _check_fits(self, shape: tuple[int, ...], rate: float | None) -> None:
        limits_of = self.definition.limits
        if limits_of is None or len(shape) != KIND_NDIM.get(self.definition.kind, len(shape)):
            return
        limits = limits_of(self.kwargs, shape, rate)
        defaults = {p.name: p.default for p in self.definition.params}
        for key, value in self.params:
            if key not in limits or value == defaults[key]:
                continue
            limit = limits[key]
            over = any(v > m for v, m in zip(value, limit, strict=True)) \
                if isinstance(value, tuple) else value > limit + 1e-9
            if over:
                dims = "x".join(map(str, shape))
                raise PatternError(f"pattern {self.name}: {key}={_fmt_value(value, key)} does "
                                   f"not fit this array (shape {dims}: at most "
                                   f"{_fmt_limit(limit)})")

    def expected(self, shape: Sequence[int], rate: float | None = None
                 ) -> tuple[list[Selection], float, int]:
        """Selections whose cost, times the returned scale, is the *expected* cost of the
        pattern at positions chosen at random: the recommender's view.

        A run reads a few positions (patches, electrodes, windows, planes...) drawn at random
        along every axis the user left free; costing a layout on those few fits the layout to
        them. Instead the positions are taken on an even lattice over the whole space of free
        axes (time as well as space: a window's start is as free as a patch's corner), at
        least :data:`~layoutbench.plan.catalogue.EXPECTED_POSITIONS`, in sessions of the
        pattern's own count (the third value: selections per session), each costed as one
        cold reader, as a sweep reads a sample. A reader's caches (HDF5's B-tree nodes,
        remfile's blocks) thus carry over the pattern's own positions only, never over the
        whole lattice. The scale (one over the number of sessions) converts back to one run.
        Patterns with every position pinned are their own expectation (scale 1, one session).
        """
        shape = tuple(int(n) for n in shape)
        d = self.definition
        kw = self.kwargs
        if d.free is None or not d.free(kw):
            sels = self.selections(shape, rate)
            return sels, 1.0, len(sels)
        self._check_fits(shape, rate)
        count = d.count_of(kw)
        sessions = -(-EXPECTED_POSITIONS[d.positions] // count)
        lat = {**kw, COUNT: count * sessions, LATTICE: True}
        sels = [normalise(s, shape) for s in d.selections(lat, shape, rate)]
        per = len(sels) // (count * sessions)  # selections per position (3 for planes)
        # session j takes every sessions-th lattice point from j: each spans the whole space;
        # within a session the points are read in a fixed scrambled order, as positions drawn
        # at random are (in lattice order, neighbours follow one another and a reader's cache
        # would serve the next patch from the last one's chunks: half the cost of large
        # chunks on random reads)
        scramble = _scramble(count)
        order = [j + sessions * m for j in range(sessions) for m in scramble]
        sels = [sels[i * per + k] for i in order for k in range(per)]
        return sels, 1.0 / sessions, count * per

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
        return make_pattern(d["name"], {k: _parse_value(d["name"], k, str(_fmt_value(v, k)))
                                        for k, v in d.get("params", {}).items()},
                            float(d.get("weight", 1.0)))


def _jsonable(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def _fmt_value(v: Any, key: str | None = None) -> str:
    """A value as a SPEC writes it: sizes ``AxB``, electrodes ``3+17+40``."""
    if isinstance(v, tuple | list):
        return ("+" if key == "channels" else "x").join(str(int(i)) for i in v)
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _fmt_limit(v: Any) -> str:
    if isinstance(v, tuple | list):
        return "x".join(str(int(i)) for i in v)
    return f"{v:g}" if isinstance(v, float) else str(v)


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
        if p.type == "channels":
            if "+" not in text:
                return int(text)
            chans = tuple(int(v) for v in text.split("+"))
            if min(chans) < 0:
                raise ValueError
            return chans
        value = int(text) if p.type == "int" else float(text)
    except ValueError:
        form = {"size": _size_form(len(p.default)) if p.type == "size" else "",
                "channels": "count or electrode list (3, or 3+17+40)"}.get(p.type, p.type)
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
    for p in PATTERNS[name].params:
        if (problem := p.problem(dict(params)[p.name])) is not None:
            raise PatternError(f"pattern {name}: {problem}")
    values = dict(params)
    if "low" in values and "high" in values and values["high"] <= values["low"]:
        raise PatternError(f"pattern {name}: high ({values['high']:g} Hz) must be above low "
                           f"({values['low']:g} Hz)")
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
        if key.strip() in overrides:
            raise PatternError(f"pattern spec {spec!r}: {key.strip()} is given twice")
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
