"""Oracle and contract tests for models.preprocessing (pure functions over small hand-made inputs)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import StandardScaler

from models import preprocessing as pp
from models.errors import InvalidInputError, InvalidTypeError, UnknownNameError


@pytest.fixture()
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [20.0, 30.0, np.nan, 50.0, 41.0],
            "city": ["b", "a", None, "a", "c"],
            "n": [1, 2, 3, 4, 100],
            "flag": [True, False, True, True, False],
        }
    )


def _roundtrip(state: dict) -> dict:
    return json.loads(json.dumps(state))


def test_tabular_numeric_matches_sklearn_imputer_and_scaler(frame: pd.DataFrame) -> None:
    state = pp.fit_tabular(frame, numeric=["age", "n"], categorical=["city", "flag"])
    x = pp.encode_tabular(frame, state)
    oracle = StandardScaler().fit_transform(SimpleImputer(strategy="median").fit_transform(frame[["age", "n"]]))
    groups = pp.feature_groups(state)
    np.testing.assert_allclose(x[:, groups["age"][0]], oracle[:, 0], rtol=1e-6)
    np.testing.assert_allclose(x[:, groups["n"][0]], oracle[:, 1], rtol=1e-6)
    assert x.dtype == np.float32
    assert state["features"][0]["median"] == 35.5


def test_tabular_one_hot_with_unknown_column(frame: pd.DataFrame) -> None:
    state = pp.fit_tabular(frame, numeric=["age"], categorical=["city", "flag"])
    assert pp.feature_names(state) == [
        "age", "city=a", "city=b", "city=c", "city=<unknown>", "flag=False", "flag=True", "flag=<unknown>",
    ]
    new = pd.DataFrame({"age": [1.0, 2.0, 3.0], "city": ["a", "zzz", np.nan], "flag": [True, None, False],
                        "extra": [0, 0, 0]})
    x = pp.encode(new, _roundtrip(state))
    np.testing.assert_array_equal(x[:, 1:5], [[1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 1]])
    np.testing.assert_array_equal(x[:, 5:], [[0, 1, 0], [0, 0, 1], [1, 0, 0]])


def test_feature_groups_partition_the_columns(frame: pd.DataFrame) -> None:
    state = pp.fit_tabular(frame, numeric=["age", "n"], categorical=["city", "flag"])
    groups = pp.feature_groups(state)
    flat = sorted(i for cols in groups.values() for i in cols)
    assert flat == list(range(len(pp.feature_names(state))))
    assert list(groups) == ["age", "city", "n", "flag"]  # frame order


def test_category_keys_treat_int_and_integral_float_alike() -> None:
    a = pp.fit_tabular(pd.DataFrame({"c": [1, 2, 2]}), [], ["c"])
    x = pp.encode_tabular(pd.DataFrame({"c": [1.0, 2.0, 3.0, np.nan]}), a)
    np.testing.assert_array_equal(x, [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]])


def test_constant_numeric_column_gets_unit_std() -> None:
    state = pp.fit_tabular(pd.DataFrame({"a": [3.0, 3.0]}), ["a"], [])
    assert state["features"][0]["std"] == 1.0
    np.testing.assert_array_equal(pp.encode_tabular(pd.DataFrame({"a": [4.0]}), state), [[1.0]])


def test_numeric_junk_and_infinity_are_named() -> None:
    with pytest.raises(InvalidInputError, match=r"Column 'a'.*'oops'.*row 1"):
        pp.numeric_column(pd.Series(["1", "oops", "3"]), "a")
    with pytest.raises(InvalidInputError, match=r"Column 'b' must hold finite numbers. Got inf in row 0"):
        pp.numeric_column(pd.Series([np.inf, 1.0]), "b")


def test_tabular_bad_inputs(frame: pd.DataFrame) -> None:
    state = pp.fit_tabular(frame, ["age"], ["city"])
    with pytest.raises(InvalidInputError, match=r"\['city'\]"):
        pp.encode_tabular(frame.drop(columns="city"), state)
    with pytest.raises(InvalidTypeError, match="DataFrame"):
        pp.encode_tabular(frame.to_numpy(), state)
    with pytest.raises(InvalidInputError, match="both numeric and categorical"):
        pp.fit_tabular(frame, ["age"], ["age"])
    with pytest.raises(InvalidInputError, match="not among"):
        pp.fit_tabular(frame, ["nope"], [])
    with pytest.raises(InvalidInputError, match="at least 1 row"):
        pp.fit_tabular(frame.iloc[:0], ["age"], [])


def test_text_vocab_by_frequency_then_alphabet() -> None:
    state = pp.fit_text(["The cat, the DOG!", "the cat", "don't stop"], max_vocab=5, max_len=4)
    assert state["vocab"] == ["the", "cat", "dog"]  # 3 = max_vocab - 2; "don't"/"stop" (1 each) sort after "dog"
    assert state["vocab_size"] == 5
    ids = pp.encode(["the dog the cat the", "zebra", ""], _roundtrip(state))
    np.testing.assert_array_equal(ids, [[2, 4, 2, 3], [1, 0, 0, 0], [0, 0, 0, 0]])
    assert ids.dtype == np.int64


def test_tokenize_keeps_inner_apostrophes() -> None:
    assert pp.tokenize("Don't STOP--it's 2 good_ones.") == ["don't", "stop", "it's", "2", "good_ones"]


def test_text_bad_inputs() -> None:
    with pytest.raises(InvalidTypeError, match="list of strings"):
        pp.fit_text("one string")
    with pytest.raises(InvalidInputError, match=r"position 1"):
        pp.fit_text(["ok", None])
    with pytest.raises(InvalidInputError, match="'max_len' argument must be an int >= 1. Got 0"):
        pp.fit_text(["ok"], max_len=0)


def test_series_windows_known_values() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    state = pp.fit_series(values[:4], window=2)
    assert (state["mean"], state["std"]) == (2.5, float(np.std([1, 2, 3, 4])))
    z = pp.standardize_series(values, state)
    x, y = pp.make_windows(z, 2)
    assert x.shape == (4, 2, 1) and y.shape == (4,)
    np.testing.assert_allclose(x[1, :, 0], z[1:3])
    np.testing.assert_allclose(y, z[2:])
    every = pp.encode(values, _roundtrip(state))
    assert every.shape == (5, 2, 1)
    np.testing.assert_array_equal(every[:-1], x)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=3, max_size=40), st.integers(1, 5))
def test_make_windows_invariant(values: list[float], window: int) -> None:
    if len(values) <= window:
        with pytest.raises(InvalidInputError):
            pp.make_windows(values, window)
        return
    x, y = pp.make_windows(values, window)
    arr = np.asarray(values, dtype=np.float32)
    assert len(x) == len(arr) - window
    for i in range(len(x)):
        np.testing.assert_array_equal(x[i, :, 0], arr[i : i + window])
        assert y[i] == arr[i + window]


def test_series_bad_inputs() -> None:
    with pytest.raises(InvalidInputError, match="finite"):
        pp.fit_series([1.0, np.nan, 2.0], window=1)
    with pytest.raises(InvalidInputError, match="'window' argument must be an int >= 1. Got 0"):
        pp.fit_series([1.0, 2.0], window=0)
    with pytest.raises(InvalidInputError, match="longer than the window"):
        pp.make_windows([1.0, 2.0], 2)


def test_windows_per_channel_scaling() -> None:
    rng = np.random.default_rng(0)
    x = np.stack([rng.normal(10, 2, (30, 5)), rng.normal(-3, 0.5, (30, 5))], axis=-1)
    state = pp.fit_windows(x)
    np.testing.assert_allclose(state["mean"], x.mean(axis=(0, 1)))
    out = pp.encode(x, _roundtrip(state))
    np.testing.assert_allclose(out.mean(axis=(0, 1)), [0, 0], atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 1)), [1, 1], atol=1e-5)
    with pytest.raises(InvalidInputError, match=r"\(window, channels\)"):
        pp.encode_windows(x[:, :4], state)


def test_image_scaling_and_shapes() -> None:
    raw = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    state = pp.image_state(1, 2, 2, scale=255.0)
    x = pp.encode(raw, _roundtrip(state))
    assert x.shape == (1, 1, 2, 2) and x.dtype == np.float32
    np.testing.assert_allclose(x.ravel(), [0.0, 1.0, 0.2, 0.4], rtol=1e-6)
    np.testing.assert_array_equal(pp.encode_image(raw[:, None], state), x)
    with pytest.raises(InvalidInputError, match=r"shape \(n, 1, 2, 2\)"):
        pp.encode_image(np.zeros((1, 3, 3)), state)
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
        pp.encode_image(np.full((1, 2, 2), 2.0), pp.image_state(1, 2, 2, scale=1.0))


def test_encode_dispatch_errors() -> None:
    with pytest.raises(UnknownNameError, match=r"'kind' must be one of .*Got 'audio'"):
        pp.encode([], {"kind": "audio"})
    with pytest.raises(InvalidTypeError, match="must be a dict"):
        pp.encode([], "tabular")
