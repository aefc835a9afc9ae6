"""SHAP and LIME paths against shap's and lime's own explainers, and known answers."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from test_explain_data import tabular_dataset, tabular_mlp, text_lstm
from torch import nn

from audit.checks.explain import lime_, shap_
from audit.errors import InvalidInputError

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning",
                                        "ignore::FutureWarning")


def _shap_draws(seed: int, n_rows: int, n_samples: int, n_bg: int) -> tuple[np.ndarray, np.ndarray]:
    """The (reference, alpha) draws shap's GradientExplainer makes (np.random.seed(rseed), choice then uniform)."""
    rs = np.random.RandomState(seed)
    ref = np.zeros((n_rows, n_samples), dtype=np.int64)
    alpha = np.zeros((n_rows, n_samples))
    for j in range(n_rows):
        for k in range(n_samples):
            ref[j, k] = rs.choice(n_bg)
            alpha[j, k] = rs.uniform()
    return ref, alpha


def test_expected_gradients_equals_shap_gradient_explainer_with_the_same_draws() -> None:
    net, ds = tabular_mlp(), tabular_dataset()
    x, bg = ds.test.x[:5], ds.train.x[:12]
    t = np.array([0, 1, 1, 0, 1])
    ref = shap_.shap_gradient_reference(net, x, t, background=bg, n_samples=15, seed=4)
    idx, alpha = _shap_draws(4, 5, 15, 12)
    np.testing.assert_allclose(shap_.expected_gradients(net, x, t, bg, idx, alpha), ref, atol=1e-5)


def test_vectorised_gradient_shap_agrees_with_shap_over_seeds() -> None:
    net, ds = tabular_mlp(), tabular_dataset()
    x, bg = ds.test.x[:4], ds.train.x[:30]
    t = np.ones(4, dtype=np.int64)
    ours = np.mean([shap_.shap_gradient(net, x, t, background=bg, n_samples=300, seed=s) for s in range(3)], axis=0)
    ref = np.mean([shap_.shap_gradient_reference(net, x, t, background=bg, n_samples=300, seed=s) for s in range(3)],
                  axis=0)
    scale = np.abs(ref).max()
    assert np.abs(ours - ref).max() < 0.1 * scale  # both Monte Carlo: 900 draws each


def test_deep_shap_equals_shap_deep_explainer_on_relu_mlp() -> None:
    net, ds = tabular_mlp(), tabular_dataset()
    x, bg = ds.test.x[:6], ds.train.x[:10]
    t = np.array([1, 0, 1, 0, 1, 1])
    ours, notes = shap_.shap_deep(net, x, t, background=bg)
    assert notes == []
    np.testing.assert_allclose(ours, shap_.shap_deep_reference(net, x, t, background=bg), atol=1e-5)


def test_deep_shap_falls_back_with_a_note_on_recurrent_models() -> None:
    net = text_lstm()
    ok, why = shap_.deeplift_supported(net)
    assert not ok and "no DeepLIFT rule" in why
    emb = nn.Sequential(nn.Linear(4, 4), nn.GELU(), nn.Linear(4, 2)).eval()
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    values, notes = shap_.shap_deep(emb, x, np.zeros(3, dtype=np.int64), background=x, n_samples=5)
    assert values.shape == x.shape and "GradientExplainer" in notes[0] and "GELU" in notes[0]


def test_kernel_shap_equals_shap_kernel_explainer_when_coalitions_are_enumerated() -> None:
    net, ds = tabular_mlp(), tabular_dataset()

    def f(a: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(net(torch.as_tensor(a, dtype=torch.float32)), 1).double().numpy()

    x, bg = ds.test.x[:3], ds.train.x[:6]
    t = np.array([0, 1, 1])
    ours = shap_.kernel_shap(f, x, t, background=bg, n_samples=200)  # 2**7 - 2 = 126 coalitions: all of them
    np.testing.assert_allclose(ours, shap_.shap_kernel_reference(f, x, t, background=bg, n_samples=200), atol=1e-6)
    total = f(x)[np.arange(3), t] - f(bg)[:, t].mean(axis=0)
    np.testing.assert_allclose(ours.sum(axis=1), total, atol=1e-9)


def test_kernel_shap_of_linear_model_approaches_w_times_x_minus_mean() -> None:
    rng = np.random.default_rng(0)
    w = np.array([1.5, -2.0, 0.5, 0.0, 3.0, -1.0, 0.25, 2.0, -0.5, 1.0, 0.75, -1.25])
    bg = rng.normal(size=(40, 12))
    x = rng.normal(size=(4, 12))

    def f(a: np.ndarray) -> np.ndarray:
        return (np.asarray(a, dtype=np.float64) @ w)[:, None]

    values = shap_.kernel_shap(f, x, 0, background=bg, n_samples=600, seed=1)  # 2**12 coalitions: sampled
    np.testing.assert_allclose(values, w * (x - bg.mean(axis=0)), atol=1e-8)  # linear: exact for any coalitions


def test_grouped_kernel_shap_sums_one_hot_blocks_and_rejects_bad_groups() -> None:
    net, ds = tabular_mlp(), tabular_dataset()

    def f(a: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(net(torch.as_tensor(a, dtype=torch.float32)), 1).double().numpy()

    groups = list(ds.feature_groups.values())
    values = shap_.kernel_shap(f, ds.test.x[:4], 1, background=ds.train.x[:8], groups=groups, n_samples=64)
    assert values.shape == (4, 5)
    assert int(np.argmax(np.abs(values).mean(axis=0))) == 2  # 'planted'
    with pytest.raises(InvalidInputError, match="'groups'"):
        shap_.kernel_shap(f, ds.test.x[:2], 1, background=ds.train.x[:8], groups=[[0, 1]], n_samples=8)


def test_fast_lime_agrees_with_lime_over_seeds() -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(size=(500, 4)).astype(np.float32)
    w = np.array([2.0, -1.0, 0.5, 0.0])

    def f(a: np.ndarray) -> np.ndarray:
        p = 1 / (1 + np.exp(-(np.asarray(a, dtype=np.float64) @ w)))
        return np.stack([1 - p, p], axis=1)

    x, t = train[:4], np.ones(4, dtype=np.int64)
    ours = np.mean([lime_.lime_tabular_fast(f, x, t, train=train, n_samples=2000, seed=s) for s in range(3)], axis=0)
    ref = np.mean([lime_.lime_tabular(f, x, t, train=train, n_samples=2000, seed=s) for s in range(3)], axis=0)
    # Stated tolerance: within 0.05 (coefficients up to ~0.25) and the same most important feature per row.
    assert np.abs(ours - ref).max() < 0.05
    np.testing.assert_array_equal(np.abs(ours).argmax(axis=1), np.abs(ref).argmax(axis=1))


def test_lime_fast_keeps_one_hot_blocks_valid() -> None:
    ds = tabular_dataset()
    seen: list[np.ndarray] = []

    def f(a: np.ndarray) -> np.ndarray:
        seen.append(np.asarray(a))
        return np.tile([0.5, 0.5], (len(a), 1))

    lime_.lime_tabular_fast(f, ds.test.x[:2], np.ones(2, dtype=np.int64), train=ds.train.x,
                            groups=list(ds.feature_groups.values()), n_samples=50)
    block = np.concatenate(seen)[:, 4:7]
    np.testing.assert_array_equal(block.sum(axis=1), 1.0)


def test_lime_rejects_bad_train_and_budget() -> None:
    def f(a: np.ndarray) -> np.ndarray:
        return np.tile([0.5, 0.5], (len(a), 1))

    with pytest.raises(InvalidInputError, match="'train'"):
        lime_.lime_tabular_fast(f, np.zeros((1, 3)), np.zeros(1, dtype=int), train=np.zeros((5, 2)))
    with pytest.raises(InvalidInputError, match="'n_samples'"):
        lime_.lime_tabular_fast(f, np.zeros((1, 3)), np.zeros(1, dtype=int), train=np.zeros((5, 3)), n_samples=1)
