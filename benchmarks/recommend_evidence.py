"""The recommendation measured against the file as written and the best of the grid, on many
positions, side by side in one sweep.

Two movies of the demo's shape (1000x256x256 uint16): as neuroconv writes them (10 MB gzip
chunks of whole frames) and as pynwb writes them by default (contiguous). For each, ``recommend``
chooses a layout for a 32x32 patch over 250 frames (its expected cost over positions); then one
sweep under ``same-region`` measures, with the default reader (h5py-fsspec), the file's own
layout, the recommendation and every layout of the default grid on 30 patch positions
(``offsets=30``: many more than the recommender's view, and not its lattice) and reports each
beside the model's prediction for those same positions. Writes ``reports/recommend_evidence.md``
(and ``.csv``):

    .venv/bin/python -m benchmarks.recommend_evidence [--repeats 1]

About 30 minutes on the 2-core machine, most of it the contiguous and one-frame layouts, which
read a patch one frame (one request) at a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
from pathlib import Path

import pandas as pd

import layoutbench as lb
from benchmarks._reports import ROOT, write_report
from layoutbench.cache import cache_dir
from layoutbench.plan.layout import Layout, default_grid
from layoutbench.plan.model import CostConstants, shipped_constants
from layoutbench.plan.patterns import parse_spec
from layoutbench.plan.search import CodecFigures, score
from layoutbench.read.inspect import dataset_info
from layoutbench.read.sampling import sample_codecs, sample_key
from layoutbench.recommender.dataset import _workload
from layoutbench.synthetic import DATASET_PATHS, generate_ophys

REPORT = ROOT / "reports" / "recommend_evidence.md"
RECOMMEND = "ophys-patch:frames=250"
MEASURE = "ophys-patch:frames=250,offsets=30"
READER = "h5py-fsspec"
SHAPE = (1000, 256, 256)


def movie(name: str, contiguous: bool) -> Path:
    work = cache_dir("recommend-evidence")
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"{name}.nwb"
    if not path.exists():
        layout = Layout("hdf5", (1, 1, 1), "none", contiguous=True) if contiguous else None
        generate_ophys(path, shape=SHAPE, seed=0, layout=layout, progress=True)
    return path


def evidence(name: str, path: Path, profile: str, repeats: int) -> pd.DataFrame:
    info = dataset_info(path, DATASET_PATHS["ophys"])
    rec = lb.recommend(path, dataset=info.path, patterns=[RECOMMEND], profile=profile)
    d = rec.datasets[0]
    current = d.current.layout
    as_written = (Layout("hdf5", info.shape, "none", contiguous=True, label="as-written")
                  if current.contiguous else
                  Layout(current.format, current.chunks, current.codec, current.level,
                         shuffle=current.shuffle, label="as-written"))
    grid = default_grid("ophys", info.shape, info.itemsize, "default")
    roles = {as_written.name: "as written", d.recommended.layout.name: "recommended"}
    layouts = list({lay.name: lay for lay in [as_written, d.recommended.layout, *grid]}.values())
    frame = lb.sweep(path, info.path, layouts=layouts, readers=[READER], patterns=[MEASURE],
                     profile=profile, repeats=repeats, progress=True)
    samples = sample_codecs(path, info.path, [lay for lay in layouts if not lay.contiguous])
    workload = _workload([parse_spec(MEASURE)], info, expected=False)
    rows = []
    for lay in layouts:
        mine = frame[frame["layout"] == lay.name]
        if mine.empty:
            continue
        if lay.contiguous:
            figures = CodecFigures(1.0, None)
        else:
            s = samples[sample_key(lay)]
            figures = CodecFigures(s.ratio, s.decode_mbps)
        predicted = score(lay, READER, info.shape, info.itemsize, workload, figures, rec.profile,
                          _constants()).seconds
        rows.append({"movie": name, "layout": lay.name, "role": roles.get(lay.name, "grid"),
                     "measured_s": float(mine["seconds"].median()), "predicted_s": predicted,
                     "requests": float(mine["requests"].median()),
                     "mb_sent": float(mine["bytes_transferred"].median()) / 1e6,
                     "stored_mb": float(mine["stored_bytes"].iloc[0]) / 1e6})
    return pd.DataFrame(rows)


def _constants() -> CostConstants:
    """The constants a recommendation on this machine uses: a calibration, else the shipped."""
    from layoutbench.recommender.calibration import load_constants

    return load_constants() or shipped_constants()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--profile", default="same-region")
    args = parser.parse_args()
    table = pd.concat([evidence("neuroconv", movie("neuroconv", False), args.profile,
                                args.repeats),
                       evidence("pynwb-contiguous", movie("pynwb", True), args.profile,
                                args.repeats)], ignore_index=True)
    lines = ["# The recommendation against the file as written and the grid", "",
             f"`benchmarks/recommend_evidence.py --repeats {args.repeats}` under "
             f"`{args.profile}`, {dt.date.today():%Y-%m-%d}, {platform.machine()}: recommended "
             f"for `{RECOMMEND}` (expected cost over positions), measured on `{MEASURE}` with "
             f"{READER}, every layout in one sweep per movie.", ""]
    for name, mine in table.groupby("movie", sort=False):
        mine = mine.sort_values("measured_s")
        written = float(mine[mine["role"] == "as written"]["measured_s"].iloc[0])
        best_grid = mine[mine["role"] == "grid"].iloc[0]
        recd = mine[mine["role"] == "recommended"].iloc[0]
        lines += [f"## {name}", "",
                  f"recommended `{recd['layout']}` {recd['measured_s']:.2f} s "
                  f"({written / recd['measured_s']:.1f}x faster than as written, "
                  f"{written:.2f} s); best grid layout `{best_grid['layout']}` "
                  f"{best_grid['measured_s']:.2f} s.", "",
                  "| layout | role | measured s | predicted s | requests | MB sent | stored MB |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for r in mine.to_dict("records"):
            lines.append(f"| `{r['layout']}` | {r['role']} | {r['measured_s']:.2f} | "
                         f"{r['predicted_s']:.2f} | {r['requests']:.0f} | {r['mb_sent']:.1f} | "
                         f"{r['stored_mb']:.1f} |")
        rho = mine["measured_s"].rank().corr(mine["predicted_s"].rank())
        lines += ["", f"Spearman's rho, predicted against measured over the {len(mine)} "
                  f"layouts: {rho:.2f}", ""]
    write_report(REPORT, lines, table)


if __name__ == "__main__":
    main()
