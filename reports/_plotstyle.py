"""Shared styling and small validation helpers of the plotly figure builders (``reports.plots``,
``reports._multiples``): colours, fonts, escaping of user strings, the common layout."""
from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from audit.errors import InvalidInputError
from reports.images import NEGATIVE_RGB, POSITIVE_RGB

__all__ = ["PALETTE", "FONT", "RED", "BLUE", "esc", "numbers", "same_length", "rgba", "apply_layout", "sign_colours"]

PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac", "#eeca3b")
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
RED = "rgb({:.0f},{:.0f},{:.0f})".format(*POSITIVE_RGB)
BLUE = "rgb({:.0f},{:.0f},{:.0f})".format(*NEGATIVE_RGB)
_AXIS = dict(gridcolor="#e6e8eb", zerolinecolor="#c9ced6", linecolor="#c9ced6", automargin=True,
             tickfont=dict(size=11))


def esc(text: Any) -> str:
    """Escape a user string for plotly text (plotly.js turns ``&lt;`` back into a literal ``<``)."""
    return html.escape(str(text), quote=False)


def numbers(values: Sequence[Any]) -> list[float | None]:
    """Finite floats; anything else (None, NaN, bool, text) becomes None."""
    out: list[float | None] = []
    for v in values:
        if v is None or isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
            out.append(None)
        else:
            out.append(float(v))
    return out


def same_length(name: str, values: Sequence[Any] | None, expected: int) -> None:
    """Raise ``InvalidInputError`` unless ``values`` is None or has ``expected`` entries."""
    if values is not None and len(values) != expected:
        raise InvalidInputError(f"The '{name}' list must have {expected} entries (one per label). Got {len(values)}.")


def rgba(hex_colour: str, alpha: float) -> str:
    """``"#4c78a8"`` -> ``"rgba(76,120,168,alpha)"``."""
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def sign_colours(values: Sequence[float | None], default: str = PALETTE[0]) -> str | list[str]:
    """Red for positive and blue for negative values when the signs are mixed; one ``default`` colour otherwise."""
    if not any(v is not None and v < 0 for v in values):
        return default
    return [BLUE if (v is not None and v < 0) else RED for v in values]


def apply_layout(fig: go.Figure, title: str, x_label: str = "", y_label: str = "", height: int = 360) -> go.Figure:
    """The report's common layout: no template, white background, title top left, legend above the plot."""
    fig.update_layout(
        template="none",
        title=dict(text=esc(title), x=0.01, xanchor="left", font=dict(size=14)),
        font=dict(family=FONT, size=12, color="#1f2933"),
        paper_bgcolor="white", plot_bgcolor="white",
        margin=dict(l=10, r=10, t=44, b=10), height=height,
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0, font=dict(size=11)),
        xaxis=dict(title=dict(text=esc(x_label)), **_AXIS), yaxis=dict(title=dict(text=esc(y_label)), **_AXIS),
        hoverlabel=dict(font=dict(family=FONT)),
    )
    return fig
