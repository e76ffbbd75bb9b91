"""Realistic synthetic NWB files to benchmark layouts on, written with pynwb in blocks.

``GENERATORS`` maps a data kind to its generator and ``DATASET_PATHS`` to the path of the
main dataset inside the file, so callers (the CLI, the demo, benchmarks) can generate and then
open the right array without knowing NWB's layout.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from layoutbench.synthetic._nwb import DATASET_PATHS, GeneratedInfo
from layoutbench.synthetic.ecephys import generate_ecephys
from layoutbench.synthetic.many import generate_many_series
from layoutbench.synthetic.ophys import generate_ophys
from layoutbench.synthetic.volume import generate_volume

__all__ = [
    "DATASET_PATHS",
    "GENERATORS",
    "GeneratedInfo",
    "generate",
    "generate_ecephys",
    "generate_many_series",
    "generate_ophys",
    "generate_volume",
    "parse_size",
]

GENERATORS: dict[str, Callable[..., GeneratedInfo]] = {
    "ophys": generate_ophys,
    "ecephys": generate_ecephys,
    "volume": generate_volume,  # also takes plain=True (plain HDF5) and dtype="uint8"
    "many-series": generate_many_series,  # takes n_series, not size/shape (see its docstring)
}

#: How a sample's main dataset is stored: as neuroconv writes it (~10 MB gzip chunks) or as
#: pynwb does unless told otherwise (contiguous, uncompressed).
WRITERS = ("neuroconv", "pynwb")


def generate(kind: str, path: str | os.PathLike[str], *, size: int | None = None, seed: int = 0,
             writer: str = "neuroconv", plain: bool = False,
             progress: bool = False) -> GeneratedInfo:
    """One sample of ``kind`` at ``path`` (what ``layoutbench generate`` and ``lb.generate``
    write): ``size`` raw bytes (``None``: the kind's default), stored as ``writer`` writes it;
    ``plain`` writes a volume as plain HDF5, outside NWB. Arguments that cannot be used are a
    :class:`~layoutbench.errors.BadValueError` in one line (named as the CLI's options)."""
    from layoutbench.errors import BadValueError
    from layoutbench.plan.catalogue import KIND_NDIM
    from layoutbench.plan.layout import Layout

    if kind not in GENERATORS:
        raise BadValueError(f"kind {kind!r}: expected one of {', '.join(GENERATORS)}")
    if writer not in WRITERS:
        raise BadValueError(f"--layout {writer!r}: expected one of {', '.join(WRITERS)}")
    if plain and kind != "volume":
        raise BadValueError(f"--plain applies to volume data only, not {kind}")
    options: dict[str, object] = {"plain": True} if plain else {}
    if writer == "pynwb" and kind == "many-series":
        raise BadValueError("--layout pynwb applies to ophys, ecephys and volume")
    if writer == "pynwb":
        options["layout"] = Layout("hdf5", (1,) * KIND_NDIM[kind], "none", contiguous=True)
    try:
        return GENERATORS[kind](path, size=size, seed=seed, progress=progress, **options)
    except ValueError as exc:  # a size too small, a negative seed, ...: the user's arguments
        raise BadValueError(f"{path}: {exc}") from None


#: Decimal units follow SI (1 MB = 10**6 B), binary units IEC (1 MiB = 2**20 B); a bare
#: ``k``/``M``/``G``/``T`` is the decimal unit.
_UNITS = {
    "": 1, "b": 1,
    "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
    "t": 10**12, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]*)\s*$")


def parse_size(text: str) -> int:
    """Bytes from a human size such as ``"10GB"``, ``"500MB"``, ``"1.5GiB"`` or ``"123456"``.

    Units are case-insensitive; ``MB`` is 10**6 bytes and ``MiB`` 2**20. The result must be a
    whole number of bytes (``"1.5B"`` is an error).

    Raises
    ------
    ValueError
        With a one-line message naming the accepted forms.
    """
    hint = "expected a number with an optional unit (B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)"
    match = _SIZE_RE.match(text) if isinstance(text, str) else None
    if match is None or match.group(2).lower() not in _UNITS:
        raise ValueError(f"invalid size {text!r}: {hint}, e.g. '500MB' or '1.5GiB'")
    try:
        value = Decimal(match.group(1)) * _UNITS[match.group(2).lower()]
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
        raise ValueError(f"invalid size {text!r}: {hint}") from exc
    if value != value.to_integral_value():
        raise ValueError(f"invalid size {text!r}: not a whole number of bytes ({value})")
    return int(value)
