"""layoutbench: measure and recommend cloud-friendly layouts for NWB data.

The public API (see the README's "Python API"): :func:`recommend`, :func:`sweep`,
:func:`measure`, :func:`apply` and :func:`read_results`, and the nouns they speak, :class:`Layout`,
:class:`AccessPattern`, :class:`NetworkProfile`, :class:`Measurement` and
:class:`Recommendation`. Everything else is internal, whatever its name.

Names are loaded on first use (PEP 562), so ``import layoutbench`` stays cheap for the command
line and for the servers that run as ``python -m layoutbench.store.<module>``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_PUBLIC = {
    "recommend": "layoutbench.api",
    "sweep": "layoutbench.api",
    "apply": "layoutbench.api",
    "read_results": "layoutbench.api",
    "measure": "layoutbench.api",
    "Layout": "layoutbench.plan.layout",
    "AccessPattern": "layoutbench.plan.patterns",
    "parse_spec": "layoutbench.plan.patterns",
    "NetworkProfile": "layoutbench.plan.profiles",
    "PROFILES": "layoutbench.plan.profiles",
    "get_profile": "layoutbench.plan.profiles",
    "Measurement": "layoutbench.plan.measurement",
    "Recommendation": "layoutbench.results",
    "UserError": "layoutbench.errors",
}

__all__ = [  # what _PUBLIC maps (a test keeps the two equal)
    "PROFILES", "AccessPattern", "Layout", "Measurement", "NetworkProfile", "Recommendation",
    "UserError", "__version__", "apply", "get_profile", "measure", "parse_spec",
    "read_results", "recommend", "sweep",
]

if TYPE_CHECKING:
    from layoutbench.api import apply, measure, read_results, recommend, sweep
    from layoutbench.errors import UserError
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
