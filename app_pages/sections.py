"""Which result tab shows which check section (pure; no Streamlit).

Sections come from ``reports.build_view`` (one per check). Each goes to the first tab whose keywords occur in the
check name; a check nobody anticipated lands in "Other checks", so new checks appear without changes here.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Protocol

__all__ = ["RESULT_TABS", "TAB_KEYWORDS", "OTHER_TAB", "tab_for_check", "group_sections", "sample_and_method",
           "pair_originals"]

OTHER_TAB = "Other checks"
RESULT_TABS: tuple[str, ...] = (
    "Summary",
    "Performance",
    "Explanations",
    "Fairness",
    "Robustness",
    "Calibration & OOD",
    "Generative",
    "What-if",
    "Compare",
    OTHER_TAB,
)
# Keywords are matched against the check name in this order (first match wins).
TAB_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Generative", ("generat", "gan", "fid")),
    ("Explanations", ("explan", "attribution", "shap", "lime", "captum", "saliency", "counterfactual", "concept")),
    ("Fairness", ("fair", "bias", "mitigat", "proxy", "disparit")),
    ("Robustness", ("robust", "adversar", "attack", "perturb", "shift", "corrupt")),
    ("Calibration & OOD", ("calibrat", "ood", "uncertain", "conformal", "distribution")),
    ("Performance", ("performance", "data_profile", "error_analysis", "profile", "leak", "slice")),
)


class _Named(Protocol):
    name: str


def tab_for_check(name: str) -> str:
    """The result tab that shows check ``name``.

    Example:
        >>> tab_for_check("fairness"), tab_for_check("explanation_quality"), tab_for_check("brand_new")
        ('Fairness', 'Explanations', 'Other checks')
    """
    lower = name.lower()
    for tab, words in TAB_KEYWORDS:
        if any(w in lower for w in words):
            return tab
    return OTHER_TAB


def group_sections(sections: Iterable[_Named], tabs: Sequence[str] = RESULT_TABS) -> dict[str, list[_Named]]:
    """Sections per tab, in report order (every tab present, possibly empty)."""
    out: dict[str, list[_Named]] = {tab: [] for tab in tabs}
    for section in sections:
        out.setdefault(tab_for_check(section.name), []).append(section)
    return out


# ------------------------------------------------------------------------------------ per-sample explanation items
_METHOD_PATTERNS: tuple[tuple[str, str], ...] = (
    ("integrated gradients", r"integrated[_ -]?gradients|\big\b"),
    ("gradient SHAP", r"gradient[_ -]?shap"),
    ("DeepLIFT SHAP", r"deep[_ -]?lift[_ -]?shap"),
    ("DeepLIFT", r"deep[_ -]?lift"),
    ("deep SHAP", r"deep[_ -]?shap|deep[_ -]?explainer"),
    ("kernel SHAP", r"kernel[_ -]?shap"),
    ("SHAP", r"\bshap\b|_shap\b|\bshap_"),
    ("LIME", r"\blime\b|_lime\b|\blime_"),
    ("saliency", r"saliency|gradient\b"),
    ("occlusion", r"occlusion"),
)
_SAMPLE_PATTERN = re.compile(r"(?:sample|row|index|idx|example|#)[ _:=-]*(\d+)", re.IGNORECASE)
_FALLBACK_NUMBER = re.compile(r"(?<![a-z0-9])(\d+)(?![a-z0-9])", re.IGNORECASE)


def sample_and_method(key: str, title: str = "") -> tuple[str | None, str | None]:
    """The sample id and the attribution method an explanation item is about, read from its key and title.

    Example:
        >>> sample_and_method("sample_12/integrated_gradients")
        ('12', 'integrated gradients')
        >>> sample_and_method("global_importance")
        (None, None)
    """
    text = f"{key} {title}"
    match = _SAMPLE_PATTERN.search(text)
    sample = match.group(1) if match else None
    lower = text.lower()
    method = next((label for label, pattern in _METHOD_PATTERNS if re.search(pattern, lower)), None)
    if sample is None and method is not None:
        number = _FALLBACK_NUMBER.search(key)
        sample = number.group(1) if number else None
    return sample, method


def pair_originals(items: Sequence[_Keyed]) -> tuple[list[tuple[_Keyed, _Keyed]], list[_Keyed]]:
    """Pair each adversarial / perturbed item with its original (same key once the role word is removed).

    Returns:
        (pairs of (original, adversarial), items left unpaired), in input order.
    """
    originals: dict[str, _Keyed] = {}
    others: list[tuple[str, _Keyed]] = []
    for item in items:
        key = item.key.lower()
        stem = _ROLE_WORDS.sub("", key)
        if re.search(r"orig|clean", key):
            originals[stem] = item
        else:
            others.append((stem, item))
    pairs: list[tuple[_Keyed, _Keyed]] = []
    used: set[int] = set()
    rest: list[_Keyed] = []
    for stem, item in others:
        original = originals.get(stem)
        if original is not None and re.search(r"adv|attack|perturb|pgd|fgsm|noisy|corrupt", item.key.lower()):
            pairs.append((original, item))
            used.add(id(original))
        else:
            rest.append(item)
    rest = [o for o in originals.values() if id(o) not in used] + rest
    return pairs, rest


class _Keyed(Protocol):
    key: str


_ROLE_WORDS = re.compile(r"(original|orig|clean|adversarial|adv|attacked|attack|perturbed|pgd|fgsm|noisy)[_ -]?")
