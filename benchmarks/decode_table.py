"""Measure the decode table of ``layoutbench/plan/decode.py`` on this machine and print it.

For every codec the search and the grids use, decode times of layoutbench's own samples
(ophys, ecephys and volume, at several chunk shapes: different ratios) are timed through the
same paths the readers use, and ``seconds = raw × a + compressed × b + chunks × c`` is fitted
per (format, codec, shuffle) by non-negative least squares on relative errors. Run it on an
idle machine; paste the printed table into ``layoutbench/plan/decode.py`` (and say where):

    .venv/bin/python benchmarks/decode_table.py
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from pathlib import Path

import h5py
import numpy as np
from scipy.optimize import nnls

from layoutbench.generate import DATASET_PATHS, generate_ecephys, generate_ophys, generate_volume
from layoutbench.plan.layout import Layout
from layoutbench.plan.search import CODECS
from layoutbench.read.sampling import Sampler

SAMPLES = {
    "ophys": (generate_ophys, (400, 256, 256), [(400, 16, 16), (400, 32, 32), (64, 64, 64),
                                                (1, 256, 256)]),
    "ecephys": (generate_ecephys, (400_000, 32), [(65536, 1), (65536, 4), (30000, 32)]),
    "volume": (generate_volume, (96, 256, 256), [(32, 32, 32), (64, 64, 64), (1, 256, 256)]),
}
EXTRA = {"hdf5": (("lz4", None, False), ("lz4", None, True), ("zstd", 3, False)),
         "zarr": (("zstd", 1, False), ("zstd", 9, False))}


def main() -> None:
    rows: dict[tuple[str, str, bool], list[tuple[int, int, int, float]]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as tmp:
        for kind, (generate, shape, chunk_shapes) in SAMPLES.items():
            path = Path(tmp) / f"{kind}.nwb"
            generate(path, shape=shape, seed=0)
            layouts = [Layout(fmt, chunks, codec, level, shuffle=shuffle)
                       for fmt in ("hdf5", "zarr")
                       for codec, level, shuffle in (*CODECS[fmt], *EXTRA[fmt])
                       for chunks in chunk_shapes]
            with h5py.File(path) as f:
                sampler = Sampler(f[DATASET_PATHS[kind]], chunk_shapes, timed=True)
                for s in sampler.figures(layouts).values():
                    rows[(s.format, s.codec, s.shuffle)].append(
                        (s.raw_bytes, s.compressed_bytes, s.blocks, s.decode_seconds))
    print("TABLE: dict[tuple[str, str, bool], tuple[float, float, float]] = {")
    for key in sorted(rows):
        data = np.array(rows[key], dtype=float)
        raw, stored, calls, seconds = data.T
        if key[1] == "none":  # a copy: only the raw bytes matter
            stored = np.zeros_like(stored)
        lhs = np.stack([raw, stored, calls], axis=1) / seconds[:, None]
        coef, _ = nnls(lhs, np.ones(len(seconds)))
        fit = lhs @ coef
        rms = float(np.sqrt(np.mean(np.log(np.maximum(fit, 1e-9)) ** 2)))
        a, b, c = coef
        print(f"    {key!r}: ({a:.3e}, {b:.3e}, {c:.3e}),  # {len(seconds)} samples, "
              f"rms log error {rms:.2f}")
    print("}")


if __name__ == "__main__":
    main()
