"""Draw ``reports`` view data with Streamlit: findings, headline metrics, tables, plotly figures, images, texts.

Everything here only displays what ``reports.build_view`` prepared (the same data and figures as the HTML report).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import streamlit as st

from reports._model import FigureView, FindingView, ImageView, SectionView, TableView, TextView

__all__ = [
    "SEVERITY_ICON",
    "SEVERITY_BADGE",
    "render_findings",
    "render_headline",
    "render_table",
    "render_figure",
    "render_figures",
    "render_image",
    "unique_columns",
    "render_images",
    "render_texts",
    "render_section",
    "upscale",
    "token_block",
]

# Material icons and badges ship with Streamlit's own fonts (no emoji font needed in the browser).
SEVERITY_ICON = {"fail": ":material/cancel:", "error": ":material/error:", "warning": ":material/warning:",
                 "info": ":material/info:"}
SEVERITY_BADGE = {"fail": ":red-badge[:material/cancel: fail]", "error": ":violet-badge[:material/error: error]",
                  "warning": ":orange-badge[:material/warning: warning]", "info": ":blue-badge[:material/info: info]"}
_STATUS_ICON = {"ok": ":green[:material/check_circle:]", "skipped": ":gray[:material/skip_next:]",
                "error": ":red[:material/error:]"}
_IMAGE_PX = 112


def upscale(rgb: np.ndarray, target: int = _IMAGE_PX) -> np.ndarray:
    """Nearest-neighbour enlargement of a small (h, w, 3) image so pixels stay crisp in the browser."""
    factor = max(1, target // max(1, max(rgb.shape[:2])))
    return np.kron(rgb, np.ones((factor, factor, 1), dtype=rgb.dtype)) if factor > 1 else rgb


def render_findings(findings: Sequence[FindingView], *, limit: int | None = None, empty: str = "No findings.") -> None:
    """A list of findings, worst first, with the metric value and threshold when known."""
    if not findings:
        st.caption(empty)
        return
    shown = list(findings)[:limit] if limit else list(findings)
    for f in shown:
        extra = []
        if f.metric:
            extra.append(f"`{f.check}.{f.metric}` = {f.value_text}" if f.value_text else f"`{f.check}.{f.metric}`")
        if f.threshold_text:
            extra.append(f"threshold {f.threshold_text}")
        tail = f" — {'; '.join(extra)}" if extra else ""
        st.markdown(f"{SEVERITY_BADGE.get(f.severity, f.severity)} **{f.check_title}**: {f.message}{tail}")
    if limit and len(findings) > limit:
        st.caption(f"… and {len(findings) - limit} more (see each tab).")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def render_headline(section: SectionView, per_row: int = 4) -> None:
    """The section's headline numbers as ``st.metric`` tiles (a worst-finding mark on the label); text and yes/no
    values (settings such as the engine or the budget unit) on one line below them; missing values are left out."""
    metrics = [m for m in section.headline if _is_number(m.value) or m.severity in SEVERITY_ICON]
    others = [m for m in section.headline if m not in metrics and m.value is not None]
    for start in range(0, len(metrics), per_row):
        cols = st.columns(per_row)
        for col, m in zip(cols, metrics[start:start + per_row]):
            mark = f" {SEVERITY_ICON[m.severity]}" if m.severity in SEVERITY_ICON else ""
            col.metric(f"{m.label}{mark}", m.text)
    if others:
        st.caption(" · ".join(f"{m.label}: **{m.text}**" for m in others))


def unique_columns(columns: Sequence[object]) -> list[str]:
    """Column names made unique for a dataframe: a repeated name is prefixed with the nearest earlier column whose
    name is not repeated ("attack success gap CI lower"), then numbered if still taken.

    Example:
        >>> unique_columns(["gap", "CI lower", "CI upper", "rate", "CI lower", "CI upper"])
        ['gap', 'gap CI lower', 'gap CI upper', 'rate', 'rate CI lower', 'rate CI upper']
    """
    names = [str(c) for c in columns]
    counts = {n: names.count(n) for n in names}
    out: list[str] = []
    anchor = ""
    for name in names:
        if counts[name] == 1:
            anchor = name
            candidate = name
        else:
            candidate = f"{anchor} {name}".strip() if anchor else name
        base, i = candidate, 2
        while candidate in out or (candidate != name and counts.get(candidate, 0) == 1):
            candidate = f"{base} ({i})"
            i += 1
        out.append(candidate)
    return out


def render_table(table: TableView, key: str) -> None:
    """A convention table as an interactive dataframe (raw values; sortable)."""
    st.markdown(f"**{table.title}**")
    frame = pd.DataFrame(table.rows, columns=unique_columns(table.columns))
    st.dataframe(frame, width="stretch", hide_index=True, key=key)
    if table.note:
        st.caption(table.note)


def render_figure(fig: FigureView, key: str) -> None:
    """A plotly figure from ``reports.plots``."""
    st.plotly_chart(fig.figure, width="stretch", key=key, config={"displaylogo": False})
    if fig.caption:
        st.caption(fig.caption)


def render_images(images: Sequence[ImageView], per_row: int = 6) -> None:
    """Images in a grid, each with its title and caption."""
    for start in range(0, len(images), per_row):
        cols = st.columns(per_row)
        for col, image in zip(cols, images[start:start + per_row]):
            with col:
                render_image(image, stretch=True)


def render_image(image: ImageView, caption: str | None = None, *, stretch: bool = False) -> None:
    """One convention image (grayscale, heat map or overlay); ``caption`` replaces its title and caption.

    ``stretch`` fills the column (for grids of equal columns); otherwise the image keeps its enlarged size.
    """
    if caption is None:
        caption = image.title if not image.caption else f"{image.title} — {image.caption}"
    if stretch:
        st.image(upscale(image.rgb(), 2 * _IMAGE_PX), caption=caption, width="stretch")
    else:
        st.image(upscale(image.rgb()), caption=caption)


def token_block(html: str) -> str:
    """Token highlight spans (already escaped by ``reports.plots.token_html``) in a spaced block."""
    return f"<div class='da-tokens' style='line-height:2.1;margin:0.1rem 0 1rem 0'>{html}</div>"


def render_texts(texts: Sequence[TextView]) -> None:
    """Token highlights (escaped spans built by ``reports.plots.token_html``)."""
    for text in texts:
        st.markdown(f"**{text.title}**")
        st.markdown(token_block(text.html), unsafe_allow_html=True)
        if text.caption:
            st.caption(text.caption)


def render_figures(figures: Sequence[FigureView], key: str, per_row: int = 2) -> None:
    """Figures in order, ``per_row`` side by side; a wide figure (grouped importance, time steps) takes a row."""
    row: list[tuple[int, FigureView]] = []

    def flush() -> None:
        if not row:
            return
        cols = st.columns(per_row) if len(row) > 1 or per_row > 1 else [st.container()]
        for col, (i, fig) in zip(cols, row):
            with col:
                render_figure(fig, key=f"{key}-{i}-{fig.key}")
        row.clear()

    for i, fig in enumerate(figures):
        if fig.wide or len(fig.figure.data) > 4:  # many series: a legend that needs the whole width
            flush()
            render_figure(fig, key=f"{key}-{i}-{fig.key}")
        else:
            row.append((i, fig))
            if len(row) == per_row:
                flush()
    flush()


def render_section(section: SectionView, *, show_title: bool = True, skip_images: bool = False,
                   skip_texts: bool = False, after_findings: Callable[[], None] | None = None) -> None:
    """One check section: status, headline, findings, figures, tables, images, texts and other details.

    ``after_findings`` draws a tab's own block (e.g. the sample picker) right after the findings.
    """
    if show_title:
        st.subheader(f"{_STATUS_ICON.get(section.status, '')} {section.title}")
    if section.status == "skipped":
        st.info(f"Skipped: {section.reason or 'not applicable'}")
        return
    if section.status == "error":
        st.error(f"This check failed: {section.reason}")
        if section.traceback:
            with st.expander("Traceback summary (from the audit)"):
                st.code(section.traceback, language="text")
        return
    render_headline(section)
    if section.findings:
        render_findings(section.findings)
    if after_findings is not None:
        after_findings()
    render_figures(section.figures, key=f"fig-{section.anchor}")
    for i, table in enumerate(section.tables):
        if table.collapsed:
            with st.expander(table.title):
                render_table(table, key=f"tab-{section.anchor}-{i}-{table.key}")
        else:
            render_table(table, key=f"tab-{section.anchor}-{i}-{table.key}")
    if section.images and not skip_images:
        render_images(section.images)
    if section.texts and not skip_texts:
        render_texts(section.texts)
    if section.details:
        with st.expander(f"Other details ({len(section.details)})"):
            for detail in section.details:
                st.markdown(f"**{detail.title}**")
                if detail.note:
                    st.caption(detail.note)
                st.code(detail.json, language="json")
    st.caption(f"{section.seconds:.2f} s")
