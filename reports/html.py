"""``AuditResult`` -> ONE self-contained HTML file (inline CSS, inline plotly.js, PNG data URIs; no network).

Rendering is Jinja2 with autoescape on: user strings are always escaped. The only ``Markup`` inserted unescaped is
our own: the plotly.js bundle (checked for ``</script``), figure JSON escaped for ``<script>`` by ``script_json``,
and token spans whose tokens ``reports.plots.token_html`` escaped itself.
"""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape
from plotly.offline import get_plotlyjs

from audit.errors import InvalidTypeError
from audit.results import AuditResult, atomic_write_text
from reports._format import format_value
from reports._model import FigureView
from reports._static_margins import set_static_margins
from reports.view import ReportView, build_view

__all__ = ["render_html", "write_html", "render_view", "script_json", "plot_json", "TEMPLATES_DIR"]

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
_TITLE_PX = 44  # the top margin reports.plots leaves for a title


def script_json(value: Any) -> Markup:
    """JSON safe to place inside a ``<script>`` element: ``<``, ``>`` and ``&`` become ``\\u003c`` etc.

    Args:
        value: a JSON-ready value or a plotly figure.

    Returns:
        ``Markup`` (the escaping is already done; it must not be HTML-escaped again).

    Example:
        >>> str(script_json({"name": "</script>"}))
        '{"name": "\\\\u003c/script\\\\u003e"}'
    """
    text = value.to_json() if isinstance(value, go.Figure) else json.dumps(value, allow_nan=False)
    return _escape_for_script(text)


def _escape_for_script(text: str) -> Markup:
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def plot_json(view: FigureView | go.Figure) -> Markup:
    """The figure as ``script_json``, without its title (the report prints the title as HTML above the plot, so a
    legend of many entries never overlaps it), with margins fixed from its tick labels instead of plotly's
    automargin (see ``reports._static_margins``: it draws much faster).

    Args:
        view: a ``FigureView`` (or a bare figure from ``reports.plots``).

    Returns:
        ``Markup`` JSON safe inside ``<script>``.
    """
    fig = view.figure if isinstance(view, FigureView) else view
    spec = json.loads(fig.to_json())
    layout = spec.setdefault("layout", {})
    layout.pop("title", None)
    layout.setdefault("margin", {})["t"] = 26 if layout.get("annotations") else 8  # room for subplot titles
    layout["height"] = plot_height(fig)
    set_static_margins(spec, width_px=1000 if isinstance(view, FigureView) and view.wide else 470)
    return _escape_for_script(json.dumps(spec, allow_nan=False, separators=(",", ":")))


def plot_height(fig: go.Figure) -> int:
    """The height in pixels of the untitled plot (reserved before it is drawn, so the page does not jump)."""
    height = int(fig.layout.height or 360)
    return height - (_TITLE_PX - 26 if fig.layout.annotations else _TITLE_PX - 8)


def wbr(text: object) -> Markup:
    """Escaped text with line-break opportunities after ``_`` and ``/`` (long column names can wrap)."""
    escaped = str(escape(str(text)))
    return Markup(escaped.replace("_", "_<wbr>").replace("/", "/<wbr>"))


@functools.lru_cache(maxsize=1)
def _plotly_js() -> Markup:
    """The plotly.js bundle, inline once per report (plotly's own offline copy, no CDN)."""
    code = get_plotlyjs()
    if "</script" in code.lower() or "<!--" in code:  # would end or confuse the inline <script> element
        raise RuntimeError("The plotly.js bundle contains '</script' or '<!--' and cannot be inlined safely.")
    return Markup(code)


@functools.lru_cache(maxsize=1)
def environment() -> Environment:
    """The Jinja2 environment of the report templates (autoescape on, undefined names are errors)."""
    env = Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["fmt"] = format_value
    env.filters["script_json"] = script_json
    env.filters["plot_json"] = plot_json
    env.filters["plot_height"] = plot_height
    env.filters["wbr"] = wbr
    env.globals["plotly_js"] = _plotly_js
    return env


def render_view(view: ReportView) -> str:
    """HTML of an already built ``ReportView`` (the dashboard's download button can reuse a view).

    Args:
        view: the view from ``reports.view.build_view``.

    Returns:
        The HTML text.
    """
    has_figures = any(section.panels for section in view.sections)
    template = environment().get_template("report.html.j2")
    anchors = {section.name: section.anchor for section in view.sections}
    return template.render(view=view, has_figures=has_figures, anchors=anchors,
                           deepaudit_version=view.provenance.versions.get("deepaudit", ""))


def render_html(result: AuditResult, *, title: str | None = None) -> str:
    """The report of ``result`` as one self-contained HTML document.

    Args:
        result: the audit result.
        title: the report title (default: "Audit of MODEL on DATA").

    Returns:
        The HTML text (deterministic for a given result).

    Raises:
        InvalidTypeError: ``result`` is not an ``AuditResult``.

    Example:
        >>> html = render_html(result)     # doctest: +SKIP
    """
    if not isinstance(result, AuditResult):
        raise InvalidTypeError(f"The 'result' argument must be an audit.AuditResult. Got {type(result).__name__}.")
    return render_view(build_view(result, title=title))


def write_html(result: AuditResult, path: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Write the report of ``result`` to ``path`` atomically (temp file + rename).

    Args:
        result: the audit result.
        path: the output file (its folder is created).
        title: the report title.

    Returns:
        The path written.

    Raises:
        InvalidTypeError: ``result`` is not an ``AuditResult``.

    Example:
        >>> write_html(result, "runs/demo/report.html")    # doctest: +SKIP
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidTypeError(f"The 'path' argument must be a str or os.PathLike. Got {type(path).__name__}.")
    return atomic_write_text(Path(path), render_html(result, title=title))
