"""Recommendations one can act on: independent of seeds, the same run after run (on a busy
machine and in parallel), right about contiguous files, and stable under their own advice.

Each recommendation below is computed, never compared with a stored answer: the assertions
are that independent computations agree, which they did not when the cost of a pattern was
taken on three seeded positions or decode speed was timed by the wall clock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from layoutbench import api
from layoutbench.plan.geometry import plan_reads
from layoutbench.plan.layout import Layout
from layoutbench.plan.patterns import parse_spec

MOVIE = "/acquisition/TwoPhotonSeries/data"
CLI = [sys.executable, "-m", "layoutbench", "-q"]


@pytest.fixture(scope="module")
def movie(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The frame-chunked 900x200x248 movie on which seeds once changed the answer."""
    from layoutbench.synthetic import generate_ophys

    path = tmp_path_factory.mktemp("trust") / "movie.nwb"
    generate_ophys(path, shape=(900, 200, 248), seed=4)
    return path


def _shifted(movie: Path, out: Path, frames: int) -> Path:
    """``movie`` without its first ``frames`` frames, stored as the original (same chunks and
    codec): the chunk grid starts elsewhere in the data."""
    import shutil

    shutil.copy(movie, out)
    with h5py.File(out, "r+") as f:
        old = f[MOVIE]
        data, attrs = old[frames:], dict(old.attrs)
        kw = {"chunks": old.chunks, "compression": old.compression,
              "compression_opts": old.compression_opts, "shuffle": old.shuffle}
        del f[MOVIE]
        new = f.create_dataset(MOVIE, data=data, **kw)
        new.attrs.update(attrs)
    return out


def _geometry(path: Path, spec: str) -> tuple[object, ...]:
    """The recommended layout with whole-axis chunks named as such (the axes differ in length)."""
    rec = api.recommend(path, patterns=[spec], dataset=MOVIE)
    lay = rec.datasets[0].recommended.layout
    whole = ["all" if c >= n else c for c, n in zip(lay.chunks, rec.datasets[0].info.shape,
                                                       strict=True)]
    return (lay.format, *whole, lay.codec, lay.level, lay.shuffle)


def test_recommendation_does_not_depend_on_seeds_positions_or_the_grid(movie: Path,
                                                                       tmp_path: Path) -> None:
    """Positions are an expectation, not a seed's draw, and patch windows start anywhere (not
    at frame 0, where the grid starts): seeds, counts, moving the grid by a few frames, or the
    window by a frame, change nothing."""
    shifted = _shifted(movie, tmp_path / "shifted.nwb", 7)
    chosen = {
        "as is (seed 0)": _geometry(movie, "ophys-patch:patch=40x40,frames=500"),
        "seed 1": _geometry(movie, "ophys-patch:patch=40x40,frames=500,seed=1"),
        "seed 2": _geometry(movie, "ophys-patch:patch=40x40,frames=500,seed=2"),
        "30 positions": _geometry(movie, "ophys-patch:patch=40x40,frames=500,offsets=30"),
        "grid moved by 7 frames": _geometry(shifted, "ophys-patch:patch=40x40,frames=500"),
        "window one frame shorter": _geometry(movie, "ophys-patch:patch=40x40,frames=499"),
        "window one frame longer": _geometry(movie, "ophys-patch:patch=40x40,frames=501"),
    }
    assert len(set(chosen.values())) == 1, chosen


def _busy() -> subprocess.Popen[bytes]:
    """A process that keeps one core busy until killed."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def _without_times(text: str) -> dict:
    doc = json.loads(text)
    if doc.get("spent"):
        doc["spent"].pop("seconds", None)
    return doc


def test_recommendation_is_identical_run_after_run_busy_or_parallel(movie: Path) -> None:
    cmd = [*CLI, "recommend", str(movie), "--dataset", MOVIE, "--format", "json"]
    env = {**os.environ, "PYTHONHASHSEED": "random"}
    outputs = [subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout]
    for _ in range(2):  # two runs with another process keeping a core busy
        hog = _busy()
        try:
            outputs.append(subprocess.run(cmd, capture_output=True, text=True, check=True,
                                          env=env).stdout)
        finally:
            hog.kill()
            hog.wait()
    both = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outputs += [p.communicate()[0] for p in both]  # two at once, in parallel
    assert all(p.returncode == 0 for p in both)
    docs = [_without_times(o) for o in outputs]
    assert len(docs) == 5
    assert all(d == docs[0] for d in docs[1:])
    assert docs[0]["decode_speeds"]  # says where decode speeds came from


def test_own_advice_is_kept(movie: Path, tmp_path: Path) -> None:
    """Applying a recommendation, then recommending again, keeps the layout (no 1.08x churn)."""
    first = api.recommend(movie, patterns=["ophys-patch"], dataset=MOVIE)
    out = tmp_path / "applied.nwb"
    api.apply(movie, first, out)
    again = api.recommend(out, patterns=["ophys-patch"], dataset=MOVIE).to_dict()
    d = again["datasets"][0]
    assert d["keep"] is True
    assert any("minimum gain" in n or "already as fast" in n for n in d["notes"])
    # and apply takes a keep as "copy as is"
    out2 = tmp_path / "again.nwb"
    api.apply(out, again, out2)
    with h5py.File(out) as a, h5py.File(out2) as b:
        assert a[MOVIE].chunks == b[MOVIE].chunks


@pytest.fixture(scope="module")
def contiguous(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A movie as pynwb writes it by default: contiguous."""
    out = tmp_path_factory.mktemp("contig") / "pynwb.nwb"
    subprocess.run([*CLI, "generate", "ophys", str(out), "--size", "30MB", "--layout", "pynwb"],
                   check=True)
    return out


def test_contiguous_current_is_modelled_as_read(contiguous: Path) -> None:
    with h5py.File(contiguous) as f:
        d = f[MOVIE]
        assert d.chunks is None
        shape, offset, size = d.shape, d.id.get_offset(), f.id.get_filesize()
    spec = "ophys-patch:offsets=3"
    rec = api.recommend(contiguous, patterns=[spec], dataset=MOVIE)
    cur = rec.to_dict()["datasets"][0]["current"]
    assert cur["contiguous"] is True and cur["name"] == "current"
    # the model's current cost is the replay of h5py's reads of the file as it lies, not one
    # request for the whole dataset (tests/test_model_measured.py checks the replay)
    pattern = parse_spec(spec)
    exp, scale, session = pattern.expected(shape)
    assert session == 3 and len(exp) % 3 == 0  # sessions of the pattern's own 3 positions
    plans = [plan_reads(exp[i:i + 3], shape, 2, Layout("hdf5", shape, "none", contiguous=True),
                        "h5py-fsspec", int(np.prod(shape)) * 2, placement=(offset, size))
             for i in range(0, len(exp), 3)]
    requests = sum(p.requests for p in plans)
    assert cur["requests"] == pytest.approx(requests * scale, abs=0.01)
    assert requests > 100 * len(exp)  # one request per frame of each patch
    assert rec.datasets[0].recommended.layout.contiguous is False
