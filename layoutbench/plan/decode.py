"""Decode cost of a codec from bytes alone: a shipped table, so a recommendation never changes
with the load of the machine it runs on.

Timing decompression with a wall clock during ``recommend`` made the recommended codec change
from run to run on a shared machine (zstd, then Blosc-LZ4, then Blosc-zstd for the same file).
Decode time is, to a good approximation, linear in the bytes it touches::

    seconds = raw_bytes × per_raw[codec] + compressed_bytes × per_compressed[codec]
              + chunks × per_chunk[codec]

(zstd and LZ4 copy output at a fixed rate and parse input at another; gzip's inflate is
bounded by its input; every chunk costs a call through HDF5's filter pipeline or numcodecs),
so the table holds those three coefficients per (format, codec, shuffle), fitted by
non-negative least squares on the decode times of layoutbench's own samples (ophys, ecephys,
volume) with the implementations the readers use (HDF5 filters through h5py and hdf5plugin,
numcodecs for Zarr). ``benchmarks/decode_table.py`` measures and prints the table;
:data:`MEASURED_ON` says where it was measured. Compressed bytes come from compressing the
file's own data (deterministic), so the estimate is too.
"""

from __future__ import annotations

#: Where and how the table was measured (recorded in every recommendation).
MEASURED_ON = "layoutbench 0.2 decode table (2-core x86_64, h5py 3.16/HDF5 2.0, numcodecs 0.16)"

#: (format, codec, shuffle) -> seconds per raw byte, per compressed byte and per chunk.
#: Printed by ``benchmarks/decode_table.py``; its fits had rms log errors of 0.04-0.35 over
#: 10-30 samples per codec.
TABLE: dict[tuple[str, str, bool], tuple[float, float, float]] = {
    ('hdf5', 'blosc-lz4', True): (0.000e+00, 4.508e-10, 4.161e-05),
    ('hdf5', 'blosc-zstd', True): (6.754e-10, 1.161e-10, 5.811e-05),
    ('hdf5', 'gzip', False): (0.000e+00, 6.393e-09, 4.888e-05),
    ('hdf5', 'gzip', True): (3.381e-09, 0.000e+00, 4.261e-05),
    ('hdf5', 'lz4', False): (2.893e-10, 0.000e+00, 4.739e-05),
    ('hdf5', 'lz4', True): (0.000e+00, 9.106e-10, 4.345e-05),
    ('hdf5', 'none', False): (4.093e-11, 0.000e+00, 4.226e-05),
    ('hdf5', 'zstd', False): (4.540e-10, 1.609e-09, 6.168e-05),
    ('hdf5', 'zstd', True): (2.134e-10, 1.554e-09, 6.104e-05),
    ('zarr', 'blosc-lz4', True): (0.000e+00, 2.342e-10, 2.699e-06),
    ('zarr', 'blosc-zstd', True): (5.695e-10, 0.000e+00, 8.938e-06),
    ('zarr', 'gzip', False): (2.196e-10, 7.181e-09, 0.000e+00),
    ('zarr', 'zstd', False): (7.549e-10, 0.000e+00, 1.425e-05),
    ('zarr', 'none', False): (4.093e-11, 0.000e+00, 2.699e-06),  # a copy, as HDF5's
}

#: Used for a codec the table lacks: as slow as the slowest entry (never flatters it).
FALLBACK = max(TABLE.values(), key=lambda abc: abc[0] + abc[1])


def decode_seconds(fmt: str, codec: str, shuffle: bool, raw_bytes: float,
                   compressed_bytes: float, chunks: int) -> float:
    """Seconds to decode ``chunks`` chunks holding ``raw_bytes``, stored as
    ``compressed_bytes`` with this codec."""
    a, b, c = TABLE.get((fmt, codec, shuffle)) or TABLE.get((fmt, codec, not shuffle)) \
        or FALLBACK
    return raw_bytes * a + compressed_bytes * b + chunks * c
