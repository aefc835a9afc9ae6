"""Model families, device helpers and training: shapes, invariants, determinism, validation, metrics."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from models import FAMILIES, Dataset, Split, TrainedModel, resolve_device, train_model
from models.cnn import CNN, CNNConfig
from models.device import autocast
from models.errors import InvalidInputError, InvalidTypeError, UnknownNameError
from models.families import FAMILY_KINDS, build_module, config_for
from models.gan import Discriminator, GANConfig, Generator
from models.lstm import LSTM, LSTMConfig
from models.mlp import MLP, MLPConfig
from models.training import target_scale
from models.transformer import Transformer, TransformerConfig

torch.set_num_threads(1)


# ---------------------------------------------------------------- tiny synthetic data sets (seeded, no I/O)
def _split(x: np.ndarray, y: np.ndarray) -> Split:
    return Split(x=x, y=y, sensitive=pd.DataFrame(index=range(len(y))))


def _dataset(kind: str, task: str, x: np.ndarray, y: np.ndarray, classes: list[str], **extra) -> Dataset:
    n = len(y)
    a, b = int(0.6 * n), int(0.8 * n)
    return Dataset(
        name=f"syn_{kind}", kind=kind, task=task, train=_split(x[:a], y[:a]), val=_split(x[a:b], y[a:b]),
        test=_split(x[b:], y[b:]), class_names=classes, **extra,
    )


def tabular(n: int = 240) -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    y = (x[:, 0] - x[:, 1] > 0).astype(np.int64)
    return _dataset("tabular", "binary", x, y, ["no", "yes"], feature_names=[f"f{i}" for i in range(5)])


def images(n: int = 160, side: int = 8) -> Dataset:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, size=n).astype(np.int64)
    x = rng.random((n, 1, side, side)).astype(np.float32) * 0.3
    for c in range(3):  # class c lights up a horizontal band
        band = slice(c * side // 3, (c + 1) * side // 3)
        x[y == c, 0, band, :] += 0.7
    return _dataset("image", "multiclass", np.clip(x, 0, 1), y, ["a", "b", "c"])


def texts(n: int = 160, length: int = 10) -> Dataset:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, size=n).astype(np.int64)
    x = rng.integers(4, 30, size=(n, length)).astype(np.int64)
    x[:, 0] = np.where(y == 1, 2, 3)  # the label token
    lengths = rng.integers(3, length + 1, size=n)
    x[np.arange(length)[None, :] >= lengths[:, None]] = 0
    return _dataset("text", "binary", x, y, ["neg", "pos"], metadata={"vocab_size": 30})


def series(n: int = 200, window: int = 12) -> Dataset:
    values = np.sin(np.arange(n + window + 1) / 3.0).astype(np.float32)
    x = np.stack([values[i : i + window] for i in range(n)])[:, :, None]
    y = values[window : window + n].astype(np.float32)
    return _dataset("timeseries", "regression", x, y, [], metadata={"y_scaling": {"mean": 10.0, "std": 4.0}})


DATA = {"tabular": tabular, "image": images, "text": texts, "timeseries": series}
RUNS = [("mlp", "tabular"), ("cnn", "image"), ("lstm", "text"), ("lstm", "timeseries"), ("transformer", "text"),
        ("transformer", "timeseries"), ("gan", "image")]


@pytest.fixture(scope="module")
def datasets() -> dict[str, Dataset]:
    return {kind: make() for kind, make in DATA.items()}


def _train(family: str, ds: Dataset, **kwargs) -> TrainedModel:
    kwargs.setdefault("epochs", 4)
    kwargs.setdefault("batch_size", 32)
    return train_model(family, ds, device="cpu", progress=False, **kwargs)


# ---------------------------------------------------------------- modules
@pytest.mark.parametrize("side", [8, 13, 28])
def test_cnn_shapes_and_features(side: int) -> None:
    model = CNN(CNNConfig(in_channels=2, n_classes=4, hidden=16)).eval()
    x = torch.rand(3, 2, side, side)
    assert model(x).shape == (3, 4)
    assert model.features(x).shape == (3, 16)
    assert torch.equal(model.head(model.features(x)), model(x))  # eval mode: dropout is the identity


def test_mlp_regression_and_batchnorm() -> None:
    model = MLP(MLPConfig(input_dim=3, n_classes=0, hidden=(8,), batch_norm=True))
    assert model(torch.zeros(5, 3)).shape == (5,)
    assert any(isinstance(m, nn.BatchNorm1d) for m in model.modules())
    assert not any(isinstance(m, nn.BatchNorm1d) for m in MLP(MLPConfig(input_dim=3)).modules())


@pytest.mark.parametrize("cls,config", [(LSTM, LSTMConfig), (Transformer, TransformerConfig)])
def test_text_models_embedding_and_padding_invariance(cls, config) -> None:
    torch.manual_seed(0)
    model = cls(config(input_kind="text", vocab_size=20, n_classes=3, **({"max_len": 9} if cls is Transformer else {})))
    model.eval()
    assert isinstance(model.embedding, nn.Embedding) and model.embedding.padding_idx == 0
    short = torch.tensor([[5, 6, 7, 0], [8, 0, 0, 0]])
    long = torch.cat([short, torch.zeros(2, 5, dtype=torch.long)], dim=1)
    with torch.no_grad():
        out_short, out_long = model(short), model(long)
    assert out_short.shape == (2, 3)
    torch.testing.assert_close(out_short, out_long, rtol=1e-5, atol=1e-5)  # padding changes nothing
    with torch.no_grad():
        assert torch.isfinite(model(torch.zeros(1, 4, dtype=torch.long))).all()  # an all-padding row


@pytest.mark.parametrize("cls,config", [(LSTM, LSTMConfig), (Transformer, TransformerConfig)])
def test_series_models_regress(cls, config) -> None:
    extra = {"max_len": 6} if cls is Transformer else {}
    model = cls(config(input_kind="series", input_channels=2, n_classes=0, **extra))
    assert model(torch.zeros(4, 6, 2)).shape == (4,)
    assert not hasattr(model, "embedding")


def test_transformer_rejects_too_long_input() -> None:
    model = Transformer(TransformerConfig(input_kind="series", max_len=4, n_classes=0))
    with pytest.raises(InvalidInputError, match="max_len=4"):
        model(torch.zeros(1, 5, 1))


@pytest.mark.parametrize("side", [8, 28])
def test_gan_shapes_and_range(side: int) -> None:
    config = GANConfig(n_classes=10, image_size=side, latent_dim=8)
    gen, disc = Generator(config).eval(), Discriminator(config)
    labels = torch.arange(4)
    images = gen(torch.randn(4, 8) * 10, labels)
    assert images.shape == (4, 1, side, side)
    assert images.min() >= 0 and images.max() <= 1
    assert disc(images, labels).shape == (4,)


@pytest.mark.parametrize("family", FAMILIES)
def test_each_activation_is_its_own_module(family: str, datasets) -> None:
    ds = datasets[FAMILY_KINDS[family][0]]
    module = build_module(family, config_for(family, ds))
    activations = [m for m in module.modules() if isinstance(m, (nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.GELU))]
    assert len({id(m) for m in activations}) == len(activations)


@pytest.mark.parametrize(
    "make,field",
    [
        (lambda: MLPConfig(input_dim=0), "input_dim"),
        (lambda: MLPConfig(input_dim=3, n_classes=1), "n_classes"),
        (lambda: MLPConfig(input_dim=3, dropout=1.0), "dropout"),
        (lambda: CNNConfig(kernel_size=4), "kernel_size"),
        (lambda: LSTMConfig(pooling="max"), "pooling"),
        (lambda: TransformerConfig(d_model=30, n_heads=4), "n_heads"),
        (lambda: GANConfig(image_size=30), "image_size"),
    ],
)
def test_config_validation_names_the_field(make, field: str) -> None:
    with pytest.raises(InvalidInputError, match=f"'{field}'"):
        make()


def test_shap_deep_explainer_is_additive_on_mlp_and_cnn(datasets) -> None:
    shap = pytest.importorskip("shap")
    torch.manual_seed(0)
    for model, x in [
        (MLP(MLPConfig(input_dim=5, hidden=(8, 8))), torch.as_tensor(datasets["tabular"].test.x[:4])),
        (CNN(CNNConfig(n_classes=3, channels=(4, 4), hidden=8)), torch.as_tensor(datasets["image"].test.x[:3])),
    ]:
        model.eval()
        explainer = shap.DeepExplainer(model, x[:2])
        values = explainer.shap_values(x[2:], check_additivity=True)  # raises when additivity fails
        totals = np.asarray(values).reshape(len(x) - 2, -1, np.asarray(values).shape[-1]).sum(axis=1)
        with torch.no_grad():
            expected = (model(x[2:]) - model(x[:2]).mean(0)).numpy()
        np.testing.assert_allclose(totals, expected, atol=1e-4)


# ---------------------------------------------------------------- device
def test_resolve_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(InvalidInputError, match="'device'.*'tpu'"):
        resolve_device("tpu")
    with pytest.raises(InvalidTypeError, match="'device'"):
        resolve_device(3)  # type: ignore[arg-type]
    if not torch.cuda.is_available():
        with pytest.raises(InvalidInputError, match="CUDA is not available"):
            resolve_device("cuda")


def test_autocast_is_a_noop_on_cpu() -> None:
    layer = nn.Linear(3, 2)
    with autocast(torch.device("cpu")):
        out = layer(torch.ones(1, 3))
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, layer(torch.ones(1, 3)), rtol=0, atol=0)


# ---------------------------------------------------------------- training
@pytest.mark.parametrize("family,kind", RUNS)
def test_training_lowers_the_loss_and_predicts(family: str, kind: str, datasets) -> None:
    ds = datasets[kind]
    tm = _train(family, ds, epochs=6, lr=3e-3)
    key = "d_loss" if family == "gan" else "train_loss"
    assert len(tm.history) >= 2
    if family == "gan":
        assert tm.task == "generative" and tm.metrics == {}
        assert len(tm.snapshots) == len(tm.history)
        last = tm.snapshots[-1]
        assert all(torch.equal(last[k], v) for k, v in tm.module.state_dict().items())
        assert tm.latent_dim == tm.config.latent_dim
        assert tm.history[0]["g_loss"] != tm.history[-1]["g_loss"]
        return
    assert tm.history[-1][key] < tm.history[0][key]
    assert tm.task == ds.task and tm.dataset_name == ds.name and tm.kind == kind
    preds = tm.predict(ds.test.x)
    assert preds.shape == (len(ds.test),)
    if ds.task == "regression":
        assert preds.dtype == np.float32
        with pytest.raises(InvalidInputError, match="predict_proba needs a classifier"):
            tm.predict_proba(ds.test.x)
    else:
        proba = tm.predict_proba(ds.test.x, batch_size=7)
        assert proba.shape == (len(ds.test), ds.n_classes)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
        np.testing.assert_array_equal(preds, proba.argmax(axis=1))
        assert tm.metrics["accuracy"] == pytest.approx(float(np.mean(preds == ds.test.y)))


def test_classifiers_learn_the_planted_signal(datasets) -> None:
    assert _train("mlp", datasets["tabular"], epochs=30, lr=1e-2).metrics["accuracy"] >= 0.9
    assert _train("cnn", datasets["image"], epochs=15, lr=1e-2).metrics["accuracy"] >= 0.9


@pytest.mark.parametrize("family,kind", RUNS)
def test_same_seed_same_weights(family: str, kind: str, datasets) -> None:
    a = _train(family, datasets[kind], epochs=2, seed=3)
    b = _train(family, datasets[kind], epochs=2, seed=3)
    c = _train(family, datasets[kind], epochs=2, seed=4)
    sa, sb, sc = a.module.state_dict(), b.module.state_dict(), c.module.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_training_leaves_the_global_rng_alone(datasets) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    _train("mlp", datasets["tabular"], epochs=1)
    assert torch.equal(torch.rand(3), expected)


def test_early_stopping_keeps_the_best_weights(datasets) -> None:
    ds = datasets["tabular"]
    tm = _train("mlp", ds, epochs=40, lr=0.05, config={"hidden": (64, 64), "dropout": 0.0})
    best = tm.metrics["best_epoch"]
    val_losses = [h["val_loss"] for h in tm.history]
    assert best == int(np.argmin(val_losses)) + 1
    with torch.no_grad():
        logits = tm.module(torch.as_tensor(ds.val.x))
    oracle = float(nn.functional.cross_entropy(logits, torch.as_tensor(ds.val.y)))
    assert oracle == pytest.approx(val_losses[best - 1], rel=1e-5)
    assert len(tm.history) < 40 and tm.history[-1]["stop_reason"] == "early_stopping"  # lr 0.05 overfits fast
    assert len(tm.history) - best == 5  # the mlp's patience


def test_on_epoch_and_time_budget(datasets) -> None:
    seen: list[dict] = []
    tm = _train("mlp", datasets["tabular"], epochs=3, on_epoch=seen.append)
    assert [r["epoch"] for r in seen] == [1, 2, 3] and all(r["epochs"] == 3 for r in seen)
    assert set(seen[0]) >= {"train_loss", "val_loss", "val_accuracy", "seconds"}
    short = _train("mlp", datasets["tabular"], epochs=50, max_minutes=1e-9)
    assert len(short.history) == 1 and short.history[-1]["stop_reason"] == "time_budget"
    assert tm.history[-1]["stop_reason"] == "epochs"


def test_regression_metrics_match_an_independent_computation(datasets) -> None:
    ds = datasets["timeseries"]
    tm = _train("lstm", ds, epochs=3)
    preds = tm.predict(ds.test.x).astype(np.float64)
    mae = float(np.mean(np.abs(preds - ds.test.y)))
    baseline = float(np.mean(np.abs(ds.test.x[:, -1, 0] - ds.test.y)))
    assert tm.metrics["mae"] == pytest.approx(mae, rel=1e-5)
    assert tm.metrics["mse"] == pytest.approx(float(np.mean((preds - ds.test.y) ** 2)), rel=1e-5)
    assert tm.metrics["mae_original"] == pytest.approx(4.0 * mae, rel=1e-5)
    assert tm.metrics["baseline_mae"] == pytest.approx(baseline, rel=1e-6)
    assert tm.metrics["baseline_mae_original"] == pytest.approx(4.0 * baseline, rel=1e-6)
    assert tm.metrics["skill_vs_baseline"] == pytest.approx(1 - mae / baseline, rel=1e-4)
    assert "val_mae" in tm.history[0]


def test_target_scale_reads_the_known_layouts() -> None:
    assert target_scale({"y_scaling": {"mean": 1.0, "std": 2.5}}) == 2.5
    assert target_scale({"y_std": 3}) == 3.0
    assert target_scale({"y_scaling": {"std": [0.5]}}) == 0.5
    assert target_scale({}) is None and target_scale({"y_std": 0.0}) is None


def test_gan_sampling(datasets) -> None:
    tm = _train("gan", datasets["image"], epochs=1)
    images = tm.sample(7, seed=1)
    assert images.shape == (7, 1, 8, 8) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 1
    np.testing.assert_array_equal(images, tm.sample(7, seed=1))
    assert not np.array_equal(images, tm.sample(7, seed=2))
    # default labels are round-robin over the classes
    np.testing.assert_array_equal(images, tm.sample(7, labels=[0, 1, 2, 0, 1, 2, 0], seed=1))
    with pytest.raises(InvalidInputError, match="'labels'"):
        tm.sample(2, labels=[0, 3])
    with pytest.raises(InvalidInputError, match="'n'"):
        tm.sample(0)
    with pytest.raises(InvalidInputError, match="sample"):
        tm.predict(datasets["image"].test.x)


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize("family", FAMILIES)
def test_family_must_fit_the_kind(family: str, datasets) -> None:
    for kind, ds in datasets.items():
        if kind in FAMILY_KINDS[family]:
            continue
        with pytest.raises(InvalidInputError, match=f"'{family}'.*'{kind}'"):
            train_model(family, ds, device="cpu", progress=False)


def test_unknown_family_lists_valid_names(datasets) -> None:
    with pytest.raises(UnknownNameError, match=r"'rnn'") as info:
        train_model("rnn", datasets["tabular"])
    assert all(name in str(info.value) for name in FAMILIES)
    with pytest.raises(InvalidTypeError, match="'family'"):
        train_model(3, datasets["tabular"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs,match",
    [({"epochs": 0}, "'epochs'"), ({"batch_size": -1}, "'batch_size'"), ({"lr": 0.0}, "'lr'"),
     ({"max_minutes": 0}, "'max_minutes'"), ({"seed": -1}, "'seed'"), ({"config": {"hiden": (3,)}}, "hiden"),
     ({"config": 5}, "'config'"), ({"on_epoch": 5}, "'on_epoch'"), ({"device": "gpu"}, "'device'")],
)
def test_bad_arguments_are_rejected(kwargs, match: str, datasets) -> None:
    with pytest.raises((InvalidInputError, InvalidTypeError), match=match):
        train_model("mlp", datasets["tabular"], progress=False, **kwargs)


def test_bad_data_is_rejected(datasets) -> None:
    with pytest.raises(InvalidTypeError, match="'dataset'"):
        train_model("mlp", datasets["tabular"].train.x)  # type: ignore[arg-type]
    ds = datasets["tabular"]
    bad = Dataset(name="bad", kind="tabular", task="binary", train=ds.train, val=ds.val, test=ds.test,
                  class_names=["only"])
    with pytest.raises(InvalidInputError, match="class indices"):
        train_model("mlp", bad, device="cpu", progress=False)
    floats = datasets["text"]
    text_bad = Dataset(name="t", kind="text", task="binary", train=_split(floats.train.x.astype(np.float32),
                       floats.train.y), val=floats.val, test=floats.test, class_names=["a", "b"])
    with pytest.raises(InvalidInputError, match="token ids"):
        train_model("lstm", text_bad, device="cpu", progress=False)


def test_predict_validates_inputs(datasets) -> None:
    tm = _train("lstm", datasets["text"], epochs=1)
    with pytest.raises(InvalidInputError, match="token ids in \\[0, 29\\]"):
        tm.predict_proba(np.full((2, 10), 99, dtype=np.int64))
    with pytest.raises(InvalidInputError, match="shape"):
        tm.predict(np.zeros((2, 11), dtype=np.int64))
    mlp = _train("mlp", datasets["tabular"], epochs=1)
    with pytest.raises(InvalidInputError, match="shape \\(n, 5\\)"):
        mlp.predict_proba(np.zeros((2, 4), dtype=np.float32))
    with pytest.raises(InvalidInputError, match="latent_dim"):
        _ = mlp.latent_dim


def test_kind_defaults_and_user_overrides(datasets) -> None:
    assert config_for("lstm", datasets["timeseries"]).pooling == "last"
    assert config_for("lstm", datasets["text"]).pooling == "mean"
    user = config_for("lstm", datasets["timeseries"], {"pooling": "mean", "hidden": 8, "n_classes": 5})
    assert (user.pooling, user.hidden, user.n_classes) == ("mean", 8, 0)  # data-derived fields always win
    from_instance = config_for("mlp", datasets["tabular"], MLPConfig(input_dim=99, hidden=(7,)))
    assert (from_instance.input_dim, from_instance.hidden) == (5, (7,))
