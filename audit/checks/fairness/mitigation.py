"""The "mitigation" check: what fairness costs in accuracy, with two fairlearn mitigations.

- Post-processing: ``ThresholdOptimizer`` fitted on the validation split over the trained model's positive-class
  probability (group-specific, possibly randomised thresholds), evaluated on the audited test rows. The fitted
  thresholds are exported as JSON (``export_thresholds``) and applied without fairlearn by ``apply_thresholds`` /
  ``predict_with_thresholds``, so a pipeline can use them.
- Reductions: ``ExponentiatedGradient`` over a ``LogisticRegression`` fitted on the same train features (the trained
  model itself cannot be refitted with sample weights), compared with the plain logistic regression.
Each is reported as a before/after table of accuracy against the disparity it targets. Bounded by ``max_rows``.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from audit.checks._common import require_float, require_int
from audit.checks.base import AuditContext, CheckOutput, stratified_sample
from audit.checks.fairness._groups import as_group_labels, disparities, group_metrics
from audit.checks.fairness._sensitive import prepare_sensitive
from audit.checks.fairness._tables import fmt
from audit.errors import CheckNotApplicable, ConfigError, InvalidInputError
from audit.results import Finding, to_jsonable

__all__ = ["MitigationCheck", "PrefitClassifier", "export_thresholds", "apply_thresholds", "predict_with_thresholds",
           "CONSTRAINTS"]

# option value -> (ThresholdOptimizer constraints, reductions moment name, disparity it targets)
CONSTRAINTS: Mapping[str, tuple[str, str, str]] = {
    "demographic_parity": ("demographic_parity", "DemographicParity", "demographic_parity_difference"),
    "equalized_odds": ("equalized_odds", "EqualizedOdds", "equalized_odds_difference"),
    "equal_opportunity": ("true_positive_rate_parity", "TruePositiveRateParity", "equal_opportunity_difference"),
}


class PrefitClassifier(ClassifierMixin, BaseEstimator):
    """A fitted model seen by scikit-learn/fairlearn as a prefit binary classifier.

    Args:
        predict_proba_fn: maps features (n, d) to probabilities (n, 2).
        dtype: dtype the features are cast to before calling the model (fairlearn passes float64).
    """

    def __init__(self, predict_proba_fn: Callable[[np.ndarray], np.ndarray] | None = None, dtype: str = "float32") -> None:
        self.predict_proba_fn = predict_proba_fn
        self.dtype = dtype
        self.classes_ = np.array([0, 1])

    def fit(self, x: Any, y: Any = None) -> "PrefitClassifier":
        """Nothing to fit (prefit)."""
        return self

    def predict_proba(self, x: Any) -> np.ndarray:
        """Probabilities from the wrapped model."""
        if self.predict_proba_fn is None:
            raise InvalidInputError("The 'predict_proba_fn' argument of PrefitClassifier must be a callable. Got None.")
        return np.asarray(self.predict_proba_fn(np.asarray(x, dtype=self.dtype)), dtype=np.float64)

    def predict(self, x: Any) -> np.ndarray:
        """Arg-max class."""
        return self.predict_proba(x).argmax(axis=1)


def export_thresholds(optimizer: Any) -> dict[str, Any]:
    """The fitted group thresholds of a ``ThresholdOptimizer`` as JSON-ready data (±inf written as "inf"/"-inf").

    Each group applies ``operation0`` with probability ``p0`` and ``operation1`` with ``p1``; an operation is
    ``score > threshold`` or ``score < threshold``; with probability ``p_ignore`` the constant ``prediction_constant``
    is used instead. The score is the model's positive-class probability.

    Raises:
        InvalidInputError: ``optimizer`` is not a fitted ``ThresholdOptimizer``.
    """
    thresholder = getattr(optimizer, "interpolated_thresholder_", None)
    if thresholder is None:
        raise InvalidInputError(f"The 'optimizer' argument must be a fitted fairlearn ThresholdOptimizer. Got {type(optimizer).__name__}.")
    groups = {}
    for label, bunch in thresholder.interpolation_dict.items():
        groups[str(label)] = {
            "p0": float(bunch.p0), "operator0": bunch.operation0.operator, "threshold0": _thr(bunch.operation0.threshold),
            "p1": float(bunch.p1), "operator1": bunch.operation1.operator, "threshold1": _thr(bunch.operation1.threshold),
            "p_ignore": float(bunch["p_ignore"]) if "p_ignore" in bunch else 0.0,
            "prediction_constant": float(bunch["prediction_constant"]) if "prediction_constant" in bunch else 0.0,
        }
    return {"method": "ThresholdOptimizer", "constraints": str(optimizer.constraints), "objective": str(optimizer.objective),
            "score": "predicted probability of the positive class", "groups": groups}


def _thr(value: float) -> float | str:
    v = float(value)
    return v if math.isfinite(v) else ("inf" if v > 0 else "-inf")


def apply_thresholds(scores: Any, groups: Any, thresholds: Mapping[str, Any]) -> np.ndarray:
    """Probability of a positive decision for each row under exported thresholds (fairlearn's ``_pmf_predict``).

    Args:
        scores: positive-class probabilities, shape (n,).
        groups: group label per row, shape (n,).
        thresholds: the output of ``export_thresholds`` (or its ``"groups"`` entry).

    Returns:
        float array (n,) in [0, 1].

    Raises:
        InvalidInputError: lengths differ, or a group that has no thresholds.

    Example:
        >>> t = {"a": {"p0": 1.0, "operator0": ">", "threshold0": 0.5, "p1": 0.0, "operator1": ">", "threshold1": 0.5}}
        >>> apply_thresholds([0.4, 0.6], ["a", "a"], t).tolist()
        [0.0, 1.0]
    """
    table = thresholds.get("groups", thresholds) if isinstance(thresholds, Mapping) else None
    if not isinstance(table, Mapping):
        raise InvalidInputError(f"The 'thresholds' argument must be the mapping export_thresholds returns. Got {type(thresholds).__name__}.")
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    g = as_group_labels(groups, "groups")
    if len(g) != len(s):
        raise InvalidInputError(f"The 'groups' argument must have {len(s)} entries like 'scores'. Got {len(g)}.")
    unseen = sorted(set(g) - set(table))
    if unseen:
        raise InvalidInputError(f"The 'groups' argument holds {unseen[:5]} with no fitted thresholds. Known: {sorted(table)}.")
    out = np.zeros(len(s))
    for label, spec in table.items():
        mask = g == label
        if not mask.any():
            continue
        part = (float(spec["p0"]) * _op(s[mask], spec["operator0"], spec["threshold0"])
                + float(spec["p1"]) * _op(s[mask], spec["operator1"], spec["threshold1"]))
        p_ignore = float(spec.get("p_ignore", 0.0))
        out[mask] = p_ignore * float(spec.get("prediction_constant", 0.0)) + (1.0 - p_ignore) * part
    return out


def _op(s: np.ndarray, operator: str, threshold: Any) -> np.ndarray:
    t = float(threshold)
    if operator == ">":
        return (s > t).astype(np.float64)
    if operator == "<":
        return (s < t).astype(np.float64)
    raise InvalidInputError(f"A threshold operator must be '>' or '<'. Got {operator!r}.")


def predict_with_thresholds(scores: Any, groups: Any, thresholds: Mapping[str, Any], seed: int = 0) -> np.ndarray:
    """0/1 decisions under exported thresholds; randomised groups draw from ``default_rng(seed)``."""
    p = apply_thresholds(scores, groups, thresholds)
    return (p >= np.random.default_rng(seed).random(len(p))).astype(np.int64)


@dataclass(frozen=True)
class MitigationCheck:
    """Before/after accuracy and disparity of post-processing and reductions mitigations (fairlearn)."""

    name: str = "mitigation"
    title: str = "Fairness mitigation (what it costs)"
    kinds: frozenset[str] = frozenset({"tabular"})
    tasks: frozenset[str] = frozenset({"binary"})
    needs: frozenset[str] = frozenset({"sensitive", "proba"})
    default_options: Mapping[str, Any] = field(default_factory=lambda: {
        "constraints": "demographic_parity",  # | "equalized_odds" | "equal_opportunity"
        "sensitive_feature": "",             # "" = the first sensitive feature
        "max_rows": 2000,                    # rows used to fit (val/train) and to evaluate (test), each
        "min_group_size": 30,                # groups compared in the before/after disparity
        "max_categories": 10,
        "grid_size": 1000,                   # ThresholdOptimizer grid
        "eps": 0.01,                         # ExponentiatedGradient allowed constraint violation
        "max_iter": 50,                      # ExponentiatedGradient iterations
        "reductions": True,                  # also run ExponentiatedGradient
    })

    def run(self, ctx: AuditContext, options: Mapping[str, Any]) -> CheckOutput:
        """Fit both mitigations and compare them with their unmitigated model on the audited rows."""
        from fairlearn.postprocessing import ThresholdOptimizer  # heavy optional import
        from fairlearn import reductions

        constraint, moment, target = _resolve(options)
        feature = options["sensitive_feature"] or ctx.sensitive_features[0]
        if feature not in ctx.sensitive_features:
            raise ConfigError(f"The option 'options.mitigation.sensitive_feature' must be one of {ctx.sensitive_features}. Got {feature!r}.")
        ds = ctx.dataset
        fit_split = ds.val if len(ds.val) and feature in ds.val.sensitive.columns else ds.train
        rng = ctx.rng("mitigation")
        limit = int(options["max_rows"])
        fit = fit_split.subset(stratified_sample(np.asarray(fit_split.y), limit, rng))
        test = ctx.test.subset(ctx.sample(limit, "mitigation-eval"))
        kw = {"edges": ctx.config.age_bins, "continuous": ds.continuous_features, "max_categories": int(options["max_categories"])}
        g_fit = prepare_sensitive(fit.sensitive, [feature], **kw).labels.get(feature)
        g_test = prepare_sensitive(test.sensitive, [feature], **kw).labels.get(feature)
        if g_fit is None or g_test is None or len(np.unique(fit.y)) < 2:
            raise CheckNotApplicable(f"'{feature}' or the labels have a single value in the rows used to fit")
        seed = int(rng.integers(0, 2**31 - 1))
        x_fit, x_test = np.asarray(fit.x, dtype=np.float64), np.asarray(test.x, dtype=np.float64)
        ctx.progress(0.1, "ThresholdOptimizer")
        model = PrefitClassifier(ctx.model.predict_proba)
        optimizer = ThresholdOptimizer(estimator=model, constraints=constraint, objective="accuracy_score",
                                       grid_size=int(options["grid_size"]), prefit=True, predict_method="predict_proba")
        optimizer.fit(x_fit, np.asarray(fit.y), sensitive_features=g_fit.astype(str))
        thresholds = export_thresholds(optimizer)
        known = np.isin(g_test.astype(str), list(thresholds["groups"]))
        scores = ctx.model.predict_proba(test.x)[:, 1]
        after = np.zeros(len(scores), dtype=np.int64)
        after[known] = predict_with_thresholds(scores[known], g_test[known], thresholds, seed=seed)
        after[~known] = (scores[~known] > 0.5).astype(np.int64)
        mg = int(options["min_group_size"])
        y_test = np.asarray(test.y)
        post = {"before": _score(y_test, (scores > 0.5).astype(np.int64), g_test, target, mg),
                "after": _score(y_test, after, g_test, target, mg)}
        red = None
        if options["reductions"]:
            ctx.progress(0.5, "ExponentiatedGradient")
            base = LogisticRegression(max_iter=500)
            train = ds.train.subset(stratified_sample(np.asarray(ds.train.y), limit, rng))
            g_train = prepare_sensitive(train.sensitive, [feature], **kw).labels.get(feature)
            if g_train is not None and len(np.unique(train.y)) == 2:
                x_train = np.asarray(train.x, dtype=np.float64)
                plain = LogisticRegression(max_iter=500).fit(x_train, train.y)
                eg = reductions.ExponentiatedGradient(base, constraints=getattr(reductions, moment)(), eps=float(options["eps"]),
                                                      max_iter=int(options["max_iter"]))
                with warnings.catch_warnings():  # fairlearn's own pandas deprecation notices, not the user's
                    warnings.filterwarnings("ignore", module=r"fairlearn\.")
                    eg.fit(x_train, np.asarray(train.y), sensitive_features=g_train.astype(str))
                    after_eg = np.asarray(eg.predict(x_test, random_state=seed))
                red = {"before": _score(y_test, plain.predict(x_test), g_test, target, mg),
                       "after": _score(y_test, after_eg, g_test, target, mg), "estimator": eg}
        metrics = _layout(post, red, thresholds, feature, target, options, len(fit), len(test), int((~known).sum()))
        findings = [Finding(self.name, "info",
                            f"ThresholdOptimizer ({options['constraints']} on '{feature}'): {target.replace('_', ' ')} "
                            f"{fmt(post['before']['disparity'])} -> {fmt(post['after']['disparity'])}, accuracy "
                            f"{fmt(post['before']['accuracy'])} -> {fmt(post['after']['accuracy'])}.")]
        ctx.progress(1.0, "done")
        return CheckOutput(metrics=to_jsonable(metrics), findings=findings,
                           artifacts={"threshold_optimizer": optimizer, "thresholds": thresholds,
                                      "exponentiated_gradient": None if red is None else red["estimator"]})


def _resolve(options: Mapping[str, Any]) -> tuple[str, str, str]:
    if options["constraints"] not in CONSTRAINTS:
        raise ConfigError(f"The option 'options.mitigation.constraints' must be one of {sorted(CONSTRAINTS)}. "
                          f"Got {options['constraints']!r}.")
    for key in ("max_rows", "min_group_size", "grid_size", "max_iter", "max_categories"):
        require_int("mitigation", key, options[key], 1)
    require_float("mitigation", "eps", options["eps"], 0, 1, min_inclusive=False, max_inclusive=False)
    return CONSTRAINTS[options["constraints"]]


def _score(y: np.ndarray, pred: np.ndarray, groups: np.ndarray, target: str, min_group_size: int) -> dict[str, Any]:
    m = group_metrics(y, pred, groups.astype(str))
    d = disparities(m.values, m.values["count"] >= min_group_size)
    return {"accuracy": float(np.mean(y == pred)), "disparity": float(d[target]),
            "selection_rate": dict(zip(m.labels, m.values["selection_rate"].tolist()))}


def _layout(post: dict[str, Any], red: dict[str, Any] | None, thresholds: dict[str, Any], feature: str, target: str,
            options: Mapping[str, Any], n_fit: int, n_test: int, n_unseen: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "targeted_disparity": target,
        "sensitive_feature": feature,
        "threshold_accuracy_before": post["before"]["accuracy"],
        "threshold_accuracy_after": post["after"]["accuracy"],
        "threshold_disparity_before": post["before"]["disparity"],
        "threshold_disparity_after": post["after"]["disparity"],
        "thresholds": thresholds,
        "fit_rows": n_fit, "eval_rows": n_test, "eval_rows_unseen_group": n_unseen,
        "threshold_optimizer": {k: post[k] for k in ("before", "after")},
    }
    cols = ["stage", "model", "accuracy", target]
    tables = {"threshold_optimizer": {
        "title": f"Post-processing (ThresholdOptimizer, {options['constraints']} on '{feature}')",
        "columns": cols,
        "rows": [["before", "trained model (threshold 0.5)", post["before"]["accuracy"], post["before"]["disparity"]],
                 ["after", "group thresholds", post["after"]["accuracy"], post["after"]["disparity"]]],
        "note": f"Thresholds fitted on {n_fit} validation rows, evaluated on {n_test} audited test rows (randomised "
                "thresholds drawn with the audit seed). The thresholds are in metrics['thresholds'] and can be applied "
                "with audit.checks.fairness.apply_thresholds.",
    }}
    if red is not None:
        out.update({"reductions_accuracy_before": red["before"]["accuracy"], "reductions_accuracy_after": red["after"]["accuracy"],
                    "reductions_disparity_before": red["before"]["disparity"],
                    "reductions_disparity_after": red["after"]["disparity"],
                    "reductions": {k: red[k] for k in ("before", "after")}})
        tables["reductions"] = {
            "title": f"Reductions (ExponentiatedGradient, {options['constraints']} on '{feature}')",
            "columns": cols,
            "rows": [["before", "LogisticRegression (same train features)", red["before"]["accuracy"], red["before"]["disparity"]],
                     ["after", "ExponentiatedGradient(LogisticRegression)", red["after"]["accuracy"], red["after"]["disparity"]]],
            "note": "The trained model cannot be refitted with sample weights, so reductions run on a logistic regression "
                    f"fitted on the same train features (eps = {options['eps']:g}).",
        }
    out["tables"] = tables
    return out
