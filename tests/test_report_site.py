"""``layoutbench report``: the site it writes (without a browser) and its one-line errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from report_data import recommendation, results_frame, write_inputs

from layoutbench.cli import main
from layoutbench.reporting.asv_offline import external_urls
from layoutbench.reporting.site import build_site


def test_site_holds_one_figure_per_question(tmp_path: Path) -> None:
    site = build_site(results_frame(), [recommendation()], tmp_path / "site")
    # 2 profiles x 2 patterns, 3 figures each, the recommendation's workload (same-region
    # only: the profile it was made for) and one predicted-vs-measured figure
    assert (site.groups, site.figures, site.cards) == (4, 14, 1)
    html = site.index.read_text()
    assert len(re.findall(r'class="plotly-graph-div"', html)) == 14
    # the workload's chart comes first in its dataset's section
    section = html[html.index("the recommendation's workload"):]
    assert section.index("workload-bars") < section.index("<h3")
    assert external_urls(html) == []  # plotly from assets/, relatively
    assert '<script src="assets/plotly.min.js"></script>' in html
    assert (tmp_path / "site" / "assets" / "plotly.min.js").stat().st_size > 1_000_000
    assert list(site.rho.values()) == [pytest.approx(1.0)]
    assert "Spearman ρ = 1.00 over 9 cases (3 from recommend --measure, 6 from sweep)" in html
    # the card: the neuroconv configuration (valid JSON, keyed by location) and speedups
    pre = re.search(r'<pre id="[^"]*-neuroconv">(.*?)</pre>', html, re.S)
    assert pre is not None
    config = json.loads(pre.group(1).replace("&quot;", '"'))
    assert pre.group(1).count("\n") >= len(next(iter(config.values()))) + 2  # a field a line
    assert config["acquisition/TwoPhotonSeries/data"]["chunk_shape"] == [1000, 32, 32]
    assert "×8.0</span> predicted speedup" in html and "measured <b>×12.0</b>" in html
    # measured seconds beside the predicted ones, in a column that says which is which
    assert "<th>predicted seconds</th><th>measured seconds</th>" in html
    cells = re.findall(r'<td class="t">(current|recommended)</td>.*?</td>.*?</td><td>([\d.]+)'
                       r'</td><td>([\d.]+)</td>', html, re.S)
    measured = {role: float(got) for role, _, got in cells}
    assert measured["current"] / measured["recommended"] == pytest.approx(12.0, rel=0.01)
    # the table, its CSVs and the run's facts
    summary = pd.read_csv(tmp_path / "site" / "summary.csv")
    assert len(summary) == site.rows == 28
    assert html.count("<tr") - html.count("<tr><th") >= 28
    assert len(pd.read_csv(tmp_path / "site" / "results.csv")) == len(results_frame())
    assert "Linux x86_64, 2 CPUs" in html and "h5py 3.16.0" in html
    assert "cross-region: 80 ms, 40 MB/s per connection" in html


def test_without_recommendations_no_card_and_no_prediction(tmp_path: Path) -> None:
    site = build_site(results_frame(), [], tmp_path / "site")
    assert (site.figures, site.cards) == (12, 0)
    assert 'id="recommendations"' not in site.index.read_text()


def test_cli_writes_the_site_and_says_where(tmp_path: Path) -> None:
    results, rec = write_inputs(tmp_path)
    got = CliRunner().invoke(main, ["-q", "report", str(results), "--recommendation", str(rec),
                                    "-o", str(tmp_path / "site"), "--format", "json"])
    assert got.exit_code == 0, got.output
    out = json.loads(got.stdout)
    assert out["figures"] == 14 and out["cards"] == 1
    assert Path(out["index"]).is_file()
    again = ["-q", "report", str(results), "-o", str(tmp_path / "site")]
    refused = CliRunner().invoke(main, again)  # the site is there: not replaced unasked
    assert refused.exit_code == 2 and "already exists (use --overwrite" in refused.stderr
    text = CliRunner().invoke(main, [*again, "--overwrite"])
    assert text.exit_code == 0 and "file://" in text.stdout


@pytest.mark.parametrize("case", ["missing", "suffix", "not-results", "rec-missing",
                                  "rec-not-json", "rec-not-a-recommendation", "rec-suffix",
                                  "output-is-input", "output-is-file"])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, case: str) -> None:
    results, rec = write_inputs(tmp_path)
    site = tmp_path / "site"
    args = [str(results), "-o", str(site)]
    if case == "missing":
        args[0] = str(tmp_path / "nope.parquet")
    elif case == "suffix":
        args[0] = str(tmp_path / "movie.nwb")
    elif case == "not-results":
        pd.DataFrame({"a": [1]}).to_csv(tmp_path / "other.csv", index=False)
        args[0] = str(tmp_path / "other.csv")
    elif case == "rec-missing":
        args += ["--recommendation", str(tmp_path / "nope.json")]
    elif case == "rec-not-json":
        (tmp_path / "bad.json").write_text("{")
        args += ["--recommendation", str(tmp_path / "bad.json")]
    elif case == "rec-not-a-recommendation":
        (tmp_path / "other.json").write_text(json.dumps({"file": "x", "profile": "p",
                                                         "datasets": [{"path": "/d"}]}))
        args += ["--recommendation", str(tmp_path / "other.json")]
    elif case == "rec-suffix":
        args += ["--recommendation", str(results)]
    elif case == "output-is-input":  # the site's results.csv would replace the input
        site.mkdir()
        results_frame().to_csv(site / "results.csv", index=False)
        args = [str(site / "results.csv"), "-o", str(site)]
    elif case == "output-is-file":
        args[-1] = str(rec)
    got = CliRunner().invoke(main, ["report", *args])
    assert got.exit_code == 2, got.output
    lines = got.stderr.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0], got.stderr
    assert not (site / "index.html").exists()


def test_a_measure_table_compares_with_the_file_as_it_is(tmp_path: Path) -> None:
    from report_data import row

    from layoutbench.plan.layout import Layout

    as_is = Layout("hdf5", (76, 64, 64), "gzip", 4, label="as-is")
    paged = Layout("hdf5", (76, 64, 64), "gzip", 4, page_size=4 << 20, label="paged-4m")
    rows = [row(layout, reader, "open", seconds=s, requests=n, sent=n * 65536, chunks=0,
                stored=84_000_000, source="https://host/movie.nwb", profile="loopback")
            for layout, s, n in ((as_is, 1.2, 40), (paged, 0.3, 3))
            for reader in ("h5py-remfile", "pynwb-remfile")]
    site = build_site(pd.DataFrame(rows), [], tmp_path / "site")
    assert (site.groups, site.figures) == (1, 3)
    html = site.index.read_text()
    assert "downloading the file as it is once (84.0 MB)" in html  # loopback: no seconds
    summary = pd.read_csv(tmp_path / "site" / "summary.csv")
    assert summary.loc[summary["layout"] == "paged-4m", "speedup"].tolist() == [4.0, 4.0]


def test_failed_cases_are_not_drawn(tmp_path: Path) -> None:
    from report_data import WIDE, row

    from layoutbench.errors import UserError

    bad = row(WIDE, "h5py-fsspec", "ophys-patch", seconds=0.01, requests=3, sent=10,
              chunks=4, stored=68_000_000, error="ReadTimeoutError: read timed out")
    frame = pd.concat([results_frame(), pd.DataFrame([bad])], ignore_index=True)
    site = build_site(frame, [], tmp_path / "site")
    summary = pd.read_csv(tmp_path / "site" / "summary.csv")
    wide = summary[(summary["layout"] == WIDE.name) & (summary["reader"] == "h5py-fsspec")
                   & (summary["profile"] == "same-region") & (summary["pattern"] == "ophys-patch")]
    assert wide["seconds"].tolist() == [0.4]  # the failed 0.01 s is no median's part
    assert "1 failed cases" in site.index.read_text()
    assert len(pd.read_csv(tmp_path / "site" / "results.csv")) == len(frame)  # all kept
    with pytest.raises(UserError, match="no case to draw"):
        build_site(pd.DataFrame([bad]), [], tmp_path / "other")


def test_an_input_inside_the_report_folder_is_never_replaced(tmp_path: Path) -> None:
    """The folder is replaced whole: a results table kept inside it is refused, even with
    --overwrite, and stays as it was."""
    site = tmp_path / "site"
    site.mkdir()
    results = site / "mine.csv"
    results_frame().to_csv(results, index=False)
    before = results.read_bytes()
    got = CliRunner().invoke(main, ["-q", "report", str(results), "-o", str(site),
                                    "--overwrite"])
    assert got.exit_code == 2, got.output
    assert "lies in" in got.stderr and "replaced whole" in got.stderr
    assert results.read_bytes() == before and sorted(p.name for p in site.iterdir()) == [
        "mine.csv"]
