"""The demo tells one answer per sample: what `recommend` chose is measured in the same sweep,
under the label ``recommended``, and the report's cards show it measured beside the grid."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from layoutbench.cli import main
from layoutbench.results import read_results
from layoutbench.write.apply_plan import layouts_from_recommendation


def test_demo_measures_what_it_recommends(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    # no latency and 20 MB/s: bytes decide, so whole-frame chunks of the 40-frame movie lose
    args = ["-q", "demo", "-o", str(out), "--latency-ms", "0", "--bandwidth-mbps", "20",
            "--grid", "quick", "--ophys-shape", "40x256x256", "--ecephys-shape", "30000x4",
            "--small-shape", "12x64x64", "--repeats", "1"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    names = ["ophys-40x256x256", "ecephys-30000x4", "ophys-small"]
    rewritten = []
    for name in names:
        rec = json.loads((out / f"{name}.recommendation.json").read_text())
        rows = read_results(out / f"{name}.parquet")
        # the grid, from the file as written
        assert "neuroconv-default" in set(rows["layout"])
        if rec["datasets"][0].get("keep"):  # nothing to rewrite, so nothing more to measure
            assert "recommended" not in set(rows["layout"])
            continue
        rewritten.append(name)
        (_path, chosen), = layouts_from_recommendation(rec).items()
        mine = rows[rows["layout"] == "recommended"]
        # the recommended layout was measured, with the reader it was recommended for, on
        # every pattern of the workload
        reader = rec["datasets"][0]["recommended"]["reader"]
        assert reader in set(mine["reader"])
        assert set(mine["pattern"]) == {p["name"] for p in rec["datasets"][0]["patterns"]}
        assert (mine.groupby(["pattern", "reader"]).size() == 1).all()
        assert {tuple(json.loads(s)["chunks"]) for s in mine["layout_json"]} == {chosen.chunks}
    assert "ophys-40x256x256" in rewritten
    # every sample's recommendation is printed with its verdict, and the report has its card
    assert result.output.count("verdict for one read of the workload") == len(names)
    # and what each sweep spent beside its timed reads, and the demo's whole time
    assert all(f"sweep of {n}: " in result.output for n in names)
    assert "x the timed reads" in result.output and "demo: 3 samples in " in result.output
    html = (out / "report" / "index.html").read_text()
    assert html.count('class="card') >= len(names) and "recommended" in html
