"""Robustness checks: adversarial attacks ("robustness") and natural corruptions ("corruption").

Public pieces: the checks, the validated attack functions (``fgsm``, ``pgd``), robustness-by-group summaries and the
text perturbations. The fast PGD path (``_fast_pgd``) reproduces ``captum.robust``'s PGD exactly, batched.
"""
from audit.checks.robustness.attacks import DEFAULT_BUDGETS, RobustnessCheck, RobustnessSettings, resolve_settings
from audit.checks.robustness.by_group import GroupSummary, group_summary
from audit.checks.robustness.corruption import CorruptionCheck, blur_images, gaussian_noise
from audit.checks.robustness.functional import ENGINES, NORMS, check_budget, check_norm, fgsm, pgd
from audit.checks.robustness.text import delete_tokens, typo_texts

__all__ = [
    "RobustnessCheck",
    "CorruptionCheck",
    "RobustnessSettings",
    "resolve_settings",
    "DEFAULT_BUDGETS",
    "fgsm",
    "pgd",
    "NORMS",
    "ENGINES",
    "check_budget",
    "check_norm",
    "GroupSummary",
    "group_summary",
    "gaussian_noise",
    "blur_images",
    "delete_tokens",
    "typo_texts",
]
