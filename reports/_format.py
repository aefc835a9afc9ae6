"""Small, pure formatting helpers shared by the view builder, the HTML, JUnit and diff renderers."""
from __future__ import annotations

import math
from typing import Any

from audit.registry import REGISTRY

__all__ = [
    "format_value",
    "format_bounds",
    "short_hash",
    "check_title",
    "humanize",
    "is_scalar",
    "is_number",
]

# Titles of the built-in checks (fixed here so a report looks the same whatever is registered when it is rendered).
_TITLES: dict[str, str] = {
    "performance": "Performance",
    "data_profile": "Data profile",
    "explanations": "Explanations",
    "explanation_quality": "Explanation quality",
    "fairness": "Fairness",
    "robustness": "Robustness",
    "calibration": "Calibration",
    "ood": "Out-of-distribution detection",
    "generative": "Generative quality",
    "compression": "Compression",
    "model": "Model",
}


def is_number(value: Any) -> bool:
    """True for int/float (not bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_scalar(value: Any) -> bool:
    """True for the headline types of the metric conventions: None, bool, int, float, str."""
    return value is None or isinstance(value, (bool, int, float, str))


def format_value(value: Any) -> str:
    """A short human string for a metric value.

    Args:
        value: a JSON-ready scalar (None means "not available").

    Returns:
        ``"n/a"`` for None/NaN, ``"yes"``/``"no"`` for bools, integers with thousands separators, floats with
        four significant digits.

    Example:
        >>> format_value(0.123456), format_value(None), format_value(12000)
        ('0.1235', 'n/a', '12,000')
    """
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "n/a"
        if value == 0.0:
            return "0"
        if abs(value) >= 1e5 or abs(value) < 1e-3:
            return f"{value:.3e}"
        return f"{value:.4g}"
    return str(value)


def format_bounds(bounds: dict[str, float] | None) -> str:
    """``{"min": 0.8}`` -> ``"≥ 0.8"``; ``{"min": 0, "max": 1}`` -> ``"≥ 0 and ≤ 1"``."""
    if not bounds:
        return ""
    parts = []
    if bounds.get("min") is not None:
        parts.append(f"≥ {bounds['min']:g}")
    if bounds.get("max") is not None:
        parts.append(f"≤ {bounds['max']:g}")
    return " and ".join(parts)


def short_hash(value: Any, n: int = 12) -> str:
    """The first ``n`` characters of a fingerprint, or ``"n/a"``."""
    if not value:
        return "n/a"
    return str(value)[:n]


def humanize(key: str) -> str:
    """``"max_single_feature_auc"`` -> ``"Max single feature AUC"``."""
    words = str(key).replace(".", " ").replace("_", " ").split()
    acronyms = {"auc", "ece", "mce", "fid", "pgd", "fgsm", "ood", "roc", "ci", "mae", "mse", "rmse", "ig", "r2",
                "lime", "shap", "tpr", "fpr", "auroc", "nll", "kl", "id"}
    out = [w.upper() if w.lower() in acronyms else w for w in words]
    if out and out[0] == out[0].lower():
        out[0] = out[0][:1].upper() + out[0][1:]
    return " ".join(out)


def check_title(name: str) -> str:
    """The human title of a check: built-in table, then the registered check's ``title``, then ``humanize``."""
    if name in _TITLES:
        return _TITLES[name]
    if name in REGISTRY:
        title = getattr(REGISTRY.get(name), "title", None)
        if isinstance(title, str) and title:
            return title
    return humanize(name)
