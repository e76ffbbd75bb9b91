"""One cache folder for everything layoutbench can rebuild, decided when it is asked for."""

from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest

from layoutbench.cache import cache_dir
from layoutbench.read.refs import load_refs
from layoutbench.recommender.calibration import default_path


def test_environment_variable_wins_and_is_read_at_call_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAYOUTBENCH_CACHE", str(tmp_path / "a"))
    assert cache_dir("refs") == tmp_path / "a" / "refs"
    monkeypatch.setenv("LAYOUTBENCH_CACHE", str(tmp_path / "b"))  # no value frozen at import
    assert default_path() == tmp_path / "b" / "calibration.json"


def test_platform_user_cache_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAYOUTBENCH_CACHE", raising=False)
    assert cache_dir() == Path(platformdirs.user_cache_dir("layoutbench", appauthor=False))


def test_references_land_in_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import h5py
    import numpy as np

    monkeypatch.setenv("LAYOUTBENCH_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "x.h5"
    with h5py.File(src, "w") as f:
        f.create_dataset("x", data=np.arange(100), chunks=(10,))
    refset = load_refs(str(src))
    assert (tmp_path / "cache" / "refs" / f"{refset.identity.token()}.json").exists()
