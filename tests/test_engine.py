"""The audit engine: adapters, config, registry, runner isolation, thresholds, results, determinism."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch

from audit import AuditConfig, AuditResult, CheckOutput, Registry, run_audit, wrap_model
from audit.errors import ConfigError, InvalidTypeError, ModelCallError, ModelOutputError
from audit.results import Finding


@dataclass
class AccuracyCheck:
    name: str = "acc"
    title: str = "Accuracy"
    kinds: frozenset = frozenset({"tabular"})
    tasks: frozenset = frozenset({"binary", "multiclass"})
    needs: frozenset = frozenset({"proba"})
    default_options: dict = field(default_factory=lambda: {"scale": 1.0})

    def run(self, ctx, options) -> CheckOutput:
        acc = float((ctx.test_pred() == ctx.test.y).mean()) * options["scale"]
        draws = ctx.rng("acc").random(3).tolist()
        return CheckOutput(metrics={"accuracy": acc, "draws": draws, "nested": {"n": len(ctx.test)}})


@dataclass
class BoomCheck:
    name: str = "boom"
    title: str = "Raises"
    kinds: frozenset = frozenset({"tabular"})
    tasks: frozenset = frozenset({"binary"})
    needs: frozenset = frozenset()
    default_options: dict = field(default_factory=dict)

    def run(self, ctx, options) -> CheckOutput:
        raise RuntimeError("deliberate failure")


@dataclass
class GradCheck:
    name: str = "grad"
    title: str = "Needs gradients"
    kinds: frozenset = frozenset({"tabular"})
    tasks: frozenset = frozenset({"binary"})
    needs: frozenset = frozenset({"gradients"})
    default_options: dict = field(default_factory=dict)

    def run(self, ctx, options) -> CheckOutput:
        module = ctx.model.score_module()
        out = module(torch.as_tensor(ctx.test.x[:4]))
        return CheckOutput(metrics={"n_out": int(out.shape[1])},
                           findings=[Finding(self.name, "info", "gradients available")])


@dataclass
class ImageOnlyCheck:
    name: str = "img"
    title: str = "Images only"
    kinds: frozenset = frozenset({"image"})
    tasks: frozenset = frozenset({"multiclass"})
    needs: frozenset = frozenset()
    default_options: dict = field(default_factory=dict)

    def run(self, ctx, options) -> CheckOutput:  # pragma: no cover - never applicable here
        return CheckOutput(metrics={})


def registry(*checks: Any) -> Registry:
    reg = Registry()
    for check in checks:
        reg.register(check)
    return reg


def quiet(model, ds, config=None, reg=None, **kw):
    return run_audit(model, ds, config or AuditConfig(default_warnings=False), progress=False,
                     registry=reg or registry(AccuracyCheck(), BoomCheck(), GradCheck(), ImageOnlyCheck()), **kw)


# ---------------------------------------------------------------- adapters
def test_every_adapter_kind_gives_the_same_probabilities(tabular_ds, logistic_model, torch_linear):
    x = tabular_ds.test.x
    sk = wrap_model(logistic_model, tabular_ds)
    np.testing.assert_allclose(sk.predict_proba(x), logistic_model.predict_proba(x))
    fn = wrap_model(lambda a: logistic_model.predict_proba(a), tabular_ds)
    assert fn.kind == "callable" and "gradients" not in fn.capabilities
    np.testing.assert_allclose(fn.predict_proba(x), logistic_model.predict_proba(x))
    logits = wrap_model(torch_linear, tabular_ds, device="cpu")
    expected = torch.softmax(torch_linear(torch.as_tensor(x)), 1).detach().numpy()
    np.testing.assert_allclose(logits.predict_proba(x), expected, rtol=1e-5, atol=1e-6)
    probs_module = torch.nn.Sequential(torch_linear, torch.nn.Softmax(dim=1))
    detected = wrap_model(probs_module, tabular_ds, device="cpu")
    np.testing.assert_allclose(detected.predict_proba(x), expected, rtol=1e-5, atol=1e-6)
    assert detected.output == "probabilities" and logits.output == "logits"
    # the score module gives log-probabilities for a probability model: same softmax
    s = detected.score_module(as_proba=True)(torch.as_tensor(x)).detach().numpy()
    np.testing.assert_allclose(s, expected, rtol=1e-4, atol=1e-6)


def test_single_logit_binary_module_is_expanded(tabular_ds, torch_linear):
    one = torch.nn.Linear(tabular_ds.train.x.shape[1], 1)
    adapter = wrap_model(one, tabular_ds, device="cpu")
    p = adapter.predict_proba(tabular_ds.test.x)
    z = one(torch.as_tensor(tabular_ds.test.x)).detach().numpy().ravel()
    np.testing.assert_allclose(p[:, 1], 1 / (1 + np.exp(-z)), rtol=1e-5)
    scores = adapter.score_module(as_proba=True)(torch.as_tensor(tabular_ds.test.x)).detach().numpy()
    np.testing.assert_allclose(scores, p, rtol=1e-5, atol=1e-6)


def test_bad_model_outputs_are_named(tabular_ds):
    with pytest.raises(ModelOutputError, match="sum to 1"):
        wrap_model(lambda a: np.full((len(a), 2), 0.7), tabular_ds).predict_proba(tabular_ds.test.x)
    with pytest.raises(ModelOutputError, match="outputs 3 classes"):
        wrap_model(lambda a: np.full((len(a), 3), 1 / 3), tabular_ds).predict_proba(tabular_ds.test.x)
    with pytest.raises(ModelOutputError, match="NaN"):
        wrap_model(lambda a: np.full((len(a), 2), np.nan), tabular_ds).predict_proba(tabular_ds.test.x)
    with pytest.raises(InvalidTypeError, match="'model' argument"):
        wrap_model(42, tabular_ds)


def test_a_model_that_raises_on_one_batch_names_the_rows(tabular_ds, logistic_model):
    def flaky(a):
        if a[0, 0] > 10:
            raise ValueError("bad batch")
        return logistic_model.predict_proba(a)

    x = tabular_ds.test.x.copy()
    x[5, 0] = 99
    adapter = wrap_model(flaky, tabular_ds, batch_size=5)
    with pytest.raises(ModelCallError, match="rows 5..9"):
        adapter.predict_proba(x)


# ---------------------------------------------------------------- runner
def test_failures_are_isolated_and_skips_have_reasons(tabular_ds, logistic_model):
    result = quiet(logistic_model, tabular_ds)
    assert result.checks["acc"].status == "ok"
    assert result.checks["boom"].status == "error"
    assert "deliberate failure" in result.checks["boom"].reason
    assert any(f.severity == "error" and f.check == "boom" for f in result.findings)
    assert result.checks["grad"].status == "skipped" and "differentiable" in result.checks["grad"].reason
    assert result.checks["img"].status == "skipped" and "image" in result.checks["img"].reason
    expected = float((logistic_model.predict(tabular_ds.test.x) == tabular_ds.test.y).mean())
    assert result.metrics["acc"]["accuracy"] == pytest.approx(expected)
    assert result.passed  # an errored check without a threshold does not fail the gate


def test_torch_model_gets_gradient_checks(tabular_ds, torch_linear):
    result = quiet(torch_linear, tabular_ds)
    assert result.checks["grad"].status == "ok"
    assert result.metrics["grad"]["n_out"] == 2


def test_thresholds_fail_warn_and_fail_closed(tabular_ds, logistic_model):
    cfg = AuditConfig.from_dict({
        "default_warnings": False,
        "thresholds": {"acc.accuracy": {"min": 1.01}, "boom.anything": {"max": 1}, "acc.missing": {"max": 1},
                       "acc": {"nested": {"n": {"max": 1000, "severity": "warning"}}}},
    })
    result = quiet(logistic_model, tabular_ds, cfg)
    assert not result.passed
    fails = {f.metric: f for f in result.findings_by_severity("fail")}
    assert fails["accuracy"].threshold == {"min": 1.01}
    assert fails["accuracy"].value == pytest.approx(result.metrics["acc"]["accuracy"])
    assert "could not be evaluated" in fails["anything"].message
    assert "no such metric" in fails["missing"].message
    assert result.findings[0].severity == "fail"  # worst first
    ok = quiet(logistic_model, tabular_ds, AuditConfig.from_dict({"default_warnings": False,
                                                                 "thresholds": {"acc.accuracy": {"min": 0.5}}}))
    assert ok.passed


def test_default_warnings_warn_but_pass(tabular_ds, logistic_model):
    reg = registry(AccuracyCheck(name="calibration"))
    result = run_audit(logistic_model, tabular_ds, AuditConfig(), progress=False, registry=reg)
    # calibration.ece is not produced by this toy check: default warnings never fail or complain about it
    assert result.passed and not result.findings_by_severity("fail")


def test_config_errors_name_key_and_value(tmp_path, tabular_ds, logistic_model):
    with pytest.raises(ConfigError, match="'seeed'"):
        AuditConfig.from_dict({"seeed": 1})
    with pytest.raises(ConfigError, match="'n_jobs'.*Got 0"):
        AuditConfig.from_dict({"n_jobs": 0})
    with pytest.raises(ConfigError, match="'backend'.*'spark'"):
        AuditConfig.from_dict({"backend": "spark"})
    with pytest.raises(ConfigError, match="finite number"):
        AuditConfig.from_dict({"thresholds": {"acc.accuracy": {"min": "high"}}})
    with pytest.raises(ConfigError, match="'nope'"):
        quiet(logistic_model, tabular_ds, AuditConfig.from_dict({"thresholds": {"nope.metric": {"max": 1}}}))
    with pytest.raises(ConfigError, match="options.acc.scal"):
        quiet(logistic_model, tabular_ds, AuditConfig.from_dict({"options": {"acc": {"scal": 2.0}}}))
    with pytest.raises(ConfigError, match="options.acc.scale' must be float"):
        quiet(logistic_model, tabular_ds, AuditConfig.from_dict({"options": {"acc": {"scale": "big"}}}))
    with pytest.raises(ConfigError, match="'race'"):
        quiet(logistic_model, tabular_ds, AuditConfig(sensitive=("race",)))


def test_config_files_toml_and_yaml_agree(tmp_path):
    toml = tmp_path / "a.toml"
    toml.write_text('seed = 3\nchecks = ["acc"]\n[thresholds]\n"acc.accuracy" = { min = 0.5 }\n'
                    '[model_card]\nintended_use = "tests"\n')
    yml = tmp_path / "a.yaml"
    yml.write_text("seed: 3\nchecks: [acc]\nthresholds:\n  acc:\n    accuracy: {min: 0.5}\nmodel_card:\n  intended_use: tests\n")
    assert AuditConfig.from_file(toml) == AuditConfig.from_file(yml)
    with pytest.raises(ConfigError, match="cannot be parsed"):
        (tmp_path / "b.toml").write_text("seed = = 1")
        AuditConfig.from_file(tmp_path / "b.toml")


def test_options_reach_the_check(tabular_ds, logistic_model):
    base = quiet(logistic_model, tabular_ds).metrics["acc"]["accuracy"]
    scaled = quiet(logistic_model, tabular_ds, AuditConfig(default_warnings=False, options={"acc": {"scale": 2.0}}))
    assert scaled.metrics["acc"]["accuracy"] == pytest.approx(2 * base)


def _drop_timings(node):
    if isinstance(node, dict):
        return {k: _drop_timings(v) for k, v in node.items() if k != "seconds"}
    if isinstance(node, list):
        return [_drop_timings(v) for v in node]
    return node


def _scrub(d: dict) -> dict:
    """The result without volatile fields: timings (anywhere) and the start time."""
    d = _drop_timings(json.loads(json.dumps(d)))
    d["provenance"]["timings"] = d["provenance"]["total_seconds"] = d["provenance"]["started_at"] = None
    return d


def test_same_seed_same_json_and_round_trip(tmp_path, tabular_ds, logistic_model):
    a = quiet(logistic_model, tabular_ds)
    b = quiet(logistic_model, tabular_ds)
    assert _scrub(a.to_dict()) == _scrub(b.to_dict())
    c = quiet(logistic_model, tabular_ds, AuditConfig(seed=1, default_warnings=False))
    assert c.metrics["acc"]["draws"] != a.metrics["acc"]["draws"]
    path = a.to_json(tmp_path / "out" / "result.json")
    assert [p.name for p in path.parent.iterdir()] == ["result.json"]  # atomic: no temp file left
    back = AuditResult.from_json(path)
    assert back.to_dict() == json.loads(path.read_text())
    assert back.passed == a.passed and back.metric("acc.accuracy") == a.metric("acc.accuracy")


def test_max_rows_audits_a_stratified_sample(tabular_ds, logistic_model):
    result = quiet(logistic_model, tabular_ds, AuditConfig(default_warnings=False, max_rows=40))
    assert result.metrics["acc"]["nested"]["n"] == 40
    assert result.provenance["data"]["audited_test_rows"] == 40


@dataclass
class NanCheck:
    name: str = "nan"
    title: str = "Undefined metric"
    kinds: frozenset = frozenset({"tabular"})
    tasks: frozenset = frozenset({"binary"})
    needs: frozenset = frozenset()
    default_options: dict = field(default_factory=dict)

    def run(self, ctx, options) -> CheckOutput:
        return CheckOutput(metrics={"gap": float("nan"), "none": None})


def test_a_gate_on_an_undefined_metric_fails_closed(tabular_ds, logistic_model):
    cfg = AuditConfig.from_dict({"default_warnings": False,
                                 "thresholds": {"nan.gap": {"max": 0.1}, "nan.none": {"min": 0.5}}})
    result = quiet(logistic_model, tabular_ds, cfg, reg=registry(NanCheck()))
    assert not result.passed
    assert {f.metric for f in result.findings_by_severity("fail")} == {"gap", "none"}
    with pytest.raises(ConfigError, match="'min' and/or 'max'"):
        AuditConfig.from_dict({"thresholds": {"nan.gap": {"severity": "fail"}}})
    with pytest.raises(ConfigError, match="'checks' key must be a tuple"):
        AuditConfig(checks="performance")


def test_a_model_that_cannot_score_fails_the_audit_but_results_are_kept(tabular_ds):
    def broken(a):
        raise RuntimeError("weights missing")

    result = quiet(broken, tabular_ds)
    assert not result.passed
    assert any(f.check == "model" and "weights missing" in f.message for f in result.findings)
    assert result.checks["acc"].status == "error" and result.checks["img"].status == "skipped"


def test_trained_model_must_fit_the_dataset(tabular_ds):
    import dataclasses

    from audit.errors import InvalidInputError as AuditInputError
    from models import load_dataset, train_model

    ds = load_dataset("adult", max_rows=300)
    tm = train_model("mlp", ds, epochs=1, progress=False)
    swapped = dataclasses.replace(ds, class_names=list(reversed(ds.class_names)))
    with pytest.raises(AuditInputError, match="classes"):
        wrap_model(tm, swapped)
    relabelled = dataclasses.replace(tabular_ds, class_names=list(ds.class_names))
    with pytest.raises(AuditInputError, match="shape"):
        wrap_model(tm, relabelled)


def test_full_registry_is_deterministic(tabular_ds, torch_linear):
    """Every built-in check, same seed, same JSON apart from timings."""
    cfg = AuditConfig(max_rows=80, device="cpu", options={"fairness": {"n_boot": 100}, "mitigation": {"grid_size": 50}})
    a = run_audit(torch_linear, tabular_ds, cfg, progress=False)
    b = run_audit(torch_linear, tabular_ds, cfg, progress=False)
    assert sum(r.status == "ok" for r in a.checks.values()) >= 10
    assert _scrub(a.to_dict()) == _scrub(b.to_dict())


def test_stratified_sample_handles_missing_sensitive_values(tabular_ds, logistic_model):
    """A float sensitive column with NaN (e.g. age) must not break the audited-rows sample."""
    import dataclasses

    import pandas as pd

    test = tabular_ds.test
    ages = pd.Series(np.where(np.arange(len(test)) % 7 == 0, np.nan, 30.0 + np.arange(len(test)) % 40))
    sensitive = pd.DataFrame({"age": ages})
    ds = dataclasses.replace(tabular_ds, test=dataclasses.replace(test, sensitive=sensitive),
                             sensitive_features=["age"])
    result = quiet(logistic_model, ds, AuditConfig(default_warnings=False, max_rows=50))
    assert result.metrics["acc"]["nested"]["n"] == 50
