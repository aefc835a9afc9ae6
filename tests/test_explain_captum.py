"""captum methods: known answers, the batched fast path against captum itself, and clear input errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import DeepLift, DeepLiftShap, IntegratedGradients, Saliency
from test_explain_data import image_cnn, image_dataset, tabular_dataset, tabular_mlp, text_dataset, text_lstm
from torch import nn

from audit.checks.explain import captum_
from audit.checks.explain._fast_deeplift import fast_deeplift, supports_fast_deeplift
from audit.checks.explain._fast_gradients import rows_independent, sum_gradients
from audit.errors import InvalidInputError, InvalidTypeError
from models.mlp import MLP, MLPConfig

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore:.*(required_grads|hooks and attributes).*:UserWarning")


def _linear(seed: int = 0) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(5, 3).eval()


def test_ig_of_linear_model_is_input_minus_baseline_times_weight() -> None:
    net = _linear()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 5)).astype(np.float32)
    b = rng.normal(size=5)
    t = np.array([0, 1, 2, 0, 1, 2])
    attr, delta = captum_.integrated_gradients(net, x, t, baseline=b, n_steps=4)
    w = net.weight.detach().numpy().astype(np.float64)
    np.testing.assert_allclose(attr, (x - b) * w[t], atol=1e-5)
    np.testing.assert_allclose(delta, 0.0, atol=1e-4)


def test_ig_completeness_on_mlp() -> None:
    ds = tabular_dataset()
    torch.manual_seed(0)  # a smooth MLP: Gauss-Legendre converges fast (ReLU kinks need far more steps)
    net = nn.Sequential(nn.Linear(7, 16), nn.Tanh(), nn.Linear(16, 16), nn.Softplus(), nn.Linear(16, 2)).eval()
    x = ds.test.x[:20]
    b = ds.train.x.mean(axis=0)
    t = np.ones(20, dtype=np.int64)
    attr, delta = captum_.integrated_gradients(net, x, t, baseline=b, n_steps=64)
    with torch.no_grad():
        fx = net(torch.tensor(x))[:, 1].numpy().astype(np.float64)
        fb = net(torch.tensor(b[None].astype(np.float32)))[0, 1].item()
    gap = np.abs(attr.sum(axis=1) - (fx - fb))
    assert gap.max() < 1e-3
    np.testing.assert_allclose(np.abs(delta), gap, atol=1e-5)


def _cases() -> list[tuple[nn.Module, np.ndarray, np.ndarray]]:
    tab, img = tabular_dataset(), image_dataset()
    return [(tabular_mlp(), tab.test.x[:30], tab.train.x.mean(axis=0)),
            (image_cnn(), img.test.x[:10], np.zeros(img.input_shape))]


@pytest.mark.parametrize("case", [0, 1], ids=["mlp", "cnn"])
def test_fast_paths_equal_captum(case: int) -> None:
    net, x, b = _cases()[case]
    with torch.no_grad():
        t = net(torch.tensor(x)).argmax(1).numpy()
    xt, bt, tt = torch.tensor(x), torch.tensor(np.broadcast_to(b, x.shape).astype(np.float32)), torch.tensor(t)
    ig_ref = IntegratedGradients(net).attribute(xt, baselines=bt, target=tt, n_steps=16).detach().numpy()
    ig, _ = captum_.integrated_gradients(net, x, t, baseline=b, n_steps=16, fast=True)
    np.testing.assert_allclose(ig, ig_ref, atol=1e-5)
    sal_ref = Saliency(net).attribute(xt, target=tt).detach().numpy()
    np.testing.assert_allclose(captum_.saliency(net, x, t, fast=True), sal_ref, atol=1e-5)
    dl_ref = DeepLift(net).attribute(xt, baselines=bt, target=tt).detach().numpy()
    np.testing.assert_allclose(captum_.deeplift(net, x, t, baseline=b, fast=True), dl_ref, atol=1e-5)


def test_gradient_shap_and_deeplift_shap_fast_equal_slow() -> None:
    net, ds = tabular_mlp(), tabular_dataset()
    x, bg = ds.test.x[:12], ds.train.x[:8]
    t = np.ones(12, dtype=np.int64)
    slow = captum_.gradient_shap(net, x, t, background=bg, n_samples=7, seed=3, fast=False)
    fast = captum_.gradient_shap(net, x, t, background=bg, n_samples=7, seed=3, fast=True)
    np.testing.assert_allclose(fast, slow, atol=1e-5)
    np.testing.assert_allclose(captum_.deeplift_shap(net, x, t, background=bg, fast=True),
                               captum_.deeplift_shap(net, x, t, background=bg, fast=False), atol=1e-5)


def test_sum_gradients_matches_per_row_seeding_and_batchnorm_in_train_mode_is_detected() -> None:
    net = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 2))
    x = torch.randn(8, 4)
    assert rows_independent(net.eval(), x)
    assert not rows_independent(net.train(), x)
    net.eval()
    xs = x.clone().requires_grad_()
    (g,) = sum_gradients(net, (xs,), torch.zeros(8, dtype=torch.long))
    (g_ref,) = torch.autograd.grad(torch.unbind(net(xs)[:, 0]), xs)
    np.testing.assert_allclose(g.numpy(), g_ref.numpy(), atol=1e-6)


def test_fast_path_falls_back_to_captum_when_rows_interact() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 2)).train()
    x = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
    t = np.zeros(10, dtype=np.int64)
    slow = Saliency(net).attribute(torch.tensor(x), target=torch.tensor(t)).numpy()
    np.testing.assert_allclose(captum_.saliency(net, x, t, fast=True), slow, atol=1e-6)


def test_occlusion_concentrates_on_planted_patch() -> None:
    net, ds = image_cnn(), image_dataset()
    x = ds.test.x[ds.test.y == 1][:6]
    attr = captum_.occlusion(net, x, np.ones(len(x), dtype=np.int64), window=(1, 2, 2), stride=(1, 1, 1))
    mass = np.abs(attr).sum(axis=(0, 1))
    inside = mass[1:4, 1:4].sum() / mass.sum()
    assert inside > 0.5  # 9 of 64 pixels hold most of the attribution


def test_layer_ig_gives_planted_token_the_top_score() -> None:
    net, ds = text_lstm(), text_dataset()
    great = ds.preprocessing["vocab"].index("great") + 2
    rows = np.flatnonzero((ds.test.x == great).any(axis=1))[:8]
    x = ds.test.x[rows]
    scores, delta = captum_.layer_integrated_gradients(net, net.embedding, x, np.ones(len(x), dtype=np.int64),
                                                       baseline_ids=np.zeros(x.shape[1]), n_steps=128)
    assert scores.shape == x.shape
    top = x[np.arange(len(x)), scores.argmax(axis=1)]
    assert np.all(top == great)
    assert np.abs(delta).max() < 0.1


def test_wrong_baseline_shape_is_a_clear_error() -> None:
    net = _linear()
    x = np.zeros((2, 5), dtype=np.float32)
    with pytest.raises(InvalidInputError, match=r"'baseline'.*\(5,\).*Got shape \(3,\)"):
        captum_.integrated_gradients(net, x, 0, baseline=np.zeros(3))


def test_bad_target_steps_and_module_are_clear_errors() -> None:
    net = _linear()
    x = np.zeros((2, 5), dtype=np.float32)
    with pytest.raises(InvalidInputError, match="'target'"):
        captum_.saliency(net, x, np.array([0, 1, 2]))
    with pytest.raises(InvalidInputError, match="'n_steps' argument must be an int >= 1. Got 0"):
        captum_.integrated_gradients(net, x, 0, baseline=np.zeros(5), n_steps=0)
    with pytest.raises(InvalidTypeError, match="'module'"):
        captum_.saliency(lambda a: a, x, 0)
    with pytest.raises(InvalidInputError, match="'window'"):
        captum_.occlusion(image_cnn(), np.zeros((1, 1, 8, 8), np.float32), 0, window=(1, 9, 9), stride=(1, 1, 1))


# ---------------------------------------------------------------------------------------------- fast DeepLift
def _deeplift_models() -> list[tuple[nn.Module, np.ndarray, np.ndarray]]:
    tab, img = tabular_dataset(), image_dataset()
    torch.manual_seed(1)
    mlp_bn = MLP(MLPConfig(input_dim=7, hidden=(16, 8), dropout=0.2, batch_norm=True))
    mlp_bn(torch.tensor(tab.train.x[:64]))  # untrained weights; put BatchNorm running stats off their defaults
    with torch.no_grad():
        for m in mlp_bn.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return [(tabular_mlp(), tab.test.x[:30], tab.train.x.mean(axis=0)),
            (mlp_bn.eval(), tab.test.x[:30], tab.train.x[0]),
            (image_cnn(), img.test.x[:10], np.zeros(img.input_shape, dtype=np.float32)),
            (image_cnn(), img.test.x[:10], img.train.x[0])]


@pytest.mark.parametrize("case", [0, 1, 2, 3], ids=["mlp-mean", "mlp-batchnorm", "cnn-zero", "cnn-image"])
def test_fast_deeplift_equals_captum_with_zero_delta_rows(case: int) -> None:
    net, x, b = _deeplift_models()[case]
    x = x.copy()
    x[3] = b  # a row equal to its baseline: all multipliers take the gradient branch, attribution 0
    xt = torch.tensor(x)
    assert supports_fast_deeplift(net, xt)
    with torch.no_grad():
        t = net(xt).argmax(1).numpy()
    bt, tt = torch.tensor(np.broadcast_to(b, x.shape).astype(np.float32)), torch.tensor(t)
    ref, ref_delta = DeepLift(net).attribute(xt, baselines=bt, target=tt, return_convergence_delta=True)
    ours = captum_.deeplift(net, x, t, baseline=b)
    np.testing.assert_allclose(ours, ref.detach().numpy(), atol=1e-5)
    assert np.all(ours[3] == 0.0)
    per_row = np.random.default_rng(0).permutation(x) * 0.5  # a different baseline for every row
    ref_rows = DeepLift(net).attribute(xt, baselines=torch.tensor(per_row), target=tt).detach().numpy()
    np.testing.assert_allclose(captum_.deeplift(net, x, t, baseline=per_row), ref_rows, atol=1e-5)
    attr, delta = fast_deeplift(net, xt, bt[:1], tt)
    np.testing.assert_allclose(delta.numpy(), ref_delta.detach().numpy(), atol=1e-4)


def test_fast_deeplift_of_relu_mlp_is_complete_and_of_linear_model_is_known() -> None:
    net, x, b = _deeplift_models()[0]
    xt = torch.tensor(x)
    _, delta = fast_deeplift(net, xt, torch.tensor(b[None].astype(np.float32)), torch.ones(len(x), dtype=torch.long))
    assert np.abs(delta.numpy()).max() < 1e-4  # rescale rule on Linear/ReLU sums to f(x) - f(x0)
    lin = _linear()
    xl = np.random.default_rng(1).normal(size=(4, 5)).astype(np.float32)
    t = np.array([0, 1, 2, 1])
    w = lin.weight.detach().numpy().astype(np.float64)
    np.testing.assert_allclose(captum_.deeplift(lin, xl, t, baseline=np.zeros(5)), xl * w[t], atol=1e-6)


def test_fast_deeplift_shap_equals_captum() -> None:
    for net, x, _ in _deeplift_models()[1:3]:
        bg = x[-4:]
        x = x[:6]
        t = np.ones(len(x), dtype=np.int64)
        ref = DeepLiftShap(net).attribute(torch.tensor(x), baselines=torch.tensor(bg), target=torch.tensor(t))
        np.testing.assert_allclose(captum_.deeplift_shap(net, x, t, background=bg), ref.detach().numpy(), atol=1e-5)


def test_unsupported_module_falls_back_to_captum() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 6), nn.Sigmoid(), nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 2)).eval()
    reused = nn.ReLU()
    twice = nn.Sequential(nn.Linear(5, 6), reused, nn.Linear(6, 6), reused, nn.Linear(6, 2)).eval()
    x = np.random.default_rng(0).normal(size=(8, 5)).astype(np.float32)
    t = np.array([0, 1] * 4)
    assert not supports_fast_deeplift(net, torch.tensor(x))  # Sigmoid: captum applies its own rule
    assert not supports_fast_deeplift(twice, torch.tensor(x))  # a ReLU module used twice
    training = nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Dropout(0.5), nn.Linear(6, 2)).train()
    assert not supports_fast_deeplift(training, torch.tensor(x))  # dropout active: not the fast path
    ref = DeepLift(net).attribute(torch.tensor(x), baselines=torch.zeros(8, 5), target=torch.tensor(t))
    np.testing.assert_allclose(captum_.deeplift(net, x, t, baseline=np.zeros(5)), ref.detach().numpy(), atol=1e-6)
