"""Plotly figure builders shared by the HTML report and the Streamlit dashboard.

Every user-supplied string (feature, class, series names, titles) is HTML-escaped before it reaches plotly, because
plotly.js interprets a subset of HTML tags in text; escaped, a name like ``<b>x</b>`` is shown literally.
Figures use no template (``template="none"``) and explicit styling, so their JSON stays small.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from markupsafe import Markup, escape

from audit.errors import InvalidInputError
from reports._multiples import importance_heatmap_figure, small_multiples_figure
from reports._plotstyle import PALETTE, apply_layout, esc, numbers, rgba, same_length, sign_colours
from reports.images import NEGATIVE_RGB, POSITIVE_RGB, image_rgb

__all__ = [
    "PALETTE",
    "confusion_matrix_figure",
    "bar_figure",
    "step_bar_figure",
    "grouped_bar_figure",
    "importance_heatmap_figure",
    "small_multiples_figure",
    "curve_figure",
    "reliability_figure",
    "image_figure",
    "token_html",
]

_t, _num, _same_length, _rgba, _layout = esc, numbers, same_length, rgba, apply_layout  # short local names
_MAX_BAND_SERIES = 4  # more shaded intervals than this on one plot hide each other (the tables keep them)
_DIAGONAL_NAMES = ("perfect", "ideal", "diagonal")


def confusion_matrix_figure(matrix: Sequence[Sequence[float]], labels: Sequence[str], *,
                            title: str = "Confusion matrix") -> go.Figure:
    """Heat map of a confusion matrix: colour = share of the true class, text = counts.

    Args:
        matrix: square counts, rows = true class, columns = predicted class.
        labels: class names, one per row/column.
        title: figure title.

    Returns:
        A plotly heat-map figure.

    Raises:
        InvalidInputError: the matrix is not square or does not match ``labels``.

    Example:
        >>> fig = confusion_matrix_figure([[5, 1], [2, 7]], ["no", "yes"])
    """
    arr = np.array([_num(row) for row in matrix], dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] != len(labels):
        raise InvalidInputError(
            f"The 'matrix' must be square with one row per label ({len(labels)}). Got shape {arr.shape}."
        )
    totals = np.nansum(arr, axis=1, keepdims=True)
    share = np.divide(arr, totals, out=np.zeros_like(arr), where=totals > 0)
    names = [_t(label) for label in labels]
    text = [[("n/a" if math.isnan(v) else f"{v:g}") for v in row] for row in arr]
    fig = go.Figure(go.Heatmap(
        z=share.round(4).tolist(), x=names, y=names, text=text, texttemplate="%{text}", colorscale="Blues",
        zmin=0.0, zmax=1.0, colorbar=dict(title=dict(text="share of<br>true class", side="top"), thickness=12),
        hovertemplate="true %{y}<br>predicted %{x}<br>count %{text} (%{z:.1%})<extra></extra>",
    ))
    _layout(fig, title, "predicted", "true", height=max(300, 60 + 44 * len(labels)))
    fig.update_xaxes(type="category", side="bottom")
    fig.update_yaxes(type="category", autorange="reversed")
    return fig


def bar_figure(labels: Sequence[str], values: Sequence[float], *, lower: Sequence[float] | None = None,
               upper: Sequence[float] | None = None, title: str = "", value_label: str = "value") -> go.Figure:
    """Horizontal bars in the given order (first label on top), with optional confidence intervals; red/blue by
    sign when the values have both signs (e.g. local attributions), one colour otherwise.

    Args:
        labels: bar names (e.g. features).
        values: bar lengths.
        lower: interval lower ends (e.g. bootstrap 2.5%), one per label.
        upper: interval upper ends, one per label.
        title: figure title.
        value_label: axis title of the values.

    Returns:
        A plotly bar figure.

    Raises:
        InvalidInputError: lists of different lengths.

    Example:
        >>> fig = bar_figure(["age", "income"], [0.3, 0.1], lower=[0.25, 0.05], upper=[0.35, 0.15])
    """
    n = len(labels)
    for name, seq in (("values", values), ("lower", lower), ("upper", upper)):
        _same_length(name, seq, n)
    vals = _num(values)
    error_x = None
    if lower is not None and upper is not None:
        lo, hi = _num(lower), _num(upper)
        error_x = dict(type="data", symmetric=False, color="#3e4c59", thickness=1.2, width=4,
                       array=[None if v is None or h is None else max(0.0, h - v) for v, h in zip(vals, hi)],
                       arrayminus=[None if v is None or low is None else max(0.0, v - low) for v, low in zip(vals, lo)])
    fig = go.Figure(go.Bar(y=[_t(label) for label in labels], x=vals, orientation="h", marker_color=sign_colours(vals),
                           error_x=error_x, hovertemplate="%{y}: %{x:.4g}<extra></extra>"))
    _layout(fig, title, value_label, "", height=max(220, 90 + 24 * n))
    fig.update_yaxes(type="category", autorange="reversed")
    return fig


def step_bar_figure(labels: Sequence[Any], values: Sequence[float], *, lower: Sequence[float] | None = None,
                    upper: Sequence[float] | None = None, title: str = "", x_label: str = "step",
                    value_label: str = "attribution") -> go.Figure:
    """Vertical bars in the given order (time steps, histogram bins); red/blue by sign when the values have both
    signs, one colour otherwise.

    Args:
        labels: step names (e.g. ``"t-3"``), in time order.
        values: one value per step.
        lower: optional interval lower ends.
        upper: optional interval upper ends.
        title: figure title.
        x_label: axis title of the steps.
        value_label: axis title of the values.

    Returns:
        A plotly bar figure.

    Raises:
        InvalidInputError: lists of different lengths.
    """
    n = len(labels)
    for name, seq in (("values", values), ("lower", lower), ("upper", upper)):
        _same_length(name, seq, n)
    vals = _num(values)
    colours = sign_colours(vals)
    error_y = None
    if lower is not None and upper is not None:
        lo, hi = _num(lower), _num(upper)
        error_y = dict(type="data", symmetric=False, color="#3e4c59", thickness=1.2, width=3,
                       array=[None if v is None or h is None else max(0.0, h - v) for v, h in zip(vals, hi)],
                       arrayminus=[None if v is None or low is None else max(0.0, v - low) for v, low in zip(vals, lo)])
    fig = go.Figure(go.Bar(x=[_t(label) for label in labels], y=vals, marker_color=colours, error_y=error_y,
                           hovertemplate="%{x}: %{y:.4g}<extra></extra>"))
    _layout(fig, title, x_label, value_label, height=320)
    fig.update_xaxes(type="category")
    return fig


def grouped_bar_figure(groups: Mapping[str, Mapping[str, float]], *, title: str = "Global importance by method",
                       top_k: int = 20) -> go.Figure:
    """Compare importances of several methods: one bar group per feature, each method scaled to max |value| = 1.

    Args:
        groups: method -> {feature: importance}.
        title: figure title.
        top_k: keep the features with the largest mean scaled |importance|.

    Returns:
        A plotly grouped bar figure (features ordered by mean scaled importance, largest on top); a heat map of
        features x methods (``importance_heatmap_figure``) when there would be more than 48 bars.

    Example:
        >>> fig = grouped_bar_figure({"ig": {"age": 0.4, "hours": 0.1}, "shap": {"age": 0.2, "hours": 0.15}})
    """
    scaled: dict[str, dict[str, float]] = {}
    for method, values in groups.items():
        clean = {str(k): abs(float(v)) for k, v in values.items()
                 if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))}
        peak = max(clean.values(), default=0.0) or 1.0
        scaled[str(method)] = {k: v / peak for k, v in clean.items()}
    features = sorted({f for vals in scaled.values() for f in vals},
                      key=lambda f: (-float(np.mean([vals.get(f, 0.0) for vals in scaled.values()])), f))[:top_k]
    if len(features) * len(scaled) > 48:
        return importance_heatmap_figure(scaled, features, title=title)
    fig = go.Figure()
    for i, (method, vals) in enumerate(scaled.items()):
        fig.add_trace(go.Bar(name=_t(method), y=[_t(f) for f in features], x=[vals.get(f) for f in features],
                             orientation="h", marker_color=PALETTE[i % len(PALETTE)],
                             hovertemplate="%{y}: %{x:.3f}<extra>" + _t(method) + "</extra>"))
    height = max(240, 100 + 18 * len(features) * max(1, len(scaled)))
    _layout(fig, title, "importance (scaled, max = 1)", "", height=height)
    fig.update_layout(barmode="group")
    fig.update_yaxes(type="category", autorange="reversed")
    return fig


def curve_figure(x: Sequence[float], series: Mapping[str, Sequence[float]], *,
                 bands: Mapping[str, Mapping[str, Sequence[float]]] | None = None, title: str = "",
                 x_label: str = "", y_label: str = "") -> go.Figure:
    """Lines (one per series) over a shared ``x``, with optional shaded bands (e.g. confidence intervals).

    Args:
        x: shared x values.
        series: label -> y values (same length as ``x``).
        bands: label -> {"lower": [...], "upper": [...]} for the series of that label (drawn only when there are
            at most 4 series: more shaded intervals hide each other).
        title: figure title.
        x_label: x axis title.
        y_label: y axis title.

    Returns:
        A plotly line figure.

    Raises:
        InvalidInputError: a series or band whose length differs from ``x``.

    Example:
        >>> band = {"PGD": {"lower": [0.88, 0.55], "upper": [0.92, 0.65]}}
        >>> fig = curve_figure([0, 0.1], {"PGD": [0.9, 0.6]}, bands=band)
    """
    xs = _num(x)
    fig = go.Figure()
    drawn_bands = bands if bands and len(series) <= _MAX_BAND_SERIES else None
    for i, (label, ys) in enumerate(series.items()):
        _same_length(f"series[{label!r}]", ys, len(xs))
        colour = PALETTE[i % len(PALETTE)]
        band = (drawn_bands or {}).get(label)
        if band is not None:
            _same_length(f"bands[{label!r}].lower", band.get("lower"), len(xs))
            _same_length(f"bands[{label!r}].upper", band.get("upper"), len(xs))
            fig.add_trace(go.Scatter(x=xs, y=_num(band.get("upper") or []), mode="lines", line=dict(width=0),
                                     showlegend=False, hoverinfo="skip", legendgroup=str(i)))
            fig.add_trace(go.Scatter(x=xs, y=_num(band.get("lower") or []), mode="lines", line=dict(width=0),
                                     fill="tonexty", fillcolor=_rgba(colour, 0.18), showlegend=False,
                                     hoverinfo="skip", legendgroup=str(i)))
        fig.add_trace(go.Scatter(x=xs, y=_num(ys), mode="lines+markers", name=_t(label), legendgroup=str(i),
                                 line=dict(color=colour, width=2), marker=dict(size=6),
                                 hovertemplate="%{x:.4g}: %{y:.4g}<extra>" + _t(label) + "</extra>"))
    _layout(fig, title, x_label, y_label)
    return fig


def reliability_figure(x: Sequence[float], series: Mapping[str, Sequence[float]], *, title: str = "Reliability diagram",
                       x_label: str = "confidence", y_label: str = "accuracy",
                       bands: Mapping[str, Mapping[str, Sequence[float]]] | None = None) -> go.Figure:
    """A reliability diagram: observed accuracy per confidence bin against the diagonal of perfect calibration.

    Args:
        x: mean confidence per bin.
        series: label -> observed accuracy (or frequency) per bin.
        title: figure title.
        x_label: x axis title.
        y_label: y axis title.
        bands: optional intervals per series, as in ``curve_figure``.

    Returns:
        A plotly figure with both axes on [0, 1]; a series named like "perfectly calibrated" (the check's own
        diagonal) is drawn once, as the dashed diagonal.
    """
    diagonal = [k for k in series if any(word in str(k).lower() for word in _DIAGONAL_NAMES)]
    kept = {k: v for k, v in series.items() if k not in diagonal}
    fig = curve_figure(x, kept, bands=bands, title=title, x_label=x_label, y_label=y_label)
    name = str(diagonal[0]) if diagonal else "perfect calibration"  # the check's own diagonal is drawn as ours
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name=_t(name),
                             line=dict(color="#9aa5b1", dash="dash", width=1.5), hoverinfo="skip"))
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[-0.02, 1.02])
    return fig


def image_figure(data: Any, *, kind: str = "heatmap", base: Any = None, title: str = "") -> go.Figure:
    """One convention image as a plotly figure (same pixels as the HTML report's PNG).

    Args:
        data: 2-D list (h x w): grayscale in [0, 1] or a signed heat map.
        kind: "grayscale", "heatmap" or "overlay" (signed heat map over the grayscale ``base``).
        base: the grayscale image under an overlay.
        title: figure title.

    Returns:
        A plotly ``Image`` figure with the raw values in the hover text.
    """
    rgb = image_rgb(data, kind=kind, base=base)
    values = np.nan_to_num(np.array(data, dtype=np.float64), nan=0.0).round(4)
    fig = go.Figure(go.Image(z=rgb.tolist(), customdata=values.tolist(),
                             hovertemplate="(%{x}, %{y}) value %{customdata:.3g}<extra></extra>"))
    side = int(min(320, max(160, 8 * rgb.shape[0])))
    _layout(fig, title, height=side + 60)
    fig.update_xaxes(showticklabels=False, showgrid=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, scaleanchor="x")
    return fig


def token_html(tokens: Sequence[Any], scores: Sequence[float]) -> Markup:
    """Tokens as HTML spans shaded by score: red for positive, blue for negative, opacity by |score| / max.

    Every token is escaped; the result is safe to insert into a template or ``st.markdown(unsafe_allow_html=True)``.

    Args:
        tokens: the tokens, in order.
        scores: one score per token.

    Returns:
        ``Markup`` of ``<span class="tok" ...>`` elements separated by spaces.

    Raises:
        InvalidInputError: ``scores`` and ``tokens`` differ in length.

    Example:
        >>> str(token_html(["good", "<b>"], [1.0, -0.5]))[:22]
        '<span class="tok" styl'
    """
    _same_length("scores", scores, len(tokens))
    vals = [0.0 if v is None else v for v in _num(scores)]
    peak = max((abs(v) for v in vals), default=0.0) or 1.0
    spans = []
    for token, value in zip(tokens, vals):
        alpha = round(0.75 * abs(value) / peak, 3)
        rgb = POSITIVE_RGB if value >= 0 else NEGATIVE_RGB
        style = "background-color:rgba({:.0f},{:.0f},{:.0f},{})".format(*rgb, alpha)
        spans.append(Markup('<span class="tok" style="{}" title="{}">{}</span>').format(
            style, f"score {value:.4g}", escape(str(token))))
    return Markup(" ").join(spans)
