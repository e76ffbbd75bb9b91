"""The README's example outputs of `recommend` (the verdict where a rewrite pays and where
downloading the file wins, the `--reader any` note) and of the open sweep of a file of many
objects, made by
the commands the README names and kept in ``reports/readme_examples.md``, so every figure the
README quotes comes from a committed output:

    .venv/bin/python -m benchmarks.readme_examples
"""

from __future__ import annotations

import datetime as dt
import platform
import subprocess
import sys
import tempfile

from benchmarks._reports import ROOT, provenance
from layoutbench.run.measure import versions

REPORT = ROOT / "reports" / "readme_examples.md"
COMMANDS = [
    ["generate", "ophys", "a.nwb", "--size", "60MB"],
    ["recommend", "a.nwb", "--patterns", "ophys-patch"],
    ["recommend", "a.nwb", "--patterns", "ophys-patch", "--readers", "any"],
    # a file small enough that downloading it whole wins
    ["generate", "ophys", "small.nwb", "--size", "12MB"],
    ["recommend", "small.nwb", "--patterns", "ophys-patch", "--min-mb", "1"],
    # opening a file of many objects: as it is and paged, by the readers that open whole files
    ["generate", "many-series", "many.nwb"],
    ["sweep", "many.nwb", "--patterns", "open", "-o", "open.csv"],
]


def main() -> None:
    v = versions()
    lines = ["# Example outputs quoted in the README", "", provenance(), "",
             f"`python -m benchmarks.readme_examples`, {dt.date.today():%Y-%m-%d}, "
             f"{platform.machine()}, layoutbench {v.get('layoutbench')}, h5py {v.get('h5py')}, "
             f"zarr {v.get('zarr')}, numcodecs {v.get('numcodecs')}.", ""]
    with tempfile.TemporaryDirectory() as tmp:
        for args in COMMANDS:
            done = subprocess.run([sys.executable, "-m", "layoutbench", "-q", *args], cwd=tmp,
                                  capture_output=True, text=True, check=True)
            lines += [f"`layoutbench {' '.join(args)}`", "", "```", done.stdout.rstrip(), "```",
                      ""]
    REPORT.write_text("\n".join(lines))
    print(REPORT.read_text())


if __name__ == "__main__":
    main()
