"""Opening a file with hundreds of objects: reach one dataset's shape, dtype and attributes.

Layouts are whole files: the file as written (``as-is``) and paged copies (HDF5 paged
aggregation at 1, 4 and 8 MiB). Readers include pynwb's full ``read()`` and kerchunk
references from the local cache. ``track_read_amplification`` is NaN: opening reads no data.
"""

from benchmarks import _kit as kit

PARAMS, PARAM_NAMES = kit.suite_params("open")


def _prepare(self):  # bound as setup_cache of every class here: one cache per module
    return kit.prepare("open")


class Open(kit.PatternSuite):
    """``open`` on the many-series NWB file."""

    domain, pattern = "open", "open"
    params, param_names = PARAMS, PARAM_NAMES
    setup_cache = _prepare
