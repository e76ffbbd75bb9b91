"""The public Python API: what ``import layoutbench as lb`` offers a notebook, in plain values."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

import layoutbench as lb
from layoutbench.errors import UserError
from layoutbench.plan.patterns import PatternError
from layoutbench.results import FRAME_COLUMNS
from layoutbench.store import EmbeddedS3
from layoutbench.synthetic import generate_ophys

DATA = "/acquisition/TwoPhotonSeries/data"


@pytest.fixture(autouse=True)
def _no_stored_calibration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Recommendations must not depend on constants calibrated on this machine."""
    monkeypatch.setenv("LAYOUTBENCH_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def movie(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("api") / "o.nwb"
    generate_ophys(path, shape=(300, 96, 96), seed=3)
    return path


def test_dir_shows_the_public_api() -> None:
    public = {"recommend", "sweep", "apply", "read_results", "Layout", "AccessPattern",
              "NetworkProfile", "Measurement", "Recommendation"}
    assert public <= set(dir(lb)) and public <= set(lb.__all__)
    for name in lb.__all__:  # every public name resolves (the lazy table and __all__ agree)
        assert getattr(lb, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'rewrite'"):
        lb.rewrite  # noqa: B018 - internal modules are not attributes of the package


def test_import_is_light() -> None:
    """``import layoutbench`` loads no I/O library: the CLI and server processes start fast."""
    code = "import sys, layoutbench; print(sorted({'h5py', 'pandas', 'zarr', 's3fs'} & " \
           "{m.split('.')[0] for m in sys.modules}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_recommend_takes_plain_values(movie: Path) -> None:
    rec = lb.recommend(movie, patterns=["ophys-patch@2", "ophys-frames"], profile="same-region",
                       min_mb=1)
    assert isinstance(rec, lb.Recommendation)
    # objects wherever a string goes: the same answer
    same = lb.recommend(movie, patterns=[lb.parse_spec("ophys-patch@2"),
                                         lb.parse_spec("ophys-frames")],
                        profile=lb.get_profile("same-region"), min_mb=1)
    assert same.to_dict()["datasets"] == rec.to_dict()["datasets"]
    d = rec.to_dict()["datasets"][0]
    assert [(p["name"], p["weight"]) for p in d["patterns"]] == [("ophys-patch", 2.0),
                                                                ("ophys-frames", 1.0)]
    frame = rec.to_frame()
    assert list(frame.columns) == list(FRAME_COLUMNS)
    assert list(frame["role"][:2]) == ["current", "recommended"]
    assert frame["layout"][1] == d["recommended"]["name"]
    assert frame["seconds"][1] == d["recommended"]["seconds"]
    assert d["path"] in repr(rec) and "recommended" in repr(rec)  # the CLI's table
    html = rec._repr_html_()  # a notebook's view: a table per dataset, the verdict in bold
    assert html.count("<table") == len(rec.to_dict()["datasets"])
    assert f"<td>{d['recommended']['name']}</td>" in html and "predicted seconds" in html
    assert "<b>verdict for one read of the workload" in html


def test_deep_recommend_takes_strings_too(movie: Path) -> None:
    """The call of the issue: it raised AttributeError ('str' object has no attribute ...)."""
    from layoutbench.recommender.source import recommend

    rec = recommend(movie, profile="same-region", patterns=["ophys-patch"], threshold=1_000_000)
    assert rec.datasets[0].patterns[0].name == "ophys-patch"


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"profile": "moon"}, UserError, "valid profiles: loopback"),       # unknown profile
    ({"patterns": ["ophys-pach"]}, PatternError, "unknown pattern"),    # typo in a SPEC
    ({"patterns": [3]}, PatternError, "SPEC string or an AccessPattern"),  # not a pattern
    ({"storage": "tiff"}, UserError, "expected hdf5, zarr or any"),     # unknown storage
])
def test_recommend_bad_values(movie: Path, kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        lb.recommend(movie, **kwargs)


def test_sweep_returns_the_documented_columns(movie: Path, tmp_path: Path,
                                              s3: EmbeddedS3) -> None:
    frame = lb.sweep(movie, patterns="ophys-patch:offsets=2", readers="h5py-fsspec",
                     profile="loopback", endpoint=s3, cache_dir=tmp_path / "variants")
    assert isinstance(frame, pd.DataFrame)
    assert set(frame.columns) >= {"layout", "reader", "pattern", "profile", "requests",
                                  "bytes_transferred", "bytes_needed", "read_amplification",
                                  "chunks_touched", "seconds", "stored_bytes",
                                  "compression_ratio", "layout_json"}
    quick = ["neuroconv-default", "h5py-auto", "one-frame", "h5-300x16x16-zstd3-shuf"]
    assert list(frame["layout"]) == quick  # the HDF5 layouts of the quick grid, in order
    assert (frame["requests"] > 0).all() and frame["digest"].nunique() == 1
    # a results file reads back as the same table
    from layoutbench.plan.measurement import Measurement
    from layoutbench.results import write_results

    path = write_results([Measurement.from_dict(r) for r in frame.to_dict("records")],
                         tmp_path / "r.parquet")
    back = lb.read_results(path)
    assert list(back["requests"]) == list(frame["requests"])


def test_sweep_starts_its_own_endpoint(movie: Path, tmp_path: Path) -> None:
    frame = lb.sweep(movie, layouts=[lb.Layout("hdf5", (300, 32, 32), "zstd", shuffle=True)],
                     patterns=[lb.parse_spec("ophys-frames")], readers=["h5py-fsspec"],
                     profile=lb.NetworkProfile("custom", 0.0, None),
                     cache_dir=tmp_path / "variants")
    assert list(frame["layout"]) == ["h5-300x32x32-zstd3-shuf"]
    assert frame["profile"][0] == "custom"


@pytest.mark.parametrize("form", ["object", "dict", "path"])
def test_apply_takes_the_recommendation_in_any_form(movie: Path, tmp_path: Path,
                                                    form: str) -> None:
    rec = lb.recommend(movie, patterns=["ophys-patch"], min_mb=1)
    arg: object = rec
    if form == "dict":
        arg = rec.to_dict()
    elif form == "path":
        arg = tmp_path / "rec.json"
        Path(arg).write_text(json.dumps(rec.to_dict()))
    before = movie.read_bytes()
    result = lb.apply(movie, arg, tmp_path / "out.nwb")
    assert result.verified and movie.read_bytes() == before
    chosen = rec.to_dict()["datasets"][0]["recommended"]
    with h5py.File(tmp_path / "out.nwb") as f, h5py.File(movie) as g:
        assert f[DATA].chunks == tuple(chosen["chunks"])
        assert np.array_equal(f[DATA][:5], g[DATA][:5])


def test_errors_are_caught_by_kind(tmp_path: Path, movie: Path) -> None:
    """A notebook catches a missing file as FileNotFoundError, a bad value as ValueError, and
    anything layoutbench raises on purpose as LayoutbenchError."""
    with pytest.raises(FileNotFoundError, match=r"missing\.nwb: no such file") as err:
        lb.recommend(tmp_path / "missing.nwb")
    assert isinstance(err.value, lb.InputNotFoundError | lb.UserError | lb.LayoutbenchError)
    with pytest.raises(ValueError, match="frames must be >= 1") as bad:
        lb.recommend(movie, patterns=["ophys-frames:frames=-5"])
    assert isinstance(bad.value, lb.BadValueError)
    with pytest.raises(ValueError) as layout:  # a layout that cannot be written
        lb.Layout("hdf5", (0, 8, 8))
    assert isinstance(layout.value, lb.LayoutbenchError)


def test_progress_is_on_where_someone_watches(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys
    import types

    from layoutbench.api import _progress

    assert _progress(True) and not _progress(False)  # as told
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # a script writing to a file
    assert not _progress(None)
    monkeypatch.setitem(sys.modules, "IPython", types.ModuleType("IPython"))
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    assert _progress(None)  # a notebook: tqdm.auto draws a widget


def test_generate_refs_and_report_are_functions_too(tmp_path: Path) -> None:
    info = lb.generate("ophys", tmp_path / "g.nwb", size="4MB", seed=2, progress=False)
    assert Path(info.path).is_file() and info.shape[1:] == (256, 256)
    with pytest.raises(lb.UserError, match="already exists"):
        lb.generate("ophys", tmp_path / "g.nwb", size="4MB")
    with pytest.raises(ValueError, match="kind 'spikes'"):
        lb.generate("spikes", tmp_path / "s.nwb")
    refset = lb.refs(tmp_path / "g.nwb", tmp_path / "g.refs.json")
    assert refset.n_chunks >= 1 and (tmp_path / "g.refs.json").is_file()
    rows = lb.sweep(tmp_path / "g.nwb", layouts=[lb.Layout("hdf5", (60, 32, 32), "zstd", 3)],
                    readers=["h5py-fsspec"], patterns=["ophys-patch:offsets=1,frames=20"],
                    profile="loopback", cache_dir=tmp_path / "cache", progress=False)
    rows.to_parquet(tmp_path / "r.parquet")
    site = lb.report(tmp_path / "r.parquet", tmp_path / "site")
    assert site.index.is_file() and site.figures >= 3
