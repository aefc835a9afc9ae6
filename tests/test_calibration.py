"""Calibration: ECE/MCE/Brier against hand computations and sklearn, temperature scaling, the check end to end."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.special import expit, logit
from sklearn.metrics import brier_score_loss

from audit import AuditConfig, Registry, run_audit
from audit.checks.calibration import (
    CalibrationCheck,
    apply_temperature,
    brier_score,
    expected_calibration_error,
    fit_temperature,
    maximum_calibration_error,
    reliability_bins,
)
from audit.errors import InvalidInputError
from models.dataset import Dataset, Split

torch.set_num_threads(1)


def _binary(p1: np.ndarray) -> np.ndarray:
    return np.stack([1 - p1, p1], axis=1)


def _calibrated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from the stated probabilities: a perfectly calibrated predictor."""
    rng = np.random.default_rng(seed)
    p1 = rng.uniform(0, 1, n)
    return (rng.random(n) < p1).astype(np.int64), _binary(p1)


def _overconfident(y_and_p: tuple[np.ndarray, np.ndarray], factor: float = 4.0) -> np.ndarray:
    """The same predictor with its logits multiplied by ``factor`` (stated confidence far above the truth)."""
    p1 = np.clip(y_and_p[1][:, 1], 1e-6, 1 - 1e-6)
    return _binary(expit(factor * logit(p1)))


def test_ece_known_answer_by_hand():
    y = np.array([0, 1, 1, 0])
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.35, 0.65]])
    # confidences 0.9, 0.8, 0.7, 0.65; correct 1, 0, 1, 0; 10 bins -> bins 9, 8, 7, 6 hold one row each
    expected = (abs(1 - 0.9) + abs(0 - 0.8) + abs(1 - 0.7) + abs(0 - 0.65)) / 4
    assert expected_calibration_error(y, proba, n_bins=10) == pytest.approx(expected)
    assert maximum_calibration_error(y, proba, n_bins=10) == pytest.approx(0.8)
    bins = reliability_bins(y, proba, n_bins=10)
    assert bins.count.tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]
    # two bins, both rows of a bin averaged before the gap is taken
    assert expected_calibration_error(y, proba, n_bins=2) == pytest.approx(abs(0.5 - (0.9 + 0.8 + 0.7 + 0.65) / 4))


def test_brier_matches_sklearn_and_multiclass_by_hand():
    y, p = _calibrated(500, 1)
    assert brier_score(y, p) == pytest.approx(brier_score_loss(y, p[:, 1]))
    y3 = np.array([0, 2])
    p3 = np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    assert brier_score(y3, p3) == pytest.approx(((0.25 + 0.09 + 0.04) + (0.01 + 0.01 + 0.04)) / 2)


def test_perfectly_calibrated_predictor_has_near_zero_ece():
    y, p = _calibrated(20000, 0)
    assert expected_calibration_error(y, p) < 0.02


def test_overconfident_predictor_has_large_ece_and_temperature_fixes_it():
    val, test = _calibrated(5000, 1), _calibrated(5000, 2)
    p_val, p_test = _overconfident(val), _overconfident(test)
    before = expected_calibration_error(test[0], p_test)
    assert before > 0.1
    t = fit_temperature(val[0], p_val)
    assert t == pytest.approx(4.0, rel=0.15)  # undoing the factor-4 sharpening
    after = expected_calibration_error(test[0], apply_temperature(p_test, t))
    assert after < 0.03 and after < before / 3


def test_temperature_one_is_identity_and_bad_inputs_are_named():
    _, p = _calibrated(50, 3)
    assert np.allclose(apply_temperature(p, 1.0), p, atol=1e-9)
    with pytest.raises(InvalidInputError, match="'temperature'.*0"):
        apply_temperature(p, 0)
    with pytest.raises(InvalidInputError, match="'n_bins'"):
        reliability_bins(np.array([0]), np.array([[0.5, 0.5]]), n_bins=0)
    with pytest.raises(InvalidInputError, match="'y_true'"):
        expected_calibration_error(np.array([0, 3]), np.array([[0.5, 0.5], [0.5, 0.5]]))


@settings(max_examples=25, deadline=None)
@given(arrays(np.float64, (30, 3), elements=st.floats(0.01, 1.0)), st.integers(1, 20),
       st.lists(st.integers(0, 2), min_size=30, max_size=30))
def test_ece_bounds(raw, n_bins, labels):
    p = raw / raw.sum(axis=1, keepdims=True)
    y = np.array(labels)
    ece = expected_calibration_error(y, p, n_bins)
    assert 0.0 <= ece <= maximum_calibration_error(y, p, n_bins) + 1e-12 <= 1.0 + 1e-12
    assert reliability_bins(y, p, n_bins).count.sum() == 30


def _tabular(n: int = 900, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    sex = rng.choice(["F", "M"], n)
    y = (rng.random(n) < expit(1.5 * x[:, 0] - x[:, 1])).astype(np.int64)  # noisy labels: confidence must be modest
    parts = np.split(rng.permutation(n), [int(0.5 * n), int(0.75 * n)])
    sp = [Split(x=x[p], y=y[p], sensitive=pd.DataFrame({"sex": sex[p]})) for p in parts]
    return Dataset(name="cal", kind="tabular", task="binary", train=sp[0], val=sp[1], test=sp[2],
                   feature_names=["a", "b", "c"], feature_groups={"a": [0], "b": [1], "c": [2]},
                   continuous_features=["a", "b", "c"], sensitive_features=["sex"], class_names=["0", "1"])


def test_check_on_overconfident_model_fits_temperature_and_reports_groups():
    ds = _tabular()
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    with torch.no_grad():  # the true log-odds 1.5 a - b, sharpened five-fold
        net.weight.copy_(torch.tensor([[0.0, 0.0, 0.0], [7.5, -5.0, 0.0]]))
        net.bias.zero_()
    reg = Registry()
    reg.register(CalibrationCheck())
    result = run_audit(net, ds, AuditConfig(device="cpu", options={"calibration": {"n_boot": 50}}), registry=reg,
                       progress=False)
    assert result.checks["calibration"].status == "ok", result.checks["calibration"].reason
    m = result.metrics["calibration"]
    proba = torch.softmax(net(torch.as_tensor(ds.test.x)), 1).detach().numpy()
    assert m["ece"] == pytest.approx(expected_calibration_error(ds.test.y, proba, 15))
    assert m["brier"] == pytest.approx(brier_score_loss(ds.test.y, proba[:, 1]))
    assert m["ece"] > 0.1 and m["overconfidence"] > 0.05
    assert m["temperature"] == pytest.approx(5.0, rel=0.35)
    assert m["ece_after_temperature"] < m["ece"] / 2
    assert {"ece", "mce", "brier", "temperature", "ece_after_temperature"} <= set(m)
    rows = m["tables"]["by_group_sex"]["rows"]
    assert [r[0] for r in rows] == ["F", "M"]
    sex = ds.test.sensitive["sex"].to_numpy()
    for row in rows:  # oracle: per-group ECE recomputed on that group's rows only
        sel = sex == row[0]
        assert row[4] == pytest.approx(expected_calibration_error(ds.test.y[sel], proba[sel], 15))
        assert row[5] <= row[4] + 0.05 and row[6] >= row[4] - 0.05
    assert m["curves"]["reliability"]["series"]["after temperature"]
    assert set(m["curves"]["reliability_by_sex"]["series"]) == {"perfectly calibrated", "F", "M"}
    assert any(f.check == "calibration" and "over-confident" in f.message for f in result.findings)


def test_black_box_logistic_model_is_well_calibrated():
    ds = _tabular()
    from sklearn.linear_model import LogisticRegression

    reg = Registry()
    reg.register(CalibrationCheck())
    model = LogisticRegression().fit(ds.train.x, ds.train.y)
    m = run_audit(model, ds, AuditConfig(device="cpu", options={"calibration": {"n_boot": 20}}), registry=reg,
                  progress=False).metrics["calibration"]
    assert m["ece"] < 0.1  # logistic regression on logistic data is well calibrated
    assert 0.5 < m["temperature"] < 2.0
