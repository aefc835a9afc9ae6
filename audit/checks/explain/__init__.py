"""Explanation checks: attributions (captum, shap, LIME), their quality, and counterfactuals.

Public pieces: the checks (``ExplanationsCheck``) and the method functions in ``captum_``, ``shap_``, ``lime_``.
"""
from audit.checks.explain.explanations import ExplanationSet, ExplanationsCheck

__all__ = ["ExplanationsCheck", "ExplanationSet"]
