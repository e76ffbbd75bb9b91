"""Extracellular recordings (T, C): one electrode band-pass filtered, and 1 s of all channels.

Parameters: the network profile (``LAYOUTBENCH_PROFILE``), the layout and the reader. See
:mod:`benchmarks._kit`.
"""

from benchmarks import _kit as kit

PARAMS, PARAM_NAMES = kit.suite_params("ecephys")


def _prepare(self):  # bound as setup_cache of every class here: one cache per module
    return kit.prepare("ecephys")


class ChannelFilter(kit.PatternSuite):
    """``ecephys-channel-filter``: 5 s of 3 electrodes, 300-6,000 Hz Butterworth (sosfiltfilt)."""

    domain, pattern = "ecephys", "ecephys-channel-filter:seconds=5"
    params, param_names = PARAMS, PARAM_NAMES
    setup_cache = _prepare


class Window(kit.PatternSuite):
    """``ecephys-window``: 1 s of every channel."""

    domain, pattern = "ecephys", "ecephys-window"
    params, param_names = PARAMS, PARAM_NAMES
    setup_cache = _prepare
