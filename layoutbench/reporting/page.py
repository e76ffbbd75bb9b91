"""HTML pieces of the report that are not plots: the page frame, recommendation cards, the
sortable table and the run information. Plain strings, every value escaped, no template
engine: the page must open from ``file://`` with nothing but ``assets/`` beside it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

import pandas as pd

from layoutbench.plan.verdict import describe as describe_verdict

CSS = """
body{font-family:Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f3b57;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px;font-size:24px}header p{margin:2px 0;color:#d6e2ee;font-size:14px}
nav{padding:8px 28px;background:#e8eef4;font-size:14px;position:sticky;top:0;z-index:10}
nav a{margin-right:16px;color:#1f3b57}
main{padding:8px 28px 40px}section{margin-bottom:28px}
h2{border-bottom:2px solid #1f3b57;padding-bottom:4px;margin-top:28px}
h3{margin:18px 0 6px}.note{color:#555;font-size:13px;max-width:1100px}
.plot{background:#fff;border:1px solid #ddd;border-radius:6px;margin:10px 0;padding:4px}
.cards{display:flex;flex-wrap:wrap;gap:16px}
.card{background:#fff;border:1px solid #ccd;border-radius:8px;padding:12px 16px;
 flex:1 1 560px;min-width:0;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.card td,.card th{white-space:normal}.card small{color:#555}
.card h3{margin-top:0}.card .big{font-size:22px;font-weight:bold;color:#1a7f37}
table{border-collapse:collapse;font-size:13px;background:#fff}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:right;white-space:nowrap}
th{background:#eef2f6;position:sticky;top:0}td.t,th.t{text-align:left}
table.sortable th{cursor:pointer}table.sortable th:after{content:" \\2195";color:#999}
tr.baseline td{background:#fff8e1}pre{background:#f4f4f4;padding:8px;overflow:auto;
 max-height:320px;font-size:12px}button{cursor:pointer}
.scroll{max-height:640px;overflow:auto;border:1px solid #ddd}
dl{display:grid;grid-template-columns:max-content auto;gap:4px 16px}dt{font-weight:bold}
"""

#: Sorting by a click on a header (numbers by the raw value in data-v), and copying the
#: neuroconv configuration. Clipboard access can be refused (file://): the text is then
#: selected for the user to copy, and nothing is thrown.
JS = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var asc = th.getAttribute('data-dir') !== 'asc';
      table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('data-dir'); });
      th.setAttribute('data-dir', asc ? 'asc' : 'desc');
      function key(row) {
        var cell = row.cells[col], v = cell.getAttribute('data-v');
        return v === null ? cell.textContent : parseFloat(v);
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (typeof x === 'number' && typeof y === 'number') {
          if (isNaN(x)) return 1; if (isNaN(y)) return -1;
          return asc ? x - y : y - x;
        }
        return asc ? String(x).localeCompare(String(y)) : String(y).localeCompare(String(x));
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
function copyConfig(id) {
  var pre = document.getElementById(id), text = pre.textContent;
  function select() {
    var range = document.createRange(); range.selectNodeContents(pre);
    var sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
  }
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(function () {}, select);
  } else { select(); }
}
"""


def frame(title: str, subtitle: Sequence[str], nav: Sequence[tuple[str, str]],
          body: str) -> str:
    """The whole page: plotly from ``assets/`` (relative, so any folder or host works)."""
    links = "".join(f'<a href="#{escape(a)}">{escape(t)}</a>' for a, t in nav)
    lines = "".join(f"<p>{escape(s)}</p>" for s in subtitle)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{CSS}</style>"
            f'<script src="assets/plotly.min.js"></script></head>\n'
            f"<body><header><h1>{escape(title)}</h1>{lines}</header><nav>{links}</nav>"
            f"<main>{body}</main><script>{JS}</script></body></html>\n")


def _mb(n: Any) -> str:
    return "?" if not _finite(n) else f"{float(n) / 1e6:,.2f}"


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def describe(c: Mapping[str, Any]) -> str:
    """A layout in words: format, chunks (and shards), codec."""
    chunks = "×".join(str(n) for n in c.get("chunks") or [])
    shards = c.get("shards")
    codec = str(c.get("codec"))
    if c.get("level") is not None:
        codec += f" {c['level']}"
    if c.get("shuffle"):
        codec += " + shuffle"
    if c.get("contiguous"):
        return f"{c.get('format')}, contiguous, {codec}"
    return (f"{c.get('format')}, chunks {chunks}"
            + (f", shards {'×'.join(str(n) for n in shards)}" if shards else "")
            + f", {codec}")


def _nested(v: Any) -> bool:
    """A value that holds objects (a dict, or a list of dicts or lists): one line is too long."""
    return isinstance(v, Mapping) or (isinstance(v, list)
                                      and any(isinstance(x, Mapping | list) for x in v))


def compact_json(obj: Mapping[str, Any]) -> str:
    """One key per line, values on one line: short enough to read, valid JSON to paste."""
    lines = []
    for i, (k, v) in enumerate(obj.items()):
        if isinstance(v, Mapping) and any(_nested(x) for x in v.values()):
            inner = compact_json(v).replace("\n", "\n ")
            text = f" {json.dumps(k)}: {inner}"
        else:
            text = f" {json.dumps(k)}: {json.dumps(v)}"
        lines.append(text + ("," if i < len(obj) - 1 else ""))
    return "{\n" + "\n".join(lines) + "\n}"


def card(d: Mapping[str, Any], rec: Mapping[str, Any], config: Mapping[str, Any],
         seconds: Mapping[str, float] | None, ident: str) -> str:
    """One dataset's recommendation: current against recommended, predicted (and, where both
    were measured side by side, measured: ``seconds`` per role) seconds and speedup, bytes and
    cost, and the neuroconv configuration to copy. A predicted figure is always labelled so."""
    cur, best = d["current"], d["recommended"]
    speed = best.get("speedup_vs_current")
    measured = None if seconds is None else seconds["current"] / seconds["recommended"]
    rows = []
    for role, c in (("current", cur), ("recommended", best)):
        got_s = "" if seconds is None else f"<td>{seconds[role]:.3f}</td>"
        rows.append(
            f'<tr><td class="t">{role}</td><td class="t"><code>{escape(str(c["name"]))}</code>'
            f'<br><small>{escape(describe(c))}</small></td>'
            f'<td class="t">{escape(str(c.get("reader", "")))}</td>'
            f'<td>{float(c["seconds"]):.3f}</td>{got_s}'
            f'<td>{float(c.get("requests", math.nan)):g}</td>'
            f'<td>{_mb(c.get("bytes_transferred"))}</td><td>{_mb(c.get("stored_bytes"))}</td>'
            f'<td>{float(c.get("cost_per_1000_reads_usd", math.nan)):.4f}</td></tr>')
    if measured is not None:
        got = f"measured <b>×{measured:.1f}</b> side by side"
    else:
        got = ("not measured here (<code>recommend --measure</code> or "
               "<code>sweep --recommendation</code> measure it)")
    pats = ", ".join(f"{escape(str(p['name']))}@{p['weight']:g}" for p in d["patterns"])
    notes = "".join(f'<p class="note">note: {escape(str(n))}</p>' for n in d.get("notes", []))
    if d.get("verdict"):  # keep, rewrite or download (recommendations of older versions lack it)
        notes = f'<p class="verdict"><b>{escape(describe_verdict(d["verdict"]))}</b></p>' + notes
    head = (f'<h3>{escape(d["path"])}</h3><p class="note">{escape(str(rec["file"]))} · '
            f'{escape(str(d.get("neurodata_type") or ""))} {escape(str(tuple(d["shape"])))} '
            f'{escape(str(d["dtype"]))} · profile {escape(str(rec["profile"]))} · '
            f"patterns {pats}</p>")
    speed_text = f"×{float(speed):.1f}" if _finite(speed) else "—"
    return (f'<div class="card" id="{escape(ident)}">{head}'
            f'<p><span class="big">{speed_text}</span> predicted speedup; {got}</p>'
            '<table><thead><tr><th class="t"></th><th class="t">layout</th>'
            '<th class="t">reader</th><th>predicted seconds</th>'
            f'{"" if seconds is None else "<th>measured seconds</th>"}<th>requests</th>'
            '<th>MB sent</th>'
            "<th>MB stored</th><th>$ / 1,000 reads</th></tr></thead><tbody>"
            f"{''.join(rows)}</tbody></table>{notes}"
            "<details open><summary>neuroconv configuration (dataset I/O fields)</summary>"
            f'<pre id="{escape(ident)}-neuroconv">{escape(compact_json(config))}</pre>'
            f"<button type=\"button\" onclick=\"copyConfig('{escape(ident)}-neuroconv')\">"
            "copy</button></details></div>")


#: The full table's columns: (column, header, format); numbers sort by their raw value.
TABLE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("source", "source", "t"), ("profile", "profile", "t"), ("dataset", "dataset", "t"),
    ("pattern", "pattern", "t"), ("layout", "layout", "t"), ("reader", "reader", "t"),
    ("seconds", "seconds", "{:.3f}"), ("speedup", "× faster", "{:.2f}"),
    ("bytes_transferred", "MB sent", "mb"), ("bytes_reduction", "× fewer bytes", "{:.2f}"),
    ("requests", "requests", "{:.0f}"), ("chunks_touched", "chunks", "{:.0f}"),
    ("read_amplification", "amplification", "{:.2f}"), ("stored_bytes", "MB stored", "mb"),
    ("compression_ratio", "ratio", "{:.2f}"),
    ("cost_per_1000_reads_usd", "$ / 1,000 reads", "{:.4f}"),
    ("baseline", "baseline", "t"),
)


def table(summary: pd.DataFrame) -> str:
    """The summary as a sortable HTML table, the baseline rows highlighted."""
    head = "".join(f'<th class="{"t" if fmt == "t" else ""}">{escape(h)}</th>'
                   for _, h, fmt in TABLE_COLUMNS)
    body = []
    for r in summary.to_dict("records"):
        cells = []
        for col, _, fmt in TABLE_COLUMNS:
            v = r.get(col)
            if fmt == "t":
                cells.append(f'<td class="t">{escape("" if v is None else str(v))}</td>')
                continue
            num = float(v) if _finite(v) else math.nan
            shown = "" if math.isnan(num) else (_mb(num) if fmt == "mb" else fmt.format(num))
            cells.append(f'<td data-v="{num!r}">{shown}</td>')
        cls = ' class="baseline"' if r.get("layout") == r.get("baseline") else ""
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return (f'<div class="scroll"><table class="sortable" id="results-table"><thead><tr>'
            f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")


def run_info(info: Mapping[str, Any], built: str) -> str:
    """Profiles, package versions, machines and dates, as a definition list."""
    profiles = "; ".join(
        f"{escape(n)}: {p['latency_ms']:g} ms, "
        f"{'unlimited' if p['bandwidth_mbps'] is None else format(p['bandwidth_mbps'], 'g')}"
        f"{'' if p['bandwidth_mbps'] is None else ' MB/s'} per connection"
        for n, p in info["profiles"].items()) or "not recorded"
    versions = ", ".join(f"{escape(k)} {escape(' / '.join(v))}"
                         for k, v in info["versions"].items()) or "not recorded"
    machines = escape("; ".join(info["machines"])) or "not recorded in these results"
    when = (f"{escape(str(info['first']))} to {escape(str(info['last']))}"
            if info["first"] else "not recorded")
    sources = "<br>".join(escape(s) for s in info["sources"])
    return (f"<dl><dt>profiles</dt><dd>{profiles}</dd><dt>measured</dt><dd>{when} (UTC)</dd>"
            f"<dt>machine</dt><dd>{machines}</dd><dt>package versions</dt><dd>{versions}</dd>"
            f"<dt>sources</dt><dd>{sources}</dd><dt>rows</dt><dd>{info['rows']}</dd>"
            f"<dt>report written</dt><dd>{escape(built)}</dd></dl>")
