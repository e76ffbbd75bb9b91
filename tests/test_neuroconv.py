"""``recommend --format neuroconv`` loads into neuroconv as it is today and writes what was
recommended: each layout's fields go through neuroconv's own ``HDF5DatasetIOConfiguration`` /
``ZarrDatasetIOConfiguration`` (no warning allowed) and ``configure_backend`` into a written
NWB file, whose dataset storage is then compared with the layout.

neuroconv 0.10 imports zarr 2, which cannot share an environment with layoutbench's zarr 3, so
it runs in its own (``make neuroconv-env``: ``.venv-neuroconv`` from
``requirements-neuroconv.lock``) through ``tests/neuroconv_check.py``. Skipped where that
environment is missing, except in CI (``LAYOUTBENCH_REQUIRE_NEUROCONV=1``, set by ``.ci/run``).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from layoutbench.plan.layout import Layout
from layoutbench.reporting.recommendation import neuroconv_config

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv-neuroconv" / "bin" / "python"
SHAPE, LOCATION = [120, 64, 64], "acquisition/TwoPhotonSeries/data"

CASES = [
    # zstd with HDF5's byte shuffle: the shuffle filter, then zstd (32015), not a Blosc stand-in
    (Layout("hdf5", (120, 32, 32), "zstd", 3, shuffle=True), ["shuffle", "32015"]),
    # Blosc with zstd inside and its own shuffle: one filter (32001)
    (Layout("hdf5", (120, 32, 32), "blosc-zstd", 5, shuffle=True), ["32001"]),
    # gzip without shuffle, neuroconv's default codec
    (Layout("hdf5", (60, 64, 64), "gzip", 4), ["gzip"]),
    # LZ4 (32004)
    (Layout("hdf5", (120, 16, 16), "lz4"), ["32004"]),
    # Zarr: numcodecs' zstd as the compressor
    (Layout("zarr", (120, 32, 32), "zstd", 3), {"id": "zstd", "level": 3}),
    # Zarr: Blosc-LZ4 with byte shuffle
    (Layout("zarr", (120, 32, 32), "blosc-lz4", 5, shuffle=True),
     {"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1}),
]


def _fields(layout: Layout) -> dict:
    rec = {"datasets": [{
        "path": "/" + LOCATION, "shape": SHAPE, "dtype": "uint16", "keep": False,
        "recommended": {"format": layout.format, "chunks": list(layout.chunks),
                        "codec": layout.codec, "level": layout.level,
                        "shuffle": layout.shuffle, "shards": None}}]}
    return neuroconv_config(rec)


@pytest.fixture(scope="module")
def python() -> Path:
    if not PYTHON.exists():
        if os.environ.get("LAYOUTBENCH_REQUIRE_NEUROCONV") == "1":
            pytest.fail(f"{PYTHON} is missing: `make neuroconv-env` builds it")
        pytest.skip("neuroconv's environment is missing (make neuroconv-env)")
    return PYTHON


@pytest.mark.parametrize(("layout", "expected"), CASES, ids=[c[0].name for c in CASES])
def test_neuroconv_accepts_and_writes_the_recommendation(python: Path, tmp_path: Path,
                                                         layout: Layout, expected) -> None:
    fields = _fields(layout)
    entry = fields[LOCATION]
    assert "compression_method" not in entry  # the fields neuroconv 0.10 deprecates
    path = tmp_path / "fields.json"
    path.write_text(json.dumps(fields))
    out = tmp_path / ("out.nwb" if layout.format == "hdf5" else "out.nwb.zarr")
    proc = subprocess.run([str(python), str(ROOT / "tests" / "neuroconv_check.py"), str(path),
                           layout.format, str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    written = got["written"]
    assert written["chunks"] == list(layout.chunks)
    if layout.format == "hdf5":
        assert got["class"] == "HDF5DatasetIOConfiguration"
        assert written["filters"] == expected
    else:
        assert got["class"] == "ZarrDatasetIOConfiguration"
        assert {k: written["compressor"][k] for k in expected} == expected
