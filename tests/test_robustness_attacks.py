"""Attacks: the fast path against captum's FGSM/PGD (the oracle), budgets and frozen features (Hypothesis), errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.robust import FGSM, PGD
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.checks.robustness import fgsm, pgd
from audit.checks.robustness._fast_pgd import loss_function
from audit.checks.robustness.text import EmbeddingInputs, delete_tokens, typo_texts, unknown_tokens
from audit.errors import InvalidInputError, InvalidTypeError, UnknownNameError
from models.cnn import CNN, CNNConfig
from models.lstm import LSTM, LSTMConfig

torch.set_num_threads(1)


def _mlp(d: int = 6, k: int = 3, seed: int = 0, out: int | None = None) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(d, 16), torch.nn.ReLU(), torch.nn.Linear(16, out or k)).eval()


@pytest.fixture(scope="module")
def tab():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(64, 6, generator=gen)
    y = torch.randint(0, 3, (64,), generator=gen)
    mask = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0, 0.0]).expand(64, 6).contiguous()
    lo = torch.minimum(torch.full((6,), -1.2), x)
    hi = torch.maximum(torch.full((6,), 1.2), x)
    return _mlp(), x, y, mask, lo, hi


def _captum_pgd(net, x, y, r, a, n, norm, loss="ce", lo=float("-inf"), hi=float("inf"), mask=None, extra=None):
    return PGD(net, loss_function(loss), lo, hi).perturb(x, r, a, n, y, additional_forward_args=extra, norm=norm,
                                                         random_start=False, mask=mask)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(("norm", "loss"), [("Linf", "ce"), ("L2", "ce"), ("Linf", "margin"), ("L2", "margin")])
def test_fast_pgd_equals_captum_on_tabular_with_mask_and_bounds(tab, norm, loss):
    net, x, y, mask, lo, hi = tab
    step = 0.05 if norm == "Linf" else 0.03
    expected = _captum_pgd(net, x, y, 0.3, step, 20, norm, loss=loss, lo=lo, hi=hi, mask=mask)
    got = pgd(net, x, y, 0.3, norm=norm, steps=20, step_size=step, lower=lo, upper=hi, mask=mask, loss=loss)
    assert torch.allclose(got, expected, atol=1e-5, rtol=0)
    assert float((got - x).abs().max()) > 0.1  # the attack moved something


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_fast_fgsm_equals_captum(tab):
    net, x, y, mask, lo, hi = tab
    expected = FGSM(net, loss_function("ce"), lo, hi).perturb(x, 0.2, y, mask=mask)
    got = fgsm(net, x, y, 0.2, lower=lo, upper=hi, mask=mask)
    assert torch.allclose(got, expected, atol=1e-5, rtol=0)
    same_engine = fgsm(net, x, y, 0.2, lower=lo, upper=hi, mask=mask, engine="captum")
    assert torch.allclose(got, same_engine, atol=1e-5, rtol=0)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_fast_pgd_equals_captum_on_cnn_images():
    torch.manual_seed(0)
    net = CNN(CNNConfig(in_channels=1, n_classes=4, channels=(4,), hidden=8)).eval()
    x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    y = torch.arange(16) % 4
    expected = _captum_pgd(net, x, y, 0.05, 0.01, 10, "Linf", lo=0.0, hi=1.0)
    got = pgd(net, x, y, 0.05, steps=10, step_size=0.01, lower=0.0, upper=1.0)
    assert torch.allclose(got, expected, atol=1e-5, rtol=0)
    assert float(got.min()) >= 0.0 and float(got.max()) <= 1.0


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_fast_pgd_equals_captum_for_regression_squared_error():
    net = _mlp(d=5, out=1)
    x = torch.randn(32, 5, generator=torch.Generator().manual_seed(3))
    y = torch.randn(32, generator=torch.Generator().manual_seed(4))
    expected = _captum_pgd(net, x, y, 0.2, 0.02, 15, "Linf", loss="mse")
    got = pgd(net, x, y, 0.2, steps=15, step_size=0.02, loss="mse", engine="fast")
    assert torch.allclose(got, expected, atol=1e-5, rtol=0)
    before = ((net(x)[:, 0] - y) ** 2).mean()
    after = ((net(got)[:, 0] - y) ** 2).mean()
    assert float(after) > float(before)  # the attack maximises the squared error


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_fast_pgd_equals_captum_in_embedding_space():
    torch.manual_seed(0)
    model = LSTM(LSTMConfig(input_kind="text", vocab_size=30, embed_dim=8, hidden=8)).eval()
    ids = torch.randint(2, 30, (12, 7), generator=torch.Generator().manual_seed(5))
    ids[:, 5:] = 0  # padding stays fixed
    y = torch.arange(12) % 2
    forward = EmbeddingInputs(model, model.embedding).eval()
    emb = model.embedding(ids).detach()
    mask = (ids != 0).unsqueeze(-1).expand_as(emb).float()
    expected = _captum_pgd(forward, emb, y, 0.3, 0.05, 8, "L2", mask=mask, extra=(ids,))
    got = pgd(forward, emb, y, 0.3, norm="L2", steps=8, step_size=0.05, mask=mask, extra=(ids,))
    assert torch.allclose(got, expected, atol=1e-5, rtol=0)
    assert torch.equal(got[:, 5:], emb[:, 5:])
    with torch.no_grad():  # replacing the embedding output by itself changes nothing
        assert torch.allclose(forward(emb, ids), model(ids), atol=1e-6)


_NET = _mlp(d=5, k=2, seed=7)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    budget=st.floats(0.01, 2.0),
    norm=st.sampled_from(["Linf", "L2"]),
    frozen=st.lists(st.booleans(), min_size=5, max_size=5),
    seed=st.integers(0, 1000),
    attack=st.sampled_from(["pgd", "fgsm"]),
)
def test_attack_never_exceeds_budget_nor_moves_frozen_features(budget, norm, frozen, seed, attack):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(16, 5, generator=gen) * 2
    y = torch.randint(0, 2, (16,), generator=gen)
    mask = torch.tensor([0.0 if f else 1.0 for f in frozen])
    lo, hi = torch.minimum(torch.full((5,), -1.0), x), torch.maximum(torch.full((5,), 1.0), x)
    if attack == "pgd":
        adv = pgd(_NET, x, y, budget, norm=norm, steps=5, lower=lo, upper=hi, mask=mask)
    else:
        norm = "Linf"
        adv = fgsm(_NET, x, y, budget, lower=lo, upper=hi, mask=mask)
    diff = adv - x
    tol = 1e-5 * max(1.0, budget)
    if norm == "Linf":
        assert float(diff.abs().max()) <= budget + tol
    else:
        assert float(torch.linalg.vector_norm(diff, dim=1).max()) <= budget + tol
    frozen_cols = [i for i, f in enumerate(frozen) if f]
    assert torch.equal(adv[:, frozen_cols], x[:, frozen_cols])
    assert bool((adv >= lo).all()) and bool((adv <= hi).all())


@pytest.mark.parametrize("bad", [0, -0.1, float("nan"), float("inf"), "0.1", True])
def test_budget_must_be_positive_and_is_named(tab, bad):
    net, x, y, *_ = tab
    with pytest.raises(InvalidInputError, match="'radius'") as info:
        pgd(net, x, y, bad)
    assert repr(bad) in str(info.value)
    with pytest.raises(InvalidInputError, match="'epsilon'"):
        fgsm(net, x, y, bad)


def test_unknown_norm_is_named(tab):
    net, x, y, *_ = tab
    with pytest.raises(UnknownNameError, match=r"'L1'.*|.*'L1'") as info:
        pgd(net, x, y, 0.1, norm="L1")
    assert "Linf" in str(info.value) and "L2" in str(info.value)
    with pytest.raises(UnknownNameError, match="'numpy'"):
        pgd(net, x, y, 0.1, engine="numpy")


def test_black_box_model_cannot_be_attacked(tab):
    _, x, y, *_ = tab
    from sklearn.dummy import DummyClassifier

    with pytest.raises(InvalidTypeError, match="gradients"):
        pgd(DummyClassifier(), x, y, 0.1)


def test_token_deletion_and_unknown_tokens_known_answers():
    ids = np.array([[5, 6, 7, 8, 0, 0], [9, 0, 0, 0, 0, 0]])
    rng = np.random.default_rng(0)
    assert delete_tokens(ids, 1.0, rng).tolist() == [[0] * 6, [0] * 6]
    assert delete_tokens(ids, 0.0, rng).tolist() == ids.tolist()
    dropped = delete_tokens(np.tile(np.arange(2, 42), (50, 1)), 0.3, np.random.default_rng(1))
    kept = (dropped != 0).sum(axis=1)
    assert 0.6 < kept.mean() / 40 < 0.8
    for row in dropped:  # survivors keep their order, padding only at the end
        survivors = row[row != 0]
        assert (np.diff(survivors) > 0).all() and (row[len(survivors):] == 0).all()
    unk = unknown_tokens(ids, 1.0, rng)
    assert unk.tolist() == [[1, 1, 1, 1, 0, 0], [1, 0, 0, 0, 0, 0]]


def test_typos_change_words_at_the_rate():
    text = " ".join(["movie"] * 400)
    out = typo_texts([text], 0.25, np.random.default_rng(0))[0].split(" ")
    changed = np.mean([w != "movie" for w in out])
    assert 0.17 < changed < 0.3  # a swap of two equal letters may leave a word unchanged
    assert typo_texts(["a film"], 0.0, np.random.default_rng(0)) == ["a film"]


def test_group_summary_by_hand():
    from audit.checks.robustness import group_summary

    values = np.array([1, 0, 1, 1, np.nan, 0, 0, 1, 1, 1], dtype=float)
    groups = np.array(["a", "a", "a", "a", "b", "b", "b", "c", "c", "c"])
    s = group_summary(values, groups, n_boot=200, rng=np.random.default_rng(0), min_group_size=3)
    assert s.groups == ["a", "b", "c"]
    assert s.n.tolist() == [4, 2, 3]  # the NaN row of b is left out
    assert s.mean.tolist() == pytest.approx([0.75, 0.0, 1.0])
    assert s.eligible.tolist() == [True, False, True]  # b has fewer than 3 defined rows
    assert s.disparity == pytest.approx(0.25) and s.worst_group == "a"
    assert s.lower[2] == s.upper[2] == 1.0  # a constant group has a degenerate interval
    assert 0.0 <= s.disparity_lower <= s.disparity_upper <= 1.0
    again = group_summary(values, groups, n_boot=200, rng=np.random.default_rng(0), min_group_size=3)
    assert again.disparity_lower == s.disparity_lower  # seeded
    with pytest.raises(InvalidInputError, match="'n_boot'"):
        group_summary(values, groups, n_boot=0, rng=np.random.default_rng(0))
