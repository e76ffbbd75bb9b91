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
non-negative least squares on the decode times of generated samples (ophys, ecephys,
volume) with the implementations the readers use (HDF5 filters through h5py and hdf5plugin,
numcodecs for Zarr). ``python -m benchmarks.decode_table`` measures it and writes
:mod:`layoutbench.plan.decode_fit` (:data:`MEASURED_ON` says where, ``FIT`` how many samples
each entry had and its error on held-out samples). Only the compressed bytes come from the
file itself (its own data compressed by the candidate codec: deterministic), so the estimate
is too.
"""

from __future__ import annotations

from layoutbench.plan.decode_fit import MEASURED_ON, TABLE

__all__ = ["FALLBACK", "MEASURED_ON", "TABLE", "decode_seconds"]

#: Used for a codec the table lacks: as slow as the slowest entry (never flatters it).
FALLBACK = max(TABLE.values(), key=lambda abc: abc[0] + abc[1])


def decode_seconds(fmt: str, codec: str, shuffle: bool, raw_bytes: float,
                   compressed_bytes: float, chunks: int) -> float:
    """Seconds to decode ``chunks`` chunks holding ``raw_bytes``, stored as
    ``compressed_bytes`` with this codec."""
    a, b, c = TABLE.get((fmt, codec, shuffle)) or TABLE.get((fmt, codec, not shuffle)) \
        or FALLBACK
    return raw_bytes * a + compressed_bytes * b + chunks * c
