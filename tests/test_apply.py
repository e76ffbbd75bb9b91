"""``apply``: a whole NWB/HDF5 file rewritten with new layouts, everything else unchanged."""

from __future__ import annotations

import json
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pynwb
import pytest

from layoutbench.errors import UserError
from layoutbench.plan.layout import Layout
from layoutbench.read.inspect import dataset_info
from layoutbench.synthetic import DATASET_PATHS, GENERATORS
from layoutbench.write import apply
from layoutbench.write.apply import apply_layouts
from layoutbench.write.apply_plan import (
    ApplyResult,
    Step,
    file_page_size,
    layouts_from_recommendation,
    plan_copy,
    read_recommendation,
)
from layoutbench.write.blocks import VerificationError
from layoutbench.write.h5copy import LinkEntry, link_structure, scan_links
from layoutbench.write.verify import verify_same_file

MiB = 2**20
OPHYS, ECEPHYS = DATASET_PATHS["ophys"], DATASET_PATHS["ecephys"]
MANY = DATASET_PATHS["many-series"]


# -- sources ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small generated NWB files; the ophys one gains a second hard link to its movie."""
    folder = tmp_path_factory.mktemp("sources")
    paths = {kind: folder / f"{kind}.nwb" for kind in ("ophys", "ecephys", "many-series")}
    GENERATORS["ophys"](paths["ophys"], shape=(64, 64, 64), seed=1)
    GENERATORS["ecephys"](paths["ecephys"], shape=(20000, 8), seed=2)
    GENERATORS["many-series"](paths["many-series"], n_series=8, seed=3)
    with h5py.File(paths["ophys"], "r+") as f:
        f["/analysis/movie_alias"] = f[OPHYS]  # pynwb ignores it; apply must keep it a link
    paths["rich"] = _rich_file(folder / "rich.h5")
    return paths


def _rich_file(path: Path) -> Path:
    """Plain HDF5 with what NWB files can hold beyond the generators: creation order, a user
    block, hard links to a dataset and a group, a dimension scale, object, region and compound
    references to the dataset that will be rewritten, an external link, odd attributes."""
    with h5py.File(path, "w", track_order=True, userblock_size=512) as f:
        g = f.create_group("g", track_order=True)
        d = g.create_dataset("data", data=np.arange(1000, dtype=">i4").reshape(100, 10),
                             chunks=(10, 10), maxshape=(None, 10), fillvalue=-7,
                             compression="gzip", track_order=True)
        t = g.create_dataset("t", data=np.arange(100.0))
        t.make_scale("time")
        d.dims[0].attach_scale(t)
        d.attrs["zz"] = np.int32(1)
        d.attrs["aa"] = "x"
        d.attrs["nan"] = np.float32("nan")
        d.attrs["empty"] = h5py.Empty("f8")
        d.attrs["fixed"] = np.bytes_(b"abc")
        f["alias"] = d
        f["galias"] = g
        f["soft"] = h5py.SoftLink("/g/data")
        f["ext"] = h5py.ExternalLink("other.h5", "/x")
        f.create_dataset("refs", data=[d.ref, t.ref, g.ref, h5py.Reference()],
                         dtype=h5py.ref_dtype)
        f.create_dataset("rrefs", (2,), dtype=h5py.regionref_dtype)[0] = d.regionref[2:4, 1:3]
        compound = np.dtype([("i", "i4"), ("r", h5py.ref_dtype)])
        f.create_dataset("comp", data=np.array([(1, d.ref), (2, t.ref)], dtype=compound))
        f.create_dataset("vstr", data="hello", dtype=h5py.string_dtype())
        f.create_dataset("contig", data=np.linspace(0, 1, 5000).reshape(50, 100))
        f.create_dataset("grow", shape=(0, 4), maxshape=(None, 4), dtype="f4", chunks=(16, 4))
        f.attrs["rref"] = d.regionref[0:1, :]
        f["dtype"] = np.dtype("<f4")
    return path


# -- an independent comparison (not the code under test's verify) ----------------------------
def _same(a: Any, b: Any, fa: h5py.File, fb: h5py.File) -> bool:
    if isinstance(a, h5py.Reference):
        return bool(a) == bool(b) and (not a or fa[a].name == fb[b].name)
    if isinstance(a, np.ndarray | np.void) and a.dtype.names:
        return all(_same(np.asarray(a[n]), np.asarray(b[n]), fa, fb) for n in a.dtype.names)
    if isinstance(a, np.ndarray) and a.dtype.kind == "O":
        return a.shape == b.shape and all(_same(x, y, fa, fb)
                                          for x, y in zip(a.ravel(), b.ravel(), strict=True))
    if isinstance(a, np.ndarray | np.generic):
        return a.dtype == b.dtype and a.tobytes() == b.tobytes()
    return bool(a == b)


def _assert_same_content(src: Path, out: Path) -> None:
    """Every object, attribute (names, order, values) and dataset value equal."""
    with h5py.File(src) as fa, h5py.File(out) as fb:
        names: list[str] = []
        fa.visit(names.append)
        for name in ["/", *names]:
            a, b = fa[name], fb[name]
            assert list(a.attrs) == list(b.attrs), name
            for key in a.attrs:
                assert _same(a.attrs[key], b.attrs[key], fa, fb), (name, key)
            if isinstance(a, h5py.Dataset):
                assert (a.shape, a.dtype, a.maxshape) == (b.shape, b.dtype, b.maxshape), name
                if a.shape is not None:
                    assert _same(np.asarray(a[()]), np.asarray(b[()]), fa, fb), name


def _read_nwb(path: Path, dataset: str) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pynwb.NWBHDF5IO(path, "r", load_namespaces=True) as io:
            nwb = io.read()
            assert nwb.identifier
            with h5py.File(path) as f:
                obj = nwb.objects[f[dataset].parent.attrs["object_id"]]
            return np.asarray(obj.data[:])


# -- applying ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "dataset", "layout"),
    [
        # the example: narrow chunks across frames, zstd with shuffle
        ("ophys", OPHYS, Layout("hdf5", (64, 16, 16), "zstd", shuffle=True)),
        # requested through its second hard link; Blosc and paged aggregation (file-wide)
        ("ophys", "/analysis/movie_alias",
         Layout("hdf5", (32, 32, 32), "blosc-zstd", shuffle=True, page_size=MiB)),
        # one channel per chunk, chunks longer than the recording are clipped to it
        ("ecephys", ECEPHYS, Layout("hdf5", (65536, 1), "gzip", 4, shuffle=True)),
        # a file of many objects, compound TimeSeriesReferences and object references
        ("many-series", MANY, Layout("hdf5", (4096,), "lz4", page_size=64 * 1024)),
    ],
)
def test_apply_rewrites_the_dataset_and_keeps_the_file(sources: dict[str, Path], tmp_path: Path,
                                                      kind: str, dataset: str,
                                                      layout: Layout) -> None:
    src, out = sources[kind], tmp_path / "out.nwb"
    result = apply_layouts(src, {dataset: layout}, out)
    assert isinstance(result, ApplyResult) and result.verified and result.output == str(out)
    [change] = result.datasets
    with h5py.File(src) as f:
        shape = f[dataset].shape
    fitted = tuple(min(c, n) for c, n in zip(layout.chunks, shape, strict=True))
    info = dataset_info(out, dataset)
    assert (info.chunks, info.codec, info.level, info.shuffle) == \
        (fitted, layout.codec, layout.level, layout.shuffle)
    assert change.stored_bytes_after == info.storage_bytes
    assert change.layout.chunks == fitted and change.seconds >= 0
    assert json.loads(json.dumps(result.to_dict()))["datasets"][0]["new_chunks"] == list(fitted)
    with h5py.File(out) as f:
        paged = f.id.get_create_plist().get_file_space_strategy()[0] == \
            h5py.h5f.FSPACE_STRATEGY_PAGE
        assert paged == bool(layout.page_size) and result.page_size == layout.page_size
        if kind == "ophys":  # one object under two names, not two copies
            assert f[OPHYS] == f["/analysis/movie_alias"]
    _assert_same_content(src, out)
    main = DATASET_PATHS[kind]
    with h5py.File(src) as f:
        assert np.array_equal(_read_nwb(out, main), f[main][()])


def test_references_follow_the_rewritten_dataset(sources: dict[str, Path],
                                                 tmp_path: Path) -> None:
    src, out = sources["rich"], tmp_path / "rich.h5"
    layout = Layout("hdf5", (32, 5), "zstd", shuffle=True)
    apply_layouts(src, {"/alias": layout}, out)
    _assert_same_content(src, out)
    with h5py.File(out) as f:
        d = f["/g/data"]
        assert d.chunks == (32, 5) and d == f["/alias"] and f["/galias"] == f["/g"]
        for ref in (f["refs"][0], f["comp"][0]["r"], f["rrefs"][0], f.attrs["rref"]):
            assert f[ref] == d  # the new dataset, not a stale token of the source
        assert np.array_equal(d[f["rrefs"][0]], [[21, 22], [31, 32]])
        assert d.dims[0][0] == f["/g/t"] and d.dims[0][0].attrs["NAME"] == b"time"
        assert (d.fillvalue, d.maxshape, d.dtype) == (-7, (None, 10), np.dtype(">i4"))
        assert list(d.attrs) == ["DIMENSION_LIST", "zz", "aa", "nan", "empty", "fixed"]
        assert list(f) == ["g", "alias", "galias", "soft", "ext", "refs", "rrefs", "comp",
                           "vstr", "contig", "grow", "dtype"]  # creation order kept
        assert f.get("soft", getlink=True).path == "/g/data"
        link = f.get("ext", getlink=True)
        assert (link.filename, link.path) == ("other.h5", "/x")
        assert f.userblock_size == 512 and isinstance(f["dtype"], h5py.Datatype)


def test_contiguous_and_growable_datasets(sources: dict[str, Path], tmp_path: Path) -> None:
    layouts = {
        "/contig": Layout("hdf5", (7, 33), "blosc-lz4", shuffle=True),  # was contiguous
        "/grow": Layout("hdf5", (1000, 2), "gzip"),  # empty, resizable: chunk kept, not 1
    }
    result = apply_layouts(sources["rich"], layouts, tmp_path / "out.h5")
    assert [c.old_chunks for c in result.datasets] == [None, (16, 4)]
    with h5py.File(tmp_path / "out.h5", "r+") as f:
        assert (f["contig"].chunks, f["grow"].chunks) == ((7, 33), (1000, 2))
        f["grow"].resize((3, 4))  # still resizable
        assert f["grow"].maxshape == (None, 4)


def test_copy_is_block_wise(sources: dict[str, Path], tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    """No read of a rewritten dataset is larger than the block budget."""
    reads: list[int] = []
    real = apply._open_cached

    class Spy:
        def __init__(self, ds: Any) -> None:
            self.ds = ds

        def __getitem__(self, sel: Any) -> np.ndarray:
            data = self.ds[sel]
            reads.append(data.nbytes)
            return data

    monkeypatch.setattr(apply, "_open_cached", lambda *a: Spy(real(*a)))
    budget = 64 * 1024
    apply_layouts(sources["ophys"], {OPHYS: Layout("hdf5", (64, 16, 16), "zstd")},
                  tmp_path / "out.nwb", block_bytes=budget)
    assert len(reads) > 1 and max(reads) <= budget and sum(reads) == 64**3 * 2


def test_progress_goes_to_stderr(sources: dict[str, Path], tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    apply_layouts(sources["ecephys"], {ECEPHYS: Layout("hdf5", (4096, 8), "zstd")},
                  tmp_path / "out.nwb", progress=True)
    captured = capsys.readouterr()
    assert "apply" in captured.err and "verify" in captured.err and captured.out == ""


def test_overwrite_replaces_an_existing_output(sources: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.nwb"
    out.write_bytes(b"old")
    apply_layouts(sources["ecephys"], {}, out, overwrite=True)  # no layouts: a plain copy
    _assert_same_content(sources["ecephys"], out)


# -- the verification catches what a faulty copy would get wrong ---------------------------
def _retype_attr(f: h5py.File) -> None:
    del f["/g/data"].attrs["zz"]
    f["/g/data"].attrs["zz"] = np.int64(1)  # same value, wider type, now last


def _move_region(f: h5py.File) -> None:
    f.attrs.modify("rref", f["/g/data"].regionref[1:2, :])


def _flip_bit(f: h5py.File) -> None:
    f["/g/data"][5, 3] ^= 1


def _unlink_alias(f: h5py.File) -> None:
    del f["alias"]
    f.copy(f["/g/data"], "alias", without_attrs=True)  # a copy, no longer the same object


@pytest.fixture(scope="module")
def rich_copy(sources: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rich") / "rich.h5"
    apply_layouts(sources["rich"], {"/g/data": Layout("hdf5", (32, 5), "zstd")}, out)
    return out


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        # an attribute re-typed (what ``attrs[k] = v`` does to an int32) and re-ordered
        (_retype_attr, "attributes of (alias|g/data) differ"),
        # a region reference to the right dataset but another selection
        (_move_region, "attributes of / differ"),
        # one bit of the rewritten data
        (_flip_bit, "(alias|g/data): values differ"),
    ],
)
def test_verify_catches(sources: dict[str, Path], rich_copy: Path, tmp_path: Path,
                        damage: Any, match: str) -> None:
    out = tmp_path / "damaged.h5"
    shutil.copyfile(rich_copy, out)
    verify_same_file(sources["rich"], out)
    with h5py.File(out, "r+") as f:
        damage(f)
    with pytest.raises(VerificationError, match=match):
        verify_same_file(sources["rich"], out)


def test_link_structure_sees_a_broken_hard_link(sources: dict[str, Path], rich_copy: Path,
                                                tmp_path: Path) -> None:
    out = tmp_path / "damaged.h5"
    shutil.copyfile(rich_copy, out)
    with h5py.File(sources["rich"]) as fa, h5py.File(out, "r+") as fb:
        assert link_structure(scan_links(fa)) == link_structure(scan_links(fb))
        _unlink_alias(fb)
        assert link_structure(scan_links(fa)) != link_structure(scan_links(fb))


# -- failures leave nothing behind ----------------------------------------------------------
@pytest.mark.parametrize(
    ("layouts", "out_name", "match"),
    [
        # a Zarr layout makes an NWB-Zarr folder, which must be named *.zarr
        ({OPHYS: Layout("zarr", (64, 16, 16), "zstd")}, "out.nwb", "NWB-Zarr folder; name it"),
        # one output is HDF5 or NWB-Zarr: a recommendation mixing both is refused
        ({OPHYS: Layout("zarr", (64, 16, 16), "zstd"),
          "/processing/ophys/x": Layout("hdf5", (8,))}, "out.nwb.zarr", "mixes HDF5 and Zarr"),
        # a Zarr request the file cannot honour: 2-d chunks for the 3-d movie
        ({OPHYS: Layout("zarr", (64, 16))}, "out.nwb.zarr", "have 2 dimensions"),
        # a path that is not in the file, with a hint of the large datasets
        ({"/acquisition/nope": Layout("hdf5", (8,))}, "out.nwb", "does not exist"),
        # 2-d chunks for the 3-d movie
        ({OPHYS: Layout("hdf5", (64, 16))}, "out.nwb", "have 2 dimensions, the dataset has 3"),
        # a group is not a dataset
        ({"/acquisition/TwoPhotonSeries": Layout("hdf5", (8,))}, "out.nwb", "not a dataset"),
        # a string dataset cannot be re-chunked
        ({"/session_description": Layout("hdf5", (8,))}, "out.nwb", "not a numeric"),
        # the same object under two names, two different layouts
        ({OPHYS: Layout("hdf5", (8, 8, 8)), "/analysis/movie_alias": Layout("hdf5", (4, 4, 4))},
         "out.nwb", "same dataset"),
        # page size is per file
        ({OPHYS: Layout("hdf5", (8, 8, 8), page_size=MiB),
          "/processing/ophys/x": Layout("hdf5", (8,), page_size=4 * MiB)}, "out.nwb",
         "different page sizes"),
        # writing over the source
        ({}, "ophys.nwb", "is the source file"),
    ],
)
def test_bad_requests_are_user_errors(sources: dict[str, Path], tmp_path: Path,
                                      layouts: dict[str, Layout], out_name: str,
                                      match: str) -> None:
    src = tmp_path / "ophys.nwb"
    shutil.copyfile(sources["ophys"], src)
    before = src.read_bytes()
    with pytest.raises(UserError, match=match) as err:
        apply_layouts(src, layouts, tmp_path / out_name)
    assert str(src) in str(err.value) or str(tmp_path / out_name) in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ophys.nwb"]
    assert src.read_bytes() == before


def test_existing_output_is_refused(sources: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.nwb"
    out.write_bytes(b"keep me")
    with pytest.raises(UserError, match=re.escape(f"{out}: already exists")):
        apply_layouts(sources["ecephys"], {}, out)
    assert out.read_bytes() == b"keep me"


@pytest.mark.parametrize("out_name", ["out.nwb", "out.nwb.zarr"])  # HDF5, NWB-Zarr
def test_an_output_the_disk_cannot_hold_is_refused_before_the_work(
        sources: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        out_name: str) -> None:
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage(10**9, 10**9 - 1000, 1000))
    fmt = "zarr" if out_name.endswith(".zarr") else "hdf5"
    layouts = {"/acquisition/ElectricalSeries/data": Layout(fmt, (30000, 12), "zstd", 3)}
    size = sources["ecephys"].stat().st_size
    with pytest.raises(UserError, match=re.escape(f"needs about {size / 1e9:,.2f} GB of disk; "
                                                  "0.00 GB are free in")):
        apply_layouts(sources["ecephys"], layouts, tmp_path / out_name)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("error", [KeyboardInterrupt, OSError])
def test_interrupted_write_leaves_no_file(sources: dict[str, Path], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch,
                                          error: type[BaseException]) -> None:
    real = apply._open_cached

    class Failing:
        def __init__(self, ds: Any) -> None:
            self.ds, self.n = ds, 0

        def __getitem__(self, sel: Any) -> np.ndarray:
            self.n += 1
            if self.n == 2:
                raise error("simulated")
            return self.ds[sel]

    monkeypatch.setattr(apply, "_open_cached", lambda *a: Failing(real(*a)))
    out = tmp_path / "out.nwb"
    out.write_bytes(b"previous")  # overwrite=True must still not lose it on failure
    with pytest.raises(error):
        apply_layouts(sources["ophys"], {OPHYS: Layout("hdf5", (16, 16, 16))}, out,
                      overwrite=True, block_bytes=16 * 64 * 64 * 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.nwb"]
    assert out.read_bytes() == b"previous"


def test_failed_verification_leaves_no_file(sources: dict[str, Path], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise VerificationError("simulated")

    monkeypatch.setattr(apply, "verify_same_file", broken)
    with pytest.raises(VerificationError):
        apply_layouts(sources["ecephys"], {ECEPHYS: Layout("hdf5", (4096, 1))},
                      tmp_path / "out.nwb")
    assert list(tmp_path.iterdir()) == []


# -- the plan (pure) --------------------------------------------------------------------------
def _entry(path: str, kind: str, key: int, shape: tuple[int, ...] | None = None) -> LinkEntry:
    return LinkEntry(path, "hard", kind, key, shape=shape, maxshape=shape,
                     dtype="<i2" if shape else None)


def test_plan_links_aliases_to_the_first_path() -> None:
    entries = [
        _entry("/a", "group", 1),
        _entry("/a/x", "dataset", 2, (100, 4)),
        _entry("/a/y", "dataset", 3, (5,)),
        _entry("/b", "dataset", 2, (100, 4)),  # a second hard link to /a/x
        LinkEntry("/c", "soft", target="/a/y"),
        LinkEntry("/d", "external", target="/z", file="other.h5"),
    ]
    steps = plan_copy(entries, {"b": Layout("hdf5", (1000, 1), "gzip")})
    assert steps == [
        Step("group", "/a"),
        Step("rewrite", "/a/x", layout=Layout("hdf5", (100, 1), "gzip")),  # clipped
        Step("copy", "/a/y"),
        Step("hardlink", "/b", target="/a/x"),
        Step("softlink", "/c", target="/a/y"),
        Step("extlink", "/d", target="/z", file="other.h5"),
    ]


@pytest.mark.parametrize(
    ("layouts", "match"),
    [
        # a soft link names no dataset of its own
        ({"/c": Layout("hdf5", (5,))}, "soft link to '/a/y'"),
        # unknown path
        ({"/q": Layout("hdf5", (5,))}, "does not exist"),
    ],
)
def test_plan_rejects(layouts: dict[str, Layout], match: str) -> None:
    entries = [_entry("/a", "group", 1), _entry("/a/y", "dataset", 3, (5,)),
               LinkEntry("/c", "soft", target="/a/y")]
    with pytest.raises(UserError, match=rf"f\.nwb: .*{match}"):
        plan_copy(entries, layouts, file="f.nwb")


def test_file_page_size() -> None:
    lay = Layout("hdf5", (4,))
    assert file_page_size([lay]) is None
    assert file_page_size([lay, Layout("hdf5", (4,), page_size=MiB)]) == MiB


# -- the recommendation -----------------------------------------------------------------------
def _recommendation(**recommended: Any) -> dict[str, Any]:
    rec = {"format": "hdf5", "chunks": [64, 16, 16], "shards": None, "codec": "zstd",
           "level": 3, "shuffle": True, "requests": 12, "seconds": 0.5,
           "speedup_vs_current": 4.0, **recommended}
    return {"file": "x.nwb", "profile": "same-region",
            "datasets": [{"path": OPHYS, "neurodata_type": "TwoPhotonSeries", "shape": [64] * 3,
                          "dtype": "uint16", "current": {}, "patterns": [],
                          "recommended": {k: v for k, v in rec.items() if v is not ...},
                          "alternatives": []}]}


def test_recommendation_round_trip(sources: dict[str, Path], tmp_path: Path) -> None:
    rec_path = tmp_path / "rec.json"
    rec_path.write_text(json.dumps(_recommendation(page_size=MiB)))
    layouts = read_recommendation(rec_path)
    assert layouts == {OPHYS: Layout("hdf5", (64, 16, 16), "zstd", 3, shuffle=True,
                                     page_size=MiB)}
    result = apply_layouts(sources["ophys"], layouts, tmp_path / "out.nwb")
    assert result.page_size == MiB and result.datasets[0].layout.chunks == (64, 16, 16)


@pytest.mark.parametrize(
    ("obj", "match"),
    [
        # not a recommendation at all
        ([1, 2], "not a recommendation"),
        # a dataset without its recommended layout
        ({"datasets": [{"path": OPHYS}]}, r"datasets\[0\]: needs a 'path' and a 'recommended'"),
        # the recommended layout lacks chunks
        (_recommendation(chunks=...), "lacks chunks"),
        # or its codec (which must not silently become the default)
        (_recommendation(codec=..., level=...), "lacks codec, level"),
        # a codec Layout does not know
        (_recommendation(codec="brotli"), "invalid layout: unknown codec"),
        # the same path twice
        ({"datasets": _recommendation()["datasets"] * 2}, "listed twice"),
    ],
)
def test_recommendation_errors(obj: Any, match: str) -> None:
    with pytest.raises(UserError, match=rf"rec\.json: .*{match}"):
        layouts_from_recommendation(obj, name="rec.json")


def test_unreadable_recommendation(tmp_path: Path) -> None:
    bad = tmp_path / "rec.json"
    bad.write_text("{not json")
    with pytest.raises(UserError, match=r"rec\.json: not valid JSON"):
        read_recommendation(bad)
    with pytest.raises(UserError, match=r"missing\.json: cannot be read"):
        read_recommendation(tmp_path / "missing.json")


@pytest.mark.parametrize(("kind", "dataset", "layout"), [
    # the two reported failures: H5Ocopy of /specifications/... in a file apply wrote
    ("ophys", OPHYS, Layout("hdf5", (64, 16, 16), "zstd", shuffle=True)),
    ("ecephys", ECEPHYS, Layout("hdf5", (65536, 1), "gzip", 4, shuffle=True)),
    ("many-series", MANY, Layout("hdf5", (4096,), "zstd")),
])
def test_apply_round_trips(sources: dict[str, Path], tmp_path: Path, kind: str, dataset: str,
                           layout: Layout) -> None:
    """Applying to a file apply wrote works, and applying twice gives the same data."""
    once, twice = tmp_path / "once.nwb", tmp_path / "twice.nwb"
    apply_layouts(sources[kind], {dataset: layout}, once)
    result = apply_layouts(once, {dataset: layout}, twice)
    assert result.verified
    verify_same_file(once, twice)  # every object, attribute and value the same
    main = DATASET_PATHS[kind]
    with h5py.File(sources[kind]) as f:
        assert np.array_equal(_read_nwb(twice, main), f[main][()])


def test_external_links_follow_the_output(sources: dict[str, Path], tmp_path: Path) -> None:
    """Written to another folder, a relative external link is re-pointed so it still
    resolves (HDF5 looks beside the file holding the link)."""
    folder = tmp_path / "src"
    folder.mkdir()
    with h5py.File(folder / "other.h5", "w") as f:
        f["x"] = np.arange(12)
    with h5py.File(folder / "main.h5", "w") as f:
        f["own"] = np.arange(3)
        f["ext"] = h5py.ExternalLink("other.h5", "/x")
        f["gone"] = h5py.ExternalLink("missing.h5", "/x")  # dangling: kept as it is
    out = tmp_path / "elsewhere" / "deeper" / "out.h5"
    out.parent.mkdir(parents=True)
    apply_layouts(folder / "main.h5", {}, out)
    with h5py.File(out) as f:
        assert f.get("ext", getlink=True).filename == "../../src/other.h5"
        assert f["ext"][()].tolist() == list(range(12))
        assert f.get("gone", getlink=True).filename == "missing.h5"
    same = folder / "copy.h5"  # the same folder: links unchanged
    apply_layouts(folder / "main.h5", {}, same)
    with h5py.File(same) as f:
        assert f.get("ext", getlink=True).filename == "other.h5"


@pytest.mark.parametrize("plugin_path", [
    "own",  # hdf5plugin's own folder, as its documentation suggests for other HDF5 tools
    "own+other",  # that folder among others: the others are kept
    None,  # unset
])
def test_apply_with_hdf5_plugin_path(plugin_path: str | None, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys
    from importlib.util import find_spec

    from layoutbench.synthetic import generate_ophys

    src = tmp_path / "movie.nwb"
    generate_ophys(src, shape=(40, 32, 32), seed=2)
    rec = {"datasets": [{"path": DATASET_PATHS["ophys"], "shape": [40, 32, 32],
                         "recommended": {"format": "hdf5", "chunks": [40, 16, 16],
                                         "shards": None, "codec": "blosc-zstd", "level": 5,
                                         "shuffle": True}}]}
    (tmp_path / "rec.json").write_text(json.dumps(rec))
    spec = find_spec("hdf5plugin")
    assert spec is not None and spec.submodule_search_locations
    own = str(Path(next(iter(spec.submodule_search_locations))) / "plugins")
    env = {k: v for k, v in os.environ.items() if k != "HDF5_PLUGIN_PATH"}
    if plugin_path == "own":
        env["HDF5_PLUGIN_PATH"] = own
    elif plugin_path == "own+other":
        env["HDF5_PLUGIN_PATH"] = os.pathsep.join([str(tmp_path), own])
    done = subprocess.run([sys.executable, "-m", "layoutbench", "-q", "apply", str(src),
                           "--recommendation", str(tmp_path / "rec.json"), "-o",
                           str(tmp_path / "out.nwb")], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with h5py.File(tmp_path / "out.nwb") as f, h5py.File(src) as g:
        assert f[DATASET_PATHS["ophys"]].chunks == (40, 16, 16)
        assert np.array_equal(f[DATASET_PATHS["ophys"]][:], g[DATASET_PATHS["ophys"]][:])
