"""Render a :class:`~layoutbench.run.recommend.Recommendation`: a table for people, and neuroconv's
dataset I/O configuration for conversion pipelines.

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


def _fmt_bytes(n: float) -> str:
    return f"{n / 1e6:,.1f} MB" if n >= 1e5 else f"{n / 1e3:,.1f} kB"


def render_table(rec: dict[str, Any]) -> str:
    """One block per dataset: current, recommended and alternatives with predicted figures."""
    constants = "calibrated" if rec["calibrated"] else (
        "shipped" if "reader table" in rec.get("model_constants", "") else "default")
    lines = [f"{rec['file']}  (profile {rec['profile']}, {constants} model constants)"]
    if not rec["datasets"]:
        lines.append("no dataset over the size threshold: nothing to recommend")
    for d in rec["datasets"]:
        pats = ", ".join(f"{p['name']}@{p['weight']:g}" for p in d["patterns"])
        lines += ["", f"{d['path']}  {d['neurodata_type'] or '-'}  {tuple(d['shape'])} "
                  f"{d['dtype']}  [{pats}]"]
        head = (f"  {'':12} {'layout':42} {'reader':13} {'seconds':>8} {'×':>6} {'requests':>9} "
                f"{'transferred':>12} {'stored':>11} {'$/1000':>8}")
        lines.append(head)
        rows = [("current", d["current"]), ("recommended", d["recommended"])]
        rows += [("alternative", a) for a in d["alternatives"]]
        for tag, r in rows:
            speed = "" if tag == "current" else f"{r['speedup_vs_current']:.1f}"
            lines.append(f"  {tag:12} {r['name']:42} {r['reader']:13} {r['seconds']:8.3f} "
                         f"{speed:>6} {r['requests']:9.1f} {_fmt_bytes(r['bytes_transferred']):>12}"
                         f" {_fmt_bytes(r['stored_bytes']):>11} "
                         f"{r['cost_per_1000_reads_usd']:8.4f}")
        for m in d.get("measured") or []:
            lines.append(f"  measured on {tuple(m['shape'])}: {m['layout']:42} {m['reader']:13} "
                         f"predicted {m['predicted_seconds']:.3f} s / measured "
                         f"{m['measured_seconds']:.3f} s; requests {m['predicted_requests']:g} / "
                         f"{m['measured_requests']:g}")
        lines += [f"  note: {n}" for n in d["notes"]]
    for s in rec.get("skipped", []):
        lines.append(f"skipped {s['path']}: {s['reason']}")
    spent = rec.get("spent")
    if spent:
        lines.append(f"reading the remote file cost {spent['requests']} requests, "
                     f"{_fmt_bytes(spent['bytes'])}, {spent['seconds']:.1f} s "
                     f"(counted by the {spent['counts']})")
    return "\n".join(lines)


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
