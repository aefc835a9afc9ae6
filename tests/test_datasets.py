"""Loaders of the built-in data sets and of user data: shapes, splits, leakage, re-encoding, bad input."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models import DATASETS, Dataset, load_dataset
from models import _loaders_raw as raw
from models import preprocessing as pp
from models.datasets import dataset_info, from_file, split_indices
from models.errors import InvalidInputError, InvalidTypeError, UnknownNameError

SMALL = {name: 600 for name in DATASETS}
KIND_X = {"tabular": (2, np.float32), "image": (4, np.float32), "text": (2, np.int64), "timeseries": (3, np.float32)}


@pytest.fixture(scope="module", params=DATASETS)
def small(request: pytest.FixtureRequest) -> tuple[str, Dataset]:
    return request.param, load_dataset(request.param, max_rows=SMALL[request.param], seed=3)


def _source_raw(name: str) -> object:
    """Raw inputs of a built-in data set in source-row order, read independently of the loaders."""
    if name == "fashion_mnist":
        return raw.read_fashion_mnist()[0]
    if name == "mnist":
        return raw.read_mnist()[0]
    if name == "digits":
        return raw.read_digits()[0]
    if name == "sunspots":
        return raw.read_series(name)["SUNACTIVITY"].to_numpy(np.float64)
    return raw.read_series(name)["co2"].interpolate(limit_direction="both").to_numpy(np.float64)


def test_shapes_dtypes_and_json(small: tuple[str, Dataset]) -> None:
    name, ds = small
    ndim, dtype = KIND_X[ds.kind]
    for split in (ds.train, ds.val, ds.test):
        assert split.x.ndim == ndim and split.x.dtype == dtype
        assert len(split.x) == len(split.y) == len(split.sensitive) > 0
        assert split.y.dtype == (np.float32 if ds.task == "regression" else np.int64)
        assert np.isfinite(split.x).all()
        assert list(split.sensitive.columns) == ds.sensitive_features
    if ds.kind == "image":
        assert 0.0 <= ds.train.x.min() and ds.train.x.max() <= 1.0
    json.dumps(ds.preprocessing)
    json.dumps(ds.metadata)
    assert ds.metadata["licence"] and ds.metadata["source"]
    assert ds.metadata["sizes"] == {"train": len(ds.train), "val": len(ds.val), "test": len(ds.test)}
    assert dataset_info(name)["kind"] == ds.kind


def test_splits_disjoint_and_stratified(small: tuple[str, Dataset]) -> None:
    name, ds = small
    idx = split_indices(name, max_rows=SMALL[name], seed=3)
    sets = [set(idx[s].tolist()) for s in ("train", "val", "test")]
    assert all(len(s) == len(idx[k]) for s, k in zip(sets, ("train", "val", "test")))
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert [len(idx[s]) for s in ("train", "val", "test")] == [len(ds.train), len(ds.val), len(ds.test)]
    if ds.kind == "timeseries":  # chronological: every val target after train, every test target after val
        assert idx["train"].max() < idx["val"].min() and idx["val"].max() < idx["test"].min()
        return
    shares = [np.bincount(s.y, minlength=ds.n_classes) / len(s) for s in (ds.train, ds.val, ds.test)]
    np.testing.assert_allclose(shares[1], shares[0], atol=0.03)
    np.testing.assert_allclose(shares[2], shares[0], atol=0.03)


def test_encode_raw_rows_reproduces_split(small: tuple[str, Dataset]) -> None:
    name, ds = small
    idx = split_indices(name, max_rows=SMALL[name], seed=3)
    if ds.kind in ("tabular", "text"):
        raw_rows = ds.test.raw if ds.kind == "tabular" else list(ds.test.raw["text"])
    elif ds.kind == "image":
        raw_rows = _source_raw(name)[idx["test"]]
    else:  # windows ending just before each test target
        window = ds.preprocessing["window"]
        raw_rows = _source_raw(name)[idx["test"][0] - window : idx["test"][-1]]
    np.testing.assert_array_equal(pp.encode(raw_rows, json.loads(json.dumps(ds.preprocessing))), ds.test.x)


def test_preprocessing_fitted_on_train_only(small: tuple[str, Dataset]) -> None:
    name, ds = small
    state = ds.preprocessing
    if ds.kind == "tabular":
        for feat in state["features"]:
            values = pd.to_numeric(ds.train.raw[feat["name"]], errors="coerce") if feat["type"] == "numeric" else None
            if values is None:
                seen = set(ds.train.raw[feat["name"]].dropna().astype(str).str.strip())
                assert set(feat["categories"]) == seen
                continue
            filled = values.fillna(values.median()).to_numpy()
            assert feat["mean"] == pytest.approx(filled.mean(), rel=1e-9, abs=1e-9)
            assert feat["std"] == pytest.approx(filled.std(), rel=1e-9)
        groups = ds.feature_groups
        assert sorted(i for cols in groups.values() for i in cols) == list(range(ds.train.x.shape[1]))
        assert len(ds.feature_names) == ds.train.x.shape[1]
        assert set(ds.continuous_features) <= set(groups)
    elif ds.kind == "text":
        train_tokens = {t for text in ds.train.raw["text"] for t in pp.tokenize(text)}
        assert set(state["vocab"]) <= train_tokens
        assert ds.train.x.max() < state["vocab_size"]
    elif ds.kind == "timeseries":
        idx = split_indices(name, max_rows=SMALL[name], seed=3)
        values = _source_raw(name)[idx["train"][0] - state["window"] : idx["train"][-1] + 1]
        assert state["mean"] == pytest.approx(values.mean()) and state["std"] == pytest.approx(values.std())
        assert ds.metadata["y_scaling"] == {"mean": state["mean"], "std": state["std"]}
        np.testing.assert_allclose(ds.train.y.mean(), 0.0, atol=0.35)


def test_same_seed_same_data_other_seed_other_split() -> None:
    a, b = load_dataset("german", max_rows=200, seed=1), load_dataset("german", max_rows=200, seed=1)
    assert a.fingerprint() == b.fingerprint()
    assert load_dataset("german", max_rows=200, seed=2).fingerprint() != a.fingerprint()


def test_adult_full_uses_official_test_file() -> None:
    ds = load_dataset("adult")
    assert len(ds.test) == 16_281 and len(ds.train) + len(ds.val) == 32_561
    assert len(ds.val) == round(32_561 * 0.15)
    assert ds.class_names == ["<=50K", ">50K"]
    assert ds.test.y.mean() == pytest.approx(3_846 / 16_281)  # official test positives, labels ending in '.'
    assert ds.sensitive_features == ["sex", "race", "age"]
    assert set(ds.train.sensitive["sex"]) == {"Male", "Female"}
    assert ds.train.raw["workclass"].isna().any()  # '?' read as missing
    assert "workclass=<unknown>" in ds.feature_names and "fnlwgt" not in ds.feature_groups
    assert ds.metadata["split"]["test_fraction"] == "official test file"


def test_german_sex_from_attribute_9_and_readable_names() -> None:
    ds = load_dataset("german")
    codes = pd.concat([s.raw["personal_status_sex"] for s in (ds.train, ds.val, ds.test)])
    sex = pd.concat([s.sensitive["sex"] for s in (ds.train, ds.val, ds.test)])
    assert (sex == "female").sum() == codes.isin(["A92", "A95"]).sum() == 310
    assert "credit_amount" in ds.continuous_features and ds.class_names == ["bad", "good"]
    assert sum(len(s) for s in (ds.train, ds.val, ds.test)) == 1000


def test_credit_default_readable_categories() -> None:
    ds = load_dataset("credit_default")
    sex = pd.concat([s.sensitive["SEX"] for s in (ds.train, ds.val, ds.test)])
    assert (sex == "female").sum() == 18_112 and (sex == "male").sum() == 11_888  # UCI: 2 = female
    assert ds.sensitive_features == ["SEX", "AGE"]
    assert {"EDUCATION", "MARRIAGE", "SEX"} <= set(ds.feature_groups) - set(ds.continuous_features)


def test_image_and_text_class_names() -> None:
    assert load_dataset("fashion_mnist", max_rows=100).class_names[0] == "T-shirt/top"
    full = load_dataset("fashion_mnist")
    assert (len(full.train) + len(full.val), len(full.test)) == (10_000, 2_000)
    rt = load_dataset("rotten_tomatoes", max_rows=200)
    assert rt.class_names == ["rotten", "fresh"] and rt.test.raw.columns.tolist() == ["text"]
    digits = load_dataset("digits", max_rows=100)
    assert digits.input_shape == (1, 8, 8) and digits.train.x.max() <= 1.0


def test_co2_interpolated_and_chronological() -> None:
    ds = load_dataset("co2")
    assert ds.input_shape == (52, 1) and np.isfinite(ds.test.x).all()
    pos = ds.metadata["target_positions"]
    assert pos["train"][1] == pos["val"][0] and pos["val"][1] == pos["test"][0] == 2_284 - len(ds.test)


def test_unknown_name_and_bad_arguments() -> None:
    with pytest.raises(UnknownNameError, match=r"one of \['adult', .*'co2'\]. Got 'adlt' instead"):
        load_dataset("adlt")
    with pytest.raises(InvalidInputError, match="'max_rows' argument must be None or an int >= 20. Got 5"):
        load_dataset("german", max_rows=5)
    with pytest.raises(InvalidInputError, match="'val_fraction' argument must be a float in \\(0, 1\\). Got 1.5"):
        load_dataset("german", val_fraction=1.5)
    with pytest.raises(InvalidInputError, match="'seed' argument must be an int >= 0. Got -1"):
        load_dataset("german", seed=-1)


# ------------------------------------------------------------------------------------------------- user data
@pytest.fixture()
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 80
    return pd.DataFrame({
        "income": rng.normal(50, 10, n),
        "group": rng.choice(["a", "b"], n),
        "code": rng.choice([1, 2, 3], n),
        "label": rng.choice(["no", "yes"], n),
        "score": rng.normal(0, 1, n),
        "kind": rng.choice([0, 1, 2], n),
    })


def test_from_frame_infers_task_and_types(table: pd.DataFrame) -> None:
    ds = Dataset.from_frame(table.drop(columns=["score", "kind"]), "label", sensitive=["group"])
    assert (ds.kind, ds.task, ds.class_names) == ("tabular", "binary", ["no", "yes"])
    assert ds.continuous_features == ["income", "code"] and "group=a" in ds.feature_names
    np.testing.assert_array_equal(pp.encode(ds.test.raw, ds.preprocessing), ds.test.x)
    assert Dataset.from_frame(table, "kind").task == "multiclass"
    reg = Dataset.from_frame(table, "score", categorical=["code", "group", "label"])
    assert reg.task == "regression" and reg.train.y.dtype == np.float32
    train_scores = table["score"].to_numpy()[split_rows(reg.train.raw, table)]
    assert reg.metadata["y_scaling"]["mean"] == pytest.approx(train_scores.mean())


def test_from_frame_numbers_stored_as_strings_are_numeric(table: pd.DataFrame) -> None:
    frame = table.assign(code=table["code"].astype(str), label=table["label"].astype(object))
    ds = Dataset.from_frame(frame, "label")
    assert "code" in ds.continuous_features and "kind" in ds.continuous_features
    explicit = Dataset.from_frame(frame.assign(code=frame["code"].where(frame.index != 5, "n/a")), "label",
                                  categorical=["group", "code"])
    assert ("code=n/a" in explicit.feature_names) == ("n/a" in set(explicit.train.raw["code"]))
    assert len(explicit.feature_groups["code"]) == len(set(explicit.train.raw["code"])) + 1


def split_rows(raw_rows: pd.DataFrame, table: pd.DataFrame) -> np.ndarray:
    """Source row of each raw row (the 'income' values are distinct in the fixture)."""
    position = {v: i for i, v in enumerate(table["income"])}
    assert len(position) == len(table)
    return np.array([position[v] for v in raw_rows["income"]])


def test_from_frame_splits_disjoint(table: pd.DataFrame) -> None:
    ds = Dataset.from_frame(table, "label")
    rows = [set(split_rows(s.raw, table).tolist()) for s in (ds.train, ds.val, ds.test)]
    assert not (rows[0] & rows[1] or rows[0] & rows[2] or rows[1] & rows[2])
    assert len(rows[0] | rows[1] | rows[2]) == len(table)


@pytest.mark.parametrize(
    ("mutate", "kwargs", "pattern"),
    [
        (lambda d: d, {"target": "nope"}, r"'target' argument must name a column.*Got 'nope'"),
        (lambda d: d, {"target": "label", "sensitive": ["race"]}, r"'sensitive' column .*Got 'race'"),
        (lambda d: d.assign(group="a"), {"target": "label", "sensitive": ["group"]},
         r"sensitive column 'group' must hold at least 2 distinct values. Got only \['a'\]"),
        (lambda d: d.assign(income=d["income"].astype(object).where(d.index != 7, "n/a")), {"target": "label"},
         r"Column 'income' must hold numbers.*'n/a' in row 7"),
        (lambda d: d.assign(income=d["income"].where(d.index != 3, np.inf)), {"target": "label"},
         r"Column 'income' must hold finite numbers. Got inf in row 3"),
        (lambda d: d.iloc[:0], {"target": "label"}, r"'df' argument must have rows and columns"),
        (lambda d: d.assign(label=d["label"].where(d.index != 2, None)), {"target": "label"},
         r"target column 'label' must have no missing values. Got one at row 2"),
        (lambda d: d[["label"]], {"target": "label"}, r"at least one feature column"),
        (lambda d: d.sort_values("label").iloc[[0, 1, -1]], {"target": "label"}, r"'val' split empty"),
    ],
)
def test_from_frame_bad_input(table: pd.DataFrame, mutate, kwargs, pattern: str) -> None:  # noqa: ANN001
    with pytest.raises(InvalidInputError, match=pattern):
        Dataset.from_frame(mutate(table), **kwargs)


def test_from_frame_rejects_non_frame() -> None:
    with pytest.raises(InvalidTypeError, match="pandas DataFrame. Got dict"):
        Dataset.from_frame({"a": [1]}, "a")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_from_file(table: pd.DataFrame, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"people{suffix}"
    table.to_csv(path, index=False) if suffix == ".csv" else table.to_parquet(path, index=False)
    ds = from_file(path, "label", sensitive="group")
    assert ds.name == "people" and ds.sensitive_features == ["group"]
    assert ds.fingerprint() == Dataset.from_frame(table, "label", sensitive=["group"], name="x").fingerprint()


def test_from_file_bad_path(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="must end with one of"):
        from_file(tmp_path / "a.xlsx", "y")
    with pytest.raises(InvalidInputError, match="does not exist"):
        from_file(tmp_path / "missing.csv", "y")


def test_from_arrays_images() -> None:
    rng = np.random.default_rng(1)
    x = rng.random((60, 6, 6)).astype(np.float32)
    y = np.repeat([0, 1, 2], 20)
    ds = Dataset.from_arrays(x, y, kind="image", class_names=["a", "b", "c"],
                             sensitive={"site": rng.choice(["p", "q"], 60)})
    assert (ds.kind, ds.task, ds.input_shape, ds.n_classes) == ("image", "multiclass", (1, 6, 6), 3)
    assert ds.sensitive_features == ["site"] and len(ds.test.sensitive) == len(ds.test)
    every = np.concatenate([ds.train.x, ds.val.x, ds.test.x])
    assert sorted(map(bytes, every.reshape(60, -1))) == sorted(map(bytes, x.reshape(60, -1)))
    rgb = Dataset.from_arrays(rng.random((40, 3, 4, 4)), ["cat", "dog"] * 20)
    assert rgb.input_shape == (3, 4, 4) and rgb.class_names == ["cat", "dog"] and rgb.task == "binary"


@pytest.mark.parametrize(
    ("x", "y", "pattern"),
    [
        (np.full((20, 4, 4), 2.0), [0, 1] * 10, r"values in \[0, 1\].*Got values from 2.0 to 2.0"),
        (np.where(np.eye(4, dtype=bool), np.nan, 0.5)[None].repeat(20, 0), [0, 1] * 10, r"finite.*Got nan"),
        (np.zeros((20, 4)), [0, 1] * 10, r"shape \(n, h, w\) or \(n, c, h, w\).*Got \(20, 4\)"),
        (np.zeros((20, 4, 4)), [0, 1] * 9, r"'y' argument must have one value per sample \(20\). Got 18"),
        (np.zeros((20, 4, 4)), [0] * 20, r"at least 2 classes"),
    ],
)
def test_from_arrays_bad_input(x: np.ndarray, y: list[int], pattern: str) -> None:
    with pytest.raises(InvalidInputError, match=pattern):
        Dataset.from_arrays(x, y, kind="image")


def test_from_arrays_timeseries_windows() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.normal(5, 2, (50, 8)), rng.normal(100, 10, 50)
    ds = Dataset.from_arrays(x, y, kind="timeseries")
    assert (ds.kind, ds.task, ds.input_shape) == ("timeseries", "regression", (8, 1))
    n_train = len(ds.train)
    assert ds.preprocessing["mean"][0] == pytest.approx(x[:n_train].mean())  # chronological: train = first rows
    assert ds.metadata["y_scaling"]["mean"] == pytest.approx(y[:n_train].mean())
    np.testing.assert_allclose(ds.test.y, (y[-len(ds.test):] - y[:n_train].mean()) / y[:n_train].std(), rtol=1e-5)
    with pytest.raises(InvalidInputError, match="'kind' argument must be one of"):
        Dataset.from_arrays(x, y, kind="audio")


def test_from_texts() -> None:
    texts = [f"a {'good' if i % 2 else 'bad'} film number {i}" for i in range(60)]
    ds = Dataset.from_texts(texts, [i % 2 for i in range(60)], class_names=["neg", "pos"], max_len=6)
    assert (ds.kind, ds.task, ds.input_shape) == ("text", "binary", (6,))
    np.testing.assert_array_equal(pp.encode(list(ds.val.raw["text"]), ds.preprocessing), ds.val.x)
    assert {"good", "bad", "film"} <= set(ds.preprocessing["vocab"])
    with pytest.raises(InvalidInputError, match="position 3"):
        Dataset.from_texts(texts[:3] + [None] + texts[4:], [0, 1] * 30)
    with pytest.raises(InvalidInputError, match=r"one value per sample \(60\). Got 59"):
        Dataset.from_texts(texts, [0, 1] * 29 + [0])
    with pytest.raises(InvalidInputError, match=r"class indices in \[0, 1\].*Got 2"):
        Dataset.from_texts(texts, [0, 2] * 30, class_names=["neg", "pos"])
