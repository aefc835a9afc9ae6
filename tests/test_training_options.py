"""Training options added to reach the reference quality: lr schedule, token dropout, image augmentation, pooling."""
from __future__ import annotations

import math

import pytest
import torch

from models._train_loop import lr_factor
from models.cnn import CNN, CNNConfig
from models.families import TrainSettings
from models.transformer import Transformer, TransformerConfig


def test_cosine_schedule_values_at_known_steps():
    f = lr_factor(TrainSettings(epochs=1, batch_size=8, lr=1e-3, schedule="cosine", final_lr=0.1, warmup=0.1), total_steps=100)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)  # linear warm-up over 10 steps
    assert f(10) == pytest.approx(1.0)
    assert f(55) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert f(100) == pytest.approx(0.1)
    const = lr_factor(TrainSettings(epochs=1, batch_size=8, lr=1e-3), total_steps=100)
    assert {const(s) for s in (0, 50, 99)} == {1.0}


def test_token_dropout_only_in_training_and_keeps_expectation():
    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=50, max_len=8, n_classes=2, token_dropout=0.5)
    model = Transformer(cfg)
    ids = torch.randint(2, 50, (4, 8))
    model.eval()
    a, b = model(ids), model(ids)
    assert torch.equal(a, b)  # eval: deterministic, no dropout
    model.train()
    torch.manual_seed(1)
    c = model(ids)
    torch.manual_seed(2)
    d = model(ids)
    assert not torch.equal(c, d)  # training: whole tokens dropped at random


def test_mean_max_pooling_doubles_the_representation():
    cfg = TransformerConfig(vocab_size=20, max_len=6, n_classes=3, pooling="mean_max")
    model = Transformer(cfg).eval()
    out = model(torch.randint(1, 20, (5, 6)))
    assert out.shape == (5, 3)


def test_image_augmentation_changes_only_training_batches():
    torch.manual_seed(0)
    model = CNN(CNNConfig(in_channels=1, n_classes=3, augment_shift=2, augment_flip=True))
    x = torch.rand(6, 1, 12, 12)
    model.eval()
    assert torch.equal(model.augment(x), x)
    model.train()
    y = model.augment(x)
    assert y.shape == x.shape and not torch.equal(y, x)
    assert float(y.sum()) <= float(x.sum()) + 1e-5  # shifts fill with zeros, flips keep mass: never adds ink
    with pytest.raises(ValueError, match="augment_shift"):
        CNNConfig(augment_shift=-1)
