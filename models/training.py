"""``train_model``: train one model family on a ``Dataset`` and return a ``TrainedModel``.

Example:
    >>> from models import load_dataset, train_model        # doctest: +SKIP
    >>> tm = train_model("mlp", load_dataset("adult"), seed=0)  # doctest: +SKIP
    >>> tm.metrics["accuracy"]                              # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from models._gan_training import fit_gan
from models._train_loop import EpochCallback, evaluate, fit_supervised, to_device_data
from models.dataset import KINDS, Dataset
from models.device import resolve_device
from models.errors import InvalidInputError, InvalidTypeError, describe_value
from models.families import (
    FAMILIES,
    TrainSettings,
    build_discriminator,
    build_module,
    check_family,
    check_fits,
    config_for,
    train_settings,
)
from models.trained import TrainedModel

__all__ = ["FAMILIES", "TrainedModel", "resolve_device", "train_model", "test_metrics", "target_scale"]


def train_model(
    family: str,
    dataset: Dataset,
    *,
    seed: int = 0,
    device: str | torch.device = "auto",
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    config: Any = None,
    max_minutes: float | None = None,
    progress: bool = True,
    on_epoch: EpochCallback | None = None,
) -> TrainedModel:
    """Train a model of ``family`` on ``dataset``.

    Deterministic on the CPU for a given seed (unless ``max_minutes`` cuts training short). On CUDA the data is
    copied to the GPU once (or pinned) and the forward passes run under bf16 autocast. Supervised families stop
    early when the validation loss has not improved for a few epochs and keep their best weights.

    Args:
        family: one of :data:`FAMILIES` (``"mlp"`` tabular, ``"cnn"`` image, ``"lstm"``/``"transformer"`` text or
            time series, ``"gan"`` image).
        dataset: the data (its kind must fit the family).
        seed: seeds weight initialisation, dropout, noise and shuffling.
        device: ``"auto" | "cpu" | "cuda"``.
        epochs: upper bound on epochs (default: the family's, see ``models.families``).
        batch_size: rows per step (default: the family's).
        lr: learning rate (default: the family's).
        config: ``None``, a mapping of config fields, or the family's config dataclass; fields derived from the
            data (input width, classes, vocabulary, ...) always come from ``dataset``.
        max_minutes: optional wall-clock budget; training stops after the step that exceeds it.
        progress: show a tqdm progress bar.
        on_epoch: called after every epoch with that epoch's history record (plus ``"epochs"``, the planned total).

    Returns:
        The trained model (on ``device``, in eval mode) with test metrics and the per-epoch history.

    Raises:
        InvalidTypeError: ``dataset`` is not a ``Dataset`` or an argument has the wrong type.
        UnknownNameError: ``family`` is not registered.
        InvalidInputError: the family does not fit the data kind, or an argument or the data is unusable.
    """
    family = check_family(family)
    if not isinstance(dataset, Dataset):
        raise InvalidTypeError(
            f"The 'dataset' argument must be a models.Dataset. Got {type(dataset).__name__} instead."
        )
    if dataset.kind not in KINDS:
        raise InvalidInputError(f"The dataset's 'kind' must be one of {list(KINDS)}. Got {dataset.kind!r} instead.")
    check_fits(family, dataset.kind)
    _check_data(family, dataset)
    _check_int("seed", seed, 0)
    settings = _settings(family, dataset.kind, epochs, batch_size, lr)
    max_seconds = _max_seconds(max_minutes)
    if on_epoch is not None and not callable(on_epoch):
        raise InvalidTypeError(f"The 'on_epoch' argument must be callable or None. Got {type(on_epoch).__name__}.")
    target = resolve_device(device)
    model_config = config_for(family, dataset, config)
    desc = f"{family} on {dataset.name}"
    fork_devices = []
    if target.type == "cuda":
        fork_devices = [target.index if target.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(int(seed))
        module = build_module(family, model_config).to(target)
        if family == "gan":
            discriminator = build_discriminator(model_config).to(target)
            result = fit_gan(
                module, discriminator, dataset.train, settings=settings, device=target, seed=seed,
                max_seconds=max_seconds, progress=progress, on_epoch=on_epoch, desc=desc,
            )  # fmt: skip
            history, snapshots, metrics = result.history, result.snapshots, {}
            if history:
                history[-1]["stop_reason"] = result.stop_reason
        else:
            discriminator, snapshots = None, []
            loop = fit_supervised(
                module, dataset.train, dataset.val, kind=dataset.kind, task=dataset.task, settings=settings,
                device=target, seed=seed, max_seconds=max_seconds, progress=progress, on_epoch=on_epoch, desc=desc,
            )  # fmt: skip
            history = loop.history
            if history:
                history[-1]["stop_reason"] = loop.stop_reason
            metrics = test_metrics(module, dataset, target)
            metrics.update(best_epoch=loop.best_epoch, epochs_run=len(history))
    return TrainedModel(
        family=family,
        task="generative" if family == "gan" else dataset.task,
        module=module,
        config=model_config,
        dataset_name=dataset.name,
        class_names=list(dataset.class_names),
        feature_names=list(dataset.feature_names),
        preprocessing=dict(dataset.preprocessing),
        metrics=metrics,
        history=history,
        seed=int(seed),
        discriminator=discriminator,
        snapshots=snapshots,
        kind=dataset.kind,
        input_shape=dataset.input_shape,
    )


def test_metrics(module: torch.nn.Module, dataset: Dataset, device: torch.device) -> dict[str, float]:
    """Scores of a trained classifier/regressor on ``dataset.test``.

    Classification: ``accuracy``, ``loss`` (cross-entropy). Regression: ``mae``/``mse`` in standardised units,
    ``mae_original``/``mse_original`` when ``dataset.metadata`` records the target's scale, and for time series the
    last-value baseline ``baseline_mae`` (predict the window's last value of the target channel) and
    ``skill_vs_baseline`` = 1 - mae / baseline_mae. Always ``n_test``.
    """
    test = dataset.test
    out: dict[str, float] = {"n_test": float(len(test))}
    if len(test) == 0:
        return out
    scores = evaluate(module, to_device_data(test, dataset.kind, dataset.task, device), dataset.task)
    if dataset.task != "regression":
        out.update(accuracy=scores["accuracy"], loss=scores["loss"])
        return out
    out.update(mae=scores["mae"], mse=scores["loss"])
    scale = target_scale(dataset.metadata)
    if scale is not None:
        out.update(mae_original=scores["mae"] * scale, mse_original=scores["loss"] * scale**2)
    if dataset.kind == "timeseries":
        channel = int(dataset.metadata.get("target_channel", 0))
        last = test.x[:, -1, channel].astype(np.float64)
        baseline = float(np.mean(np.abs(last - test.y.astype(np.float64))))
        out["baseline_mae"] = baseline
        if scale is not None:
            out["baseline_mae_original"] = baseline * scale
        if baseline > 0:
            out["skill_vs_baseline"] = 1.0 - scores["mae"] / baseline
    return out


def target_scale(metadata: Mapping[str, Any]) -> float | None:
    """The standard deviation used to standardise a regression target, if ``metadata`` records it.

    Looks for ``y_std`` / ``target_std`` / ``y_scale`` or a ``y_scaling`` / ``target_scaling`` / ``y_scaler``
    mapping with ``std`` or ``scale``.
    """
    candidates: list[Any] = [metadata.get(key) for key in ("y_std", "target_std", "y_scale")]
    for key in ("y_scaling", "target_scaling", "y_scaler"):
        entry = metadata.get(key)
        if isinstance(entry, Mapping):
            candidates += [entry.get("std"), entry.get("scale")]
    for value in candidates:
        if isinstance(value, (list, tuple)) and len(value) == 1:  # one scale per channel, one channel
            value = value[0]
        if isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool):
            if math.isfinite(float(value)) and float(value) > 0:
                return float(value)
    return None


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidInputError(
            f"The '{name}' argument must be an int >= {minimum}. Got {describe_value(value)} instead."
        )


def _settings(family: str, kind: str, epochs: Any, batch_size: Any, lr: Any) -> TrainSettings:
    settings = train_settings(family, kind)
    changes: dict[str, Any] = {}
    if epochs is not None:
        _check_int("epochs", epochs, 1)
        changes["epochs"] = int(epochs)
    if batch_size is not None:
        _check_int("batch_size", batch_size, 1)
        changes["batch_size"] = int(batch_size)
    if lr is not None:
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
            raise InvalidInputError(f"The 'lr' argument must be a number > 0. Got {describe_value(lr)} instead.")
        changes["lr"] = float(lr)
    return dataclasses.replace(settings, **changes)


def _max_seconds(max_minutes: Any) -> float | None:
    if max_minutes is None:
        return None
    if isinstance(max_minutes, bool) or not isinstance(max_minutes, (int, float)) or not max_minutes > 0:
        raise InvalidInputError(
            f"The 'max_minutes' argument must be None or a number > 0. Got {describe_value(max_minutes)} instead."
        )
    return float(max_minutes) * 60.0


_NDIM = {"tabular": 2, "image": 4, "text": 2, "timeseries": 3}
_LAYOUT = {"tabular": "(n, d)", "image": "(n, c, h, w)", "text": "(n, max_len)", "timeseries": "(n, window, channels)"}


def _check_data(family: str, dataset: Dataset) -> None:
    """Raise InvalidInputError when the splits do not follow the array conventions of ``models.dataset``."""
    kind, task = dataset.kind, dataset.task
    if len(dataset.train) == 0:
        raise InvalidInputError(f"The dataset {dataset.name!r} has an empty train split; training needs rows.")
    for name in ("train", "val", "test"):
        split = dataset.split(name)
        if split.x.ndim != _NDIM[kind] or (len(split) and tuple(split.x.shape[1:]) != dataset.input_shape):
            raise InvalidInputError(
                f"The {name} split of {dataset.name!r} must hold {kind} inputs of shape {_LAYOUT[kind]} like the "
                f"train split {dataset.input_shape}. Got x of shape {split.x.shape} instead."
            )
        if split.x.shape[0] != split.y.shape[0]:
            raise InvalidInputError(
                f"The {name} split of {dataset.name!r} has {split.x.shape[0]} inputs but {split.y.shape[0]} targets."
            )
        if kind == "text" and not np.issubdtype(split.x.dtype, np.integer):
            raise InvalidInputError(
                f"The {name} split of {dataset.name!r} must hold int64 token ids. Got dtype {split.x.dtype} instead."
            )
        if task in ("binary", "multiclass") and len(split):
            labels = split.y
            if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= dataset.n_classes:
                raise InvalidInputError(
                    f"The {name} split of {dataset.name!r} must hold int class indices in [0, {dataset.n_classes - 1}]"
                    f" (one per class name). Got dtype {labels.dtype}, values {labels.min()}..{labels.max()}."
                )
    if task in ("binary", "multiclass"):
        if dataset.n_classes < 2:
            raise InvalidInputError(
                f"A {task} dataset needs at least 2 class names. Got {describe_value(dataset.class_names)}."
            )
    elif task == "regression":
        if family == "gan":
            raise InvalidInputError(
                "The 'gan' family is class-conditional and needs a classification dataset. Got task 'regression'."
            )
    else:
        raise InvalidInputError(
            f"The dataset's 'task' must be 'binary', 'multiclass' or 'regression' for training. Got {task!r} instead."
        )
    if kind == "image":
        _, _, height, width = dataset.train.x.shape
        if family == "cnn" and min(height, width) < 8:
            raise InvalidInputError(f"The 'cnn' family needs images of at least 8x8. Got {height}x{width} instead.")
        if family == "gan" and (height != width or height % 4 or height < 4):
            raise InvalidInputError(
                f"The 'gan' family needs square images with a side that is a multiple of 4. Got {height}x{width}."
            )
