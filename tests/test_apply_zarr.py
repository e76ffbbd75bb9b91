"""``apply`` with a Zarr recommendation: the whole NWB file as NWB-Zarr, read back by hdmf-zarr.

The round trip is checked independently of apply's own verification: the source read by pynwb
and the output by ``hdmf_zarr.NWBZarrIO(path, "r").read()`` hold the same objects (IDs, types,
names), the re-laid-out dataset is bit for bit the source's and stored with the layout's chunks,
shards and codec, and the NWB metadata around it (tables, devices, rates) reads back equal.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import layoutbench as lb
from layoutbench.errors import UserError
from layoutbench.plan.layout import Layout
from layoutbench.synthetic import DATASET_PATHS, GENERATORS
from layoutbench.write.blocks import VerificationError

OPHYS, ECEPHYS = DATASET_PATHS["ophys"], DATASET_PATHS["ecephys"]


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("nwb-zarr")
    paths = {"ophys": folder / "ophys.nwb", "ecephys": folder / "ecephys.nwb"}
    GENERATORS["ophys"](paths["ophys"], shape=(96, 64, 48), seed=4)
    GENERATORS["ecephys"](paths["ecephys"], shape=(30000, 12), seed=5)
    return paths


def _recommendation(path: str, shape: tuple[int, ...], layout: Layout) -> dict[str, Any]:
    """What ``recommend --format json --storage zarr`` prints for one dataset."""
    rec = {k: v for k, v in layout.to_dict().items() if k != "name"}
    return {"file": "x.nwb", "profile": "same-region",
            "datasets": [{"path": path, "shape": list(shape), "recommended": rec}]}


def _read_both(src: Path, out: Path) -> tuple[Any, Any, Any, Any]:
    from hdmf_zarr import NWBZarrIO
    from pynwb import NWBHDF5IO

    from layoutbench.codecs import ensure_hdf5_filters

    ensure_hdf5_filters()
    a_io = NWBHDF5IO(str(src), "r", load_namespaces=True)
    b_io = NWBZarrIO(str(out), "r")
    return a_io, b_io, a_io.read(), b_io.read()


CASES = [
    # a movie in sharded Blosc-zstd Zarr: (T, 16, 16) chunks in (T, 32, 32) shards; 48 is not a
    # multiple of 32, so the last column of shards is partial
    ("ophys", OPHYS, Layout("zarr", (96, 16, 16), "blosc-zstd", 5, shuffle=True,
                            shards=(96, 32, 32))),
    # a recording with one channel per chunk, zstd, unsharded; 30000 = 3 x 8192 + 5424
    ("ecephys", ECEPHYS, Layout("zarr", (8192, 1), "zstd", 3)),
]


@pytest.mark.parametrize(("kind", "path", "layout"), CASES, ids=[c[0] for c in CASES])
def test_nwb_zarr_round_trip(sources: dict[str, Path], tmp_path: Path, kind: str, path: str,
                             layout: Layout) -> None:
    import zarr

    src = sources[kind]
    before = src.read_bytes()
    with h5py.File(src) as f:
        shape = tuple(f[path].shape)
    rec = tmp_path / "rec.json"
    rec.write_text(json.dumps(_recommendation(path, shape, layout)))
    out = tmp_path / f"{kind}.nwb.zarr"
    result = lb.apply(str(src), str(rec), str(out))
    assert result.format == "nwb-zarr" and result.verified
    assert [d.path for d in result.datasets] == [path]
    assert src.read_bytes() == before  # the source is never modified
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["rec.json", out.name])

    # stored as the layout says
    arr = zarr.open_array(store=zarr.storage.LocalStore(out, read_only=True),
                          path=path.strip("/"), mode="r")
    assert tuple(arr.chunks) == layout.chunks
    assert (tuple(arr.shards) if arr.shards else None) == layout.shards
    assert [type(c).__name__ for c in arr.compressors] == \
        ["BloscCodec" if layout.codec.startswith("blosc") else "ZstdCodec"]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a_io, b_io, a, b = _read_both(src, out)
        try:
            # every object, with its ID, type and name
            assert set(a.objects) == set(b.objects)
            for oid, obj in a.objects.items():
                assert (type(b.objects[oid]), b.objects[oid].name) == (type(obj), obj.name)
            # the re-laid-out dataset, bit for bit
            series = next(iter(a.acquisition.values()))
            other = b.acquisition[series.name]
            got = np.asarray(other.data[:])
            assert got.dtype == series.data.dtype and got.tobytes() == series.data[:].tobytes()
            assert (other.rate, other.starting_time, other.unit, other.conversion) == \
                (series.rate, series.starting_time, series.unit, series.conversion)
            if kind == "ecephys":
                # the electrodes table (group references by object) and the region into it
                da, db = a.electrodes.to_dataframe(), b.electrodes.to_dataframe()
                assert list(da.columns) == list(db.columns) and len(da) == len(db)
                for col in da.columns:
                    va, vb = da[col].tolist(), db[col].tolist()
                    if col == "group":
                        va, vb = [g.object_id for g in va], [g.object_id for g in vb]
                    assert va == vb, col
                assert list(other.electrodes.data[:]) == list(series.electrodes.data[:])
                assert other.electrodes.table.object_id == series.electrodes.table.object_id
            else:
                plane_a, plane_b = series.imaging_plane, other.imaging_plane
                assert plane_b.object_id == plane_a.object_id
                for field in ("indicator", "location", "excitation_lambda", "description"):
                    assert getattr(plane_b, field) == getattr(plane_a, field)
                assert plane_b.device.object_id == plane_a.device.object_id
            assert (b.session_description, b.identifier, b.session_start_time) == \
                (a.session_description, a.identifier, a.session_start_time)
        finally:
            a_io.close()
            b_io.close()


def test_verification_catches_a_changed_element(sources: dict[str, Path],
                                                tmp_path: Path) -> None:
    """apply's own check compares data bit for bit: one element changed is found."""
    import zarr

    from layoutbench.write.verify_nwb import verify_nwb_zarr

    layout = Layout("zarr", (8192, 4), "zstd", 3)
    out = tmp_path / "e.nwb.zarr"
    lb.apply(str(sources["ecephys"]), _recommendation(ECEPHYS, (30000, 12), layout), str(out))
    arr = zarr.open_array(store=zarr.storage.LocalStore(out), path=ECEPHYS.strip("/"), mode="r+")
    arr[100, 3] = arr[100, 3] + 1
    with pytest.raises(VerificationError, match="1 elements differ"):
        verify_nwb_zarr(sources["ecephys"], out, {ECEPHYS: layout})


@pytest.mark.parametrize(("out_name", "existing", "match"), [
    # an NWB-Zarr output is a folder named *.zarr, not a file name tools take for HDF5
    ("movie.nwb", None, "name it with '.zarr'"),
    # an existing output is never replaced without --overwrite
    ("movie.nwb.zarr", "folder", "already exists"),
    # a file where the folder would go
    ("movie.nwb.zarr", "file", "already exists"),
])
def test_bad_outputs_are_refused(sources: dict[str, Path], tmp_path: Path, out_name: str,
                                 existing: str | None, match: str) -> None:
    out = tmp_path / out_name
    if existing == "folder":
        out.mkdir()
        (out / "keep").write_text("keep me")
    elif existing == "file":
        out.write_text("keep me")
    layout = Layout("zarr", (8192, 1), "zstd", 3)
    with pytest.raises(UserError, match=match):
        lb.apply(str(sources["ecephys"]), _recommendation(ECEPHYS, (30000, 12), layout),
                 str(out))
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert left == ([] if existing is None else
                    [out_name, f"{out_name}/keep"] if existing == "folder" else [out_name])


def test_sweep_and_recommend_take_an_nwb_zarr_folder(s3, sources: dict[str, Path],
                                                     tmp_path: Path) -> None:
    """An NWB-Zarr source is swept (its array rewritten into variants, verified against it) and
    recommended for, like an HDF5 file."""
    out = tmp_path / "o.nwb.zarr"
    current = Layout("zarr", (96, 64, 48), "gzip", 4)
    lb.apply(str(sources["ophys"]), _recommendation(OPHYS, (96, 64, 48), current), str(out))
    layouts = [Layout("zarr", (96, 16, 16), "zstd", 3),
               Layout("hdf5", (96, 16, 16), "zstd", 3, shuffle=True)]
    rows = lb.sweep(str(out), patterns=["ophys-patch:frames=40,offsets=2,patch=16x16"],
                    layouts=layouts, readers=["zarr", "zarr-obstore", "h5py-fsspec"],
                    endpoint=s3, cache_dir=str(tmp_path / "cache"))
    got = {(r.layout, r.reader): (r.requests, r.chunks_touched) for r in rows.itertuples()}
    # a 16x16 patch at a random offset touches 1 to 4 chunks of 16x16: one GET each (zarr);
    # the same counts through obstore
    for reader in ("zarr", "zarr-obstore"):
        requests, touched = got[("zarr-96x16x16-zstd3", reader)]
        assert requests == touched and 2 <= touched <= 8
    assert rows["digest"].nunique() == 1  # every layout and reader read the same values
    rec = lb.recommend(str(out), profile="same-region", storage="zarr", min_mb=0)
    d = rec.to_dict()["datasets"][0]
    assert d["path"] == OPHYS and d["recommended"]["format"] == "zarr"
    assert d["current"]["chunks"] == [96, 64, 48]
