"""Uncertainty and OOD: known answers for the pure functions, a tiny CNN on sklearn digits end to end."""
from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.special import logsumexp
from sklearn.metrics import roc_auc_score

from audit import AuditConfig, Registry, run_audit
from audit.checks.ood import OODCheck, energy_scores, noise_inputs, ood_auroc, selective_curve
from audit.errors import ConfigError
from models.cnn import CNN, CNNConfig
from models.dataset import Dataset, Split

torch.set_num_threads(1)


def _digits() -> Dataset:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    y = d.target.astype(np.int64)
    parts = np.split(np.random.default_rng(0).permutation(len(y))[:700], [400, 500])
    sp = [Split(x=x[p], y=y[p], sensitive=pd.DataFrame(index=range(len(p)))) for p in parts]
    return Dataset(name="digits", kind="image", task="multiclass", train=sp[0], val=sp[1], test=sp[2],
                   class_names=[str(i) for i in range(10)])


@pytest.fixture(scope="module")
def trained_cnn():
    ds = _digits()
    torch.manual_seed(0)
    net = CNN(CNNConfig(in_channels=1, n_classes=10, channels=(8,), hidden=32, dropout=0.0))
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    xt, yt = torch.as_tensor(ds.train.x), torch.as_tensor(ds.train.y)
    for _ in range(12):  # a few epochs
        for i in range(0, len(xt), 64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xt[i:i + 64]), yt[i:i + 64]).backward()
            opt.step()
    return ds, net.eval()


def _run(model, ds, **options):
    reg = Registry()
    reg.register(OODCheck())
    return run_audit(model, ds, AuditConfig(device="cpu", options={"ood": options}), registry=reg, progress=False)


def test_auroc_energy_and_selective_curve_known_answers():
    assert ood_auroc(np.array([0.9, 0.8]), np.array([0.1, 0.85])) == 0.75
    a, b = np.random.default_rng(0).random(30), np.random.default_rng(1).random(20)
    assert ood_auroc(a, b) == pytest.approx(roc_auc_score(np.r_[np.ones(30), np.zeros(20)], np.r_[a, b]))
    logits = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    assert energy_scores(logits) == pytest.approx([logsumexp([1, 2, 3]), np.log(3)])
    assert energy_scores(logits, 2.0) == pytest.approx(2 * logsumexp(logits / 2, axis=1))
    correct = np.array([1, 1, 0, 1], bool)
    conf = np.array([0.9, 0.6, 0.8, 0.7])  # order by confidence: right, wrong, right, right
    accs, aurc = selective_curve(correct, conf, coverages=(0.25, 0.5, 0.75, 1.0))
    assert accs == pytest.approx([1.0, 0.5, 2 / 3, 0.75])
    assert aurc == pytest.approx(np.mean([0.0, 0.5, 1 / 3, 0.25]))


def test_noise_inputs_follow_the_data_layout():
    rng = np.random.default_rng(0)
    ds = _digits()
    img = noise_inputs(ds, 5, rng, [])
    assert img.shape == (5, 1, 8, 8) and img.min() >= 0 and img.max() <= 1
    x = np.array([[0.0, 1.0, 0.0, -1.0], [0.0, 0.0, 1.0, 2.0]], np.float32)
    sp = Split(x=x, y=np.array([0, 1]), sensitive=pd.DataFrame(index=range(2)))
    tab = Dataset(name="t", kind="tabular", task="binary", train=sp, val=sp, test=sp,
                  feature_names=["n", "c=a", "c=b", "m"], feature_groups={"n": [0], "c": [1, 2], "m": [3]},
                  continuous_features=["n", "m"], class_names=["0", "1"])
    rows = noise_inputs(tab, 200, rng, [])
    assert (rows[:, 1:3].sum(axis=1) == 1).all() and set(np.unique(rows[:, 1:3])) == {0.0, 1.0}
    assert rows[:, 3].min() >= -1 and rows[:, 3].max() <= 2 and rows[:, 3].std() > 0.5


def test_noise_auroc_well_above_chance_for_a_trained_cnn(trained_cnn):
    ds, net = trained_cnn
    result = _run(net, ds)
    assert result.checks["ood"].status == "ok", result.checks["ood"].reason
    m = result.metrics["ood"]
    assert m["noise_auroc"] > 0.8 and m["energy_noise_auroc"] > 0.8
    assert m["shift_auroc"] > 0.5
    assert m["near_ood_dataset"] is None  # no bundled image set shares the 8x8 shape
    # oracle: MSP AUROC recomputed from the model's own probabilities on the same noise
    proba_in = torch.softmax(net(torch.as_tensor(ds.test.x)), 1).detach().numpy().max(1)
    noise = noise_inputs(ds, len(ds.test.x), np.random.default_rng([0, zlib.crc32(b"ood-noise")]), [])
    proba_out = torch.softmax(net(torch.as_tensor(noise)), 1).detach().numpy().max(1)
    assert m["noise_auroc"] == pytest.approx(ood_auroc(proba_in, proba_out), abs=1e-6)
    cov = m["curves"]["coverage_accuracy"]
    assert cov["series"]["max softmax"][-1] == pytest.approx(float((net(torch.as_tensor(ds.test.x)).argmax(1).numpy()
                                                                   == ds.test.y).mean()))
    assert m["selective_accuracy_at_50"] >= m["selective_accuracy_at_90"] - 1e-12


def test_black_box_model_has_no_energy_and_bad_option_is_named(trained_cnn):
    ds, net = trained_cnn

    class Box:
        def predict_proba(self, x):
            with torch.no_grad():
                return torch.softmax(net(torch.as_tensor(x)), 1).numpy()

    m = _run(Box(), ds).metrics["ood"]
    assert m["energy"] is False and "energy_noise_auroc" not in m and m["noise_auroc"] > 0.8
    result = _run(net, ds, near_ood_dataset="cifar")
    assert result.checks["ood"].status == "error" and "'cifar'" in result.checks["ood"].reason
    with pytest.raises(ConfigError, match="near_ood_dataset"):
        _run(net, ds, near_ood_dataset=3)


def test_near_ood_uses_the_other_bundled_image_set():
    from models import load_dataset

    ds = load_dataset("mnist", max_rows=400)
    torch.manual_seed(0)
    net = CNN(CNNConfig(in_channels=1, n_classes=10, channels=(4, 8), hidden=16, dropout=0.0))
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    xt, yt = torch.as_tensor(ds.train.x), torch.as_tensor(ds.train.y)
    for _ in range(6):
        for i in range(0, len(xt), 32):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xt[i:i + 32]), yt[i:i + 32]).backward()
            opt.step()
    net.eval()
    m = _run(net, ds, n_samples=80).metrics["ood"]
    assert m["near_ood_dataset"] == "fashion_mnist" and "energy_near_ood_auroc" in m
    # oracle: the AUROC recomputed from the model's max softmax on the test rows and on the same Fashion-MNIST rows
    other = load_dataset("fashion_mnist", seed=0, max_rows=80)
    near = np.concatenate([other.train.x, other.val.x, other.test.x])[:80]
    with torch.no_grad():
        msp_in = torch.softmax(net(torch.as_tensor(ds.test.x[:80])), 1).numpy().max(1)
        msp_out = torch.softmax(net(torch.as_tensor(near)), 1).numpy().max(1)
    assert len(ds.test.x) == 80
    assert m["near_ood_auroc"] == pytest.approx(ood_auroc(msp_in, msp_out), abs=1e-6)
    assert [r[0] for r in m["tables"]["detection"]["rows"]] == ["noise", "shift", "near_ood"]
    off = _run(net.eval(), ds, n_samples=40, near_ood_dataset="none").metrics["ood"]
    assert off["near_ood_dataset"] is None and "near_ood_auroc" not in off
