"""kerchunk references: every HDF5 layout round-trips through refs, unsupported datasets are
reported per dataset, and the cache/sidecar paths cost the requests they promise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from botocore.exceptions import ClientError
from kerchunk.hdf import SingleHdf5ToZarr

from layoutbench.errors import UserError
from layoutbench.plan.layout import Layout, default_grid
from layoutbench.read.refs import SIDECAR_SUFFIX, load_refs, write_refs_json
from layoutbench.read.refs_build import build_refs
from layoutbench.read.refs_open import open_refs, open_refs_array
from layoutbench.read.refset import ReferencesUnsupported, RefSet
from layoutbench.store import EmbeddedS3
from layoutbench.store.sources import ObjectIdentity, Source, resolve
from layoutbench.write.rewrite import write_variant

OPHYS = ("ophys", (60, 48, 40), "uint16", "/acquisition/TwoPhotonSeries/data")
ECEPHYS = ("ecephys", (20000, 8), "int16", "/acquisition/ElectricalSeries/data")


def _make_source(path: Path, shape: tuple[int, ...], dtype: str, dataset: str) -> Path:
    """Smooth data plus noise, so codecs have something to do and chunks differ in size."""
    rng = np.random.default_rng(0)
    base = np.cumsum(rng.integers(-3, 4, size=shape), axis=0) + 1000
    with h5py.File(path, "w") as f:
        f.create_dataset(dataset, data=base.astype(dtype))
    return path


def _cases() -> list[Any]:
    cases = []
    for kind, shape, _, _ in (OPHYS, ECEPHYS):
        for layout in default_grid(kind, shape, 2):
            if layout.format == "hdf5":
                cases.append(pytest.param(kind, layout, id=f"{kind}-{layout.name}"))
    paged = Layout("hdf5", (20, 48, 40), "zstd", page_size=2**20)
    cases.append(pytest.param("ophys", paged, id=f"ophys-{paged.name}"))
    return cases


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    root = tmp_path_factory.mktemp("refs-sources")
    return {kind: (_make_source(root / f"{kind}.h5", shape, dtype, ds), ds)
            for kind, shape, dtype, ds in (OPHYS, ECEPHYS)}


def _variant(sources: dict[str, tuple[Path, str]], kind: str, layout: Layout, out: Path
             ) -> tuple[Path, str]:
    source, dataset = sources[kind]
    path = out / f"{kind}-{layout.name}.h5"
    write_variant(source, dataset, layout, path)
    with h5py.File(path, "a") as f:  # write_variant copies data, not attributes
        f[dataset].attrs["unit"] = "n.a."
    return path, dataset


def _h5(path: Path, dataset: str) -> np.ndarray:
    with h5py.File(path, "r") as f:
        return np.asarray(f[dataset][()])


def _s3_remote(s3: EmbeddedS3) -> dict[str, Any]:
    # max_concurrency=1: s3fs would otherwise HEAD before every whole-object GET
    return {**s3.storage_options(), "max_concurrency": 1}


def _same_bits(got: np.ndarray, expected: np.ndarray) -> None:
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert np.ascontiguousarray(got).tobytes() == np.ascontiguousarray(expected).tobytes()


# -- every layout through s3:// ---------------------------------------------------------------
@pytest.mark.parametrize(("kind", "layout"), _cases())
def test_layout_roundtrip_s3(s3: EmbeddedS3, sources: dict[str, tuple[Path, str]], kind: str,
                             layout: Layout, tmp_path: Path) -> None:
    path, dataset = _variant(sources, kind, layout, tmp_path)
    s3.upload_file(path, path.name)
    refset = load_refs(s3.source(path.name), cache_dir=tmp_path / "c")
    assert refset.source == "built" and refset.unsupported == {}
    assert refset.n_chunks >= 1
    with open_refs(refset, dataset, remote_protocol="s3", remote_options=_s3_remote(s3)) as arr:
        assert dict(arr.attrs)["unit"] == "n.a."
        s3.reset_counters()
        got = arr[...]
    assert s3.stats().requests >= 1  # chunk bytes came from the object, not from the JSON
    _same_bits(got, _h5(path, dataset))


def test_roundtrip_http(s3: EmbeddedS3, sources: dict[str, tuple[Path, str]],
                        tmp_path: Path) -> None:
    layout = Layout("hdf5", (20, 16, 16), "gzip", 4, shuffle=True)
    path, dataset = _variant(sources, "ophys", layout, tmp_path)
    s3.upload_file(path, "http.h5")
    url = s3.http_url("http.h5")
    refset = load_refs(url, cache_dir=tmp_path / "c")
    assert refset.identity.url == url and refset.identity.etag
    with open_refs(refset, dataset, remote_protocol="http") as arr:
        got = arr[...]
    _same_bits(got, _h5(path, dataset))


# -- real NWB files -----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["ophys", "ecephys"])
def test_nwb_file_through_refs(tmp_path: Path, kind: str) -> None:
    from layoutbench.synthetic import DATASET_PATHS, generate_ecephys, generate_ophys

    path = tmp_path / f"{kind}.nwb"
    if kind == "ophys":
        generate_ophys(path, shape=(60, 32, 32))
    else:
        generate_ecephys(path, shape=(20000, 8))
    refset = build_refs(str(path))
    dataset = DATASET_PATHS[kind]
    assert dataset not in refset.unsupported
    # only object references (the electrodes table's ElectrodeGroup column) are unsupported
    assert all("references" in reason for reason in refset.unsupported.values())
    with open_refs(refset, dataset, remote_protocol="file") as arr:
        assert dict(arr.attrs)["unit"] in ("n.a.", "volts")
        _same_bits(arr[...], _h5(path, dataset))
    # scalar strings: kerchunk 0.2.10 + zarr 3 fail on these; refs.py writes them itself
    with open_refs(refset, "/session_description", remote_protocol="file") as arr:
        assert arr[()] == _h5(path, "/session_description").item().decode()


# -- unsupported datasets ---------------------------------------------------------------------
def test_lz4_reported_per_dataset(sources: dict[str, tuple[Path, str]], tmp_path: Path) -> None:
    path, dataset = _variant(sources, "ecephys", Layout("hdf5", (4096, 8), "lz4"), tmp_path)
    with h5py.File(path, "a") as f:  # a supported neighbour must survive
        f["/other"] = np.arange(10)
    refset = build_refs(str(path))
    assert dataset in refset.unsupported and "lz4" in refset.unsupported[dataset].lower()
    with pytest.raises(ReferencesUnsupported) as info:
        open_refs_array(refset, dataset, remote_protocol="file")
    assert dataset in str(info.value) and "lz4" in str(info.value).lower()
    assert info.value.dataset == dataset
    with open_refs(refset, "/other", remote_protocol="file") as arr:
        assert arr[...].tolist() == list(range(10))


def test_contiguous_too_large(tmp_path: Path) -> None:
    path = tmp_path / "contig.h5"
    with h5py.File(path, "w") as f:
        f["big"] = np.arange(10_000, dtype="f8")  # contiguous, 80,000 bytes
        f["small"] = np.arange(10, dtype="f8")
    refset = build_refs(str(path), max_contiguous_bytes=50_000)
    assert "80,000 bytes" in refset.unsupported["/big"]
    assert "too large to be one contiguous reference" in refset.unsupported["/big"]
    assert "/small" not in refset.unsupported
    with pytest.raises(ReferencesUnsupported, match="/big: contiguous"):
        open_refs_array(refset, "/big", remote_protocol="file")
    with pytest.raises(ReferencesUnsupported, match="no such dataset"):
        open_refs_array(refset, "/nope", remote_protocol="file")


def test_hdf5_features(tmp_path: Path) -> None:
    """Links, compounds, references and storage kinds NWB files contain or may contain."""
    path = tmp_path / "features.h5"
    cdt = np.dtype([("x", "<u4"), ("y", "<u4"), ("weight", "<f4")])  # NWB's pixel_mask
    with h5py.File(path, "w") as f:
        f["a/x"] = np.arange(100.0)
        f["b/soft"] = h5py.SoftLink("/a/x")
        f["b/dangling"] = h5py.SoftLink("/nowhere")
        f["b/external"] = h5py.ExternalLink("other.nwb", "/data")
        f.create_dataset("mask", data=np.array([(1, 2, 0.5)] * 40, dtype=cdt), chunks=(8,),
                         compression="gzip")
        f["refs"] = np.array([f["a/x"].ref], dtype=h5py.ref_dtype)
        f["a"].attrs["target"] = f["a/x"].ref  # reference attribute: kept as text
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        space = h5py.h5s.create_simple((10,))
        h5py.h5d.create(f.id, b"compact", h5py.h5t.STD_I32LE, space, dcpl).write(
            h5py.h5s.ALL, h5py.h5s.ALL, np.arange(10, dtype="<i4"))
        layout = h5py.VirtualLayout(shape=(100,), dtype="f8")
        layout[:] = h5py.VirtualSource(f["a/x"])
        f.create_virtual_dataset("vds", layout)
    refset = build_refs(str(path))
    assert set(refset.unsupported) == {"/b/dangling", "/b/external", "/refs", "/vds"}
    for name in ("/a/x", "/b/soft", "/mask", "/compact"):
        with open_refs(refset, name, remote_protocol="file") as arr:
            _same_bits(arr[...], _h5(path, name))


def test_chunk_iteration_fast_path_available() -> None:
    # kerchunk takes dsid.chunk_iter when h5py exposes it; the fallback is quadratic
    assert callable(getattr(h5py.h5d.DatasetID, "chunk_iter", None))


def test_not_hdf5(s3: EmbeddedS3, tmp_path: Path) -> None:
    path = tmp_path / "notes.nwb"
    path.write_text("this is not HDF5\n" * 100)
    with pytest.raises(UserError, match=r"notes\.nwb: not an HDF5 file"):
        build_refs(str(path))
    s3.upload_file(path, "notes.nwb")
    with pytest.raises(UserError, match=r"s3://.*notes\.nwb: not an HDF5 file"):
        build_refs(s3.source("notes.nwb"))
    with pytest.raises(UserError, match=r"missing\.nwb: no such file"):
        load_refs(str(tmp_path / "missing.nwb"), cache_dir=tmp_path / "c")


# -- identity, cache, sidecar -----------------------------------------------------------------
def _upload_variant(s3: EmbeddedS3, sources: dict[str, tuple[Path, str]], layout: Layout,
                    tmp_path: Path, key: str) -> Source:
    path, _ = _variant(sources, "ophys", layout, tmp_path)
    s3.upload_file(path, key)
    return s3.source(key)


A = Layout("hdf5", (20, 16, 16), "zstd")
B = Layout("hdf5", (10, 48, 40), "gzip", 4)


def test_identity_one_request(s3: EmbeddedS3, sources: dict[str, tuple[Path, str]],
                              tmp_path: Path) -> None:
    url = _upload_variant(s3, sources, A, tmp_path, "x.h5")
    s3.reset_counters()
    ident = url.identity()  # a plain HEAD (the bucket is public): no S3 client is built
    assert s3.stats().requests == 1 and s3.stats().by_method == {"HEAD": 1}
    s3.reset_counters()
    http_ident = resolve(s3.http_url("x.h5")).identity()
    assert s3.stats().requests == 1
    assert ident.etag == http_ident.etag and ident.size == http_ident.size
    assert ident.token() != http_ident.token()  # the URL is part of the key
    assert ObjectIdentity.from_dict(ident.to_dict()) == ident


def test_local_cache(s3: EmbeddedS3, sources: dict[str, tuple[Path, str]], tmp_path: Path,
                     monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    translate = SingleHdf5ToZarr.translate

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return translate(self, *args, **kwargs)

    monkeypatch.setattr(SingleHdf5ToZarr, "translate", spy)
    url = _upload_variant(s3, sources, A, tmp_path, "x.h5")
    cache = tmp_path / "cache"
    first = load_refs(url, cache_dir=cache)
    assert first.source == "built" and len(calls) == 1
    assert (cache / f"{first.identity.token()}.json").exists()

    s3.reset_counters()
    second = load_refs(url, cache_dir=cache)
    assert second.source == "local-cache" and len(calls) == 1
    assert s3.stats().requests == 1  # the identity HEAD, nothing else
    assert second.refs == first.refs

    # reaching shape, dtype and attributes: metadata are in the references, so the only
    # request is load_refs' identity HEAD; the remote client is not even connected.
    s3.reset_counters()
    refset = load_refs(url, cache_dir=cache)
    with open_refs(refset, OPHYS[3], remote_protocol="s3", remote_options=_s3_remote(s3)) as arr:
        assert arr.shape == OPHYS[1] and arr.dtype == np.dtype("uint16")
        assert dict(arr.attrs)["unit"] == "n.a."
    assert s3.stats().requests == 1

    _upload_variant(s3, sources, B, tmp_path, "x.h5")  # same key, new content
    third = load_refs(url, cache_dir=cache)
    assert third.source == "built" and len(calls) == 2
    assert third.identity != first.identity and third.refs != first.refs
    with open_refs(third, OPHYS[3], remote_protocol="s3", remote_options=_s3_remote(s3)) as arr:
        assert arr.chunks == B.chunks


def test_sidecar(s3: EmbeddedS3, sources: dict[str, tuple[Path, str]], tmp_path: Path) -> None:
    url = _upload_variant(s3, sources, A, tmp_path, "y.h5")
    built = load_refs(url, cache_dir=tmp_path / "a", sidecar=True)
    assert built.source == "built"
    assert s3.object_info("y.h5" + SIDECAR_SUFFIX).size > 0

    s3.reset_counters()
    side = load_refs(url, cache_dir=tmp_path / "b", sidecar=True)
    assert side.source == "sidecar" and side.refs == built.refs
    assert s3.stats().requests == 2  # identity HEAD + sidecar GET
    assert load_refs(url, cache_dir=tmp_path / "b").source == "local-cache"

    _upload_variant(s3, sources, B, tmp_path, "y.h5")  # the sidecar is now stale
    fresh = load_refs(url, cache_dir=tmp_path / "c", sidecar=True)
    assert fresh.source == "built" and fresh.identity != built.identity
    stored = RefSet.from_dict(json.loads(s3.client.get_object(
        Bucket=s3.bucket, Key="y.h5" + SIDECAR_SUFFIX)["Body"].read()))
    assert stored.identity == fresh.identity  # overwritten


def test_http_sidecar_read_only(s3: EmbeddedS3, sources: dict[str, tuple[Path, str]],
                                tmp_path: Path) -> None:
    _upload_variant(s3, sources, A, tmp_path, "z.h5")
    url = s3.http_url("z.h5")
    assert load_refs(url, cache_dir=tmp_path / "a", sidecar=True).source == "built"
    with pytest.raises(ClientError):  # 404: nothing was written beside an http:// URL
        s3.object_info("z.h5" + SIDECAR_SUFFIX)


# -- serialisation ------------------------------------------------------------------------------
def test_refset_roundtrip(tmp_path: Path) -> None:
    path = tmp_path / "small.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.arange(100), chunks=(10,), compression="gzip")
    refset = build_refs(str(path))
    assert refset.n_chunks == 10
    again = RefSet.from_dict(json.loads(json.dumps(refset.to_dict())))
    assert again == refset
    out = write_refs_json(refset, tmp_path / "out" / "small.refs.json")
    assert RefSet.from_dict(json.loads(out.read_text())) == refset
    with pytest.raises(ValueError, match="layoutbench-refs"):
        RefSet.from_dict({"refs": {}})
    # what -o writes is a standard reference set: fsspec and zarr open it as it is
    import fsspec
    import zarr
    from zarr.storage import FsspecStore

    assert json.loads(out.read_text())["version"] == 1
    fs = fsspec.filesystem("reference", fo=str(out))
    assert {e["name"] for e in fs.ls("")} == {"x", ".zgroup", ".zattrs"}  # our key is unseen
    afs = fsspec.filesystem("reference", fo=str(out), asynchronous=True)
    arr = zarr.open_array(store=FsspecStore(afs, read_only=True, path=""), path="x", mode="r",
                          zarr_format=2)
    assert arr[...].tolist() == list(range(100))
