"""The feature extractor of the generative metrics: deepaudit's own CNN classifier trained on the same data.

It replaces the Inception network of FID / Inception Score (no weights are downloaded): ``features`` is the CNN's
penultimate embedding, ``proba`` its softmax. A user may pass a saved CNN checkpoint instead; otherwise a small CNN is
trained once per data set (and seed) and cached in-process.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from audit.errors import CheckNotApplicable, InvalidInputError
from models.checkpoint import load_model
from models.dataset import Dataset
from models.training import train_model

__all__ = ["FeatureExtractor", "get_extractor", "clear_extractor_cache"]

_CACHE: dict[tuple[str, str, int, int, str], "FeatureExtractor"] = {}


@dataclass
class FeatureExtractor:
    """A CNN classifier seen as a feature extractor.

    Attributes:
        module: the CNN (must have ``features(x)`` and return logits from ``forward``).
        device: where it runs.
        batch_size: images per forward pass.
        source: "trained" (by the audit) or the checkpoint path.
        test_accuracy: the CNN's accuracy on the data set's test split (how much its features can be trusted).
    """

    module: nn.Module
    device: torch.device
    batch_size: int
    source: str
    test_accuracy: float = float("nan")

    def features(self, images: np.ndarray) -> np.ndarray:
        """Penultimate embeddings (n, d), float64."""
        return self._run(images, lambda x: self.module.features(x))

    def proba(self, images: np.ndarray) -> np.ndarray:
        """Softmax class probabilities (n, k), float64."""
        return self._run(images, lambda x: torch.softmax(self.module(x).float(), dim=1))

    def _run(self, images: np.ndarray, fn: Callable[[torch.Tensor], torch.Tensor]) -> np.ndarray:
        x = np.asarray(images, dtype=np.float32)
        out = []
        self.module.eval()
        with torch.no_grad():
            for start in range(0, len(x), self.batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(x[start : start + self.batch_size])).to(self.device)
                out.append(fn(batch).float().cpu())
        return torch.cat(out).double().numpy()


def get_extractor(dataset: Dataset, *, reference_model: str = "", seed: int = 0, epochs: int = 5,
                  device: torch.device | str = "cpu", batch_size: int = 512) -> FeatureExtractor:
    """The CNN feature extractor for ``dataset``: loaded from ``reference_model`` or trained (cached in-process).

    Args:
        dataset: the image classification data the generator was trained on.
        reference_model: folder of a saved deepaudit "cnn" checkpoint; "" trains one on ``dataset``.
        seed: training seed.
        epochs: training epochs (upper bound; early stopping applies).
        device: where the CNN runs.
        batch_size: images per forward pass.

    Returns:
        The ``FeatureExtractor``.

    Raises:
        CheckNotApplicable: the data set has no classes to train a classifier on.
        InvalidInputError: the checkpoint is not a CNN for this data (family, classes, image shape).
    """
    dev = torch.device(device)
    if dataset.kind != "image" or dataset.task not in ("binary", "multiclass") or dataset.n_classes < 2:
        raise CheckNotApplicable(
            "the generative metrics need an image classification data set (with class labels) to train the "
            f"feature-extractor CNN on; got kind {dataset.kind!r}, task {dataset.task!r}"
        )
    key = (dataset.fingerprint(), str(reference_model), int(seed), int(epochs), str(dev))
    if key in _CACHE:
        return _CACHE[key]
    if reference_model:
        model = load_model(Path(reference_model), device=dev)
        source = str(reference_model)
        if model.family != "cnn" or not hasattr(model.module, "features"):
            raise InvalidInputError(
                f"The option 'options.generative.reference_model' must name a saved 'cnn' checkpoint. "
                f"Got {reference_model!r}, a {model.family!r} model."
            )
        if len(model.class_names) != dataset.n_classes or tuple(model.input_shape) != dataset.input_shape:
            raise InvalidInputError(
                f"The reference CNN {reference_model!r} must take images {dataset.input_shape} and output "
                f"{dataset.n_classes} classes. It takes {tuple(model.input_shape)} and outputs {len(model.class_names)}."
            )
    else:
        model = train_model("cnn", dataset, seed=seed, device=dev, epochs=epochs, progress=False)
        source = "trained"
    extractor = FeatureExtractor(module=model.module.to(dev).eval(), device=dev, batch_size=batch_size, source=source)
    if len(dataset.test):
        pred = extractor.proba(dataset.test.x).argmax(axis=1)
        extractor.test_accuracy = float(np.mean(pred == np.asarray(dataset.test.y)))
    _CACHE[key] = extractor
    return extractor


def clear_extractor_cache() -> None:
    """Forget every cached extractor (tests, long-lived dashboards)."""
    _CACHE.clear()
