"""The "mitigation" check: ThresholdOptimizer and ExponentiatedGradient before/after, exported thresholds."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from fairlearn.postprocessing import ThresholdOptimizer

from audit import AuditConfig, Registry, run_audit
from audit.checks.fairness import MitigationCheck, PrefitClassifier, apply_thresholds, predict_with_thresholds
from audit.errors import InvalidInputError
from models.dataset import Dataset, Split

torch.set_num_threads(1)


def _biased(n: int = 2400, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], size=n)
    zip_ = rng.normal(size=n) + 1.2 * (sex == "M")
    x0 = rng.normal(size=n)
    y = (x0 + zip_ + 0.5 * rng.normal(size=n) > 1.0).astype(np.int64)
    x = np.stack([x0, zip_], axis=1).astype(np.float32)
    parts = np.split(rng.permutation(n), [n // 2, 3 * n // 4])

    def split(i: np.ndarray) -> Split:
        return Split(x=x[i], y=y[i], sensitive=pd.DataFrame({"sex": sex[i]}))

    return Dataset(name="biased", kind="tabular", task="binary", train=split(parts[0]), val=split(parts[1]),
                   test=split(parts[2]), feature_names=["x0", "zip"], feature_groups={"x0": [0], "zip": [1]},
                   continuous_features=["x0", "zip"], sensitive_features=["sex"], class_names=["no", "yes"])


@pytest.fixture(scope="module")
def torch_model() -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 2)
    with torch.no_grad():  # logits [0, x0 + zip - 1]: the model uses the proxy
        model.weight.copy_(torch.tensor([[0.0, 0.0], [3.0, 3.0]]))
        model.bias.copy_(torch.tensor([0.0, -3.0]))
    return model


def test_threshold_optimizer_and_reductions_reduce_the_disparity(torch_model) -> None:
    ds = _biased()
    reg = Registry()
    reg.register(MitigationCheck())
    result = run_audit(torch_model, ds, AuditConfig(seed=0, options={"mitigation": {"max_rows": 500, "max_iter": 20}}),
                       registry=reg, progress=False)
    assert result.checks["mitigation"].status == "ok", result.checks["mitigation"].reason
    m = result.metrics["mitigation"]
    assert m["targeted_disparity"] == "demographic_parity_difference"
    assert m["threshold_disparity_before"] > 0.2
    assert m["threshold_disparity_after"] < 0.5 * m["threshold_disparity_before"]
    assert m["reductions_disparity_after"] < 0.5 * m["reductions_disparity_before"]
    assert m["fit_rows"] == 500 and m["eval_rows"] == 500
    assert set(m["thresholds"]["groups"]) == {"F", "M"}
    assert [r[0] for r in m["tables"]["threshold_optimizer"]["rows"]] == ["before", "after"]
    json.loads(json.dumps(m))


def test_exported_thresholds_reproduce_fairlearn(torch_model) -> None:
    ds = _biased()
    from audit.adapters import wrap_model

    adapter = wrap_model(torch_model, ds, device="cpu")
    opt = ThresholdOptimizer(estimator=PrefitClassifier(adapter.predict_proba), constraints="equalized_odds",
                             prefit=True, predict_method="predict_proba")
    x_val = ds.val.x.astype(np.float64)
    opt.fit(x_val, ds.val.y, sensitive_features=ds.val.sensitive["sex"])
    from audit.checks.fairness import export_thresholds

    exported = json.loads(json.dumps(export_thresholds(opt)))  # survives JSON
    x_test = ds.test.x.astype(np.float64)
    groups = ds.test.sensitive["sex"].to_numpy()
    expected = opt._pmf_predict(x_test, sensitive_features=groups)[:, 1]
    scores = adapter.predict_proba(ds.test.x)[:, 1]
    np.testing.assert_allclose(apply_thresholds(scores, groups, exported), expected, atol=1e-12)
    a = predict_with_thresholds(scores, groups, exported, seed=3)
    assert np.array_equal(a, predict_with_thresholds(scores, groups, exported, seed=3))
    assert set(np.unique(a)) <= {0, 1}
    with pytest.raises(InvalidInputError, match=r"'groups'.*\['X'\]"):
        apply_thresholds(scores[:2], ["F", "X"], exported)


def test_bad_constraint_option_is_a_config_error(torch_model) -> None:
    reg = Registry()
    reg.register(MitigationCheck())
    result = run_audit(torch_model, _biased(600), AuditConfig(options={"mitigation": {"constraints": "parity"}}),
                       registry=reg, progress=False)
    assert result.checks["mitigation"].status == "error"
    assert "'options.mitigation.constraints'" in result.checks["mitigation"].reason and "'parity'" in result.checks["mitigation"].reason
