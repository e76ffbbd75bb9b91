"""layoutbench: measure and recommend cloud-friendly layouts for NWB data.

The public API (see the README's "Python API"): :func:`recommend`, :func:`sweep`,
:func:`measure`, :func:`apply`, :func:`generate`, :func:`report`, :func:`refs` and
:func:`read_results`, and the nouns they speak, :class:`Layout`,
:class:`AccessPattern`, :class:`NetworkProfile`, :class:`Measurement` and
:class:`Recommendation`, and the errors it raises on purpose, all :class:`LayoutbenchError`: a
:class:`UserError` for what the user gave (an :class:`InputNotFoundError`, which is a
``FileNotFoundError``, for a missing input; a :class:`BadValueError`, which is a ``ValueError``,
for a value that cannot be used). Everything else is internal, whatever its name.

Names are loaded on first use (PEP 562), so ``import layoutbench`` stays cheap for the command
line and for the servers that run as ``python -m layoutbench.store.<module>``.
"""

from __future__ import annotations

import os
from importlib import import_module
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"


def _drop_own_plugin_path() -> None:
    """Forget ``HDF5_PLUGIN_PATH`` when it names hdf5plugin's own folder (hdf5plugin's
    documentation suggests it, so that other HDF5 tools read zstd and Blosc).

    hdf5plugin registers those filters with the HDF5 that h5py loads; HDF5 loading the same
    filters a second time from the folder makes every compressed write fail ("error during
    user callback"). HDF5 reads the variable when it starts, so it is dropped before h5py is
    imported (and from the environment of the servers layoutbench starts).
    """
    given = os.environ.get("HDF5_PLUGIN_PATH")
    spec = find_spec("hdf5plugin") if given else None
    if not given or spec is None or not spec.submodule_search_locations:
        return
    own = os.path.realpath(os.path.join(next(iter(spec.submodule_search_locations)), "plugins"))
    kept = [p for p in given.split(os.pathsep) if p and os.path.realpath(p) != own]
    if len(kept) == len([p for p in given.split(os.pathsep) if p]):
        return
    if kept:
        os.environ["HDF5_PLUGIN_PATH"] = os.pathsep.join(kept)
    else:
        del os.environ["HDF5_PLUGIN_PATH"]


_drop_own_plugin_path()

_PUBLIC = {
    "recommend": "layoutbench.api",
    "sweep": "layoutbench.api",
    "apply": "layoutbench.api",
    "read_results": "layoutbench.api",
    "measure": "layoutbench.api",
    "generate": "layoutbench.api",
    "report": "layoutbench.api",
    "refs": "layoutbench.api",
    "Layout": "layoutbench.plan.layout",
    "AccessPattern": "layoutbench.plan.patterns",
    "parse_spec": "layoutbench.plan.patterns",
    "NetworkProfile": "layoutbench.plan.profiles",
    "PROFILES": "layoutbench.plan.profiles",
    "get_profile": "layoutbench.plan.profiles",
    "Measurement": "layoutbench.plan.measurement",
    "Recommendation": "layoutbench.results",
    "LayoutbenchError": "layoutbench.errors",
    "UserError": "layoutbench.errors",
    "InputNotFoundError": "layoutbench.errors",
    "BadValueError": "layoutbench.errors",
}

__all__ = [  # what _PUBLIC maps (a test keeps the two equal)
    "PROFILES", "AccessPattern", "BadValueError", "InputNotFoundError", "Layout",
    "LayoutbenchError", "Measurement", "NetworkProfile", "Recommendation", "UserError",
    "__version__", "apply", "generate", "get_profile", "measure", "parse_spec",
    "read_results", "recommend", "refs", "report", "sweep",
]

if TYPE_CHECKING:
    from layoutbench.api import (
        apply,
        generate,
        measure,
        read_results,
        recommend,
        refs,
        report,
        sweep,
    )
    from layoutbench.errors import (
        BadValueError,
        InputNotFoundError,
        LayoutbenchError,
        UserError,
    )
    from layoutbench.plan.layout import Layout
    from layoutbench.plan.measurement import Measurement
    from layoutbench.plan.patterns import AccessPattern, parse_spec
    from layoutbench.plan.profiles import PROFILES, NetworkProfile, get_profile
    from layoutbench.results import Recommendation


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        value = getattr(import_module(_PUBLIC[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'layoutbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(__all__) | {"__version__"})
