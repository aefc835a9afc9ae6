"""The "fairness" and "proxies" checks through run_audit: planted bias is flagged, a control data set passes."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from audit import AuditConfig, Registry, run_audit
from audit.checks.fairness import FairnessCheck, ProxiesCheck, group_metrics
from models.dataset import Dataset, Split


def make_proxy_dataset(planted: bool, n: int = 8000, seed: int = 0) -> Dataset:
    """sex is NOT a model input; feature 'zip' depends on sex only when ``planted``; the label depends on 'zip'."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], size=n)
    age = rng.integers(18, 80, size=n)
    x0 = rng.normal(size=n)
    noise = rng.normal(size=n)
    zip_ = rng.normal(size=n) + (1.5 * (sex == "M") if planted else 0.75)
    y = (0.8 * x0 + 1.2 * zip_ + 0.5 * rng.normal(size=n) > 1.0).astype(np.int64)
    x = np.stack([x0, noise, zip_], axis=1).astype(np.float32)
    parts = np.split(rng.permutation(n), [int(0.4 * n), int(0.5 * n)])

    def split(i: np.ndarray) -> Split:
        return Split(x=x[i], y=y[i], sensitive=pd.DataFrame({"sex": sex[i], "age": age[i]}))

    return Dataset(name="planted" if planted else "control", kind="tabular", task="binary", train=split(parts[0]),
                   val=split(parts[1]), test=split(parts[2]), feature_names=["x0", "noise", "zip"],
                   feature_groups={"x0": [0], "noise": [1], "zip": [2]}, continuous_features=["x0", "noise", "zip"],
                   sensitive_features=["sex", "age"], class_names=["no", "yes"])


def _audit(ds: Dataset, model, **config):
    reg = Registry()
    reg.register(FairnessCheck())
    reg.register(ProxiesCheck())
    return run_audit(model, ds, AuditConfig(seed=0, **config), registry=reg, progress=False)


@pytest.fixture(scope="module")
def planted() -> tuple[Dataset, LogisticRegression]:
    ds = make_proxy_dataset(True)
    return ds, LogisticRegression().fit(ds.train.x, ds.train.y)


@pytest.fixture(scope="module")
def control() -> tuple[Dataset, LogisticRegression]:
    ds = make_proxy_dataset(False)
    return ds, LogisticRegression().fit(ds.train.x, ds.train.y)


def test_planted_bias_is_flagged_and_the_proxy_named(planted) -> None:
    ds, model = planted
    result = _audit(ds, model, options={"fairness": {"n_boot": 400}})
    assert result.checks["fairness"].status == "ok" and result.checks["proxies"].status == "ok"
    fm, pm = result.metrics["fairness"], result.metrics["proxies"]
    sex = fm["features"]["sex"]["disparities"]["demographic_parity_difference"]
    assert sex["significant"] is True and sex["higher_group"] == "M" and sex["gap_ci_low"] > 0.2
    assert fm["demographic_parity_difference"] >= sex["value"] > 0.3
    assert fm["four_fifths_passed"] is False
    warnings = [f for f in result.findings if f.check == "fairness" and f.severity == "warning"]
    assert any("'sex'" in f.message and "significant" in f.message for f in warnings)
    assert pm["proxies"]["sex"] == ["zip"]
    assert pm["top_proxy"] == "zip" and pm["max_proxy_auc"] > 0.75
    assert any(f.check == "proxies" and "'zip' is a proxy of 'sex'" in f.message for f in result.findings)
    json.dumps(result.metrics)  # JSON-ready


def test_control_data_set_passes_without_warnings(control) -> None:
    ds, model = control
    result = _audit(ds, model, options={"fairness": {"n_boot": 400}})
    fm, pm = result.metrics["fairness"], result.metrics["proxies"]
    assert fm["demographic_parity_difference"] < 0.1 and fm["four_fifths_passed"] is True
    assert not fm["features"]["sex"]["disparities"]["demographic_parity_difference"]["significant"]
    assert pm["n_proxies"] == 0 and pm["max_proxy_auc"] < 0.6
    assert [f for f in result.findings if f.severity in ("warning", "fail", "error")] == []
    assert result.passed


def test_tables_hold_every_group_with_intervals_and_insufficient_marks(planted) -> None:
    ds, model = planted
    result = _audit(ds, model, options={"fairness": {"n_boot": 200, "min_group_size": 250}})
    fm = result.metrics["fairness"]
    assert set(fm["tables"]) >= {"sex", "age", "sex_x_age", "disparities"}
    table = fm["tables"]["sex_x_age"]
    cols = table["columns"]
    assert cols[:3] == ["group", "count", "status"] and "calibration_error_high" in cols
    assert fm["binned_features"] == ["age"]
    age_groups = {row[0] for row in fm["tables"]["age"]["rows"]}
    assert age_groups == {"<25", "[25, 35)", "[35, 45)", "[45, 55)", "[55, 65)", ">=65"}
    counts = {row[0]: (row[1], row[2]) for row in table["rows"]}
    assert all((status == "insufficient data") == (n < 250) for n, status in counts.values())
    assert any(status == "insufficient data" for _, status in counts.values())
    # oracle: the sex table's point estimates are the hand-computable group metrics of the model's predictions
    test = ds.test
    pred = model.predict(test.x)
    oracle = group_metrics(test.y, pred, test.sensitive["sex"], y_prob=model.predict_proba(test.x)[:, 1])
    rows = {row[0]: dict(zip(cols, row)) for row in fm["tables"]["sex"]["rows"]}
    for i, label in enumerate(oracle.labels):
        assert rows[label]["selection_rate"] == pytest.approx(oracle.values["selection_rate"][i])
        assert rows[label]["calibration_error"] == pytest.approx(oracle.values["calibration_error"][i])
        assert rows[label]["selection_rate_low"] < rows[label]["selection_rate"] < rows[label]["selection_rate_high"]


def test_same_results_for_any_executor_backend(planted) -> None:
    ds, model = planted
    a = _audit(ds, model, options={"fairness": {"n_boot": 300, "chunk_size": 50}})
    b = _audit(ds, model, n_jobs=2, backend="threading", options={"fairness": {"n_boot": 300, "chunk_size": 50}})
    assert a.metrics["fairness"] == b.metrics["fairness"]


def test_multiclass_is_audited_one_vs_rest() -> None:
    rng = np.random.default_rng(3)
    n = 900
    g = rng.choice(["u", "v"], size=n)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    y = np.digitize(x[:, 0], [-0.5, 0.5]).astype(np.int64)
    split = Split(x=x, y=y, sensitive=pd.DataFrame({"g": g}))
    ds = Dataset(name="mc", kind="tabular", task="multiclass", train=split, val=split, test=split,
                 feature_names=["a", "b"], feature_groups={"a": [0], "b": [1]}, continuous_features=["a", "b"],
                 sensitive_features=["g"], class_names=["lo", "mid", "hi"])
    model = LogisticRegression().fit(x, y)
    result = _audit(ds, model, checks=("fairness",), options={"fairness": {"n_boot": 100}})
    fm = result.metrics["fairness"]
    assert set(fm["features"]["g"]) == {"lo", "mid", "hi"}
    assert fm["tables"]["g"]["columns"][0] == "class" and len(fm["tables"]["g"]["rows"]) == 6
    pred = model.predict(x)
    worst = max(np.ptp(group_metrics((y == c).astype(int), (pred == c).astype(int), g).values["selection_rate"])
                for c in range(3))
    assert fm["demographic_parity_difference"] == pytest.approx(worst)


def test_missing_and_single_valued_sensitive_columns_are_reported(planted) -> None:
    ds, model = planted
    sens = ds.test.sensitive.copy()
    sens["sex"] = sens["sex"].astype(object)
    sens.loc[:9, "sex"] = None
    sens["site"] = "only"
    test = Split(x=ds.test.x, y=ds.test.y, sensitive=sens)
    ds2 = Dataset(name="m", kind="tabular", task="binary", train=ds.train, val=ds.val, test=test,
                  feature_names=ds.feature_names, feature_groups=ds.feature_groups,
                  continuous_features=ds.continuous_features, sensitive_features=["sex", "site"], class_names=ds.class_names)
    result = _audit(ds2, model, checks=("fairness",), options={"fairness": {"n_boot": 50}})
    fm = result.metrics["fairness"]
    assert "(missing)" in fm["features"]["sex"]["groups"]
    assert "site" in fm["skipped_features"]
    messages = [f.message for f in result.findings if f.severity == "info"]
    assert any("10 audited rows have no value for 'sex'" in m for m in messages)
    assert any("'site' was not audited" in m for m in messages)
