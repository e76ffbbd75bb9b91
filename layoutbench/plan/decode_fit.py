"""The decode table of :mod:`layoutbench.plan.decode`: written by
``python -m benchmarks.decode_table`` (do not edit by hand).
"""

from __future__ import annotations

#: Where and how the table was measured (recorded in every recommendation).
MEASURED_ON = ('layoutbench decode table (x86_64, 3.12.1, h5py 3.16.0, hdf5plugin 7.1.0, '
 'numcodecs 0.17.1, zarr 3.4.2, HDF5 2.0.0, 2026-12-03)')

#: (format, codec, shuffle) -> seconds per raw byte, per compressed byte and per chunk.
TABLE: dict[tuple[str, str, bool], tuple[float, float, float]] = {
    ('hdf5', 'blosc-lz4', True): (0.0, 5.514e-10, 0.0),
    ('hdf5', 'blosc-zstd', True): (6.316e-10, 7.389e-10, 1.407e-05),
    ('hdf5', 'gzip', False): (0.0, 7.069e-09, 4.278e-05),
    ('hdf5', 'gzip', True): (3.804e-09, 0.0, 3.347e-05),
    ('hdf5', 'lz4', False): (3.469e-10, 0.0, 8.436e-06),
    ('hdf5', 'lz4', True): (0.0, 1.082e-09, 9.681e-07),
    ('hdf5', 'none', False): (6.154e-11, 0.0, 4.549e-06),
    ('hdf5', 'zstd', False): (1.365e-09, 3.064e-10, 1.771e-05),
    ('hdf5', 'zstd', True): (0.0, 2.684e-09, 1.773e-05),
    ('zarr', 'blosc-lz4', True): (0.0, 3.618e-10, 0.0),
    ('zarr', 'blosc-zstd', True): (5.408e-10, 6.842e-10, 1.252e-05),
    ('zarr', 'gzip', False): (0.0, 7.368e-09, 3.453e-05),
    ('zarr', 'none', False): (4.193e-11, 0.0, 2.322e-07),
    ('zarr', 'zstd', False): (9.573e-10, 0.0, 3.606e-05),
}

#: (format, codec, shuffle) -> (samples fitted, rms log error on them, rms log error on
#: the held-out samples: other seeds and shapes, predicted only).
FIT: dict[tuple[str, str, bool], tuple[int, float, float]] = {
    ('hdf5', 'blosc-lz4', True): (10, 0.255, 0.214),
    ('hdf5', 'blosc-zstd', True): (10, 0.113, 0.045),
    ('hdf5', 'gzip', False): (10, 0.03, 0.046),
    ('hdf5', 'gzip', True): (10, 0.041, 0.042),
    ('hdf5', 'lz4', False): (10, 0.286, 0.343),
    ('hdf5', 'lz4', True): (10, 0.07, 0.066),
    ('hdf5', 'none', False): (10, 0.043, 0.063),
    ('hdf5', 'zstd', False): (10, 0.06, 0.089),
    ('hdf5', 'zstd', True): (30, 0.098, 0.071),
    ('zarr', 'blosc-lz4', True): (10, 0.38, 0.376),
    ('zarr', 'blosc-zstd', True): (10, 0.065, 0.048),
    ('zarr', 'gzip', False): (10, 0.035, 0.071),
    ('zarr', 'none', False): (10, 0.129, 0.108),
    ('zarr', 'zstd', False): (30, 0.276, 0.262),
}
