"""CLI: user mistakes give one line on stderr naming the input, a non-zero exit, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "layoutbench", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cli")
    text = d / "notes.nwb"
    text.write_text("this is not HDF5\n")
    h5 = d / "small.h5"
    with h5py.File(h5, "w") as f:
        f.create_dataset("/acquisition/X/data", data=np.arange(6000, dtype=np.int16).reshape(
            3000, 2), chunks=(1000, 2))
        f.create_dataset("/labels", data=np.array([b"a", b"b"]))
    return {"text": text, "h5": h5, "dir": d}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # a missing file is named, with the problem
        (["sweep", "{dir}/missing.nwb", "-o", "{dir}/r.csv"], "missing.nwb: no such file"),
        # a file that is not HDF5
        (["sweep", "{text}", "-o", "{dir}/r.csv"], "notes.nwb: not an HDF5/NWB file"),
        # a dataset path that does not exist
        (["sweep", "{h5}", "--dataset", "/acquisition/Y/data", "-o", "{dir}/r.csv"],
         "dataset '/acquisition/Y/data' does not exist"),
        # a group given as dataset
        (["sweep", "{h5}", "--dataset", "/acquisition", "-o", "{dir}/r.csv"], "is a group"),
        # a non-numeric dataset
        (["sweep", "{h5}", "--dataset", "/labels", "-o", "{dir}/r.csv"], "not a numeric"),
        # an unknown pattern lists the valid ones
        (["sweep", "{h5}", "--patterns", "ecephys-windw", "-o", "{dir}/r.csv"],
         "unknown pattern 'ecephys-windw' (valid: ophys-patch"),
        # an unknown key
        (["sweep", "{h5}", "--patterns", "ecephys-window:secs=2", "-o", "{dir}/r.csv"],
         "valid keys: seconds, start"),
        # a pattern for the wrong kind of data
        (["sweep", "{h5}", "--patterns", "ophys-patch", "-o", "{dir}/r.csv"],
         "pattern ophys-patch is for ophys data"),
        # a results file of unknown type
        (["sweep", "{h5}", "-o", "{dir}/r.xlsx"], "r.xlsx: results must end in .parquet or .csv"),
        # an unknown network profile
        (["sweep", "{h5}", "--profile", "moon", "-o", "{dir}/r.csv"], "moon"),
        # a bad size
        (["generate", "ophys", "{dir}/o.nwb", "--size", "lots"], "--size"),
        # a generator argument the kind does not take
        (["generate", "many-series", "{dir}/m.nwb", "--size", "3MB"], "m.nwb: many-series has"),
        (["generate", "ophys", "{dir}/o.nwb", "--seed", "-1"], "o.nwb:"),
        (["layouts", "{dir}/missing.nwb"], "missing.nwb: no such file"),
    ],
)
def test_user_errors_are_one_line(files: dict[str, Path], args: list[str], expected: str) -> None:
    proc = run(*[a.format(**files) for a in args])
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert expected in lines[0]


def test_patterns_and_layouts_listing(files: dict[str, Path]) -> None:
    proc = run("patterns")
    assert proc.returncode == 0 and "ophys-patch (ophys)" in proc.stdout
    proc = run("layouts", str(files["h5"]), "--format", "json")
    assert proc.returncode == 0 and '"name": "neuroconv-default"' in proc.stdout


@pytest.mark.parametrize("args", [
    ["patterns"],              # the access patterns and their parameters
    ["layouts", "{h5}"],       # the grid a sweep would compare
])
def test_listings_as_json(files: dict[str, Path], args: list[str]) -> None:
    proc = run(*[a.format(**files) for a in args], "--format", "json")
    assert proc.returncode == 0, proc.stderr
    items = json.loads(proc.stdout)
    assert isinstance(items, list) and items and all("name" in i for i in items)


def test_serve_prints_its_endpoint_as_json(files: dict[str, Path]) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "layoutbench", "-q", "serve", "--upload",
                             str(files["h5"]), "--format", "json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = []
        while not lines or lines[-1] != "}\n":  # one indented JSON object
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            lines.append(line)
        info = json.loads("".join(lines))
        assert info["endpoint_url"].startswith("http://127.0.0.1:")
        url = info["uploads"][str(files["h5"])]["http_url"]
        import urllib.request

        with urllib.request.urlopen(url) as resp:  # served through the gateway
            assert resp.read() == files["h5"].read_bytes()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_progress_is_info_and_quiet_silences_it(files: dict[str, Path]) -> None:
    out = files["dir"] / "q.nwb"
    proc = run("generate", "ecephys", str(out), "--size", "2MB")
    assert proc.returncode == 0
    assert "layoutbench: wrote" in proc.stderr and "WARNING" not in proc.stderr
    out.unlink()
    proc = run("-q", "generate", "ecephys", str(out), "--size", "2MB")
    assert proc.returncode == 0 and proc.stderr == ""


@pytest.mark.parametrize("verbose, logger, level, message, exc, shown", [
    # layoutbench's own progress: one terse line
    (0, "layoutbench.run.sweep", 20, "3 of 8 cases measured", None,
     "layoutbench: 3 of 8 cases measured"),
    # another library's info (dask's scheduler sets its own logger to INFO): hidden...
    (0, "distributed.scheduler", 20, "Register worker", None, None),
    # ...unless -vv asks for other libraries' chatter
    (2, "distributed.scheduler", 20, "Register worker", None, "Register worker"),
    # another library's warning says whose it is
    (0, "distributed.worker", 30, "Heartbeat failed", None,
     "layoutbench: warning: distributed.worker: Heartbeat failed"),
    # a traceback-only record is its exception, in one line
    (0, "distributed.core", 40, "", ValueError("boom"),
     "layoutbench: error: distributed.core: ValueError: boom"),
    # nothing to say: no line at all (not "layoutbench: error: ")
    (0, "distributed.core", 40, "", None, None),
])
def test_log_lines(capsys: pytest.CaptureFixture[str], verbose: int, logger: str, level: int,
                   message: str, exc: Exception | None, shown: str | None) -> None:
    import logging

    from layoutbench.cli.app import configure_logging

    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("layoutbench").level)
    try:
        configure_logging(verbose, quiet=False)
        exc_info = (type(exc), exc, None) if exc is not None else None
        record = logging.getLogger(logger).makeRecord(logger, level, __file__, 1, message, (),
                                                      exc_info)
        logging.getLogger(logger).handle(record)
        err = capsys.readouterr().err
    finally:
        root.handlers[:], _, _ = saved
        root.setLevel(saved[1])
        logging.getLogger("layoutbench").setLevel(saved[2])
    if shown is None:
        assert err == ""
    else:
        assert err.splitlines() and shown in err.splitlines()[0]
