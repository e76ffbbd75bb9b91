"""3-D microscopy volumes (Z, Y, X) as a viewer reads them: orthogonal planes and cutouts.

Parameters: the network profile (``LAYOUTBENCH_PROFILE``), the layout (slabs, cubes, sharded
Zarr) and the reader. See :mod:`layoutbench.run.benchkit`.
"""

from layoutbench.run import benchkit

PARAMS, PARAM_NAMES = benchkit.suite_params("volume")


def _prepare(self):  # bound as setup_cache of every class here: one cache per module
    return benchkit.prepare("volume")


class Planes(benchkit.PatternSuite):
    """``volume-planes``: one XY, one XZ and one YZ plane through the middle."""

    domain, pattern = "volume", "volume-planes"
    params, param_names = PARAMS, PARAM_NAMES
    setup_cache = _prepare


class Cutout(benchkit.PatternSuite):
    """``volume-cutout``: a 128³ sub-volume."""

    domain, pattern = "volume", "volume-cutout"
    params, param_names = PARAMS, PARAM_NAMES
    setup_cache = _prepare
