"""The tabs that show check sections: generic (any check) and the specialised Explanations, Fairness and
Robustness layouts (sample / method pickers, sensitive-feature filter, adversarial examples next to originals)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import streamlit as st

from app_pages.render import render_figures, render_image, render_section, token_block
from app_pages.sections import ExplanationKey, explanation_key, group_roles, method_label, sample_label
from reports import plots
from reports._model import FigureView, ImageView, SectionView, TextView

__all__ = ["render_group", "render_explanations", "render_fairness", "render_robustness"]


def _empty(tab: str) -> None:
    st.info(f"No {tab.lower()} check ran in this audit (it was not selected, or none applies to this model and data).")


def render_group(tab: str, sections: Sequence[SectionView]) -> None:
    """Every section of one tab, in report order."""
    if not sections:
        _empty(tab)
        return
    for section in sections:
        render_section(section)
        st.divider()


_ALL = "all methods"


@dataclass
class _Items:
    """The per-method explanation items of one section, split into local (per test row) and global."""

    local: list[tuple[ExplanationKey, ImageView | TextView | FigureView]] = field(default_factory=list)
    global_: list[tuple[ExplanationKey, ImageView | TextView | FigureView]] = field(default_factory=list)

    @property
    def ids(self) -> set[int]:
        return {id(item) for _, item in [*self.local, *self.global_]}

    def methods(self) -> list[str]:
        """Method ids in the order the check wrote them."""
        return list(dict.fromkeys(k.method for k, _ in [*self.local, *self.global_]))


def _items(section: SectionView) -> _Items:
    out = _Items()
    for item in [*section.images, *section.texts, *[f for f in section.figures if f.kind in ("bars", "steps")]]:
        key = explanation_key(item.key)
        if key is not None:
            (out.local if key.scope == "local" else out.global_).append((key, item))
    return out


def _show_items(items: Sequence[ImageView | TextView | FigureView], key: str, *, with_input: bool) -> None:
    """Images in one row (the input first when ``with_input``), then token highlights, then charts two a row."""
    images = [it for it in items if isinstance(it, ImageView)]
    if images:
        shown: list[tuple[ImageView, str]] = []
        base = next((im.base for im in images if im.base is not None), None)
        if with_input and base is not None:
            shown.append((ImageView(key="input", title="input", caption="", kind="grayscale", data=base), "input"))
        for im in images:
            method = explanation_key(im.key)
            shown.append((im, method_label(method.method) if method else im.title))
        per_row = 8
        for start in range(0, len(shown), per_row):
            cols = st.columns(per_row)
            for col, (im, caption) in zip(cols, shown[start:start + per_row]):
                with col:
                    render_image(im, caption=caption, stretch=True)
    for text in [it for it in items if isinstance(it, TextView)]:
        method = explanation_key(text.key)
        st.markdown(f"**{method_label(method.method) if method else text.title}**")
        st.markdown(token_block(text.html), unsafe_allow_html=True)
    render_figures([it for it in items if isinstance(it, FigureView)], key=key)


def _common_caption(items: Sequence[ImageView | TextView | FigureView]) -> str:
    """The caption every image / text of a row shares (e.g. "class Ankle boot"), else ""."""
    captions = {getattr(it, "caption", "") or "" for it in items if isinstance(it, (ImageView, TextView))}
    return captions.pop() if len(captions) == 1 else ""


def _record_bars(sample: int, method: str, records: Sequence[Mapping[str, Any]]) -> FigureView | None:
    """A bar chart of the top features of one row and method from the check's ``local`` records, for rows whose
    items the report did not keep (it keeps a bounded number of per-row charts)."""
    for rec in records:
        top = rec.get("top") if isinstance(rec, Mapping) and rec.get("index") == sample else None
        pairs = top.get(method) if isinstance(top, Mapping) else None
        if pairs:
            labels = [str(p[0]) for p in pairs]
            values = [float(p[1]) for p in pairs]
            title = f"Row {sample}: {method_label(method)} (top {len(pairs)})"
            return FigureView(key=f"local_{sample}_{method}", title=title, kind="bars",
                              figure=plots.bar_figure(labels, values, title=title, value_label="attribution"))
    return None


def _samples(items: _Items, records: Sequence[Mapping[str, Any]]) -> list[int]:
    """Rows with something to show, in the check's order (errors, uncertain, random), then any others."""
    with_items = {k.sample for k, _ in items.local if k.sample is not None}
    ordered = [int(r["index"]) for r in records if isinstance(r, Mapping) and isinstance(r.get("index"), int)
               and (r["index"] in with_items or r.get("top"))]
    return list(dict.fromkeys([*ordered, *sorted(with_items)]))


def _picker(section: SectionView, items: _Items, records: Sequence[Mapping[str, Any]]) -> None:
    """Sample and method pickers, the chosen row's explanations, then global importance for the chosen method."""
    methods = items.methods()
    samples = _samples(items, records)
    c1, c2 = st.columns(2)
    sample = None
    if samples:
        sample = c1.selectbox("Sample (test row)", samples, key="explain_sample",
                              format_func=lambda s: sample_label(s, records))
    method = c2.selectbox("Method", [_ALL, *methods], key="explain_method",
                          format_func=lambda m: m if m == _ALL else method_label(m))
    if sample is not None:
        chosen: list[ImageView | TextView | FigureView] = []
        for m in (methods if method == _ALL else [method]):
            found = [it for k, it in items.local if k.sample == sample and k.method == m]
            fallback = _record_bars(sample, m, records) if not found else None
            chosen.extend(found or ([fallback] if fallback else []))
        explained = _common_caption(chosen)
        st.markdown(f"**Explanations of {sample_label(sample, records)}**"
                    + (f" — toward {explained.replace('class ', 'class **', 1)}**" if explained.startswith("class ")
                       else f" — {explained}" if explained else ""))
        if chosen:
            _show_items(chosen, key=f"explain-local-{section.anchor}-{sample}", with_input=True)
        else:
            st.caption(f"No per-row explanation of row {sample} by {method_label(method)} was kept in this result.")
    global_items = [it for k, it in items.global_ if method in (_ALL, k.method)]
    if global_items:
        st.markdown("**Global importance** (over many test rows)")
        _show_items(global_items, key=f"explain-global-{section.anchor}", with_input=False)
    grouped = [f for f in section.figures if f.kind == "importance"]
    if grouped:
        with st.expander("Global importance of every method side by side"):
            render_figures(grouped, key=f"explain-grouped-{section.anchor}", per_row=1)


def render_explanations(sections: Sequence[SectionView], metrics: Mapping[str, Any] | None = None) -> None:
    """Explanation sections. For the per-method items of the explanations check (``local_<row>_<method>`` and
    ``global_<method>`` images, token texts and bar charts): pick a test row and a method to see its image overlays,
    token highlights or bars next to each other, then the global importance of that method; the rest of each
    section (headline, findings, grouped importance, tables, quality, counterfactuals) as usual.

    Args:
        sections: the Explanations tab's sections.
        metrics: ``result.metrics`` (its ``<check>.local`` records label the rows: why chosen, true label).
    """
    if not sections:
        _empty("Explanations")
        return
    metrics = metrics or {}
    picked = False
    for section in sections:
        items = _items(section)
        if not (items.local or items.global_) or picked:
            render_section(section)
            st.divider()
            continue
        picked = True  # one picker per tab (its widget keys are fixed)
        ids = items.ids
        records = (metrics.get(section.name) or {}).get("local") or []
        trimmed = replace(section, images=[im for im in section.images if id(im) not in ids],
                          texts=[t for t in section.texts if id(t) not in ids],
                          figures=[f for f in section.figures if id(f) not in ids and f.kind != "importance"])
        render_section(trimmed, after_findings=lambda s=section, i=items, r=records: _picker(s, i, r))
        st.divider()


def _mentions(text: str, feature: str) -> bool:
    return feature.lower() in text.lower()


def render_fairness(sections: Sequence[SectionView], sensitive: Sequence[str]) -> None:
    """Fairness sections, optionally narrowed to the figures and tables of one sensitive feature."""
    if not sections:
        _empty("Fairness")
        return
    feature = "all features"
    if len(sensitive) > 1:
        feature = st.selectbox("Sensitive feature", ["all features", *sensitive], key="fairness_feature")
    for section in sections:
        if feature == "all features":
            render_section(section)
        else:
            figures = [f for f in section.figures if _mentions(f"{f.key} {f.title}", feature)]
            tables = [t for t in section.tables if _mentions(f"{t.key} {t.title}", feature)]
            narrowed = replace(section, figures=figures, tables=tables)
            render_section(narrowed)
            if not figures and not tables:
                st.caption(f"No figure or table is specific to {feature!r}; choose 'all features' to see the rest.")
        st.divider()


def _adversarial_rows(rows: Sequence[Sequence[ImageView]]) -> None:
    st.markdown("**Adversarial examples next to the originals** (original · attacked · perturbation)")
    width = max(len(r) for r in rows)
    per_line = max(1, 6 // width)  # two samples a line for triples
    for start in range(0, len(rows), per_line):
        cols = st.columns(per_line * (width + 1) - 1)
        for j, row in enumerate(rows[start:start + per_line]):
            for k, image in enumerate(row):
                with cols[j * (width + 1) + k]:
                    render_image(image, stretch=True)


def render_robustness(sections: Sequence[SectionView]) -> None:
    """Robustness sections, with each adversarial example (and its perturbation) next to its original, right
    after the section's findings."""
    if not sections:
        _empty("Robustness")
        return
    for section in sections:
        rows, rest = group_roles(section.images)
        hook = (lambda r=rows: _adversarial_rows(r)) if rows else None
        render_section(replace(section, images=rest), after_findings=hook)
        st.divider()
