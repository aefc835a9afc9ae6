"""The tabs that show check sections: generic (any check) and the specialised Explanations, Fairness and
Robustness layouts (sample / method pickers, sensitive-feature filter, adversarial examples next to originals)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import streamlit as st

from app_pages.render import render_figure, render_image, render_images, render_section, render_texts
from app_pages.sections import pair_originals, sample_and_method
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


def _per_sample(sections: Sequence[SectionView]) -> list[tuple[str, str, SectionView, ImageView | TextView | FigureView]]:
    items: list[tuple[str, str, SectionView, ImageView | TextView | FigureView]] = []
    for section in sections:
        for item in [*section.images, *section.texts, *[f for f in section.figures if f.kind == "steps"]]:
            sample, method = sample_and_method(item.key, item.title)
            if sample is not None:
                items.append((sample, method or "—", section, item))
    return items


def render_explanations(sections: Sequence[SectionView]) -> None:
    """Pick a sample and a method: its image overlay, token highlights or per-step bars; then global importance,
    method agreement and the other explanation tables."""
    if not sections:
        _empty("Explanations")
        return
    items = _per_sample(sections)
    shown: set[int] = set()
    if items:
        samples = sorted({s for s, _, _, _ in items}, key=lambda s: (len(s), s))
        c1, c2 = st.columns(2)
        sample = c1.selectbox("Sample", samples, key="explain_sample", format_func=lambda s: f"test row {s}")
        methods = sorted({m for s, m, _, _ in items if s == sample})
        method = c2.selectbox("Method", ["all methods", *methods], key="explain_method")
        chosen = [(sec, it) for s, m, sec, it in items if s == sample and (method == "all methods" or m == method)]
        images = [it for _, it in chosen if isinstance(it, ImageView)]
        if images:
            cols = st.columns(min(4, len(images)))
            for i, image in enumerate(images):
                with cols[i % len(cols)]:
                    render_image(image)
        render_texts([it for _, it in chosen if isinstance(it, TextView)])
        for sec, fig in [(sec, it) for sec, it in chosen if isinstance(it, FigureView)]:
            render_figure(fig, key=f"explain-{sec.anchor}-{fig.key}")
        shown = {id(it) for _, _, _, it in items}
    for section in sections:
        rest_images = [im for im in section.images if id(im) not in shown]
        rest_texts = [t for t in section.texts if id(t) not in shown]
        trimmed = replace(section, images=rest_images, texts=rest_texts,
                          figures=[f for f in section.figures if id(f) not in shown])
        render_section(trimmed)
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


def render_robustness(sections: Sequence[SectionView]) -> None:
    """Robustness sections, with adversarial examples shown next to their originals."""
    if not sections:
        _empty("Robustness")
        return
    for section in sections:
        pairs, rest = pair_originals(section.images)
        render_section(replace(section, images=[]))
        if pairs:
            st.markdown("**Adversarial examples next to the originals**")
            for original, adversarial in pairs:
                left, right = st.columns(2)
                with left:
                    render_image(original)
                with right:
                    render_image(adversarial)
        if rest:
            render_images(rest)
        st.divider()

