"""Which result tab shows which check section (pure; no Streamlit).

Sections come from ``reports.build_view`` (one per check). Each goes to the first tab whose keywords occur in the
check name; a check nobody anticipated lands in "Other checks", so new checks appear without changes here.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["RESULT_TABS", "TAB_KEYWORDS", "OTHER_TAB", "METHOD_LABELS", "ExplanationKey", "tab_for_check",
           "group_sections", "method_label", "explanation_key", "sample_label", "image_role", "group_roles"]

OTHER_TAB = "Other checks"
RESULT_TABS: tuple[str, ...] = (
    "Summary",
    "Performance",
    "Explanations",
    "Fairness",
    "Robustness",
    "Calibration & OOD",
    "Generative",
    "Compression",
    "What-if",
    "Compare",
    OTHER_TAB,
)
# Keywords are matched against the check name in this order (first match wins).
TAB_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Generative", ("generat", "gan", "fid")),
    ("Compression", ("compress", "quantiz", "prun", "distil")),
    ("Explanations", ("explan", "attribution", "shap", "lime", "captum", "saliency", "counterfactual", "concept")),
    ("Fairness", ("fair", "bias", "mitigat", "prox", "disparit")),
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


# ------------------------------------------------------------------------------------------- explanation items
# Display names of the attribution methods the explanations check runs (``audit.checks.explain``); unknown ids are
# humanised ("my_method" -> "my method").
METHOD_LABELS: dict[str, str] = {
    "integrated_gradients": "integrated gradients",
    "layer_integrated_gradients": "layer integrated gradients",
    "saliency": "saliency",
    "deeplift": "DeepLIFT",
    "deeplift_shap": "DeepLIFT SHAP",
    "gradient_shap": "GradientSHAP",
    "shap_gradient": "SHAP (gradient)",
    "shap_deep": "SHAP (deep)",
    "kernel_shap": "Kernel SHAP",
    "shap_permutation": "SHAP permutation",
    "occlusion": "occlusion",
    "lime": "LIME",
}
_LOCAL_KEY = re.compile(r"^local_(\d+)_(\w+)$")
_GLOBAL_KEY = re.compile(r"^global_(\w+)$")
# Older / third-party keys such as "sample_3/integrated_gradients": a sample word and number, then a method.
_SAMPLE_PATTERN = re.compile(r"(?:sample|row|index|idx|example)[ _:=#-]*(\d+)", re.IGNORECASE)


def method_label(method: str) -> str:
    """The display name of an attribution method id.

    Example:
        >>> method_label("shap_gradient"), method_label("my_method")
        ('SHAP (gradient)', 'my method')
    """
    return METHOD_LABELS.get(method, method.replace("_", " "))


@dataclass(frozen=True)
class ExplanationKey:
    """What one explanation item (image, token text or bar chart) shows.

    Attributes:
        scope: "local" (one test row) or "global" (over many rows).
        method: the method id as in the metrics ("integrated_gradients").
        sample: the test row, for local items.
    """

    scope: str
    method: str
    sample: int | None = None


def explanation_key(key: str) -> ExplanationKey | None:
    """Read an item key of the explanations check: ``local_<test row>_<method>`` or ``global_<method>``.

    Keys of other layouts ("sample_3/saliency", "sample 3 lime") are read as local items when they name a sample
    number and a method after it; anything else (e.g. "global_importance_ci" tables) gives None when it is not a
    per-method item.

    Example:
        >>> explanation_key("local_344_layer_integrated_gradients")
        ExplanationKey(scope='local', method='layer_integrated_gradients', sample=344)
        >>> explanation_key("global_lime")
        ExplanationKey(scope='global', method='lime', sample=None)
        >>> explanation_key("sample_3/integrated_gradients")
        ExplanationKey(scope='local', method='integrated_gradients', sample=3)
        >>> explanation_key("agreement") is None
        True
    """
    match = _LOCAL_KEY.match(key)
    if match:
        return ExplanationKey("local", match.group(2), int(match.group(1)))
    match = _GLOBAL_KEY.match(key)
    if match:
        return ExplanationKey("global", match.group(1))
    match = _SAMPLE_PATTERN.search(key)
    if match:
        method = re.sub(r"\W+", "_", key[match.end():]).strip("_").lower()
        if method:
            return ExplanationKey("local", method, int(match.group(1)))
    return None


def sample_label(row: int, records: Sequence[Mapping[str, Any]] = ()) -> str:
    """The picker label of test row ``row``: why it was chosen and its true label, from the check's ``local``
    records (``{"index", "reason", "label", ...}``) when present.

    Example:
        >>> sample_label(387, [{"index": 387, "reason": "most_confident_error", "label": "Sneaker"}])
        'row 387 · most confident error · true Sneaker'
        >>> sample_label(4, [{"index": 4, "reason": "largest_error", "label": 2.8555}])
        'row 4 · largest error · true 2.856'
    """
    for rec in records:
        if isinstance(rec, Mapping) and rec.get("index") == row:
            parts = [f"row {row}"]
            if rec.get("reason"):
                parts.append(str(rec["reason"]).replace("_", " "))
            label = rec.get("label")
            if label is not None:
                parts.append(f"true {label:.4g}" if isinstance(label, float) else f"true {label}")
            return " · ".join(parts)
    return f"row {row}"


# --------------------------------------------------------------------------------------- robustness image rows
_ROLE_ORDER = ("original", "adversarial", "perturbation")
_ROLES: tuple[tuple[str, str], ...] = (
    ("original", r"original|orig|clean"),
    ("adversarial", r"adversarial|adv|attacked|attack|pgd|fgsm|noisy|corrupted"),
    ("perturbation", r"perturbation|perturbed|perturb|delta|difference|diff"),
)
_ROLE_SUFFIX = re.compile(r"^(?P<stem>.*?)[ _/-]*(?P<role>" + "|".join(p for _, p in _ROLES) + r")$", re.IGNORECASE)
_ROLE_PREFIX = re.compile(r"^(?P<role>" + "|".join(p for _, p in _ROLES) + r")[ _/-]*(?P<stem>.+)$", re.IGNORECASE)


class _Keyed(Protocol):
    key: str


def image_role(key: str) -> tuple[str, str] | None:
    """(sample stem, role) of a robustness image key: role is "original", "adversarial" or "perturbation".

    Example:
        >>> image_role("sample_0_adversarial"), image_role("sample_0_perturbation"), image_role("grid")
        (('sample_0', 'adversarial'), ('sample_0', 'perturbation'), None)
    """
    match = _ROLE_SUFFIX.match(key) or _ROLE_PREFIX.match(key)
    if not match or not match.group("stem"):
        return None
    word = match.group("role").lower()
    role = next(name for name, pattern in _ROLES if re.fullmatch(pattern, word))
    return match.group("stem"), role


def group_roles(items: Sequence[_Keyed]) -> tuple[list[list[_Keyed]], list[_Keyed]]:
    """Rows of (original, adversarial, perturbation) images of the same sample, in input order.

    A row needs an original and at least one other role; items of incomplete rows and items without a role come
    back in ``rest`` (input order).

    Returns:
        (rows, each ordered original -> adversarial -> perturbation; rest).
    """
    stems: dict[str, dict[str, _Keyed]] = {}
    for item in items:
        found = image_role(item.key)
        if found is not None and found[1] not in stems.setdefault(found[0], {}):
            stems[found[0]][found[1]] = item
    rows = [[roles[r] for r in _ROLE_ORDER if r in roles] for roles in stems.values()
            if "original" in roles and len(roles) > 1]
    used = {id(i) for row in rows for i in row}
    return rows, [i for i in items if id(i) not in used]
