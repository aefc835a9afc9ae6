"""Chunked metrics equal the in-memory ones (scikit-learn as the oracle)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

from audit.errors import InvalidInputError
from audit.streaming import StreamingConfusion, iter_chunks


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 400), st.integers(1, 97), st.integers(0, 10_000))
def test_chunked_equals_in_memory(n, chunk, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    p = np.where(rng.random(n) < 0.7, y, rng.integers(0, 3, n))
    g = rng.choice(["a", "b"], n)
    acc = StreamingConfusion(3)
    for s in iter_chunks(n, chunk):
        acc.update(y[s], p[s], g[s])
    m = acc.metrics()
    assert m["overall"]["accuracy"] == pytest.approx(accuracy_score(y, p))
    labels = np.unique(y)
    assert m["overall"]["f1_macro"] == pytest.approx(f1_score(y, p, average="macro", labels=labels, zero_division=0))
    assert m["overall"]["recall_macro"] == pytest.approx(recall_score(y, p, average="macro", labels=labels, zero_division=0))
    assert m["overall"]["precision_macro"] == pytest.approx(precision_score(y, p, average="macro", labels=labels, zero_division=0))
    for grp in np.unique(g):
        mask = g == grp
        assert m["groups"][grp]["accuracy"] == pytest.approx(accuracy_score(y[mask], p[mask]))
        assert m["groups"][grp]["count"] == mask.sum()


def test_binary_rates_and_bad_input():
    acc = StreamingConfusion(2)
    acc.update(np.array([1, 1, 0, 0]), np.array([1, 0, 1, 0]), np.array(["x", "x", "y", "y"]))
    m = acc.metrics()
    assert m["groups"]["x"]["tpr"] == 0.5 and m["groups"]["y"]["fpr"] == 0.5
    assert m["overall"]["selection_rate"] == 0.5
    with pytest.raises(InvalidInputError, match="'y_pred'"):
        acc.update(np.array([0]), np.array([2]))
    with pytest.raises(InvalidInputError, match="'groups'"):
        acc.update(np.array([0, 1]), np.array([0, 1]), np.array(["a"]))
