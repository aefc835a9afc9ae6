"""The data_profile and error_analysis checks: pure functions, planted leakage / drift / error cohorts, controls."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from audit import AuditConfig, Registry, run_audit
from audit.checks._groups_util import group_labels
from audit.checks.data_profile import (
    DataProfileCheck,
    ks_statistic,
    population_stability_index,
    single_feature_score,
    total_variation,
)
from audit.checks.error_analysis import ErrorAnalysisCheck, design_matrix, error_cohorts, error_indicator
from audit.errors import ConfigError, InvalidInputError
from models import Dataset, load_dataset
from models.dataset import Split


def _registry(*checks) -> Registry:
    reg = Registry()
    for check in checks:
        reg.register(check)
    return reg


def _audit(model, ds: Dataset, *checks, **config):
    return run_audit(model, ds, AuditConfig(**config), registry=_registry(*checks), progress=False)


# ----------------------------------------------------------------------------------------------- pure functions
def test_ks_statistic_equals_scipy_and_drops_nan() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=200), rng.normal(0.5, size=150)
    res = ks_2samp(a, b)
    assert ks_statistic(np.append(a, np.nan), b) == pytest.approx((res.statistic, res.pvalue))


def test_total_variation_and_psi_by_hand() -> None:
    a = ["x"] * 6 + ["y"] * 4  # p = (0.6, 0.4)
    b = ["x"] * 3 + ["y"] * 5 + ["z"] * 2  # q = (0.3, 0.5, 0.2)
    assert total_variation(a, b) == pytest.approx(0.5 * (0.3 + 0.1 + 0.2))
    psi = (0.6 - 0.3) * np.log(0.6 / 0.3) + (0.4 - 0.5) * np.log(0.4 / 0.5) + (1e-4 - 0.2) * np.log(1e-4 / 0.2)
    assert population_stability_index(a, b) == pytest.approx(psi)
    assert total_variation(a, a) == 0.0
    with pytest.raises(InvalidInputError):
        total_variation([], a)


def test_group_labels_bins_numeric_columns_only() -> None:
    ages = pd.Series([18, 30, 70, np.nan] + list(range(40, 52)))
    labels = group_labels(ages, [25, 65])
    assert labels[:4].tolist() == ["<25", "25-65", ">=65", "missing"]
    assert group_labels(pd.Series(["a", None, "b"]), [25]).tolist() == ["a", "missing", "b"]
    assert group_labels(pd.Series([1, 2, 1]), [25]).tolist() == ["1", "2", "1"]


def test_single_feature_score_is_the_test_auc_of_a_tree() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 1))
    y = (x[:, 0] + rng.normal(scale=0.5, size=400) > 0).astype(int)
    score = single_feature_score(x[:300], y[:300], x[300:], y[300:], task="binary", max_depth=3)
    from sklearn.tree import DecisionTreeClassifier

    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(x[:300], y[:300])
    auc = roc_auc_score(y[300:], tree.predict_proba(x[300:])[:, 1])
    assert score == pytest.approx(max(auc, 1 - auc))
    assert single_feature_score(-x[:300], y[:300], -x[300:], y[300:], task="binary") == pytest.approx(score)
    with pytest.raises(InvalidInputError, match="task"):
        single_feature_score(x, y, x, y, task="ranking")


# ----------------------------------------------------------------------------------------------- data profile
def _leaky_frame(n: int = 500, seed: int = 0, leak: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    sex = rng.choice(["F", "M"], size=n)
    y = (a + rng.normal(scale=1.0, size=n) > 0).astype(int)
    df = pd.DataFrame({"a": a, "color": color, "sex": sex, "y": y})
    if leak:
        df["leak"] = y * 3.0 + rng.normal(scale=0.05, size=n)  # the label in disguise
    return df


def test_planted_leakage_feature_is_named() -> None:
    ds = Dataset.from_frame(_leaky_frame(), target="y", sensitive=["sex"])
    model = LogisticRegression().fit(ds.train.x, ds.train.y)
    result = _audit(model, ds, DataProfileCheck())
    m = result.metrics["data_profile"]
    json.dumps(m, allow_nan=False)
    assert m["most_predictive_feature"] == "leak"
    assert m["max_single_feature_auc"] > 0.98
    leaks = [f for f in result.findings if f.check == "data_profile" and "leakage" in f.message.lower()]
    assert leaks and "leak" in leaks[0].message and "color" not in leaks[0].message
    rows = dict((r[0], r[1]) for r in m["tables"]["single_feature"]["rows"])
    assert rows["leak"] > 0.98 and rows["color"] < 0.7


def test_clean_control_has_no_leakage_or_drift_warning(tabular_ds, logistic_model) -> None:
    result = _audit(logistic_model, tabular_ds, DataProfileCheck())
    m = result.metrics["data_profile"]
    json.dumps(m, allow_nan=False)
    assert m["max_single_feature_auc"] < 0.98
    assert not [f for f in result.findings if f.severity != "info"]
    assert m["n_drifting_features"] == 0


def test_label_balance_and_summaries_equal_numpy(tabular_ds, logistic_model) -> None:
    m = _audit(logistic_model, tabular_ds, DataProfileCheck()).metrics["data_profile"]
    balance = m["tables"]["label_balance"]
    assert balance["columns"][:3] == ["class", "train n", "train share"]
    train_counts = np.bincount(tabular_ds.train.y, minlength=2)
    assert [r[1] for r in balance["rows"]] == train_counts.tolist()
    assert balance["rows"][1][2] == pytest.approx(train_counts[1] / train_counts.sum())
    groups = m["tables"]["label_balance_by_group"]
    female_test = [r for r in groups["rows"] if r[:3] == ["sex", "F", "test"]][0]
    mask = tabular_ds.test.sensitive["sex"].to_numpy() == "F"
    assert female_test[3] == int(mask.sum())
    assert female_test[-1] == pytest.approx(tabular_ds.test.y[mask].mean())
    summary = [r for r in m["tables"]["numeric_summary"]["rows"] if r[:2] == ["x0", "train"]][0]
    x0 = tabular_ds.train.raw["x0"].to_numpy(dtype=float)
    assert summary[2] == "raw"
    assert summary[3:10] == pytest.approx([x0.mean(), x0.std(), x0.min(), *np.quantile(x0, [0.25, 0.5, 0.75]), x0.max()])


def test_planted_drift_is_named(tabular_ds, logistic_model) -> None:
    test = tabular_ds.test
    x = test.x.copy()
    x[:, 2] += 2.0
    raw = test.raw.copy()
    raw["x2"] = raw["x2"] + 2.0
    drifted = dataclasses.replace(tabular_ds, test=Split(x=x, y=test.y, sensitive=test.sensitive, raw=raw))
    result = _audit(logistic_model, drifted, DataProfileCheck())
    m = result.metrics["data_profile"]
    assert m["n_drifting_features"] == 1
    assert m["tables"]["drift"]["rows"][0][0] == "x2"
    assert m["max_drift"] == pytest.approx(ks_2samp(tabular_ds.train.raw["x2"], raw["x2"]).statistic)
    warnings = [f for f in result.findings if f.metric == "max_drift"]
    assert len(warnings) == 1 and "x2" in warnings[0].message and "x0" not in warnings[0].message


def test_image_data_gets_label_balance_only() -> None:
    ds = load_dataset("digits", max_rows=300)
    result = _audit(lambda x: np.full((len(x), 10), 0.1), ds, DataProfileCheck())
    m = result.metrics["data_profile"]
    json.dumps(m, allow_nan=False)
    assert set(m["tables"]) == {"label_balance"}
    assert sum(r[1] for r in m["tables"]["label_balance"]["rows"]) == len(ds.train)
    assert "max_single_feature_auc" not in m


def test_bad_option_is_a_config_error(tabular_ds, logistic_model) -> None:
    with pytest.raises(ConfigError, match="leakage_auc"):
        _audit(logistic_model, tabular_ds, DataProfileCheck(), options={"data_profile": {"leakage_auc": "high"}})
    result = _audit(logistic_model, tabular_ds, DataProfileCheck(), options={"data_profile": {"leakage_auc": 3.0}})
    assert result.checks["data_profile"].status == "error" and "leakage_auc" in result.checks["data_profile"].reason


# ----------------------------------------------------------------------------------------------- error analysis
def test_error_indicator() -> None:
    assert error_indicator("multiclass", np.array([0, 2, 1]), np.array([0, 1, 1])).tolist() == [0, 1, 0]
    y = np.zeros(10)
    pred = np.arange(10, dtype=float)  # absolute errors 0..9; the 0.8 quantile is 7.2
    assert error_indicator("regression", y, pred, 0.8).tolist() == [0] * 8 + [1, 1]
    with pytest.raises(InvalidInputError, match="quantile"):
        error_indicator("regression", y, pred, 1.5)


def test_error_cohorts_reads_rules_and_counts_by_hand() -> None:
    frame = pd.DataFrame({"color": ["red"] * 40 + ["blue"] * 60, "size": np.r_[np.arange(40), np.arange(60)]})
    errors = np.r_[np.ones(30), np.zeros(10), np.zeros(60)].astype(int)  # red and size < 30
    x, columns = design_matrix(frame)
    cohorts = error_cohorts(x, columns, errors, max_depth=2, min_samples_leaf=5)
    worst = cohorts[0]
    assert worst.rule in {"color = red and size <= 29.5", "color != blue and size <= 29.5"}
    assert (worst.size, worst.errors, worst.error_rate, worst.error_share) == (30, 30, 1.0, 1.0)
    assert sum(c.size for c in cohorts) == 100 and sum(c.errors for c in cohorts) == 30
    assert error_cohorts(x, columns, np.zeros(100, dtype=int))[0].rule == "all rows"


def _cohort_dataset(n: int = 3000, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "age": rng.integers(18, 70, size=n).astype(float),
        "job": rng.choice(["clerk", "nurse", "pilot"], size=n),
        "score": rng.normal(size=n),
        "sex": rng.choice(["F", "M"], size=n),
    })
    df["y"] = (df["score"] + 0.2 * rng.normal(size=n) > 0).astype(int)
    return Dataset.from_frame(df, target="y", sensitive=["sex"])


class _CohortModel:
    """A logistic regression whose decision is flipped for pilots younger than 40 (a planted error cohort)."""

    def __init__(self, ds: Dataset) -> None:
        self.lr = LogisticRegression().fit(ds.train.x, ds.train.y)
        self.age = ds.feature_groups["age"][0]
        self.pilot = ds.feature_names.index("job=pilot")
        slope, intercept = np.polyfit(ds.train.raw["age"].to_numpy(float), ds.train.x[:, self.age], 1)
        self.cutoff = slope * 39.5 + intercept  # the encoded value of age 39.5

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        p = self.lr.predict_proba(x)
        bad = (x[:, self.pilot] > 0.5) & (x[:, self.age] < self.cutoff)
        return np.where(bad[:, None], p[:, ::-1], p)


def test_planted_error_cohort_is_found() -> None:
    ds = _cohort_dataset()
    model = _CohortModel(ds)
    result = _audit(model, ds, ErrorAnalysisCheck())
    assert result.checks["error_analysis"].status == "ok", result.checks["error_analysis"].reason
    m = result.metrics["error_analysis"]
    json.dumps(m, allow_nan=False)
    errors = model.predict_proba(ds.test.x).argmax(axis=1) != ds.test.y
    assert m["overall_error_rate"] == pytest.approx(errors.mean())
    assert "job = pilot" in m["worst_cohort_rule"] and "age <= 39.5" in m["worst_cohort_rule"]
    assert m["worst_cohort_error_rate"] > 0.85
    rows = m["tables"]["cohorts"]["rows"]
    assert sum(r[1] for r in rows) == len(ds.test) and sum(r[4] for r in rows) == int(errors.sum())
    assert sum(r[5] for r in rows) == pytest.approx(1.0)
    assert [r[3] for r in rows] == sorted((r[3] for r in rows), reverse=True)
    planted = ((ds.test.raw["job"] == "pilot") & (ds.test.raw["age"] < 40)).to_numpy()
    young_pilots = [r for r in rows if r[0].startswith("job = pilot and age <= 39.5")]
    assert sum(r[1] for r in young_pilots) == int(planted.sum())
    assert sum(r[4] for r in young_pilots) == int(errors[planted].sum())
    messages = [f.message for f in result.findings if f.check == "error_analysis"]
    assert any("job = pilot and age <= 39.5" in msg for msg in messages)
    assert not any("age > 39.5" in msg for msg in messages)


def test_error_analysis_regression_and_no_warning_for_uniform_errors(tabular_ds, logistic_model) -> None:
    rng = np.random.default_rng(0)
    reg_ds = dataclasses.replace(
        tabular_ds, task="regression", class_names=[],
        train=dataclasses.replace(tabular_ds.train, y=rng.normal(size=len(tabular_ds.train)).astype(np.float32)),
        val=dataclasses.replace(tabular_ds.val, y=rng.normal(size=len(tabular_ds.val)).astype(np.float32)),
        test=dataclasses.replace(tabular_ds.test, y=rng.normal(size=len(tabular_ds.test)).astype(np.float32)),
    )
    result = _audit(lambda x: np.zeros(len(x)), reg_ds, ErrorAnalysisCheck())
    m = result.metrics["error_analysis"]
    json.dumps(m, allow_nan=False)
    assert m["overall_error_rate"] == pytest.approx(0.2, abs=0.01)
    assert m["tables"]["cohorts"]["columns"][-1] == "mean |error|"
