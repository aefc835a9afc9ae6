"""Built-in checks, registered explicitly in run order (explanations before the checks that read them)."""
from __future__ import annotations

from audit.checks.calibration import CalibrationCheck
from audit.checks.data_profile import DataProfileCheck
from audit.checks.error_analysis import ErrorAnalysisCheck
from audit.checks.explain import CounterfactualsCheck, ExplanationQualityCheck, ExplanationsCheck
from audit.checks.fairness import (
    ClassDisparityCheck,
    FairnessCheck,
    FairnessProbesCheck,
    MitigationCheck,
    ProxiesCheck,
)
from audit.checks.generative import GenerativeCheck
from audit.checks.generative_insight import GenerativeInsightCheck
from audit.checks.ood import OODCheck
from audit.checks.performance import PerformanceCheck
from audit.checks.robustness import CorruptionCheck, RobustnessCheck
from audit.checks.base import AuditContext, Check, CheckOutput, stratified_sample, validate_options
from audit.registry import REGISTRY, Registry

__all__ = ["AuditContext", "Check", "CheckOutput", "validate_options", "stratified_sample", "register_builtin_checks"]


def register_builtin_checks(registry: Registry) -> Registry:
    """Register every built-in check into ``registry`` in run order; returns it."""
    for check in _builtin_checks():
        if check.name not in registry:
            registry.register(check)
    return registry


def _builtin_checks() -> list[Check]:
    # Order matters: later checks may read earlier metrics/artifacts (fairness reads explanations).
    checks: list[Check] = [PerformanceCheck(), DataProfileCheck(), ErrorAnalysisCheck()]
    checks += [ExplanationsCheck(), ExplanationQualityCheck(), CounterfactualsCheck()]
    checks += [FairnessCheck(), ProxiesCheck(), FairnessProbesCheck(), ClassDisparityCheck(), MitigationCheck()]
    checks += [RobustnessCheck(), CorruptionCheck(), CalibrationCheck(), OODCheck()]
    checks += [GenerativeCheck(), GenerativeInsightCheck()]
    return checks


register_builtin_checks(REGISTRY)
