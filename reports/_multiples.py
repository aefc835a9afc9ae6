"""Figures that put many small bar charts or importances side by side, so a report shows one compact figure where a
check wrote many (per-method attributions of one row, per-method global importance, one method per time step)."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from audit.errors import InvalidInputError
from reports._plotstyle import FONT, PALETTE, RED, apply_layout, esc, numbers, same_length, sign_colours

__all__ = ["BarPanel", "small_multiples_figure", "importance_heatmap_figure"]

_MAX_COLUMNS = 4


@dataclass(frozen=True)
class BarPanel:
    """One small bar chart: ``labels`` in display order, their ``values`` and optional interval ends."""

    title: str
    labels: Sequence[Any]
    values: Sequence[Any]
    lower: Sequence[Any] | None = None
    upper: Sequence[Any] | None = None


def _errors(values: list[float | None], panel: BarPanel) -> dict[str, Any] | None:
    if panel.lower is None or panel.upper is None:
        return None
    lo, hi = numbers(panel.lower), numbers(panel.upper)
    return dict(type="data", symmetric=False, color="#3e4c59", thickness=1.1, width=3,
                array=[None if v is None or h is None else max(0.0, h - v) for v, h in zip(values, hi)],
                arrayminus=[None if v is None or low is None else max(0.0, v - low) for v, low in zip(values, lo)])


def small_multiples_figure(panels: Sequence[BarPanel], *, vertical: bool, title: str = "",
                           value_label: str = "") -> go.Figure:
    """Several bar charts in one figure, each with its own categories and value axis.

    Args:
        panels: the charts, in order (e.g. one per explanation method).
        vertical: True for vertical bars stacked one chart per line with a shared category axis (time steps,
            kept in order); False for horizontal bars in a grid of up to four charts a line (features, first on top).
        title: figure title.
        value_label: title of the value axes.

    Returns:
        A plotly figure; bars are red/blue by sign when a chart has both signs.

    Raises:
        InvalidInputError: no panel, or a panel whose lists differ in length.

    Example:
        >>> fig = small_multiples_figure([BarPanel("ig", ["a", "b"], [0.3, -0.1]),
        ...                               BarPanel("lime", ["b", "a"], [0.2, 0.1])], vertical=False)
    """
    if not panels:
        raise InvalidInputError("The 'panels' argument must hold at least one bar chart. Got none.")
    for p in panels:
        for name, seq in (("values", p.values), ("lower", p.lower), ("upper", p.upper)):
            same_length(f"{p.title}.{name}", seq, len(p.labels))
    n = len(panels)
    cols = 1 if vertical else min(_MAX_COLUMNS, n)
    rows = math.ceil(n / cols)
    longest = max(len(p.labels) for p in panels)
    gap = 44  # pixels between chart lines (room for the next subplot title)
    per_row = 88 if vertical else 24 + 18 * longest
    height = int(70 + rows * per_row + (rows - 1) * gap)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[esc(p.title) for p in panels],
                        shared_xaxes=vertical, vertical_spacing=min(0.3, gap / height) if rows > 1 else 0.0,
                        horizontal_spacing=0.16 if cols > 1 else 0.02)
    # one colour code for the whole figure: red/blue by sign as soon as one chart has negative values
    signed = any(v is not None and v < 0 for p in panels for v in numbers(p.values))
    for i, panel in enumerate(panels):
        row, col = i // cols + 1, i % cols + 1
        vals = numbers(panel.values)
        colours = sign_colours(vals, default=RED if signed else PALETTE[0])
        names = [esc(label) for label in panel.labels]
        errors = _errors(vals, panel)
        if vertical:
            trace = go.Bar(x=names, y=vals, marker_color=colours, error_y=errors, showlegend=False,
                           hovertemplate="%{x}: %{y:.4g}<extra>" + esc(panel.title) + "</extra>")
        else:
            trace = go.Bar(y=names, x=vals, orientation="h", marker_color=colours, error_x=errors,
                           showlegend=False, hovertemplate="%{y}: %{x:.4g}<extra>" + esc(panel.title) + "</extra>")
        fig.add_trace(trace, row=row, col=col)
    apply_layout(fig, title, height=height)
    fig.update_layout(margin=dict(b=24))
    for i, annotation in enumerate(fig.layout.annotations):  # subplot titles flush left above each chart
        domain = fig.get_subplot(i // cols + 1, i % cols + 1).xaxis.domain
        annotation.update(x=domain[0], xanchor="left", font=dict(size=12, family=FONT))
    if vertical:
        fig.update_xaxes(type="category", tickfont=dict(size=10), showgrid=False)
        fig.update_yaxes(zeroline=True, tickfont=dict(size=10), nticks=4)
    else:
        fig.update_yaxes(type="category", autorange="reversed", tickfont=dict(size=10))
        fig.update_xaxes(zeroline=True, zerolinecolor="#9aa5b1", tickfont=dict(size=10), nticks=5)
    if value_label and vertical:
        fig.update_yaxes(title=dict(text=esc(value_label), font=dict(size=11)))
    elif value_label:
        fig.update_xaxes(title=dict(text=esc(value_label), font=dict(size=11)), row=rows)
    return fig


def importance_heatmap_figure(scaled: Mapping[str, Mapping[str, float]], features: Sequence[str], *,
                              title: str = "Global importance by method") -> go.Figure:
    """Global importance as a heat map: one row per feature (most important on top), one column per method.

    Args:
        scaled: method -> {feature: importance already scaled to [0, 1]}.
        features: the rows, in display order.
        title: figure title.

    Returns:
        A plotly heat map; a missing importance is an empty cell.
    """
    methods = list(scaled)
    z = [[scaled[m].get(f) for m in methods] for f in features]
    text = [["" if v is None else f"{v:.2f}" for v in row] for row in z]
    fig = go.Figure(go.Heatmap(
        z=z, x=[esc(m) for m in methods], y=[esc(f) for f in features], text=text, texttemplate="%{text}",
        textfont=dict(size=10), colorscale=[[0.0, "#f7fbff"], [0.5, "#6baed6"], [1.0, PALETTE[0]]], zmin=0.0,
        zmax=1.0, xgap=1, ygap=1, colorbar=dict(title=dict(text="scaled", side="top"), thickness=10),
        hovertemplate="%{y} · %{x}: %{z:.3f}<extra></extra>",
    ))
    apply_layout(fig, title, "method", "", height=int(110 + 22 * len(features)))
    fig.update_xaxes(type="category", side="top", showgrid=False, title=dict(text=""))
    fig.update_yaxes(type="category", autorange="reversed", showgrid=False)
    return fig
