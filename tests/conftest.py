"""Shared fixtures: tiny seeded data sets built directly (no file I/O), one torch thread."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import torch

from models.dataset import Dataset, Split

torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")


def make_tabular_dataset(n: int = 600, seed: int = 0, planted_bias: bool = False) -> Dataset:
    """A small binary tabular data set: 3 numeric features and a one-hot 'sex' block; label from x0 and x1."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], size=n)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    logits = 2.0 * x[:, 0] - 1.0 * x[:, 1] + (1.5 * (sex == "M") if planted_bias else 0.0)
    y = (logits + 0.3 * rng.normal(size=n) > 0).astype(np.int64)
    onehot = np.stack([(sex == "F"), (sex == "M")], axis=1).astype(np.float32)
    features = np.concatenate([x, onehot], axis=1)
    raw = pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "x2": x[:, 2], "sex": sex})
    idx = rng.permutation(n)
    parts = np.split(idx, [int(0.6 * n), int(0.8 * n)])

    def split(i: np.ndarray) -> Split:
        return Split(x=features[i], y=y[i], sensitive=pd.DataFrame({"sex": sex[i]}),
                     raw=raw.iloc[i].reset_index(drop=True))

    return Dataset(
        name="toy", kind="tabular", task="binary", train=split(parts[0]), val=split(parts[1]), test=split(parts[2]),
        feature_names=["x0", "x1", "x2", "sex=F", "sex=M"],
        feature_groups={"x0": [0], "x1": [1], "x2": [2], "sex": [3, 4]},
        continuous_features=["x0", "x1", "x2"], sensitive_features=["sex"], class_names=["no", "yes"],
    )


@pytest.fixture(scope="session")
def tabular_ds() -> Dataset:
    return make_tabular_dataset()


@pytest.fixture(scope="session")
def logistic_model(tabular_ds: Dataset):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(tabular_ds.train.x, tabular_ds.train.y)


@pytest.fixture(scope="session")
def torch_linear(tabular_ds: Dataset) -> torch.nn.Module:
    """A torch logistic model (2 logits) fitted by a few hundred full-batch steps."""
    torch.manual_seed(0)
    model = torch.nn.Linear(tabular_ds.train.x.shape[1], 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    x = torch.as_tensor(tabular_ds.train.x)
    y = torch.as_tensor(tabular_ds.train.y)
    for _ in range(200):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model.eval()
