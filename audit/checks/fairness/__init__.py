"""Fairness checks: group metrics with bootstrap intervals, proxies, counterfactual probes, per-class disparity and
mitigation (fairlearn), plus the pure, vectorised metric functions they share.

Checks (in run order): ``FairnessCheck`` ("fairness"), ``ProxiesCheck`` ("proxies"), ``FairnessProbesCheck``
("fairness_probes"), ``ClassDisparityCheck`` ("class_disparity"), ``MitigationCheck`` ("mitigation").

Example:
    >>> from audit.checks.fairness import compute_group_frames
    >>> frames = compute_group_frames([1, 0, 1, 0], [1, 0, 0, 0], {"sex": ["F", "F", "M", "M"]}, n_boot=0,
    ...                               min_group_size=1)
    >>> frames["sex"].disparities["demographic_parity_difference"].value
    0.5
"""
from audit.checks._groups_util import bin_continuous
from audit.checks.base import Check
from audit.checks.fairness._bootstrap import bootstrap_cell_sums, percentile_interval
from audit.checks.fairness._flips import FlipResult, counterfactual_flips
from audit.checks.fairness._groups import (
    DISPARITY_NAMES,
    METRIC_NAMES,
    GroupMetrics,
    disparities,
    encode_groups,
    positive_class_calibration_error,
    group_metrics,
)
from audit.checks.fairness._metrics_frame import Disparity, GroupFrame, compute_group_frames
from audit.checks.fairness._text_probe import IdentityProbeResult, identity_probe
from audit.checks.fairness.class_disparity import ClassDisparityCheck, per_class_rates
from audit.checks.fairness.group_fairness import FairnessCheck
from audit.checks.fairness.identity_terms import IDENTITY_TERMS
from audit.checks.fairness.mitigation import (
    MitigationCheck,
    PrefitClassifier,
    apply_thresholds,
    export_thresholds,
    predict_with_thresholds,
)
from audit.checks.fairness.probes import FairnessProbesCheck
from audit.checks.fairness.proxies import ProxiesCheck, attribution_shares, normalized_mutual_information, probe_auc

__all__ = [
    "FairnessCheck",
    "ProxiesCheck",
    "FairnessProbesCheck",
    "ClassDisparityCheck",
    "MitigationCheck",
    "fairness_checks",
    "METRIC_NAMES",
    "DISPARITY_NAMES",
    "GroupMetrics",
    "GroupFrame",
    "Disparity",
    "group_metrics",
    "compute_group_frames",
    "disparities",
    "encode_groups",
    "bin_continuous",
    "positive_class_calibration_error",
    "bootstrap_cell_sums",
    "percentile_interval",
    "FlipResult",
    "counterfactual_flips",
    "IdentityProbeResult",
    "identity_probe",
    "IDENTITY_TERMS",
    "per_class_rates",
    "normalized_mutual_information",
    "probe_auc",
    "attribution_shares",
    "PrefitClassifier",
    "export_thresholds",
    "apply_thresholds",
    "predict_with_thresholds",
]


def fairness_checks() -> list[Check]:
    """The five fairness checks, in run order."""
    return [FairnessCheck(), ProxiesCheck(), FairnessProbesCheck(), ClassDisparityCheck(), MitigationCheck()]
