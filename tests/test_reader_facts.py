"""A reader's facts live in one table (``plan/reader_facts.py``): the registry of readers, the
model's request modes, its fitted constants and the default lists all agree with it."""

from __future__ import annotations

import pytest

from layoutbench.plan import reader_facts
from layoutbench.plan.geometry import READER_FORMATS, READER_MODES, plan_reads
from layoutbench.plan.layout import Layout
from layoutbench.plan.reader_table import TABLE
from layoutbench.read import readers


def test_the_registry_is_the_table() -> None:
    assert set(readers.READERS) == set(reader_facts.READERS)
    for name, facts in reader_facts.READERS.items():
        assert readers.get_reader(name).formats == (facts.format,), name
        assert READER_MODES[name] == facts.plan and READER_FORMATS[name] == facts.format


@pytest.mark.parametrize("fmt", ["hdf5", "zarr"])
def test_every_modelled_reader_is_fitted_and_planned(fmt: str) -> None:
    names = reader_facts.modelled(fmt)
    assert names[0] == reader_facts.default_reader(fmt)  # the default first
    layout = Layout(fmt, (10, 8, 8), "zstd", 3)
    for name in names:
        assert name in TABLE["request_overhead_s"], f"{name}: no fitted constants"
        plan = plan_reads([(slice(0, 10), slice(0, 8), slice(0, 8))], (100, 64, 64), 2,
                          layout, name, 1000)
        assert plan.reader == name and plan.chunks_read == 1  # remfile may have it cached


def test_default_lists_are_views_of_the_table() -> None:
    from layoutbench.run.measure_source import HDF5_READERS, ZARR_READERS
    from layoutbench.run.sweep import DATA_READERS, OPEN_READERS

    assert DATA_READERS == HDF5_READERS + ZARR_READERS
    assert "pynwb-remfile" in OPEN_READERS and "pynwb-remfile" not in DATA_READERS
    assert all(reader_facts.READERS[n].format == "zarr" for n in ZARR_READERS)
