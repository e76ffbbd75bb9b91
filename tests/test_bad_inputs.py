"""The bad-input corpus: every user mistake is one line on stderr naming the input and the
problem, exit status 2, the inputs untouched (sha256) and nothing left behind."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from layoutbench.cli import main
from layoutbench.synthetic import generate_ecephys, generate_ophys

REC = {"datasets": [{"path": "/acquisition/TwoPhotonSeries/data", "shape": [60, 48, 40],
                     "recommended": {"format": "hdf5", "chunks": [60, 16, 16], "shards": None,
                                     "codec": "zstd", "level": 3, "shuffle": True}}]}


def _write(path: Path, obj: object) -> Path:
    path.write_text(json.dumps(obj))
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One folder of odd inputs (written once; the tests never modify them)."""
    d = tmp_path_factory.mktemp("bad")
    ophys = d / "ophys.nwb"
    generate_ophys(ophys, shape=(60, 48, 40), seed=1)
    ecephys = d / "ecephys.nwb"
    generate_ecephys(ecephys, shape=(30000, 8), seed=1)
    data = ophys.read_bytes()
    (d / "truncated.nwb").write_bytes(data[: len(data) // 2])
    (d / "notes.nwb").write_text("not HDF5\n" * 100)
    (d / "empty.nwb").write_bytes(b"")
    (d / "results.csv").write_bytes(data)  # an HDF5 file named like a results table
    (d / "folder.nwb").mkdir()
    # damaged copies: 32 bytes flipped in the superblock, the movie's object header, the
    # middle of its first compressed chunk
    with h5py.File(ophys) as f:
        movie = f["/acquisition/TwoPhotonSeries/data"]
        header = h5py.h5o.get_info(movie.id).addr
        chunk = movie.id.get_chunk_info(0)
    for name, offset in (("damaged-super", 40), ("damaged-header", header + 40),
                         ("damaged-chunk", chunk.byte_offset + chunk.size // 2)):
        damaged = bytearray(data)
        damaged[offset:offset + 32] = bytes(b ^ 0xFF for b in damaged[offset:offset + 32])
        (d / f"{name}.nwb").write_bytes(bytes(damaged))
    (d / "site").mkdir()  # a folder of the user's, with a page of theirs
    (d / "site" / "index.html").write_text("<p>my page</p>")
    os.symlink(ophys, d / "alias.nwb")
    os.link(ophys, d / "hardlink.nwb")
    with h5py.File(d / "odd.h5", "w") as f:
        f.create_dataset("zero", shape=(0, 64), dtype="i2", chunks=(16, 64), maxshape=(None, 64))
        f.create_dataset("labels", data=np.array([b"a", b"b"]))
        f.create_dataset("scalar", data=3.0)
        f["ext"] = h5py.ExternalLink("ecephys.nwb", "/acquisition/ElectricalSeries/data")
        f["dangling"] = h5py.SoftLink("/nowhere")
        # declared 10**7 x 1024 x 1024 (20 TB), one chunk written (0.5 MB)
        sparse = f.create_dataset("sparse", shape=(10**7, 1024, 1024), dtype="u2",
                                  chunks=(4, 256, 256))
        sparse[:4, :256, :256] = 7
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_chunk((100, 100))
        dcpl.set_filter(40000, h5py.h5z.FLAG_OPTIONAL)  # a filter no installation has
        d_id = h5py.h5d.create(f.id, b"plugin", h5py.h5t.STD_I16LE,
                               h5py.h5s.create_simple((400, 400)), dcpl)
        for i in range(4):
            for j in range(4):
                d_id.write_direct_chunk((i * 100, j * 100), np.zeros((100, 100), "i2").tobytes())
    g = d / "image0.nwb"
    with h5py.File(g, "w") as f:  # an NWB 2.1 ImageSeries whose data are external frames
        grp = f.create_group("acquisition/Images")
        grp.attrs["neurodata_type"] = "ImageSeries"
        grp.create_dataset("data", shape=(0, 0, 0), dtype="u2", maxshape=(None,) * 3,
                           chunks=(1, 1, 1))
    _write(d / "rec.json", REC)
    _write(d / "rec-other-shape.json", {**REC, "datasets": [{**REC["datasets"][0],
                                                               "shape": [600, 480, 400]}]})
    _write(d / "rec-other-dtype.json", {**REC, "datasets": [{**REC["datasets"][0],
                                                               "dtype": "float32"}]})
    _write(d / "rec-odd-dtype.json", {**REC, "datasets": [{**REC["datasets"][0],
                                                             "dtype": "pixels"}]})
    bad_chunks = json.loads(json.dumps(REC))
    bad_chunks["datasets"][0]["recommended"]["chunks"] = [10.5, 16, 16]
    _write(d / "rec-fraction.json", bad_chunks)
    zarr_rec = json.loads(json.dumps(REC))
    zarr_rec["datasets"][0]["recommended"].update(format="zarr", codec="blosc-zstd", level=5)
    _write(d / "rec-zarr.json", zarr_rec)
    missing_key = json.loads(json.dumps(REC))
    del missing_key["datasets"][0]["recommended"]["codec"]
    _write(d / "rec-no-codec.json", missing_key)
    for name, key, value in (("yes", "shuffle", "yes"), ("huge", "chunks", [60, 16, 1e9]),
                             ("wide", "chunks", [60, 100, 16]), ("level", "level", "3"),
                             ("null", "chunks", None)):
        odd = json.loads(json.dumps(REC))
        odd["datasets"][0]["recommended"][key] = value
        _write(d / f"rec-{name}.json", odd)
    (d / "rec-broken.json").write_text("{not json")
    _write(d / "rec-none.json", {"datasets": []})
    _write(d / "rec-list.json", [1, 2, 3])
    return {k: v for k, v in {"dir": d, "ophys": ophys, "ecephys": ecephys}.items()}


def _sha(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in folder.iterdir() if p.is_file()}


OPH = "{dir}/ophys.nwb"
E = "{dir}/ecephys.nwb"
ODD = "{dir}/odd.h5"
OUT = "{out}"
CASES = [
    # -- recommendations with values of the wrong type or size: refused, never converted ----------
    (["apply", OPH, "--recommendation", "{dir}/rec-yes.json", "-o", OUT + "/a.nwb"],
     "'shuffle' must be true or false, got \"yes\""),
    (["apply", OPH, "--recommendation", "{dir}/rec-huge.json", "-o", OUT + "/a.nwb"],
     "'chunks' must be a list of whole numbers >= 1, got [60, 16, 1000000000.0]"),
    (["apply", OPH, "--recommendation", "{dir}/rec-wide.json", "-o", OUT + "/a.nwb"],
     "chunks (60, 100, 16) are longer than the dataset (shape (60, 48, 40)) along axis 1"),
    (["apply", OPH, "--recommendation", "{dir}/rec-level.json", "-o", OUT + "/a.nwb"],
     "'level' must be a whole number or null, got \"3\""),
    (["apply", OPH, "--recommendation", "{dir}/rec-null.json", "-o", OUT + "/a.nwb"],
     "'chunks' must be a list of whole numbers >= 1, got null"),
    # -- damaged files: HDF5's own failures become one line naming the file -----------------------
    (["recommend", "{dir}/damaged-super.nwb"], "damaged-super.nwb: damaged HDF5 file (its super"),
    (["sweep", "{dir}/damaged-super.nwb", "-o", OUT + "/r.csv"], "damaged HDF5 file (its super"),
    (["recommend", "{dir}/damaged-header.nwb", "--min-mb", "0"],
     "damaged-header.nwb: damaged HDF5 file, its metadata or data cannot be read"),
    (["refs", "build", "{dir}/damaged-header.nwb"], "damaged-header.nwb: damaged HDF5 file"),
    (["apply", "{dir}/damaged-header.nwb", "--recommendation", "{dir}/rec.json", "-o",
      OUT + "/a.nwb"], "damaged-header.nwb: damaged HDF5 file"),
    # (found while working: -q keeps the progress lines before it off stderr)
    (["-q", "recommend", "{dir}/damaged-chunk.nwb", "--min-mb", "0"],
     "damaged-chunk.nwb: damaged HDF5 file, its metadata or data cannot be read"),
    (["-q", "sweep", "{dir}/damaged-chunk.nwb", "-o", OUT + "/r.csv", "--grid", "quick",
      "--readers",
      "h5py-fsspec"], "damaged-chunk.nwb: damaged HDF5 file"),
    # -- outputs: an existing file is never replaced without --overwrite; an output that cannot
    # -- be written is refused before any work ----------------------------------------------------
    (["recommend", OPH, "-o", "{dir}/rec.json"], "rec.json: already exists (use --overwrite"),
    (["calibrate", "{dir}/rec.json", "-o", "{dir}/rec-none.json"],
     "rec-none.json: already exists (use --overwrite"),
    (["sweep", OPH, "-o", "{dir}/results.csv"], "results.csv: already exists (use --overwrite"),
    (["measure", OPH, "-o", "{dir}/results.csv"], "results.csv: already exists (use --overwrite"),
    (["refs", "build", OPH, "-o", "{dir}/rec.json"], "rec.json: already exists (use --overwrite"),
    (["report", "{dir}/results.csv", "-o", "{dir}/site"], "site: already exists (use --overwrite"),
    (["recommend", OPH, "-o", "/proc/rec.json"], "/proc/rec.json: cannot write in /proc"),
    (["sweep", OPH, "-o", "/proc/r.csv"], "/proc/r.csv: cannot write in /proc"),
    (["measure", OPH, "-o", "/sys/r.csv"], "/sys/r.csv: cannot write in /sys"),
    (["generate", "ophys", "/sys/g.nwb"], "/sys/g.nwb: cannot write in /sys"),  # not "0.0 GB"
    # -- files that are not what they claim ------------------------------------------------------
    (["recommend", "{dir}/missing.nwb"], "missing.nwb: no such file"),
    (["sweep", "{dir}/missing.nwb", "-o", OUT + "/r.csv"], "missing.nwb: no such file"),
    (["measure", "{dir}/missing.nwb", "-o", OUT + "/r.csv"], "missing.nwb: no such file"),
    (["apply", "{dir}/missing.nwb", "--recommendation", "{dir}/rec.json", "-o", OUT + "/a.nwb"],
     "missing.nwb: no such file"),
    (["layouts", "{dir}/missing.nwb"], "missing.nwb: no such file"),
    (["refs", "build", "{dir}/missing.nwb"], "missing.nwb: no such file"),
    (["recommend", "{dir}/notes.nwb"], "notes.nwb: not an HDF5/NWB file"),  # text
    (["sweep", "{dir}/empty.nwb", "-o", OUT + "/r.csv"], "empty.nwb: not an HDF5/NWB file"),
    (["recommend", "{dir}/folder.nwb"], "folder.nwb: is a directory"),
    # a truncated download: recommend, apply and sweep say so instead of HDF5's stack
    (["recommend", "{dir}/truncated.nwb"], "truncated.nwb: truncated HDF5 file"),
    (["apply", "{dir}/truncated.nwb", "--recommendation", "{dir}/rec.json", "-o",
      OUT + "/a.nwb"], "truncated.nwb: truncated HDF5 file"),
    (["sweep", "{dir}/truncated.nwb", "-o", OUT + "/r.csv"], "truncated.nwb: truncated HDF5"),
    (["refs", "build", "{dir}/truncated.nwb"], "truncated.nwb: truncated HDF5 file"),
    # -- datasets no layout search applies to ------------------------------------------------------
    (["sweep", ODD, "--dataset", "/zero", "-o", OUT + "/r.csv"], "'/zero' is empty"),
    (["recommend", ODD, "--dataset", "/zero"], "'/zero' is empty"),
    (["recommend", ODD, "--dataset", "/labels"], "'/labels' is not a numeric N-d array"),
    (["sweep", ODD, "--dataset", "/scalar", "-o", OUT + "/r.csv"], "not a numeric N-d array"),
    (["recommend", ODD, "--dataset", "/ext"], "'/ext' is an external link to ecephys.nwb"),
    (["sweep", ODD, "--dataset", "/ext", "-o", OUT + "/r.csv"], "is an external link"),
    (["recommend", ODD, "--dataset", "/dangling"], "'/dangling' does not exist"),
    (["recommend", ODD, "--dataset", "/sparse"], "sparse: 1 of its 40,000,000 chunks are"),
    (["sweep", ODD, "--dataset", "/sparse", "-o", OUT + "/r.csv"], "sparse: 1 of its"),
    (["recommend", ODD, "--dataset", "/plugin"], "filter 40000, which is not installed"),
    (["sweep", ODD, "--dataset", "/plugin", "-o", OUT + "/r.csv"], "filter 40000"),
    (["apply", ODD, "--recommendation", "{dir}/rec-none.json", "-o", OUT + "/a.nwb"],
     "/plugin is compressed with HDF5 filter 40000"),  # its copy could not be verified
    # an NWB 2.1 ImageSeries of shape (0, 0, 0): no ZeroDivisionError
    (["sweep", "{dir}/image0.nwb", "-o", OUT + "/r.csv"], "(0, 0, 0)): there is nothing"),
    (["recommend", OPH, "--dataset", "/nothing/here"], "'/nothing/here' does not exist"),
    # -- patterns ---------------------------------------------------------------------------------
    (["recommend", OPH, "--pattern", "ophys-frames:frames=-5"], "frames must be >= 1, got -5"),
    (["recommend", OPH, "--pattern", "ophys-patch:offsets=0"], "offsets must be >= 1, got 0"),
    (["sweep", OPH, "--patterns", "ophys-patch:frames=5000", "-o", OUT + "/r.csv"],
     "frames=5000 does not fit this array (shape 60x48x40: at most 60)"),
    (["recommend", OPH, "--min-mb", "0", "--pattern", "ophys-patch:patch=64x64"],
     "patch=64x64 does not fit"),
    (["recommend", E, "--pattern", "ecephys-channel-filter:low=600,high=300"],
     "high (300 Hz) must be above low"),
    (["sweep", E, "--patterns", "ecephys-window:seconds=0", "-o", OUT + "/r.csv"],
     "seconds must be > 0"),
    (["recommend", OPH, "--pattern", "ophys-patch@-1"], "weight must be a positive number"),
    (["recommend", OPH, "--pattern", "ophys-patch:patch=4"], "is not a valid AxB"),
    (["sweep", OPH, "--patterns", "ecephys-window", "-o", OUT + "/r.csv"],
     "pattern ecephys-window is for ecephys data"),
    # -- recommendations that do not fit the file ------------------------------------------------
    (["apply", OPH, "--recommendation", "{dir}/rec-other-shape.json", "-o", OUT + "/a.nwb"],
     "recommendation was made for shape (600, 480, 400)"),
    # made for another element type: its compression was predicted for that type
    (["apply", OPH, "--recommendation", "{dir}/rec-other-dtype.json", "-o", OUT + "/a.nwb"],
     "holds uint16, but the recommendation was made for float32"),
    (["apply", OPH, "--recommendation", "{dir}/rec-odd-dtype.json", "-o", OUT + "/a.nwb.zarr"],
     "holds uint16, but the recommendation was made for pixels"),  # the NWB-Zarr writer too
    (["apply", OPH, "--recommendation", "{dir}/rec-fraction.json", "-o", OUT + "/a.nwb"],
     "'chunks' must be a list of whole numbers >= 1, got [10.5, 16, 16]"),
    # a Zarr recommendation is written as an NWB-Zarr folder, which must be named so
    (["apply", OPH, "--recommendation", "{dir}/rec-zarr.json", "-o", OUT + "/a.nwb"],
     "a.nwb: the recommendation is Zarr, which apply writes as an NWB-Zarr folder; name it"),
    (["apply", OPH, "--recommendation", "{dir}/rec-no-codec.json", "-o", OUT + "/a.nwb"],
     "'recommended' lacks codec"),
    (["apply", OPH, "--recommendation", "{dir}/rec-broken.json", "-o", OUT + "/a.nwb"],
     "rec-broken.json: not valid JSON"),
    (["apply", OPH, "--recommendation", "{dir}/rec-list.json", "-o", OUT + "/a.nwb"],
     "rec-list.json: not a recommendation"),
    (["apply", OPH, "--recommendation", "{dir}/nothing.json", "-o", OUT + "/a.nwb"],
     "nothing.json"),
    (["sweep", E, "--recommendation", "{dir}/rec.json", "-o", OUT + "/r.csv"],
     "has no recommendation for /acquisition/ElectricalSeries/data"),
    # -- outputs that would replace an input -----------------------------------------------------
    (["refs", "build", OPH, "-o", OPH], "is an input of this command"),
    (["recommend", OPH, "--format", "json", "-o", OPH], "is an input of this command"),
    (["recommend", OPH, "-o", "{dir}/alias.nwb"], "is an input of this command"),  # symlink
    (["recommend", OPH, "-o", "{dir}/hardlink.nwb"], "is an input of this command"),  # hard link
    (["sweep", "{dir}/results.csv", "-o", "{dir}/results.csv"], "is an input of this command"),
    (["measure", "{dir}/results.csv", "-o", "{dir}/results.csv"], "is an input"),
    (["apply", OPH, "--recommendation", "{dir}/rec.json", "-o", OPH], "is an input"),
    (["apply", OPH, "--recommendation", "{dir}/rec.json", "-o", "{dir}/rec.json"], "is an input"),
    (["generate", "ophys", OPH], "ophys.nwb: already exists (use --overwrite"),
    (["calibrate", "{dir}/results.csv", "-o", "{dir}/results.csv"], "is an input"),
    # -- options ----------------------------------------------------------------------------------
    (["generate", "ophys", OUT + "/g.nwb", "--size", "lots"], "--size: invalid size 'lots'"),
    (["generate", "volume", OUT + "/g.nwb", "--size", "10TB"], "GB are available"),
    (["generate", "ophys", OUT + "/nofolder/g.nwb"], "folder"),
    (["sweep", OPH, "--profile", "moon", "-o", OUT + "/r.csv"], "unknown network profile 'moon'"),
    (["sweep", OPH, "-o", OUT + "/r.xlsx"], "r.xlsx: results must end in .parquet or .csv"),
    (["sweep", OPH, "--repeats", "0", "-o", OUT + "/r.csv"], "--repeats"),
    (["sweep", OPH, "--readers", "h5pyy", "-o", OUT + "/r.csv"], "unknown reader 'h5pyy'"),
    (["recommend", OPH, "--storage", "tiff"], "--storage"),
    (["recommend", OPH, "--format", "zarr"], "use --storage zarr"),
    (["measure", "ftp2://host/x.nwb", "-o", OUT + "/r.csv"], "unknown URL scheme 'ftp2'"),
    (["recommend", "s3://just-a-bucket"], "expected s3://BUCKET/KEY"),
    (["recommend", "http://127.0.0.1:9/x.nwb"], "cannot connect"),
    (["refs", "build", "s3://bucket/key.nwb", "--endpoint-url", "http://127.0.0.1:9"],
     "s3://bucket/key.nwb"),
    (["nonsense"], "No such command 'nonsense'"),
]


@pytest.fixture
def out(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "out"
    folder.mkdir()
    yield folder


@pytest.mark.parametrize(("args", "expected"), CASES)
def test_bad_input_is_one_line(files: dict[str, Path], out: Path, args: list[str],
                               expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAYOUTBENCH_CACHE", str(out.parent / "cache"))
    before = _sha(files["dir"])
    argv = [a.format(dir=files["dir"], out=out) for a in args]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert expected in lines[0] and "Traceback" not in result.stderr
    assert _sha(files["dir"]) == before  # no input modified or replaced
    assert list(out.iterdir()) == []  # nothing written, nothing left behind


def test_the_corpus_is_big_enough() -> None:
    assert len(CASES) >= 40


def test_a_file_locked_by_a_writer(files: dict[str, Path], tmp_path: Path) -> None:
    """h5py's BlockingIOError becomes one line (the writer is another process)."""
    path = tmp_path / "busy.nwb"
    path.write_bytes(files["ophys"].read_bytes())
    writer = subprocess.Popen([sys.executable, "-c", "import h5py, sys, time; "
                               f"f = h5py.File({str(path)!r}, 'a'); print('open', flush=True); "
                               "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "open"
        result = CliRunner().invoke(main, ["recommend", str(path)])
        assert result.exit_code == 2, result.stderr
        (line,) = [ln for ln in result.stderr.splitlines() if ln.strip()]
        assert "busy.nwb: locked by another process" in line
    finally:
        writer.kill()
        writer.wait()


def test_overwrite_replaces_an_output_and_only_then(files: dict[str, Path],
                                                    tmp_path: Path) -> None:
    out = tmp_path / "rec.json"
    out.write_text("my notes")
    args = ["recommend", str(files["ophys"]), "--min-mb", "0", "-o", str(out)]
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 2 and out.read_text() == "my notes"
    replaced = CliRunner().invoke(main, [*args, "--overwrite"])
    assert replaced.exit_code == 0, replaced.stderr
    assert json.loads(out.read_text())["datasets"]
