"""A file's kerchunk references with their provenance (:class:`RefSet`), and the error a dataset
references cannot express raises (:class:`ReferencesUnsupported`).

What :mod:`.refs` (the cache and sidecars), :mod:`.refs_build` (translating a file) and
:mod:`.refs_open` (reading through references) share.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from layoutbench.store.sources import ObjectIdentity

#: Marker and version of our provenance, stored beside the standard references (``layoutbench``).
FORMAT, FORMAT_VERSION = "layoutbench-refs", 2


class ReferencesUnsupported(Exception):  # noqa: N818 - the public name is part of the API
    """A dataset that references cannot express; ``str(e) == f"{dataset}: {reason}"``."""

    def __init__(self, dataset: str, reason: str) -> None:
        super().__init__(f"{dataset}: {reason}")
        self.dataset = dataset
        self.reason = reason


@dataclass(frozen=True)
class RefSet:
    """A file's kerchunk references with their provenance.

    ``source`` says how this instance was obtained (``"built"``, ``"local-cache"`` or
    ``"sidecar"``), so callers and benchmarks can tell a cache hit from a translation.
    """

    identity: ObjectIdentity
    refs: dict[str, Any]
    unsupported: dict[str, str]
    kerchunk_version: str
    build_seconds: float
    source: str = "built"

    @property
    def n_chunks(self) -> int:
        """Chunk references (``[url, offset, size]`` entries; inlined values do not count)."""
        return sum(isinstance(v, list) for v in self.refs.get("refs", {}).values())

    def to_dict(self) -> dict[str, Any]:
        """A standard kerchunk reference set (``{"version": 1, "refs": ...}``) that
        ``fsspec.filesystem("reference", fo=...)`` opens as it is, with our provenance under
        one extra top-level key, ``"layoutbench"``, which fsspec ignores. This is what the
        cache, sidecars and ``layoutbench refs build -o`` hold."""
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION,
                "identity": self.identity.to_dict(), "kerchunk_version": self.kerchunk_version,
                "build_seconds": self.build_seconds, "source": self.source,
                "unsupported": dict(self.unsupported)}
        return {**self.refs, "layoutbench": meta}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RefSet:
        """Inverse of :meth:`to_dict`; a foreign or older format is a ``ValueError``."""
        meta = d.get("layoutbench")
        if not isinstance(meta, dict) or meta.get("format") != FORMAT \
                or meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"not a {FORMAT} v{FORMAT_VERSION} reference set")
        if d.get("version") != 1 or not isinstance(d.get("refs"), dict):
            raise ValueError("references must be kerchunk version 1")
        refs = {k: v for k, v in d.items() if k != "layoutbench"}
        return cls(identity=ObjectIdentity.from_dict(meta["identity"]), refs=refs,
                   unsupported={str(k): str(v) for k, v in meta.get("unsupported", {}).items()},
                   kerchunk_version=str(meta["kerchunk_version"]),
                   build_seconds=float(meta["build_seconds"]),
                   source=str(meta.get("source", "built")))

    def pointing_at(self, url: str) -> RefSet:
        """The same references with chunk reads sent to ``url`` instead of where the file was
        when they were built (e.g. through a counting gateway): only the address changes."""
        old = self.identity.url
        if url == old:
            return self
        refs = {k: [url, *v[1:]] if isinstance(v, list) and v and v[0] == old else v
                for k, v in self.refs["refs"].items()}
        return dataclasses.replace(self, refs={**self.refs, "refs": refs})
