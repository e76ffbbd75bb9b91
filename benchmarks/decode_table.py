"""Measure the decode table of ``layoutbench/plan/decode.py`` and write it, with where it was
measured, how many samples each entry had and how well the fit holds on samples it was not
fitted on.

For every codec the search and the grids use (and the plain copy of uncompressed chunks, in
both formats), decode times of generated samples (ophys, ecephys and volume, at several chunk
shapes: different ratios) are timed through the same paths the readers use, and
``seconds = raw × a + compressed × b + chunks × c`` is fitted per (format, codec, shuffle) by
non-negative least squares on relative errors. The fit uses one set of seeds; a second set
(other seeds and lengths) is held out and only predicted: its rms log error is the table's
validation figure. Run it on an idle machine; it writes ``layoutbench/plan/decode_fit.py``:

    .venv/bin/python -m benchmarks.decode_table
"""

from __future__ import annotations

import datetime as dt
import platform
import pprint
import tempfile
from collections import defaultdict
from pathlib import Path

import h5py
import numpy as np
from scipy.optimize import nnls

from layoutbench.plan.layout import Layout
from layoutbench.plan.search import CODECS
from layoutbench.read.sampling import Sampler
from layoutbench.run.measure import versions
from layoutbench.synthetic import DATASET_PATHS, generate_ecephys, generate_ophys, generate_volume

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "layoutbench" / "plan" / "decode_fit.py"
#: kind -> generator, (shape, seed) for the fit and for the held-out check, chunk shapes
SAMPLES = {
    "ophys": (generate_ophys, ((400, 256, 256), 0), ((300, 192, 320), 21),
              [(400, 16, 16), (400, 32, 32), (64, 64, 64), (1, 256, 256)]),
    "ecephys": (generate_ecephys, ((400_000, 32), 0), ((300_000, 48), 22),
                [(65536, 1), (65536, 4), (30000, 32)]),
    "volume": (generate_volume, ((96, 256, 256), 0), ((80, 224, 288), 23),
               [(32, 32, 32), (64, 64, 64), (1, 256, 256)]),
}
EXTRA = {"hdf5": (("lz4", None, False), ("lz4", None, True), ("zstd", 3, False)),
         "zarr": (("zstd", 1, False), ("zstd", 9, False), ("none", None, False))}
#: The packages whose code the table times (their versions are recorded, and a test checks
#: them against the lock).
PACKAGES = ("h5py", "hdf5plugin", "numcodecs", "zarr")

Row = tuple[int, int, int, float]


def timed_rows(held_out: bool) -> dict[tuple[str, str, bool], list[Row]]:
    """(raw bytes, compressed bytes, chunks, seconds) per (format, codec, shuffle)."""
    rows: dict[tuple[str, str, bool], list[Row]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as tmp:
        for kind, (generate, fit, check, chunk_shapes) in SAMPLES.items():
            shape, seed = check if held_out else fit
            path = Path(tmp) / f"{kind}.nwb"
            generate(path, shape=shape, seed=seed)
            chunks_here = [tuple(min(c, n) for c, n in zip(ch, shape, strict=True))
                           for ch in chunk_shapes]
            layouts = [Layout(fmt, chunks, codec, level, shuffle=shuffle)
                       for fmt in ("hdf5", "zarr")
                       for codec, level, shuffle in dict.fromkeys((*CODECS[fmt], *EXTRA[fmt]))
                       for chunks in chunks_here]
            with h5py.File(path) as f:
                sampler = Sampler(f[DATASET_PATHS[kind]], chunks_here, timed=True)
                for s in sampler.figures(layouts).values():
                    rows[(s.format, s.codec, s.shuffle)].append(
                        (s.raw_bytes, s.compressed_bytes, s.blocks, s.decode_seconds))
            print(f"{kind}{' (held out)' if held_out else ''}: {len(layouts)} layouts timed",
                  flush=True)
    return rows


def _design(key: tuple[str, str, bool], rows: list[Row]) -> tuple[np.ndarray, np.ndarray]:
    data = np.array(rows, dtype=float)
    raw, stored, calls, seconds = data.T
    if key[1] == "none":  # a copy: only the raw bytes matter
        stored = np.zeros_like(stored)
    return np.stack([raw, stored, calls], axis=1), seconds


def _rms_log(x: np.ndarray, coef: np.ndarray, seconds: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.log(np.maximum(x @ coef, 1e-12) / seconds) ** 2)))


def main() -> None:
    fit_rows, check_rows = timed_rows(held_out=False), timed_rows(held_out=True)
    table: dict[tuple[str, str, bool], tuple[float, float, float]] = {}
    quality: dict[tuple[str, str, bool], tuple[int, float, float]] = {}
    for key in sorted(fit_rows):
        x, seconds = _design(key, fit_rows[key])
        coef, _ = nnls(x / seconds[:, None], np.ones(len(seconds)))
        table[key] = tuple(float(f"{c:.3e}") for c in coef)  # type: ignore[assignment]
        xc, sc = _design(key, check_rows[key])
        quality[key] = (len(seconds), round(_rms_log(x, coef, seconds), 3),
                        round(_rms_log(xc, coef, sc), 3))
    v = versions()
    where = (f"layoutbench decode table ({platform.machine()}, {v.get('python', '')}, "
             + ", ".join(f"{p} {v.get(p, '')}" for p in PACKAGES)
             + f", HDF5 {v.get('hdf5', '')}, {dt.date.today():%Y-%m-%d})")
    OUT.write_text(
        '"""The decode table of :mod:`layoutbench.plan.decode`: written by\n'
        "``python -m benchmarks.decode_table`` (do not edit by hand).\n"
        '"""\n\n'
        "from __future__ import annotations\n\n"
        "#: Where and how the table was measured (recorded in every recommendation).\n"
        f"MEASURED_ON = {pprint.pformat(where, width=84)}\n\n"
        "#: (format, codec, shuffle) -> seconds per raw byte, per compressed byte and per chunk.\n"
        "TABLE: dict[tuple[str, str, bool], tuple[float, float, float]] = {\n"
        + "".join(f"    {k!r}: {v!r},\n" for k, v in table.items()) + "}\n\n"
        "#: (format, codec, shuffle) -> (samples fitted, rms log error on them, rms log error on\n"
        "#: the held-out samples: other seeds and shapes, predicted only).\n"
        "FIT: dict[tuple[str, str, bool], tuple[int, float, float]] = {\n"
        + "".join(f"    {k!r}: {v!r},\n" for k, v in quality.items()) + "}\n")
    print(OUT.read_text())


if __name__ == "__main__":
    main()
