"""The report's plotly figures, one function per question, drawn from :mod:`.evidence`.

Every figure is interactive (hover names the layout and reader and gives the figures) and
readable in a screenshot: values and ratios are written on the marks, the baseline is marked in
the axis labels, reference lines say what they stand for. Colours follow the reader across
all figures of a report (:func:`reader_colors`), so one legend reads for all.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from layoutbench.reporting.evidence import Download, pareto_front, spearman

#: Colour-blind-safe qualitative palette (Okabe & Ito), one colour per reader.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#000000")
#: The label ``sweep --recommendation`` gives the layout a recommendation chose: starred.
RECOMMENDED = "recommended"
_FONT = {"family": "Helvetica, Arial, sans-serif", "size": 12}
_MARGIN = {"l": 10, "r": 10, "t": 70, "b": 40}


def reader_colors(readers: Iterable[str]) -> dict[str, str]:
    """A stable colour per reader (sorted names), shared by every figure of one report."""
    return {r: PALETTE[i % len(PALETTE)] for i, r in enumerate(sorted(set(readers)))}


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB" if n >= 1e5 else f"{n / 1e3:,.1f} kB"


def _ratio(v: float) -> str:
    """``×8.0`` for 8 times better than the baseline, ``÷3.2`` for 3.2 times worse."""
    if not (isinstance(v, float | int) and math.isfinite(v) and v > 0):
        return ""
    return f"×{v:.1f}" if v >= 1 else f"÷{1 / v:.1f}"


def _base_layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(title={"text": title, "x": 0.01, "font": {"size": 15}}, height=height,
                      template="plotly_white", font=_FONT, margin=_MARGIN, hovermode="closest",
                      legend={"title": {"text": "reader"}, "orientation": "v", "x": 1.01,
                              "y": 1.0, "yanchor": "top"})
    return fig


def _hover(table: pd.DataFrame) -> tuple[np.ndarray, str]:
    """customdata and hovertemplate shared by the figures on result rows."""
    data = np.column_stack([
        table["layout"], table["reader"], table["seconds"].map(lambda v: f"{v:.3f}"),
        table["speedup"].map(_ratio), table["bytes_transferred"].map(_mb),
        table["bytes_reduction"].map(_ratio), table["requests"], table["chunks_touched"],
        table["stored_bytes"].map(lambda v: _mb(v) if math.isfinite(v) else "?"),
        table["cost_per_1000_reads_usd"].map(lambda v: f"{v:.4f}"),
    ])
    template = ("<b>%{customdata[0]}</b> · %{customdata[1]}<br>"
                "%{customdata[2]} s (%{customdata[3]} vs baseline)<br>"
                "%{customdata[4]} sent (%{customdata[5]} fewer)<br>"
                "%{customdata[6]} requests · %{customdata[7]} chunks touched<br>"
                "stored %{customdata[8]} · $%{customdata[9]} per 1,000 reads<extra></extra>")
    return data, template


def pattern_figure(group: pd.DataFrame, download: Download | None,
                   colors: Mapping[str, str], title: str) -> go.Figure:
    """Seconds and bytes sent per layout (bars grouped by reader), the baseline and the
    recommended layout (★) marked in the axis, ratios to the baseline on the bars, the spread
    of the repeats as error bars, and a line for downloading the whole file once."""
    order = (group.groupby("layout")["seconds"].min().sort_values().index.tolist())
    base = set(group.loc[group["is_baseline"], "layout"])
    ticks = [f"<b>{name}</b> (baseline)" if name in base
             else f"<b>★ {name}</b>" if name == RECOMMENDED else name for name in order]
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.03)
    for reader, rows in group.groupby("reader", sort=True):
        data, template = _hover(rows)
        common = {"name": reader, "y": rows["layout"], "orientation": "h",
                  "marker_color": colors.get(str(reader)), "customdata": data,
                  "hovertemplate": template, "legendgroup": reader, "textposition": "outside",
                  "cliponaxis": False, "textfont": {"size": 10}}
        fig.add_trace(go.Bar(x=rows["seconds"], text=[
            f"{s:.2f} s {'' if b else _ratio(v)}" for s, v, b in
            zip(rows["seconds"], rows["speedup"], rows["is_baseline"], strict=True)],
            error_x=_spread(rows), **common), row=1, col=1)
        fig.add_trace(go.Bar(x=rows["bytes_transferred"] / 1e6, text=[
            f"{m / 1e6:.1f} MB {'' if b else _ratio(v)}" for m, v, b in
            zip(rows["bytes_transferred"], rows["bytes_reduction"], rows["is_baseline"],
                strict=True)], showlegend=False, **common), row=1, col=2)
    if download is not None:
        what = f"download {download.label} once"
        if download.seconds is not None:
            _vline(fig, download.seconds, 1, f"{what}: {download.seconds:.2f} s")
        _vline(fig, download.stored_bytes / 1e6, 2, f"{what}: {_mb(download.stored_bytes)}")
    fig.update_xaxes(type="log")
    fig.update_xaxes(title_text="seconds (log; ×: faster than the baseline, ÷: slower)",
                     row=1, col=1)
    fig.update_xaxes(title_text="MB sent (log; ×: fewer than the baseline, ÷: more)",
                     row=1, col=2)
    fig.update_yaxes(categoryorder="array", categoryarray=order, tickvals=order,
                     ticktext=ticks, autorange="reversed", automargin=True)
    n_readers = max(1, group["reader"].nunique())
    fig.update_layout(barmode="group", bargap=0.25, bargroupgap=0.05)
    return _base_layout(fig, title, height=160 + len(order) * (14 * n_readers + 10))


def _spread(rows: pd.DataFrame) -> dict[str, object] | None:
    """Error bars from the fastest to the slowest repeat around the median (none for cases
    measured once: a single sample has no spread to draw)."""
    if not {"seconds_min", "seconds_max", "repeats"} <= set(rows.columns) \
            or not (rows["repeats"] > 1).any():
        return None
    one = rows["repeats"] <= 1
    return {"type": "data", "symmetric": False, "thickness": 1.2, "width": 3,
            "color": "#333",
            "array": (rows["seconds_max"] - rows["seconds"]).where(~one, 0).tolist(),
            "arrayminus": (rows["seconds"] - rows["seconds_min"]).where(~one, 0).tolist()}


def _vline(fig: go.Figure, x: float, col: int, text: str) -> None:
    """A dashed vertical reference line across one subplot, labelled at its top."""
    axis = "x" if col == 1 else f"x{col}"
    fig.add_shape(type="line", xref=axis, yref="paper", x0=x, x1=x, y0=0, y1=1,
                  line={"color": "#444", "width": 1.5, "dash": "dash"})
    fig.add_annotation(xref=axis, yref="paper", x=math.log10(x), y=1.0, text=text,
                       showarrow=False, yanchor="bottom", xanchor="left",
                       font={"size": 11, "color": "#444"}, bgcolor="rgba(255,255,255,0.8)")


def _baselines(fig: go.Figure, group: pd.DataFrame, x: pd.Series, y: pd.Series,
               col: int | None = None, legend: bool = True) -> None:
    """The baseline's points ringed by a star (one legend entry for all readers)."""
    base = group[group["is_baseline"]]
    if base.empty:
        return
    data, template = _hover(base)
    trace = go.Scatter(x=x[base.index], y=y[base.index], mode="markers",
                       name=f"baseline ({base['layout'].iloc[0]})", legendgroup="baseline",
                       showlegend=legend, customdata=data, hovertemplate=template,
                       marker={"symbol": "star", "size": 16, "color": "rgba(0,0,0,0)",
                               "line": {"width": 1.5, "color": "#111"}})
    if col is None:
        fig.add_trace(trace)
    else:
        fig.add_trace(trace, row=1, col=col)


def tradeoff_figure(group: pd.DataFrame, colors: Mapping[str, str], title: str) -> go.Figure:
    """Seconds against stored size and against cost per 1,000 reads, Pareto fronts drawn:
    which layouts no other beats on both (smaller, cheaper and faster)."""
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=("stored size against seconds",
                                        "cost per 1,000 reads (GET + egress) against seconds"))
    panels = ((1, group["stored_bytes"] / 1e6), (2, group["cost_per_1000_reads_usd"]))
    for col, x in panels:
        for reader, rows in group.groupby("reader", sort=True):
            data, template = _hover(rows)
            fig.add_trace(go.Scatter(
                x=x[rows.index], y=rows["seconds"], mode="markers", name=reader,
                legendgroup=reader, showlegend=col == 1, customdata=data,
                hovertemplate=template, marker={"color": colors.get(str(reader)), "size": 9}),
                row=1, col=col)
        _baselines(fig, group, x, group["seconds"], col, legend=col == 1)
        front = pareto_front(x, group["seconds"])
        on = group[front].assign(_x=x[front]).sort_values("_x")
        if not on.empty:
            fig.add_trace(go.Scatter(
                x=on["_x"], y=on["seconds"], mode="lines+markers+text", name="Pareto front",
                legendgroup="front", showlegend=col == 1, hoverinfo="skip",
                text=on["layout"] + " · " + on["reader"], textfont={"size": 9},
                textposition=["top right" if i % 2 else "bottom right" for i in range(len(on))],
                marker={"size": 14, "color": "rgba(0,0,0,0)",
                        "line": {"width": 2, "color": "#111"}},
                line={"color": "#111", "width": 1.5, "shape": "hv"}), row=1, col=col)
    fig.update_yaxes(type="log")
    fig.update_yaxes(title_text="seconds (log)", row=1, col=1)
    fig.update_xaxes(title_text="stored MB", row=1, col=1)
    fig.update_xaxes(title_text="US$ per 1,000 reads (log)", type="log", row=1, col=2)
    return _base_layout(fig, title, height=480)


def requests_figure(group: pd.DataFrame, colors: Mapping[str, str], title: str) -> go.Figure:
    """Requests against chunks touched: above the diagonal a reader splits reads (HDF5 index
    reads, readahead blocks), below it merges them (shards, whole-object GETs)."""
    fig = go.Figure()
    for reader, rows in group.groupby("reader", sort=True):
        data, template = _hover(rows)
        fig.add_trace(go.Scatter(x=rows["chunks_touched"], y=rows["requests"], mode="markers",
                                 name=reader, customdata=data, hovertemplate=template,
                                 marker={"color": colors.get(str(reader)), "size": 9}))
    _baselines(fig, group, group["chunks_touched"], group["requests"])
    both = pd.concat([group["chunks_touched"], group["requests"]])
    both = both[both > 0]
    if not both.empty:
        lo, hi = float(both.min()), float(both.max())
        fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines",
                                 name="one request per chunk", hoverinfo="skip",
                                 line={"color": "#888", "dash": "dot"}))
    fig.update_xaxes(type="log", title_text="chunks touched (log)")
    fig.update_yaxes(type="log", title_text="requests (log)")
    return _base_layout(fig, title, height=420)


#: Fewest cases for which Spearman's rho is shown: below it, a perfect rank agreement is
#: likely by chance (1 in 6 with 3 cases, 1 in 24 with 4, 1 in 120 with 5).
RHO_MIN_CASES = 5


def prediction_figure(points: pd.DataFrame, colors: Mapping[str, str], title: str
                      ) -> tuple[go.Figure, float]:
    """Measured against predicted seconds, the diagonal where they agree, and Spearman's rho
    (whether the model ranks layouts as the measurements do; that is what the recommender
    needs), NaN below :data:`RHO_MIN_CASES` cases. Returns the figure and rho."""
    rho = (spearman(points["predicted_seconds"], points["measured_seconds"])
           if len(points) >= RHO_MIN_CASES else math.nan)
    fig = go.Figure()
    symbols = {"recommend --measure": "diamond", "sweep": "circle"}
    for (reader, origin), rows in points.groupby(["reader", "origin"], sort=True):
        data = np.column_stack([rows["layout"], rows["reader"], rows["pattern"], rows["role"],
                                rows["origin"], rows["predicted_requests"],
                                rows["measured_requests"],
                                rows["predicted_bytes"].map(_mb),
                                rows["measured_bytes"].map(_mb)])
        fig.add_trace(go.Scatter(
            x=rows["predicted_seconds"], y=rows["measured_seconds"], mode="markers",
            name=f"{reader} ({origin})", customdata=data,
            marker={"color": colors.get(str(reader)), "size": 11,
                    "symbol": symbols.get(str(origin), "circle")},
            hovertemplate=("<b>%{customdata[0]}</b> · %{customdata[1]} (%{customdata[3]})<br>"
                           "%{customdata[2]} · %{customdata[4]}<br>"
                           "predicted %{x:.3f} s · measured %{y:.3f} s<br>"
                           "requests %{customdata[5]} / %{customdata[6]}<br>"
                           "bytes %{customdata[7]} / %{customdata[8]}<extra></extra>")))
    vals = pd.concat([points["predicted_seconds"], points["measured_seconds"]]).astype(float)
    vals = vals[vals > 0]
    if not vals.empty:
        lo, hi = float(vals.min()) / 1.2, float(vals.max()) * 1.2
        fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="measured = predicted",
                                 hoverinfo="skip", line={"color": "#888", "dash": "dot"}))
    rho_text = (f"n/a (fewer than {RHO_MIN_CASES} cases, or nothing to rank)"
                if math.isnan(rho) else f"{rho:.2f}")
    fig.update_xaxes(type="log", title_text="predicted seconds (log)")
    fig.update_yaxes(type="log", title_text="measured seconds (log)")
    _base_layout(fig, f"{title} — Spearman ρ = {rho_text} over {len(points)} cases", 440)
    fig.update_layout(legend={"title": {"text": "reader (origin)"}})
    return fig, rho
