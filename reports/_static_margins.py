"""Fixed plot margins computed from the tick labels, for the HTML report.

plotly.js "automargin" axes redraw a figure until its labels fit (several layout passes per figure); in a report of
dozens of figures that is close to half the drawing time. Tick-label sizes are known before drawing (category names,
numbers of a few digits), so the report sets the margins itself and turns automargin off.
"""
from __future__ import annotations

import html
import re
from typing import Any

__all__ = ["set_static_margins"]

_AXIS_KEY = re.compile(r"^(?P<letter>[xy])axis(?P<n>\d*)$")
_CHAR_PX = 6.6          # average width of an 11 px tick-label character, with a margin of safety
_NUMBER_PX = 46         # width of numeric tick labels ("0.0001", "12,000")
_TICK_ROW_PX = 22       # height of one line of tick labels
_TITLE_PX = 22          # an axis title
_MAX_SIDE_PX = 280      # never give labels more than this


def _axis_key(ref: str) -> str:
    return f"{ref[0]}axis{ref[1:]}"


def _labels(spec: dict[str, Any]) -> dict[str, list[str]]:
    """Layout axis key -> the category (string) values drawn on it."""
    out: dict[str, list[str]] = {}
    for trace in spec.get("data", []):
        for letter in "xy":
            values = trace.get(letter)
            if isinstance(values, list) and any(isinstance(v, str) for v in values):
                key = _axis_key(trace.get(f"{letter}axis") or letter)
                out.setdefault(key, []).extend(html.unescape(str(v)) for v in values if v is not None)
    return out


def _has_title(axis: dict[str, Any]) -> bool:
    title = axis.get("title")
    return bool(title.get("text") if isinstance(title, dict) else title)


def set_static_margins(spec: dict[str, Any], *, width_px: int) -> None:
    """Turn axis automargin off in a figure spec and widen its margins to fit the tick labels and axis titles.

    Args:
        spec: a plotly figure as a dict (``json.loads(fig.to_json())``); changed in place.
        width_px: the width the figure will roughly have (decides whether category labels need rotating).
    """
    layout = spec.setdefault("layout", {})
    margin = layout.setdefault("margin", {})
    labels = _labels(spec)
    left = bottom = top = 0.0
    axes = {k: v for k, v in layout.items() if _AXIS_KEY.match(k) and isinstance(v, dict)}
    if "xaxis" not in axes:
        axes["xaxis"] = layout.setdefault("xaxis", {})
    if "yaxis" not in axes:
        axes["yaxis"] = layout.setdefault("yaxis", {})
    for key, axis in axes.items():
        axis["automargin"] = False
        letter = key[0]
        shown = axis.get("showticklabels", True) is not False
        categories = labels.get(key, [])
        longest = max((len(c) for c in categories), default=0) * _CHAR_PX
        title = _TITLE_PX if _has_title(axis) else 0.0
        anchor = axes.get(_axis_key(axis.get("anchor") or ("x" if letter == "y" else "y")), {})
        at_edge = (anchor.get("domain") or [0.0, 1.0])[0] <= 0.01
        if letter == "y" and at_edge:
            ticks = (longest + 10 if categories else _NUMBER_PX) if shown else 0.0
            left = max(left, min(_MAX_SIDE_PX, ticks + title))
        elif letter == "x" and at_edge:
            ticks = _TICK_ROW_PX if shown else 0.0
            if shown and categories and len(categories) * (longest + 8) > width_px:
                axis["tickangle"] = -45  # crowded: rotate, and make room for the slanted labels
                ticks = 0.72 * longest + 14
            if axis.get("side") == "top":
                top = max(top, ticks)
            else:
                bottom = max(bottom, min(_MAX_SIDE_PX, ticks + title))
    margin["l"] = int(max(margin.get("l", 0), left + 4))
    margin["b"] = int(max(margin.get("b", 0), bottom + 4))
    margin["t"] = int(margin.get("t", 0) + top)
