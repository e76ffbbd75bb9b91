"""How long kerchunk translation takes for a file of many chunks, locally and through S3.

A plain script (``python benchmarks/refs_translate.py``): it writes an HDF5 file with a
(2000, 5000) int16 dataset in (10, 10) gzip chunks -- 100,000 chunks, the scale at which a
per-chunk index lookup instead of HDF5's chunk iteration, or a translation that fetches
metadata in tiny requests, becomes minutes instead of seconds -- then times
:func:`layoutbench.read.refs.build_refs` on the local path and on an ``s3://`` URL served by
:class:`~layoutbench.store.EmbeddedS3`. Nothing runs on import.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from layoutbench.read.refs_build import build_refs
from layoutbench.store import EmbeddedS3, get_profile

SHAPE = (2000, 5000)
CHUNKS = (10, 10)
LIMIT_SECONDS = 30.0


def make_file(path: Path, shape: tuple[int, int] = SHAPE, chunks: tuple[int, int] = CHUNKS
              ) -> Path:
    """Write the many-chunk file, in row blocks so memory stays small."""
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        dset = f.create_dataset("data", shape=shape, dtype="int16", chunks=chunks,
                                compression="gzip")
        step = chunks[0] * 20
        for start in range(0, shape[0], step):
            rows = min(step, shape[0] - start)
            dset[start:start + rows] = rng.integers(-100, 100, size=(rows, shape[1]),
                                                    dtype="int16")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="loopback", help="network profile for the S3 run")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        path = make_file(Path(tmp) / "many-chunks.h5")
        print(f"file: {path.stat().st_size / 1e6:.1f} MB, shape {SHAPE}, chunks {CHUNKS}")
        t0 = time.perf_counter()
        local = build_refs(str(path))
        seconds = time.perf_counter() - t0
        print(f"local : {local.n_chunks:>7,} chunks in {seconds:6.2f} s")
        failed |= seconds > LIMIT_SECONDS
        with EmbeddedS3(profile=get_profile(args.profile)) as s3:
            s3.upload_file(path, path.name)
            s3.reset_counters()
            t0 = time.perf_counter()
            remote = build_refs(s3.source(path.name))
            seconds = time.perf_counter() - t0
            stats = s3.stats()
        print(f"s3    : {remote.n_chunks:>7,} chunks in {seconds:6.2f} s "
              f"({stats.requests} requests, {stats.bytes_sent / 1e6:.1f} MB, "
              f"profile {args.profile})")
        failed |= seconds > LIMIT_SECONDS or remote.n_chunks != local.n_chunks
    if failed:
        print(f"FAIL: a translation took over {LIMIT_SECONDS:.0f} s or the counts differ")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
