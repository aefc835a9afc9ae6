"""The "robustness" and "corruption" checks end to end through run_audit with a local registry."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from audit import AuditConfig, Registry, run_audit
from audit.checks.robustness import CorruptionCheck, RobustnessCheck, resolve_settings
from audit.checks.robustness.corruption import blur_images, gaussian_noise
from audit.errors import ConfigError
from models.dataset import Dataset, Split
from models.preprocessing import encode_text, fit_text

torch.set_num_threads(1)


def _split(x, y, sensitive=None, raw=None) -> Split:
    sens = pd.DataFrame(sensitive) if sensitive is not None else pd.DataFrame(index=range(len(y)))
    return Split(x=x, y=y, sensitive=sens.reset_index(drop=True), raw=raw)


def _parts(n: int, seed: int) -> list[np.ndarray]:
    idx = np.random.default_rng(seed).permutation(n)
    return np.split(idx, [int(0.6 * n), int(0.8 * n)])


def margin_dataset(n: int = 500, seed: int = 0) -> Dataset:
    """Two standardised features that both separate the classes: x_wide with a margin of about one standard
    deviation, x_thin spread evenly up to the boundary (many rows within a small budget of it); a one-hot 'grp'
    block that is sensitive."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    sign = 2.0 * y - 1.0
    wide = sign * 1.0 + rng.normal(0, 0.3, n)
    thin = sign * rng.uniform(0.0, 1.7, n)
    grp = rng.choice(["a", "b"], n)
    x = np.stack([wide, thin, grp == "a", grp == "b"], axis=1).astype(np.float32)
    parts = _parts(n, seed)
    splits = [_split(x[p], y[p].astype(np.int64), {"grp": grp[p]}) for p in parts]
    return Dataset(name="margins", kind="tabular", task="binary", train=splits[0], val=splits[1], test=splits[2],
                   feature_names=["x_wide", "x_thin", "grp=a", "grp=b"],
                   feature_groups={"x_wide": [0], "x_thin": [1], "grp": [2, 3]},
                   continuous_features=["x_wide", "x_thin"], sensitive_features=["grp"], class_names=["neg", "pos"])


class OneFeature(torch.nn.Module):
    """A small MLP that looks at one input column only (the others are multiplied by 0)."""

    def __init__(self, d: int, column: int) -> None:
        super().__init__()
        keep = torch.zeros(d)
        keep[column] = 1.0
        self.register_buffer("keep", keep)
        self.net = torch.nn.Sequential(torch.nn.Linear(d, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * self.keep)


def _fit(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, steps: int = 300, lr: float = 0.05) -> torch.nn.Module:
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def margins():
    ds = margin_dataset()
    torch.manual_seed(0)
    smooth = _fit(OneFeature(4, 0), ds.train.x, ds.train.y, steps=150)
    torch.manual_seed(0)
    fragile = _fit(OneFeature(4, 1), ds.train.x, ds.train.y, lr=0.1, steps=250)  # steep boundary at x_thin = 0
    return ds, smooth, fragile


def _audit(model, ds, registry_checks, **options):
    reg = Registry()
    for check in registry_checks:
        reg.register(check)
    config = AuditConfig(device="cpu", options=options.pop("options", {}), **options)
    return run_audit(model, ds, config, registry=reg, progress=False)


_FAST = {"n_boot": 50, "steps": 10}


def test_fragile_boundary_loses_more_accuracy_under_pgd_than_smooth(margins):
    ds, smooth, fragile = margins
    opts = {"robustness": {**_FAST, "budget": 0.25, "linf_budgets": [0.25], "norms": ["Linf"]}}
    ms = _audit(smooth, ds, [RobustnessCheck()], options=opts).metrics["robustness"]
    mf = _audit(fragile, ds, [RobustnessCheck()], options=opts).metrics["robustness"]
    assert ms["clean_accuracy"] > 0.95 and mf["clean_accuracy"] > 0.95
    drop_smooth = ms["clean_accuracy"] - ms["pgd_accuracy"]
    drop_fragile = mf["clean_accuracy"] - mf["pgd_accuracy"]
    assert drop_fragile > drop_smooth + 0.05
    # x_thin is uniform on [0, 1.7] per class: about 0.25 / 1.7 of the rows lie within the budget of the boundary
    assert 0.07 < drop_fragile < 0.3
    assert mf["pgd_attack_success_rate"] > ms["pgd_attack_success_rate"]


def test_metrics_layout_groups_and_frozen_features(margins):
    ds, _, fragile = margins
    result = _audit(fragile, ds, [RobustnessCheck()], options={"robustness": _FAST})
    assert result.checks["robustness"].status == "ok", result.checks["robustness"].reason
    m = result.metrics["robustness"]
    assert m["movable_features"] == ["x_wide", "x_thin"] and m["frozen_features"] == ["grp"]
    assert m["budget"] == 0.1 and m["budget_unit"].startswith("standard deviations")
    smallest = m["curves"]["robust_accuracy"]["x"][0]
    pgd_small = m["curves"]["robust_accuracy"]["series"]["PGD (L-inf)"][0]
    assert m["pgd_relative_accuracy"] == pytest.approx(pgd_small / m["clean_accuracy"])
    assert smallest == 0.05
    # PGD is at least as strong as FGSM at every budget (it starts with the same step)
    curve = m["curves"]["robust_accuracy"]["series"]
    assert all(p <= f + 1e-12 for p, f in zip(curve["PGD (L-inf)"], curve["FGSM"]))
    # the perturbation never exceeds its budget (rows: attack, norm, budget, acc, success, mean/max linf, mean/max l2)
    for row in m["tables"]["attacks"]["rows"]:
        bound = row[6] if row[1] == "Linf" else row[8]
        assert bound <= row[2] * (1 + 1e-5) + 1e-6
    table = m["tables"]["by_group_grp"]
    assert [r[0] for r in table["rows"]] == ["a", "b"]
    for row in table["rows"]:
        assert row[4] <= row[3] <= row[5]  # robust accuracy inside its interval
    # oracle: per-group robust accuracy recomputed by hand from the same attack
    bias = m["tables"]["robustness_bias"]["rows"][0]
    assert bias[0] == "grp"
    accs = [r[3] for r in table["rows"]]
    success = [r[6] for r in table["rows"]]
    assert bias[3] == pytest.approx(max(accs) - min(accs))
    assert bias[6] == pytest.approx(max(success) - min(success))
    assert m["robust_accuracy_disparity"] == pytest.approx(bias[3])
    assert m["attack_success_disparity"] == pytest.approx(bias[6])
    assert m["robust_accuracy_disparity_grouping"] == "grp"
    assert "robust_accuracy_by_grp" in m["curves"]


def test_engines_and_executors_give_the_same_numbers(margins):
    ds, _, fragile = margins
    base = {**_FAST, "linf_budgets": [0.1, 0.3], "l2_budgets": [0.2]}
    ref = _audit(fragile, ds, [RobustnessCheck()], options={"robustness": base}).metrics["robustness"]
    captum = _audit(fragile, ds, [RobustnessCheck()],
                    options={"robustness": {**base, "engine": "captum"}}).metrics["robustness"]
    threads = _audit(fragile, ds, [RobustnessCheck()], backend="threading", n_jobs=2,
                     options={"robustness": {**base, "chunk_size": 7}}).metrics["robustness"]
    for other in (captum, threads):
        _assert_rows_close(other["tables"]["attacks"]["rows"], ref["tables"]["attacks"]["rows"])
        assert other["pgd_accuracy"] == ref["pgd_accuracy"]


def _assert_rows_close(a, b) -> None:
    for ra, rb in zip(a, b, strict=True):
        for ca, cb in zip(ra, rb, strict=True):
            if isinstance(ca, float):
                assert ca == pytest.approx(cb, abs=1e-6)
            else:
                assert ca == cb


def test_black_box_model_is_skipped_with_the_reason(margins):
    ds = margins[0]
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(ds.train.x, ds.train.y)
    result = _audit(model, ds, [RobustnessCheck(), CorruptionCheck()])
    record = result.checks["robustness"]
    assert record.status == "skipped" and "differentiable" in record.reason
    assert "gradients" in RobustnessCheck().needs
    assert result.checks["corruption"].status == "ok"  # corruption only needs predictions


@pytest.mark.parametrize(("options", "needle"), [
    ({"budget": 0}, "options.robustness.budget"),
    ({"budget": -0.5}, "-0.5"),
    ({"linf_budgets": [0.1, 0.0]}, "options.robustness.linf_budgets"),
    ({"l2_budgets": []}, "options.robustness.l2_budgets"),
    ({"norms": ["Linf", "L3"]}, "'L3'"),
    ({"engine": "torchattacks"}, "'torchattacks'"),
    ({"steps": 0}, "options.robustness.steps"),
])
def test_bad_options_raise_clear_errors(options, needle):
    with pytest.raises(ConfigError) as info:
        resolve_settings({**RobustnessCheck().default_options, **options}, "tabular")
    assert needle in str(info.value)


def test_bad_budget_becomes_an_error_finding_naming_the_value(margins):
    ds, _, fragile = margins
    result = _audit(fragile, ds, [RobustnessCheck()], options={"robustness": {"budget": 0}})
    assert result.checks["robustness"].status == "error"
    reason = result.checks["robustness"].reason
    assert "options.robustness.budget" in reason and "Got 0" in reason


def test_corruption_noise_lowers_accuracy_of_the_fragile_model(margins):
    ds, smooth, fragile = margins
    opts = {"corruption": {"noise_levels": [0.25, 1.0]}}
    mf = _audit(fragile, ds, [CorruptionCheck()], options=opts).metrics["corruption"]
    ms = _audit(smooth, ds, [CorruptionCheck()], options=opts).metrics["corruption"]
    assert mf["curves"]["noise"]["x"] == [0.25, 1.0]
    acc = mf["curves"]["noise"]["series"]["Gaussian noise"]
    assert acc[1] < acc[0] <= mf["clean_accuracy"] + 0.02
    assert mf["noise_accuracy"] < ms["noise_accuracy"]
    assert mf["mean_corrupted_accuracy"] == pytest.approx(np.mean(acc))


def test_gaussian_noise_respects_mask_and_range_and_blur_keeps_constant_images():
    x = np.array([[0.0, 5.0, 1.0]], dtype=np.float32).repeat(200, axis=0)
    out = gaussian_noise(x, 2.0, np.random.default_rng(0), mask=np.array([1, 1, 0], np.float32),
                         lower=np.array([-1, -1, -1], np.float32), upper=np.array([1, 1, 1], np.float32))
    assert (out[:, 2] == 1.0).all()
    assert out[:, 0].min() >= -1 and out[:, 0].max() <= 1 and out[:, 0].std() > 0.3
    assert out[:, 1].min() >= -1 and out[:, 1].max() <= 5.0  # the box is widened to hold the original row
    flat = np.full((2, 1, 6, 6), 0.3, np.float32)
    assert np.allclose(blur_images(flat, 1.5), 0.3)
    spike = np.zeros((1, 1, 15, 15), np.float32)
    spike[0, 0, 7, 7] = 1.0
    blurred = blur_images(spike, 1.0)
    # a unit spike becomes the (sampled) 2-D Gaussian kernel: 1 / (2 pi sigma^2) at the centre, total mass 1
    assert blurred[0, 0, 7, 7] == pytest.approx(1 / (2 * np.pi), abs=1e-3)
    assert blurred.sum() == pytest.approx(1.0, abs=1e-4)


# ------------------------------------------------------------------------------------------------ other data kinds
@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    y = d.target.astype(np.int64)
    parts = _parts(600, 0)
    splits = [_split(x[p], y[p]) for p in parts]
    ds = Dataset(name="digits", kind="image", task="multiclass", train=splits[0], val=splits[1], test=splits[2],
                 class_names=[str(i) for i in range(10)])
    from models.cnn import CNN, CNNConfig

    torch.manual_seed(0)
    net = CNN(CNNConfig(in_channels=1, n_classes=10, channels=(8,), hidden=32, dropout=0.0))
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    xt, yt = torch.as_tensor(ds.train.x), torch.as_tensor(ds.train.y)
    for _ in range(15):
        for i in range(0, len(xt), 64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xt[i:i + 64]), yt[i:i + 64]).backward()
            opt.step()
    return ds, net.eval()


def test_image_check_reports_curves_images_and_per_class_groups(digits):
    ds, net = digits
    opts = {"robustness": {**_FAST, "n_samples": 60, "n_images": 2, "linf_budgets": [0.03, 0.1], "min_group_size": 3},
            "corruption": {"noise_levels": [0.1], "blur_levels": [1.0]}}
    result = _audit(net, ds, [RobustnessCheck(), CorruptionCheck()], options=opts)
    m = result.metrics["robustness"]
    assert m["clean_accuracy"] > 0.8
    assert m["pgd_accuracy"] <= m["clean_accuracy"]
    assert m["curves"]["robust_accuracy"]["x"] == [0.03, 0.1]
    assert sorted(m["images"]) == sorted(f"sample_{i}_{k}" for i in range(2)
                                         for k in ("original", "adversarial", "perturbation"))
    pert = np.array(m["images"]["sample_0_perturbation"]["data"])
    assert pert.shape == (8, 8) and np.abs(pert).max() <= 0.03 + 1e-4
    assert "by_group_class" in m["tables"] and m["robust_accuracy_disparity_grouping"] == "class"
    c = result.metrics["corruption"]
    assert {"noise_accuracy", "blur_accuracy", "relative_corrupted_accuracy"} <= set(c)


def test_timeseries_regression_reports_mae_increase():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 12, 1)).astype(np.float32)
    y = (x[:, -3:, 0].mean(axis=1) + 0.1 * rng.normal(size=300)).astype(np.float32)
    parts = _parts(300, 1)
    splits = [_split(x[p], y[p]) for p in parts]
    ds = Dataset(name="series", kind="timeseries", task="regression", train=splits[0], val=splits[1], test=splits[2])
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 1))
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    for _ in range(200):
        opt.zero_grad()
        ((net(torch.as_tensor(ds.train.x))[:, 0] - torch.as_tensor(ds.train.y)) ** 2).mean().backward()
        opt.step()
    result = _audit(net.eval(), ds, [RobustnessCheck(), CorruptionCheck()],
                    options={"robustness": {**_FAST, "linf_budgets": [0.1, 0.5]}})
    m = result.metrics["robustness"]
    assert result.checks["robustness"].status == "ok", result.checks["robustness"].reason
    assert m["pgd_mae_increase"] > 0 and m["pgd_mae"] > m["clean_mae"]
    pgd_curve = m["curves"]["mae_under_attack"]["series"]["PGD (L-inf)"]
    assert pgd_curve[1] > pgd_curve[0]
    # for a linear model the worst L-inf attack moves the output by budget * sum |w| (the bounds permitting)
    w = np.abs(net[1].weight.detach().numpy()).sum()
    assert m["pgd_mae"] <= m["clean_mae"] + 0.1 * w + 1e-4
    assert "example_window" in m["curves"]
    assert result.metrics["corruption"]["noise_mae_increase"] > 0


def test_text_check_attacks_embeddings_and_reports_token_noise_separately():
    from models.lstm import LSTM, LSTMConfig

    rng = np.random.default_rng(0)
    good, bad, filler = ["good", "great", "fine"], ["bad", "awful", "poor"], ["the", "film", "was", "plot", "and"]
    texts, labels = [], []
    for _ in range(240):
        label = int(rng.integers(0, 2))
        words = list(rng.choice(filler, 4)) + list(rng.choice(good if label else bad, 2))
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(label)
    y = np.array(labels, np.int64)
    state = fit_text(texts[:144], max_len=8)
    ids = encode_text(texts, state)
    parts = [np.arange(144), np.arange(144, 192), np.arange(192, 240)]
    splits = [_split(ids[p], y[p], raw=pd.DataFrame({"text": [texts[i] for i in p]})) for p in parts]
    ds = Dataset(name="reviews", kind="text", task="binary", train=splits[0], val=splits[1], test=splits[2],
                 class_names=["neg", "pos"], preprocessing=state, metadata={"vocab_size": state["vocab_size"]})
    torch.manual_seed(0)
    net = LSTM(LSTMConfig(input_kind="text", vocab_size=state["vocab_size"], embed_dim=8, hidden=8, dropout=0.0))
    net = _fit(net, ds.train.x, ds.train.y, steps=150, lr=0.05)
    result = _audit(net, ds, [RobustnessCheck(), CorruptionCheck()],
                    options={"robustness": {**_FAST, "noise_rates": [0.2, 0.5]}})
    assert result.checks["robustness"].status == "ok", result.checks["robustness"].reason
    m = result.metrics["robustness"]
    assert m["token_noise_clean_accuracy"] > 0.9 and m["typo_method"] == "characters"
    assert {"pgd_accuracy", "fgsm_accuracy", "embedding_scale"} <= set(m)
    assert set(m["curves"]["token_noise"]["series"]) == {"deletions", "typos", "clean"}
    assert m["curves"]["robust_accuracy"]["x"] == [0.05, 0.1, 0.25, 0.5]
    assert m["token_noise_rate"] == 0.2
    assert "dropped_tokens_accuracy" in result.metrics["corruption"]
