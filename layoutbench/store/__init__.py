"""Embedded S3 endpoint (moto) behind a network-emulating, request-counting gateway.

``profiles`` is imported eagerly (pure and cheap). ``EmbeddedS3`` and ``GatewayStats`` are
resolved lazily (PEP 562): the gateway and the moto launcher run as ``python -m
layoutbench.store.<module>``, which imports this package first, and an eager import of
``embedded`` would load boto3 into those processes for nothing and make ``runpy`` warn that
the module was imported before being run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from layoutbench.plan.profiles import PROFILES, NetworkProfile, get_profile

if TYPE_CHECKING:
    from .embedded import EmbeddedS3, ObjectInfo
    from .server import GatewayStats

__all__ = ["PROFILES", "EmbeddedS3", "GatewayStats", "NetworkProfile", "ObjectInfo", "get_profile"]

_LAZY = {"EmbeddedS3": "embedded", "ObjectInfo": "embedded", "GatewayStats": "server"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
