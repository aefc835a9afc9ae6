"""The performance check: metric functions against scikit-learn, and the check through run_audit."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.preprocessing import label_binarize

from audit import AuditConfig, Registry, run_audit
from audit.checks.performance import (
    PerformanceCheck,
    classification_metrics,
    confusion,
    last_value_baseline,
    regression_metrics,
)
from audit.errors import InvalidInputError
from models import load_dataset


def _random_proba(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, size=n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    p = np.exp(logits)
    return y, p / p.sum(axis=1, keepdims=True)


def _sklearn_oracle(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    k = p.shape[1]
    pred = p.argmax(axis=1)
    if k == 2:
        roc, ap = skm.roc_auc_score(y, p[:, 1]), skm.average_precision_score(y, p[:, 1])
    else:
        roc = skm.roc_auc_score(y, p, multi_class="ovr", average="macro")
        ap = skm.average_precision_score(label_binarize(y, classes=list(range(k))), p, average="macro")
    return {
        "accuracy": skm.accuracy_score(y, pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
        "precision_macro": skm.precision_score(y, pred, average="macro", zero_division=0),
        "recall_macro": skm.recall_score(y, pred, average="macro", zero_division=0),
        "f1_macro": skm.f1_score(y, pred, average="macro", zero_division=0),
        "roc_auc": roc,
        "pr_auc": ap,
        "log_loss": skm.log_loss(y, p, labels=list(range(k))),
    }


@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("container", [np.asarray, list])
def test_classification_metrics_equal_sklearn(k: int, container) -> None:
    y, p = _random_proba(300, k, seed=k)
    got = classification_metrics(container(y), p)
    for key, value in _sklearn_oracle(y, p).items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert got["n_rows"] == 300
    np.testing.assert_array_equal(got["confusion_matrix"], skm.confusion_matrix(y, p.argmax(axis=1), labels=list(range(k))))
    prec, rec, f1, sup = skm.precision_recall_fscore_support(y, p.argmax(axis=1), labels=list(range(k)), zero_division=0)
    np.testing.assert_allclose(got["precision"], prec)
    np.testing.assert_allclose(got["recall"], rec)
    np.testing.assert_allclose(got["f1"], f1)
    np.testing.assert_array_equal(got["support"], sup)


def test_class_never_predicted_follows_sklearn_zero_division() -> None:
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array([[0.8, 0.1, 0.1], [0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.1, 0.4]])
    got = classification_metrics(y, p)
    pred = p.argmax(axis=1)
    assert got["precision_macro"] == pytest.approx(skm.precision_score(y, pred, average="macro", zero_division=0))
    assert got["f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro", zero_division=0))
    assert got["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert got["precision"][2] == 0.0


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 4), st.integers(4, 40), st.integers(0, 10_000))
def test_counts_match_sklearn_for_any_input(k: int, n: int, seed: int) -> None:
    y, p = _random_proba(n, k, seed)
    got = classification_metrics(y, p)
    pred = p.argmax(axis=1)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert got["recall_macro"] == pytest.approx(skm.recall_score(y, pred, average="macro", zero_division=0))
    assert got["f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro", zero_division=0))
    assert got["confusion_matrix"].sum() == n


def test_single_class_gives_nan_ranking_metrics() -> None:
    got = classification_metrics(np.zeros(4, dtype=int), np.full((4, 2), 0.5))
    assert np.isnan(got["roc_auc"]) and np.isnan(got["pr_auc"])
    assert got["accuracy"] == 1.0


def test_confusion_rows_are_true_labels() -> None:
    assert confusion(np.array([0, 0, 1]), np.array([1, 1, 1]), 2).tolist() == [[0, 2], [0, 1]]


@pytest.mark.parametrize(
    ("y", "p", "match"),
    [
        (np.array([0, 3]), np.full((2, 2), 0.5), "y_true"),
        (np.array([0, 1]), np.full((3, 2), 0.5), "proba"),
        (np.array([0, 1]), np.ones(2), "proba"),
    ],
)
def test_bad_classification_inputs_name_the_argument(y: np.ndarray, p: np.ndarray, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        classification_metrics(y, p)


def test_regression_metrics_equal_sklearn() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=200)
    pred = y + rng.normal(scale=0.5, size=200)
    got = regression_metrics(y, pred)
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(y, pred))
    assert got["mse"] == pytest.approx(skm.mean_squared_error(y, pred))
    assert got["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, pred)))
    assert got["r2"] == pytest.approx(skm.r2_score(y, pred))
    with pytest.raises(InvalidInputError, match="y_pred"):
        regression_metrics(y, pred[:5])


def test_last_value_baseline_takes_the_last_step() -> None:
    x = np.arange(12, dtype=float).reshape(2, 3, 2)
    assert last_value_baseline(x, 1).tolist() == [5.0, 11.0]
    assert last_value_baseline(x[:, :, 0]).tolist() == [4.0, 10.0]


def _registry() -> Registry:
    reg = Registry()
    reg.register(PerformanceCheck())
    return reg


def test_binary_check_through_run_audit(tabular_ds, logistic_model) -> None:
    result = run_audit(logistic_model, tabular_ds, AuditConfig(), registry=_registry(), progress=False)
    assert result.checks["performance"].status == "ok"
    m = result.metrics["performance"]
    json.dumps(m, allow_nan=False)
    y = tabular_ds.test.y
    p = logistic_model.predict_proba(tabular_ds.test.x)
    for key, value in _sklearn_oracle(y, p).items():
        assert m[key] == pytest.approx(value, rel=1e-6), key
    assert m["confusion_matrix"] == skm.confusion_matrix(y, p.argmax(axis=1)).tolist()
    table = m["tables"]["confusion_matrix"]
    assert table["columns"] == ["true \\ predicted", "no", "yes"] and table["rows"][0][0] == "no"
    assert [r[0] for r in m["tables"]["per_class"]["rows"]] == ["no", "yes"]
    assert m["tables"]["per_class"]["rows"][1][4] == int((y == 1).sum())


def test_multiclass_check_through_run_audit() -> None:
    ds = load_dataset("digits", max_rows=400)
    flat = LogisticRegression(max_iter=300).fit(ds.train.x.reshape(len(ds.train), -1), ds.train.y)

    def model(x: np.ndarray) -> np.ndarray:
        return flat.predict_proba(x.reshape(len(x), -1))

    result = run_audit(model, ds, AuditConfig(), registry=_registry(), progress=False)
    m = result.metrics["performance"]
    json.dumps(m, allow_nan=False)
    p = model(ds.test.x)
    oracle = _sklearn_oracle(ds.test.y, p / p.sum(axis=1, keepdims=True))
    for key in ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "pr_auc", "log_loss"):
        assert m[key] == pytest.approx(oracle[key], rel=1e-6), key
    assert len(m["confusion_matrix"]) == 10


def test_forecasting_check_reports_original_units_and_baseline() -> None:
    ds = load_dataset("sunspots")
    ridge = Ridge(alpha=1.0).fit(ds.train.x[:, :, 0], ds.train.y)

    def model(x: np.ndarray) -> np.ndarray:
        return ridge.predict(x[:, :, 0])

    result = run_audit(model, ds, AuditConfig(), registry=_registry(), progress=False)
    m = result.metrics["performance"]
    json.dumps(m, allow_nan=False)
    y, pred = ds.test.y.astype(np.float64), model(ds.test.x)
    std = ds.metadata["y_scaling"]["std"]
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y, pred), rel=1e-6)
    assert m["r2"] == pytest.approx(skm.r2_score(y, pred), rel=1e-6)
    assert m["mae_original"] == pytest.approx(skm.mean_absolute_error(y, pred) * std, rel=1e-6)
    assert m["rmse_original"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, pred)) * std, rel=1e-6)
    baseline = skm.mean_absolute_error(y, ds.test.x[:, -1, 0])
    assert m["baseline_mae"] == pytest.approx(baseline, rel=1e-6)
    assert m["mae_improvement"] == pytest.approx(1 - m["mae"] / baseline, rel=1e-6)
    assert isinstance(m["n_rows"], int)
