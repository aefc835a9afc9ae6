"""Tiny planted data sets and models for the explanation tests (imported by the other test_explain_* files),
and sanity tests that the planted signal is what the models learned."""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import torch
from torch import nn

from models.cnn import CNN, CNNConfig
from models.dataset import Dataset, Split
from models.lstm import LSTM, LSTMConfig
from models.preprocessing import encode_text, fit_text

torch.set_num_threads(1)

TAB_NAMES = ["a", "b", "planted", "d", "k=0", "k=1", "k=2"]
TAB_GROUPS = {"a": [0], "b": [1], "planted": [2], "d": [3], "k": [4, 5, 6]}
WORDS = ["the", "film", "was", "a", "movie", "plot", "actor", "scene", "story", "long", "great"]


def _fit(net: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float = 0.05, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr)
    net.train()
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return net.eval()


def _split_tab(rng: np.random.Generator, n: int) -> Split:
    x = rng.normal(size=(n, 4)).astype(np.float32)
    cat = rng.integers(0, 3, size=n)
    onehot = np.eye(3, dtype=np.float32)[cat]
    y = (x[:, 2] > 0).astype(np.int64)
    sens = pd.DataFrame({"grp": np.where(cat == 0, "g0", "g1")})
    raw = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "planted": x[:, 2], "d": x[:, 3], "k": cat.astype(str)})
    return Split(np.concatenate([x, onehot], axis=1), y, sens, raw)


@functools.lru_cache(maxsize=None)
def tabular_dataset() -> Dataset:
    """Binary labels decided by feature 'planted' alone; a one-hot block 'k' and a sensitive column."""
    rng = np.random.default_rng(0)
    pre = {"kind": "tabular", "version": 1, "features": [
        {"name": n, "type": "numeric", "median": 0.0, "mean": 10.0, "std": 2.0} for n in ("a", "b", "planted", "d")
    ] + [{"name": "k", "type": "categorical", "categories": ["0", "1"]}]}
    return Dataset("planted", "tabular", "binary", _split_tab(rng, 400), _split_tab(rng, 60), _split_tab(rng, 120),
                   feature_names=list(TAB_NAMES), feature_groups={k: list(v) for k, v in TAB_GROUPS.items()},
                   continuous_features=["a", "b", "planted", "d"], sensitive_features=["grp"],
                   class_names=["no", "yes"], preprocessing=pre)


@functools.lru_cache(maxsize=None)
def tabular_mlp() -> nn.Module:
    """A small ReLU MLP trained on ``tabular_dataset`` (about 0.98 test accuracy)."""
    ds = tabular_dataset()
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(7, 16), nn.ReLU(), nn.Linear(16, 2))
    return _fit(net, torch.tensor(ds.train.x), torch.tensor(ds.train.y), steps=120)


def _split_img(rng: np.random.Generator, n: int) -> Split:
    x = (0.3 * rng.random((n, 1, 8, 8))).astype(np.float32)
    y = rng.integers(0, 2, size=n)
    x[y == 1, 0, 1:4, 1:4] += 0.7  # the planted patch decides the class
    return Split(np.clip(x, 0, 1), y.astype(np.int64), pd.DataFrame(index=range(n)))


@functools.lru_cache(maxsize=None)
def image_dataset() -> Dataset:
    """8x8 grayscale images: class 1 has a bright 3x3 patch at rows/cols 1..3."""
    rng = np.random.default_rng(1)
    return Dataset("patch", "image", "binary", _split_img(rng, 300), _split_img(rng, 40), _split_img(rng, 80),
                   class_names=["plain", "patch"])


@functools.lru_cache(maxsize=None)
def image_cnn() -> nn.Module:
    """A tiny deepaudit CNN trained on ``image_dataset``."""
    ds = image_dataset()
    torch.manual_seed(0)
    net = CNN(CNNConfig(in_channels=1, n_classes=2, channels=(4,), pool_size=2, hidden=8, dropout=0.0))
    return _fit(net, torch.tensor(ds.train.x), torch.tensor(ds.train.y), steps=80)


def _texts(rng: np.random.Generator, n: int) -> tuple[list[str], np.ndarray]:
    texts, labels = [], []
    for _ in range(n):
        words = list(rng.choice(WORDS[:-1], size=6))
        label = int(rng.integers(0, 2))
        if label:
            words[int(rng.integers(0, 6))] = "great"
        texts.append(" ".join(words))
        labels.append(label)
    return texts, np.asarray(labels, dtype=np.int64)


@functools.lru_cache(maxsize=None)
def text_dataset() -> Dataset:
    """Six-word texts; the label is whether the planted word 'great' occurs."""
    rng = np.random.default_rng(2)
    parts = [_texts(rng, n) for n in (300, 40, 60)]
    state = fit_text(parts[0][0], max_len=8)
    splits = [Split(encode_text(t, state), y, pd.DataFrame(index=range(len(y))), pd.DataFrame({"text": t}))
              for t, y in parts]
    return Dataset("great", "text", "binary", *splits, class_names=["neg", "pos"], preprocessing=state)


@functools.lru_cache(maxsize=None)
def text_lstm() -> nn.Module:
    """A tiny deepaudit LSTM (with an ``embedding`` layer) trained on ``text_dataset``."""
    ds = text_dataset()
    torch.manual_seed(0)
    net = LSTM(LSTMConfig(vocab_size=ds.preprocessing["vocab_size"], embed_dim=8, hidden=8, dropout=0.0))
    return _fit(net, torch.tensor(ds.train.x), torch.tensor(ds.train.y), steps=120)


def accuracy(net: nn.Module, split: Split) -> float:
    with torch.no_grad():
        return float((net(torch.as_tensor(split.x)).argmax(1).numpy() == split.y).mean())


def test_planted_models_learned_the_signal() -> None:
    assert accuracy(tabular_mlp(), tabular_dataset().test) > 0.9
    assert accuracy(image_cnn(), image_dataset().test) > 0.9
    assert accuracy(text_lstm(), text_dataset().test) > 0.9
