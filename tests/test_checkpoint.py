"""Checkpoints: exact round trips for every family, and refusal of missing, corrupt, tampered or unfit files."""
from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import safetensors.torch
import torch

from models import Dataset, Split, TrainedModel, load_model, train_model
from models.checkpoint import read_metadata
from models.errors import CheckpointError

torch.set_num_threads(1)


def _split(x: np.ndarray, y: np.ndarray) -> Split:
    return Split(x=x, y=y, sensitive=pd.DataFrame(index=range(len(y))))


def _dataset(kind: str, task: str, x: np.ndarray, y: np.ndarray, classes: list[str], **extra) -> Dataset:
    a, b = int(0.6 * len(y)), int(0.8 * len(y))
    return Dataset(name=f"ck_{kind}", kind=kind, task=task, train=_split(x[:a], y[:a]), val=_split(x[a:b], y[a:b]),
                   test=_split(x[b:], y[b:]), class_names=classes, **extra)


def _data(kind: str) -> Dataset:
    rng = np.random.default_rng(0)
    if kind == "tabular":
        x = rng.normal(size=(100, 4)).astype(np.float32)
        return _dataset(kind, "binary", x, (x[:, 0] > 0).astype(np.int64), ["n", "p"], feature_names=list("abcd"),
                        preprocessing={"kind": "tabular", "mean": [0.5, np.float32(1)]})
    if kind == "image":
        return _dataset(kind, "multiclass", rng.random((60, 1, 8, 8)).astype(np.float32),
                        rng.integers(0, 3, 60).astype(np.int64), ["x", "y", "z"])
    if kind == "text":
        x = rng.integers(0, 25, size=(60, 6)).astype(np.int64)
        return _dataset(kind, "binary", x, rng.integers(0, 2, 60).astype(np.int64), ["neg", "pos"])
    x = rng.normal(size=(60, 8, 1)).astype(np.float32)
    return _dataset(kind, "regression", x, x[:, -1, 0] * 0.5, [], metadata={"y_scaling": {"std": 2.0}})


RUNS = [("mlp", "tabular"), ("cnn", "image"), ("lstm", "text"), ("lstm", "timeseries"), ("transformer", "text"),
        ("transformer", "timeseries"), ("gan", "image")]


@pytest.fixture(scope="module")
def trained() -> dict[tuple[str, str], tuple[TrainedModel, Dataset]]:
    out = {}
    for family, kind in RUNS:
        ds = _data(kind)
        out[(family, kind)] = (train_model(family, ds, epochs=2, batch_size=16, device="cpu", progress=False), ds)
    return out


@pytest.fixture()
def mlp_dir(trained, tmp_path: Path) -> Path:
    return trained[("mlp", "tabular")][0].save(tmp_path / "mlp")


def _outputs(tm: TrainedModel, ds: Dataset) -> torch.Tensor:
    with torch.no_grad():
        if tm.family == "gan":
            return tm.module.eval()(torch.ones(3, tm.latent_dim), torch.tensor([0, 1, 2]))
        dtype = torch.long if ds.kind == "text" else torch.float32
        return tm.module.eval()(torch.as_tensor(ds.test.x, dtype=dtype))


@pytest.mark.parametrize("family,kind", RUNS)
def test_round_trip_is_exact(family: str, kind: str, trained, tmp_path: Path) -> None:
    tm, ds = trained[(family, kind)]
    folder = tm.save(tmp_path / family)
    loaded = load_model(folder)
    assert torch.equal(_outputs(tm, ds), _outputs(loaded, ds))
    assert not loaded.module.training
    assert loaded.config == tm.config and type(loaded.config) is type(tm.config)
    for name in ("family", "task", "dataset_name", "class_names", "feature_names", "seed", "kind", "input_shape"):
        assert getattr(loaded, name) == getattr(tm, name), name
    assert loaded.metrics == pytest.approx(tm.metrics)
    assert [h["epoch"] for h in loaded.history] == [h["epoch"] for h in tm.history]
    meta = json.loads((folder / "metadata.json").read_text())
    for rel, digest in meta["sha256"].items():
        assert hashlib.sha256((folder / rel).read_bytes()).hexdigest() == digest
    assert set(meta["versions"]) >= {"torch", "numpy", "deepaudit"}
    assert not list(folder.rglob("*.tmp"))
    if family == "gan":
        assert meta["snapshots"] == ["snapshots/epoch_001.safetensors", "snapshots/epoch_002.safetensors"]
        assert len(loaded.snapshots) == 2
        for old, new in zip(tm.snapshots, loaded.snapshots):
            assert all(torch.equal(old[k], new[k]) for k in old)
        labels = torch.tensor([0, 1, 2])
        images = torch.rand(3, 1, 8, 8)
        with torch.no_grad():
            assert torch.equal(tm.discriminator.eval()(images, labels), loaded.discriminator(images, labels))
        np.testing.assert_array_equal(tm.sample(4, seed=5), loaded.sample(4, seed=5))
    else:
        np.testing.assert_array_equal(tm.predict(ds.test.x), loaded.predict(ds.test.x))


def test_preprocessing_and_numpy_values_survive(trained, mlp_dir: Path) -> None:
    loaded = load_model(mlp_dir)
    assert loaded.preprocessing == {"kind": "tabular", "mean": [0.5, 1.0]}
    assert read_metadata(mlp_dir)["family"] == "mlp"


def test_resaving_removes_stale_snapshots(trained, tmp_path: Path) -> None:
    tm, _ = trained[("gan", "image")]
    folder = tm.save(tmp_path / "gan")
    tm_short = TrainedModel(**{**tm.__dict__, "snapshots": tm.snapshots[:1]})
    tm_short.save(folder)
    assert sorted(p.name for p in (folder / "snapshots").iterdir()) == ["epoch_001.safetensors"]
    assert len(load_model(folder).snapshots) == 1


def test_flipped_byte_is_reported_as_tampered(mlp_dir: Path) -> None:
    path = mlp_dir / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # inside the last tensor's data: still parses
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="model.safetensors.*tampered"):
        load_model(mlp_dir)


def test_truncated_file_is_named(mlp_dir: Path) -> None:
    path = mlp_dir / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="model.safetensors' is truncated or corrupt"):
        load_model(mlp_dir)


def test_tampered_snapshot_is_caught(trained, tmp_path: Path) -> None:
    folder = trained[("gan", "image")][0].save(tmp_path / "gan")
    path = folder / "snapshots" / "epoch_002.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="epoch_002.safetensors.*tampered"):
        load_model(folder)


def _rewrite_weights(folder: Path, state: dict[str, torch.Tensor]) -> None:
    """Replace model.safetensors and record its new sha256, so only the shape/key checks can object."""
    data = safetensors.torch.save(state)
    (folder / "model.safetensors").write_bytes(data)
    meta = json.loads((folder / "metadata.json").read_text())
    meta["sha256"]["model.safetensors"] = hashlib.sha256(data).hexdigest()
    (folder / "metadata.json").write_text(json.dumps(meta))


def test_weights_of_the_wrong_shape_name_the_key(trained, mlp_dir: Path) -> None:
    state = {k: v.clone() for k, v in trained[("mlp", "tabular")][0].module.state_dict().items()}
    state["head.weight"] = torch.zeros(3, state["head.weight"].shape[1])
    _rewrite_weights(mlp_dir, state)
    with pytest.raises(CheckpointError, match="'head.weight' has shape \\(3, 64\\), expected \\(2, 64\\)"):
        load_model(mlp_dir)


def test_missing_and_unexpected_keys_are_named(trained, mlp_dir: Path) -> None:
    state = {k: v.clone() for k, v in trained[("mlp", "tabular")][0].module.state_dict().items()}
    bias = state.pop("head.bias")
    _rewrite_weights(mlp_dir, state)
    with pytest.raises(CheckpointError, match="lacks the key 'head.bias'"):
        load_model(mlp_dir)
    _rewrite_weights(mlp_dir, {**state, "head.bias": bias, "extra.weight": torch.zeros(1)})
    with pytest.raises(CheckpointError, match="'extra.weight'"):
        load_model(mlp_dir)


def test_config_that_does_not_fit_the_weights(mlp_dir: Path) -> None:
    meta = json.loads((mlp_dir / "metadata.json").read_text())
    meta["config"]["hidden"] = [32, 64]
    (mlp_dir / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="key .body.0.weight. has shape \\(128, 4\\), expected \\(32, 4\\)"):
        load_model(mlp_dir)


@pytest.mark.parametrize(
    "edit,match",
    [
        (lambda m: m.update(family="rnn"), "family 'rnn'"),
        (lambda m: m.update(format_version=99), "format_version 99"),
        (lambda m: m.update(format="other"), "not a deepaudit checkpoint"),
        (lambda m: m.pop("sha256"), "lacks the key"),
        (lambda m: m["config"].update(depth=3), "unknown field"),
        (lambda m: m["sha256"].pop("model.safetensors"), "records no sha256"),
    ],
)
def test_bad_metadata_is_refused(edit, match: str, mlp_dir: Path) -> None:
    meta = json.loads((mlp_dir / "metadata.json").read_text())
    edit(meta)
    (mlp_dir / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=match):
        load_model(mlp_dir)


def test_missing_files_are_named(mlp_dir: Path, tmp_path: Path) -> None:
    (mlp_dir / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="model.safetensors' is missing"):
        load_model(mlp_dir)
    (mlp_dir / "metadata.json").unlink()
    with pytest.raises(CheckpointError, match="metadata.json"):
        load_model(mlp_dir)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "nowhere")


def test_truncated_metadata_is_named(mlp_dir: Path) -> None:
    path = mlp_dir / "metadata.json"
    path.write_text(path.read_text()[:40])
    with pytest.raises(CheckpointError, match="metadata.json' is truncated or not valid JSON"):
        load_model(mlp_dir)


class _Payload:
    """Unpickling this object writes a marker file: proof that something unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "unpickled"))


def test_pickles_are_never_loaded(trained, mlp_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    payload = pickle.dumps(_Payload(marker))
    assert not marker.exists()
    # 1. A torch pickle beside the metadata instead of safetensors weights: not read.
    (mlp_dir / "model.safetensors").unlink()
    (mlp_dir / "model.pt").write_bytes(payload)
    with pytest.raises(CheckpointError, match="missing"):
        load_model(mlp_dir)
    # 2. A pickle renamed to model.safetensors, with a matching digest: refused as corrupt, never unpickled.
    (mlp_dir / "model.safetensors").write_bytes(payload)
    meta = json.loads((mlp_dir / "metadata.json").read_text())
    meta["sha256"]["model.safetensors"] = hashlib.sha256(payload).hexdigest()
    (mlp_dir / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_model(mlp_dir)
    # 3. A genuine torch.save file (zip + pickle) under the safetensors name: refused too.
    torch.save(trained[("mlp", "tabular")][0].module.state_dict(), mlp_dir / "model.safetensors")
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_model(mlp_dir)
    assert not marker.exists()
    # the payload really would have fired, had anything unpickled it
    pickle.loads(payload)  # noqa: S301 - the test's own bytes
    assert marker.read_text() == "unpickled"
