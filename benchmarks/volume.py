"""3-D microscopy volumes (Z, Y, X) as a viewer reads them: orthogonal planes and cutouts.

Parameters: the network profile (``LAYOUTBENCH_PROFILE``), the layout (slabs, cubes, sharded
Zarr) and the reader. See :mod:`benchmarks._kit`.
"""

from benchmarks import _kit as kit

PARAMS, PARAM_NAMES = kit.suite_params("volume")


def _prepare(self):  # bound as setup_cache of every class here: one cache per module
    return kit.prepare("volume")


class Planes(kit.PatternSuite):
    """``volume-planes``: one XY, one XZ and one YZ plane through the middle."""

    domain, pattern = "volume", "volume-planes"
    params, param_names = PARAMS, PARAM_NAMES
    setup_cache = _prepare


class Cutout(kit.PatternSuite):
    """``volume-cutout``: a 128³ sub-volume."""

    domain, pattern = "volume", "volume-cutout"
    params, param_names = PARAMS, PARAM_NAMES
    setup_cache = _prepare
