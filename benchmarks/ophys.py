"""Two-photon movies (T, Y, X): a cell's neighbourhood over time, and whole frames for a viewer.

Parameters: the network profile (``LAYOUTBENCH_PROFILE``), the layout (the demo grid's
baselines and best layouts) and the reader. See :mod:`benchmarks._kit`.
"""

from benchmarks import _kit as kit

PARAMS, PARAM_NAMES = kit.suite_params("ophys")


def _prepare(self):  # bound as setup_cache of every class here: one cache per module
    return kit.prepare("ophys")


class Patch(kit.PatternSuite):
    """``ophys-patch``: a 32x32 patch over 1,000 frames at 3 offsets."""

    domain, pattern = "ophys", "ophys-patch"
    params, param_names = PARAMS, PARAM_NAMES
    setup_cache = _prepare


class Frames(kit.PatternSuite):
    """``ophys-frames``: 10 consecutive whole frames."""

    domain, pattern = "ophys", "ophys-frames"
    params, param_names = PARAMS, PARAM_NAMES
    setup_cache = _prepare
