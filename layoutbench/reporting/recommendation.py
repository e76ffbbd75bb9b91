"""A recommendation (its JSON, :meth:`layoutbench.plan.recommendation.Recommendation.to_dict`) as
neuroconv's dataset I/O configuration, for conversion pipelines; the table for people is
:func:`layoutbench.plan.recommendation.render_table`.

neuroconv's HDF5 configuration (``HDF5DatasetIOConfiguration``) names a compression method
(``gzip`` or an hdf5plugin filter: ``Zstd``, ``Blosc``, ...) and its options, but leaves byte
shuffle to H5DataIO; a layout with zstd + shuffle is therefore written as Blosc (zstd inside,
shuffle on), the closest form neuroconv can express, and the entry says so.
"""

from __future__ import annotations

import math
from typing import Any

from layoutbench.plan.layout import Layout

#: Uncompressed bytes per write buffer neuroconv should use (its default is 1 GB).
BUFFER_BYTES = 10**9


def _neuroconv_compression(layout: Layout) -> tuple[list[str] | None,
                                                   list[dict[str, Any] | None] | None]:
    """neuroconv's ``compressors``/``compressor_options`` (0.10 on) for a layout: HDF5 names
    its filters as h5py and hdf5plugin do (``"shuffle"``, ``"gzip"``, ``"Zstd"``, ``"Blosc"``,
    ``"LZ4"``), Zarr as numcodecs does (``"zstd"``, ``"blosc"``, ``"gzip"``); byte shuffle is
    its own ``"shuffle"`` entry before the compression method, except inside Blosc."""
    level = layout.level
    if layout.codec == "none":
        return (["shuffle"], [None]) if layout.shuffle else (None, None)
    if layout.codec.startswith("blosc-"):
        name = "Blosc" if layout.format == "hdf5" else "blosc"
        return [name], [{"cname": layout.codec.removeprefix("blosc-"),
                         "clevel": level if level is not None else 5,
                         "shuffle": 1 if layout.shuffle else 0}]
    if layout.format == "hdf5":
        method, opts = {
            "gzip": ("gzip", {"level": level if level is not None else 4}),
            "zstd": ("Zstd", {"clevel": level if level is not None else 3}),
            "lz4": ("LZ4", {}),
        }[layout.codec]
    else:
        method, opts = layout.codec, {"level": level if level is not None else 3}
    shuffle: list[str] = ["shuffle"] if layout.shuffle else []
    return [*shuffle, method], [*([None] * len(shuffle)), opts]



def neuroconv_config(rec: dict[str, Any]) -> dict[str, Any]:
    """neuroconv dataset I/O configuration fields per dataset, keyed by location in the file."""
    out: dict[str, Any] = {}
    for d in rec["datasets"]:
        r = d["recommended"]
        layout = Layout(r["format"], tuple(r["chunks"]), r["codec"], r["level"],
                        shuffle=r["shuffle"],
                        shards=None if r["shards"] is None else tuple(r["shards"]))
        itemsize = _itemsize(d["dtype"])
        chunk_bytes = math.prod(layout.chunks) * itemsize
        per = max(1, BUFFER_BYTES // max(1, chunk_bytes))
        buffer = list(layout.chunks)
        buffer[0] = min(d["shape"][0], buffer[0] * per)  # whole chunks, along time
        compressors, options = _neuroconv_compression(layout)
        entry: dict[str, Any] = {
            "location_in_file": d["path"].lstrip("/"), "backend": layout.format,
            "full_shape": d["shape"], "dtype": d["dtype"], "chunk_shape": list(layout.chunks),
            "buffer_shape": buffer, "compressors": compressors,
            "compressor_options": options,
        }
        if d.get("keep"):
            entry["note"] = "keep the current layout (no candidate clears --min-gain)"
        if layout.shards is not None:
            entry["shard_shape"] = list(layout.shards)
            entry["note"] = "neuroconv writes Zarr through hdmf-zarr, without shards"
        out[d["path"].lstrip("/")] = entry
    return out


def _itemsize(dtype: str) -> int:
    import numpy as np

    return int(np.dtype(dtype).itemsize)
