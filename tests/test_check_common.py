"""Helpers shared by every check: option validation, JSON-safe numbers, module devices, scoped torch seeding and the
one binning of sensitive columns."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from audit.checks._common import module_device, nan_to_none, require_float, require_int, seeded_torch_rng
from audit.checks._groups_util import bin_continuous, bin_names, group_labels, is_continuous, label_groups
from audit.checks.explain.counterfactual import FeatureSpace, gradient_search
from audit.errors import ConfigError, InvalidInputError

torch.set_num_threads(1)


# ------------------------------------------------------------------------------------------------ options
def test_require_int_accepts_ints_and_names_the_option_otherwise() -> None:
    assert require_int("calibration", "n_bins", 15, 1) == 15
    value = require_int("calibration", "n_bins", np.int64(3), 1)
    assert value == 3 and type(value) is int
    with pytest.raises(ConfigError, match=r"^The option 'options\.robustness\.steps' must be an int >= 1\. Got 0 "
                                          r"instead\.$"):
        require_int("robustness", "steps", 0, 1)
    for bad in (True, 2.0, "3", None):
        with pytest.raises(ConfigError, match=rf"options\.x\.k' must be an int >= 0\. Got {bad!r} instead"):
            require_int("x", "k", bad, 0)


def test_require_int_without_a_check_names_the_argument_and_is_not_a_config_error() -> None:
    with pytest.raises(InvalidInputError, match=r"^The 'n_steps' argument must be an int >= 1\. Got 0 instead\.$") as info:
        require_int(None, "n_steps", 0, 1)
    assert not isinstance(info.value, ConfigError)


@pytest.mark.parametrize(("kwargs", "good", "bad", "text"), [
    ({"minimum": 0, "maximum": 1, "min_inclusive": False, "max_inclusive": False}, [0.5, 1e-9], [0, 1, 1.5],
     "a number in (0, 1)"),
    ({"minimum": 0, "maximum": 1}, [0, 1, 0.3], [-0.1, 1.01], "a number in [0, 1]"),
    ({"minimum": 0, "maximum": 1, "min_inclusive": False}, [1, 0.2], [0, 2], "a number in (0, 1]"),
    ({"minimum": 0, "min_inclusive": False}, [1e-12, 3], [0, -1], "a finite number > 0"),
    ({"minimum": 1}, [1, 7.5], [0.99], "a finite number >= 1"),
    ({}, [-5, 0, 2.5], [], "a finite number"),
])
def test_require_float_bounds(kwargs, good, bad, text) -> None:
    for v in good:
        assert require_float("c", "k", v, **kwargs) == float(v)
    for v in [*bad, math.nan, math.inf, True, "0.5", None]:
        with pytest.raises(ConfigError) as info:
            require_float("c", "k", v, **kwargs)
        assert str(info.value) == f"The option 'options.c.k' must be {text}. Got {v!r} instead."


@pytest.mark.parametrize(("value", "expected"), [
    (0.5, 0.5), (np.float32(0.25), 0.25), (math.nan, None), (np.float64(-math.inf), None), (np.int64(4), 4), (7, 7),
    (None, None), ("x", "x"),
])
def test_nan_to_none(value, expected) -> None:
    out = nan_to_none(value)
    assert out == expected and type(out) is type(expected)


# ------------------------------------------------------------------------------------------------ devices, seeds
class _Doubler(nn.Module):
    """No parameters, no buffers: ``next(module.parameters())`` would raise StopIteration."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([-4.0 * x[:, 0], 4.0 * x[:, 0]], dim=1)


def test_module_device_falls_back_to_the_cpu() -> None:
    assert module_device(_Doubler()) == torch.device("cpu")
    assert module_device(nn.Linear(2, 2)) == torch.device("cpu")
    with_buffer = nn.BatchNorm1d(3, affine=False)  # buffers only
    assert list(with_buffer.parameters()) == [] and module_device(with_buffer) == torch.device("cpu")
    assert module_device(lambda x: x) == torch.device("cpu")


def test_seeded_torch_rng_is_reproducible_and_restores_the_global_generator() -> None:
    torch.manual_seed(123)
    state = torch.get_rng_state()
    with seeded_torch_rng(7):
        a = torch.rand(3)
    assert torch.equal(torch.get_rng_state(), state)
    with seeded_torch_rng(7):
        b = torch.rand(3)
    assert torch.equal(a, b)
    torch.manual_seed(7)
    assert torch.equal(torch.rand(3), a)  # the same stream as a plain manual_seed, on the CPU


def test_gradient_search_works_without_parameters_and_leaves_the_global_rng_alone() -> None:
    x = np.array([[-0.5, 0.0], [-1.0, 1.0]], dtype=np.float32)
    space = FeatureSpace(names=["a", "b"], groups=[[0], [1]], numeric=[True, True], actionable=[True, True],
                         low=np.array([-2.0, -2.0]), high=np.array([2.0, 2.0]))
    torch.manual_seed(5)
    state = torch.get_rng_state()
    cands = gradient_search(_Doubler(), x, np.array([1, 1]), space, steps=40, lr=0.1, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert cands.shape == (2, 4, 2)
    # the score depends on 'a' only: with no sparsity weight the search pushes 'a' up to flip to class 1; 'b' stays
    assert np.all(cands[:, 0, 0] > 0) and np.allclose(cands[:, 0, 1], x[:, 1])


# ------------------------------------------------------------------------------------------------ group labels
def test_both_label_styles_share_one_binning() -> None:
    assert bin_names([25, 65], "interval") == ["<25", "[25, 65)", ">=65"]
    assert bin_names([25, 65], "range") == ["<25", "25-65", ">=65"]
    ages = [17, 25, 34.9, 65, 90]
    assert bin_continuous(ages, [25, 65]).tolist() == ["<25", "[25, 65)", "[25, 65)", ">=65", ">=65"]
    assert bin_continuous(ages, [25, 65], style="range").tolist() == ["<25", "25-65", "25-65", ">=65", ">=65"]
    with pytest.raises(InvalidInputError, match="'edges'"):
        bin_names([3, 3])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 100, allow_nan=False), min_size=11, max_size=30, unique=True))
def test_group_labels_match_the_bin_index(values) -> None:
    edges = [25.0, 35.0, 45.0]
    labels = group_labels(pd.Series(values), edges)  # > 10 distinct values: binned
    names = bin_names(edges, "range")
    assert labels.tolist() == [names[int(np.sum(np.asarray(edges) <= v))] for v in values]


def test_label_groups_names_missing_values_and_keeps_categories() -> None:
    s = pd.Series([20.0, None, 50.0])
    assert label_groups(s, [30], binned=True, missing="(missing)", style="interval").tolist() == \
        ["<30", "(missing)", ">=30"]
    assert label_groups(pd.Series(["a", None]), [30], binned=False).tolist() == ["a", "missing"]
    assert is_continuous(pd.Series([1, 2]), 10, declared=True)
    assert not is_continuous(pd.Series([True, False] * 10), 1)
    assert not is_continuous(pd.Series(list("abcdefghijkl")), 3)
