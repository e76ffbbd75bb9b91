"""The open pattern over whole files, and the kerchunk reader's fallback, end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from layoutbench.plan.layout import Layout
from layoutbench.plan.patterns import parse_spec
from layoutbench.run.cases import FALLBACK_READER
from layoutbench.run.sweep import run_sweep
from layoutbench.store import get_profile

MiB = 2**20


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from layoutbench.synthetic import generate_many_series

    path = tmp_path_factory.mktemp("open") / "many.nwb"
    generate_many_series(path, n_series=40, seed=5)
    return path


def test_open_sweep_compares_readers_on_paged_and_unpaged_copies(s3, many: Path,
                                                                 tmp_path: Path) -> None:
    from layoutbench.synthetic import DATASET_PATHS

    rows = run_sweep(many, s3, get_profile("loopback"), dataset=DATASET_PATHS["many-series"],
                     patterns=[parse_spec("open")], cache_dir=tmp_path / "cache")
    by = {(m.layout.name, m.reader): m for m in rows}
    assert {name for name, _ in by} == {"as-is", "paged-1m", "paged-4m", "paged-8m"}
    assert {reader for _, reader in by} == {"h5py-remfile", "h5py-fsspec", "pynwb-remfile",
                                            "kerchunk"}
    for (layout, reader), m in by.items():
        assert m.pattern == "open" and m.bytes_needed == 0
        assert m.requests >= m.open_requests  # the pattern's cost includes opening
        if reader == "kerchunk":
            # references come from the local cache: one request checks the object is unchanged
            assert m.requests == 1, (layout, m.requests)
        if reader in ("h5py-fsspec", "h5py-remfile", "pynwb-remfile") and layout != "as-is":
            assert "page_buf_size" in m.reader_options  # the page buffer was fitted
    # pynwb builds the whole object tree: it costs more requests than reaching one dataset
    assert by[("as-is", "pynwb-remfile")].requests > by[("as-is", "h5py-remfile")].requests
    assert len({m.digest for m in rows}) == 1  # every reader reached the same shape and dtype


def test_kerchunk_falls_back_for_lz4_and_records_it(s3, tmp_path: Path) -> None:
    from layoutbench.synthetic import generate_ophys

    src = tmp_path / "o.nwb"
    generate_ophys(src, shape=(40, 32, 32), seed=6)
    lz4 = Layout("hdf5", (40, 16, 16), "lz4")
    rows = run_sweep(src, s3, get_profile("loopback"), layouts=[lz4],
                     readers=["kerchunk", FALLBACK_READER],
                     patterns=[parse_spec("ophys-frames:frames=4")], cache_dir=tmp_path / "c")
    by = {m.reader: m for m in rows}
    fallback = by["kerchunk"].fallback
    assert fallback is not None and fallback.startswith(f"{FALLBACK_READER}: ")
    assert "/acquisition/TwoPhotonSeries/data" in fallback and "lz4" in fallback.lower()
    assert by[FALLBACK_READER].fallback is None
    assert by["kerchunk"].digest == by[FALLBACK_READER].digest
