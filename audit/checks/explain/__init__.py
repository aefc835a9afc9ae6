"""Explanation checks: attributions (captum, shap, LIME), their quality, and counterfactuals.

Checks, in run order: ``ExplanationsCheck`` ("explanations"), ``ExplanationQualityCheck`` ("explanation_quality",
reads the explanations' artifact), ``CounterfactualsCheck`` ("counterfactuals", tabular). The method functions
live in ``captum_``, ``shap_`` and ``lime_``; quality measures in ``quality``.
"""
from audit.checks.explain.counterfactual import CounterfactualsCheck
from audit.checks.explain.explanations import ExplanationSet, ExplanationsCheck
from audit.checks.explain.quality_check import ExplanationQualityCheck

__all__ = ["ExplanationsCheck", "ExplanationQualityCheck", "CounterfactualsCheck", "ExplanationSet"]
