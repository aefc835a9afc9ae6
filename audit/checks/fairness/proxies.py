"""The "proxies" check: which features stand in for a sensitive attribute.

For every original feature (one-hot blocks taken whole) and every sensitive attribute:
- ``mi``: normalised mutual information on held-out rows, I(feature; attribute) / H(attribute), the share of the
  attribute's entropy the feature explains (continuous features cut into ``n_quantiles`` train quantile bins);
- ``auc``: a probe model (a shallow decision tree fitted on the train split) predicting the attribute from that feature
  alone, scored on the audited test rows (one-vs-rest macro AUC for several groups).
A feature with ``auc >= proxy_auc`` or ``mi >= proxy_mi`` is flagged as a proxy. All features together give
``combined_auc`` (a logistic probe). With explanations present, the share of global attribution falling on the
sensitive inputs and on the proxies is reported.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import mutual_info_score, roc_auc_score
from sklearn.tree import DecisionTreeClassifier

from audit.checks._common import require_float, require_int
from audit.checks.base import AuditContext, CheckOutput, stratified_sample
from audit.checks.fairness._sensitive import prepare_sensitive
from audit.checks.fairness._tables import fmt
from audit.errors import CheckNotApplicable, InvalidInputError
from audit.results import Finding, to_jsonable

__all__ = ["ProxiesCheck", "normalized_mutual_information", "probe_auc", "feature_codes", "attribution_shares"]


def normalized_mutual_information(feature_codes: np.ndarray, group_codes: np.ndarray) -> float:
    """I(feature; group) / H(group) in [0, 1] (0 when the group has a single value).

    Example:
        >>> normalized_mutual_information(np.array([0, 0, 1, 1]), np.array([0, 0, 1, 1]))
        1.0
    """
    f = np.asarray(feature_codes)
    g = np.asarray(group_codes)
    if len(f) != len(g):
        raise InvalidInputError(f"The 'group_codes' argument must have {len(f)} entries like 'feature_codes'. Got {len(g)}.")
    _, counts = np.unique(g, return_counts=True)
    p = counts / counts.sum()
    h = float(-(p * np.log(p)).sum())
    if h <= 0:
        return 0.0
    return float(min(1.0, max(0.0, mutual_info_score(g, f) / h)))


def probe_auc(train_x: np.ndarray, train_g: np.ndarray, test_x: np.ndarray, test_g: np.ndarray, *, seed: int,
              model: str = "tree", min_leaf: int = 20) -> float:
    """Held-out AUC of a probe predicting group labels from features (macro one-vs-rest for > 2 groups).

    Args:
        train_x, train_g: probe training rows and their group labels.
        test_x, test_g: held-out rows and labels.
        seed: probe seed.
        model: "tree" (depth-4 decision tree, for one feature) or "logistic" (for all features together).
        min_leaf: smallest leaf of the tree.

    Returns:
        AUC in [0, 1]; NaN when the held-out rows hold a single group.
    """
    groups = np.unique(train_g)
    if len(groups) < 2:
        return float("nan")
    if model == "tree":
        probe = DecisionTreeClassifier(max_depth=4, min_samples_leaf=min_leaf, random_state=seed)
    else:
        probe = LogisticRegression(max_iter=300)
    probe.fit(np.asarray(train_x, dtype=np.float64), train_g)
    proba = probe.predict_proba(np.asarray(test_x, dtype=np.float64))
    aucs = []
    for i, label in enumerate(probe.classes_):
        truth = test_g == label
        if truth.all() or not truth.any():
            continue
        aucs.append(roc_auc_score(truth, proba[:, i]))
        if len(probe.classes_) == 2:
            break
    return float(np.mean(aucs)) if aucs else float("nan")


def feature_codes(x_train: np.ndarray, x_test: np.ndarray, continuous: bool, n_quantiles: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Discrete codes of one feature for mutual information: arg-max of a one-hot block, or train quantile bins."""
    if not continuous:
        return np.argmax(x_train, axis=1), np.argmax(x_test, axis=1)
    col_train, col_test = x_train[:, 0], x_test[:, 0]
    edges = np.unique(np.quantile(col_train, np.linspace(0, 1, n_quantiles + 1)[1:-1]))
    return np.searchsorted(edges, col_train, side="right"), np.searchsorted(edges, col_test, side="right")


def attribution_shares(importance: Mapping[str, float], sensitive: Sequence[str], proxies: Sequence[str]) -> dict[str, float | None]:
    """Share of total absolute attribution on sensitive inputs, on proxies, and on both.

    Example:
        >>> attribution_shares({"sex": 1.0, "rel": 1.0, "x": 2.0}, ["sex"], ["rel"])
        {'sensitive': 0.25, 'proxies': 0.25, 'combined': 0.5}
    """
    total = float(sum(abs(float(v)) for v in importance.values()))
    if total <= 0:
        return {"sensitive": None, "proxies": None, "combined": None}
    s = sum(abs(float(importance[f])) for f in sensitive if f in importance) / total
    p = sum(abs(float(importance[f])) for f in proxies if f in importance and f not in sensitive) / total
    return {"sensitive": float(s), "proxies": float(p), "combined": float(s + p)}


@dataclass(frozen=True)
class ProxiesCheck:
    """Features that predict a sensitive attribute (proxies), and how much of the model's attribution they carry."""

    name: str = "proxies"
    title: str = "Proxies of sensitive attributes"
    kinds: frozenset[str] = frozenset({"tabular"})
    tasks: frozenset[str] = frozenset({"binary", "multiclass", "regression"})
    needs: frozenset[str] = frozenset({"sensitive"})
    default_options: Mapping[str, Any] = field(default_factory=lambda: {
        "proxy_auc": 0.7,      # probe AUC at or above this flags a proxy
        "proxy_mi": 0.1,       # normalised mutual information at or above this flags a proxy
        "max_rows": 5000,      # train rows used to fit the probes
        "n_quantiles": 10,     # bins of continuous features for mutual information
        "max_categories": 10,  # numeric sensitive columns with more values are binned with config.age_bins
    })

    def run(self, ctx: AuditContext, options: Mapping[str, Any]) -> CheckOutput:
        """Score every non-sensitive feature against every sensitive attribute."""
        _validate(options)
        ds = ctx.dataset
        if not ds.feature_groups:
            raise CheckNotApplicable("the data set declares no feature groups")
        if len(ds.train.sensitive.columns) == 0 or any(s not in ds.train.sensitive.columns for s in ctx.sensitive_features):
            raise CheckNotApplicable("the train split carries no sensitive columns to fit the probes on")
        rng = ctx.rng("proxies")
        train_rows = stratified_sample(np.zeros(len(ds.train), dtype=np.int64), int(options["max_rows"]), rng)
        train = ds.train.subset(train_rows)
        kw = {"edges": ctx.config.age_bins, "continuous": ds.continuous_features,
              "max_categories": int(options["max_categories"])}
        s_train = prepare_sensitive(train.sensitive, ctx.sensitive_features, **kw)
        s_test = prepare_sensitive(ctx.test.sensitive, ctx.sensitive_features, **kw)
        attrs = [s for s in ctx.sensitive_features if s in s_train.labels and s in s_test.labels]
        if not attrs:
            raise CheckNotApplicable("no sensitive attribute has 2 or more groups in both train and test rows")
        candidates = [f for f in ds.feature_groups if f not in ctx.sensitive_features]
        seed = int(rng.integers(0, 2**31 - 1))
        min_leaf = max(5, len(train) // 200)
        rows: list[list[Any]] = []
        combined: dict[str, float] = {}
        for step, attr in enumerate(attrs):
            ctx.progress(step / len(attrs), f"probing {attr}")
            g_train, g_test = s_train.labels[attr].astype(str), s_test.labels[attr].astype(str)
            for feat in candidates:
                cols = list(ds.feature_groups[feat])
                xt, xs = np.asarray(train.x)[:, cols], np.asarray(ctx.test.x)[:, cols]
                cont = feat in ds.continuous_features or len(cols) == 1
                ft, fs = feature_codes(xt, xs, cont, int(options["n_quantiles"]))
                mi = normalized_mutual_information(fs, g_test)
                auc = probe_auc(xt, g_train, xs, g_test, seed=seed, min_leaf=min_leaf)
                flagged = bool((np.isfinite(auc) and auc >= options["proxy_auc"]) or mi >= options["proxy_mi"])
                rows.append([feat, attr, auc, mi, "yes" if flagged else "no"])
            others = [c for f in candidates for c in ds.feature_groups[f]]
            combined[attr] = probe_auc(np.asarray(train.x)[:, others], g_train, np.asarray(ctx.test.x)[:, others],
                                       g_test, seed=seed, model="logistic") if others else float("nan")
        metrics, findings = _layout(self.name, ctx, rows, combined, attrs, options)
        return CheckOutput(metrics=to_jsonable(metrics), findings=findings,
                           artifacts={"proxies": sorted({r[0] for r in rows if r[4] == "yes"})})


def _validate(options: Mapping[str, Any]) -> None:
    for key in ("proxy_auc", "proxy_mi"):
        require_float("proxies", key, options[key], 0, 1)
    for key in ("max_rows", "n_quantiles", "max_categories"):
        require_int("proxies", key, options[key], 2)


def _layout(check: str, ctx: AuditContext, rows: list[list[Any]], combined: dict[str, float], attrs: list[str],
            options: Mapping[str, Any]) -> tuple[dict[str, Any], list[Finding]]:
    rows.sort(key=lambda r: (-(r[2] if np.isfinite(r[2]) else 0.0), -r[3]))
    flagged = [r for r in rows if r[4] == "yes"]
    proxies = sorted({r[0] for r in flagged})
    aucs = [r[2] for r in rows if np.isfinite(r[2])]
    out: dict[str, Any] = {
        "n_proxies": len(proxies),
        "max_proxy_auc": max(aucs) if aucs else None,
        "max_proxy_mi": max((r[3] for r in rows), default=None),
        "top_proxy": rows[0][0] if rows else None,
        "max_combined_auc": max((v for v in combined.values() if np.isfinite(v)), default=None),
        "proxies": {a: [r[0] for r in flagged if r[1] == a] for a in attrs},
        "combined_auc": combined,
    }
    tables: dict[str, Any] = {"proxies": {
        "title": "How well each feature predicts each sensitive attribute",
        "columns": ["feature", "sensitive", "probe_auc", "normalized_mi", "proxy"],
        "rows": rows,
        "note": f"probe_auc: a depth-4 tree fitted on train rows, scored on the audited test rows (macro one-vs-rest). "
                f"normalized_mi: I(feature; attribute) / H(attribute) on the test rows. Proxy: AUC >= "
                f"{options['proxy_auc']:g} or MI >= {options['proxy_mi']:g}.",
    }}
    findings = [Finding(check, "warning", f"'{r[0]}' is a proxy of '{r[1]}': alone it predicts it with AUC {fmt(r[2])} "
                        f"(normalised mutual information {fmt(r[3])}).", metric="max_proxy_auc", value=float(r[2]))
                for r in flagged]
    importance = ctx.metrics.get("explanations", {}).get("global_importance") if isinstance(
        ctx.metrics.get("explanations"), dict) else None
    sensitive_inputs = [s for s in ctx.sensitive_features if s in ctx.dataset.feature_groups]
    if isinstance(importance, dict) and importance:
        shares = {m: attribution_shares(v, sensitive_inputs, proxies) for m, v in importance.items() if isinstance(v, dict)}
        out["attribution_share"] = shares
        combined_shares = [s["combined"] for s in shares.values() if s["combined"] is not None]
        out["attribution_share_sensitive_and_proxies"] = max(combined_shares) if combined_shares else None
        tables["attribution_share"] = {
            "title": "Share of global attribution on sensitive inputs and their proxies",
            "columns": ["method", "sensitive", "proxies", "combined"],
            "rows": [[m, s["sensitive"], s["proxies"], s["combined"]] for m, s in shares.items()],
            "note": f"Sensitive inputs: {sensitive_inputs or 'none'}; proxies: {proxies or 'none'}.",
        }
    else:
        out["attribution_share_sensitive_and_proxies"] = None
        out["attribution_note"] = "No global importance from the 'explanations' check; attribution shares not computed."
    out["tables"] = tables
    return out, findings
