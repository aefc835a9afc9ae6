"""Model adapters: one interface over a deepaudit ``TrainedModel``, a bare ``torch.nn.Module``, any object with
``predict_proba``/``predict`` (scikit-learn style) or a plain callable.

Every adapter gives batched probabilities (classification) or values (regression), validated; torch adapters
also give differentiable score modules for gradient methods (captum, shap), and say so in ``capabilities``.
"""
from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from audit.errors import InvalidInputError, InvalidTypeError, ModelCallError, ModelOutputError
from models.dataset import Dataset
from models.training import TrainedModel, resolve_device

__all__ = ["ModelAdapter", "TorchAdapter", "PredictProbaAdapter", "CallableAdapter", "wrap_model", "ScoreModule"]

OutputKind = Literal["auto", "logits", "probabilities"]


class ScoreModule(nn.Module):
    """Wraps a torch model so it returns class logits (or probabilities) of shape (n, k) for any output form."""

    def __init__(self, module: nn.Module, *, output: str, task: str, as_proba: bool) -> None:
        super().__init__()
        self.inner = module
        self.output = output
        self.task = task
        self.as_proba = as_proba

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        out = self.inner(*inputs)
        if self.task == "regression":
            return out.reshape(out.shape[0], -1)[:, :1] if out.dim() > 1 else out.reshape(-1, 1)
        if out.dim() == 1 or out.shape[-1] == 1:  # one score for binary: the positive class
            z = out.reshape(-1, 1)
            if self.output == "probabilities":
                z = torch.logit(z.clamp(1e-7, 1 - 1e-7))
            out = torch.cat([torch.zeros_like(z), z], dim=1)
        elif self.output == "probabilities":
            out = torch.log(out.clamp_min(1e-12))
        return torch.softmax(out, dim=1) if self.as_proba else out


class ModelAdapter:
    """Common interface. Subclasses implement ``_raw_predict``.

    Attributes:
        kind: "deepaudit" | "torch" | "sklearn" | "callable".
        task: "binary" | "multiclass" | "regression" | "generative".
        class_names: one per class (classification).
        capabilities: subset of {"proba", "gradients", "generator", "embedding"}.
        device: where torch work happens.
        batch_size: rows per model call.
    """

    kind: str = "abstract"

    def __init__(self, *, task: str, class_names: list[str], device: torch.device, batch_size: int, name: str) -> None:
        self.task = task
        self.class_names = list(class_names)
        self.device = device
        self.batch_size = int(batch_size)
        self.name = name
        self.capabilities: frozenset[str] = frozenset({"proba"}) if task in ("binary", "multiclass") else frozenset()

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def differentiable(self) -> bool:
        return "gradients" in self.capabilities

    # ---------------------------------------------------------------- predictions
    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (n, k), validated; classification only."""
        if self.task not in ("binary", "multiclass"):
            raise InvalidInputError(f"predict_proba needs a classification model. This model's task is {self.task!r}.")
        out = self._batched(x)
        return self._validate_proba(out)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class indices (classification) or values (regression), shape (n,)."""
        if self.task == "regression":
            out = self._batched(x)
            out = np.asarray(out, dtype=np.float64).reshape(len(x), -1)[:, 0]
            if not np.all(np.isfinite(out)):
                raise ModelOutputError("The model returned NaN or inf predictions.")
            return out
        return self.predict_proba(x).argmax(axis=1)

    def _batched(self, x: np.ndarray) -> np.ndarray:
        if len(x) == 0:
            raise InvalidInputError("The model was asked to score 0 rows; expected at least 1.")
        parts = []
        for start in range(0, len(x), self.batch_size):
            try:
                parts.append(np.asarray(self._raw_predict(x[start : start + self.batch_size])))
            except (ModelOutputError, InvalidInputError):
                raise
            except Exception as exc:  # the user's model raised: name the batch, keep the cause
                raise ModelCallError(
                    f"The model raised on rows {start}..{min(start + self.batch_size, len(x)) - 1}: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
        return np.concatenate(parts, axis=0)

    def _raw_predict(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _validate_proba(self, out: np.ndarray) -> np.ndarray:
        out = np.asarray(out, dtype=np.float64)
        if out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1):
            if self.n_classes != 2:
                raise ModelOutputError(f"The model returned one score per row but the data has {self.n_classes} classes.")
            p = out.reshape(-1)
            out = np.stack([1 - p, p], axis=1)
        if out.ndim != 2:
            raise ModelOutputError(f"The model's probabilities must have shape (n, k). Got shape {out.shape}.")
        if out.shape[1] != self.n_classes:
            raise ModelOutputError(
                f"The model outputs {out.shape[1]} classes but the data has {self.n_classes} "
                f"({self.class_names}); labels the model never outputs cannot be audited."
            )
        if not np.all(np.isfinite(out)):
            raise ModelOutputError("The model returned NaN or inf probabilities.")
        if out.min() < -1e-6 or out.max() > 1 + 1e-6:
            raise ModelOutputError(f"Probabilities must lie in [0, 1]. Got values in [{out.min():.3g}, {out.max():.3g}].")
        sums = out.sum(axis=1)
        worst = float(np.abs(sums - 1).max())
        if worst > 1e-3:
            raise ModelOutputError(f"Probabilities must sum to 1 per row. A row sums to {sums[np.abs(sums - 1).argmax()]:.4g}.")
        return np.clip(out, 0.0, 1.0)

    # ---------------------------------------------------------------- torch access
    def score_module(self, *, as_proba: bool = False) -> nn.Module:
        """A differentiable module giving logits (or probabilities) (n, k); torch models only."""
        raise InvalidInputError(
            f"Gradient-based methods need a differentiable torch model. This model is a {self.kind!r} adapter "
            "(black box): use a black-box method (Kernel SHAP, LIME) instead."
        )

    def fingerprint(self) -> str:
        """sha256 identifying the model (weights for torch models; the repr otherwise)."""
        return hashlib.sha256(repr(self.name).encode()).hexdigest()

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "task": self.task, "name": self.name, "classes": self.class_names,
                "capabilities": sorted(self.capabilities), "device": str(self.device), "sha256": self.fingerprint()}


class TorchAdapter(ModelAdapter):
    """A ``torch.nn.Module`` (bare or inside a ``TrainedModel``) returning logits or probabilities."""

    kind = "torch"

    def __init__(self, module: nn.Module, *, task: str, class_names: list[str], device: torch.device,
                 batch_size: int, output: OutputKind = "auto", name: str | None = None,
                 trained: TrainedModel | None = None, input_dtype: torch.dtype | None = None) -> None:
        super().__init__(task=task, class_names=class_names, device=device, batch_size=batch_size,
                         name=name or type(module).__name__)
        self.module = module.to(device).eval()
        self.output = output
        self.trained = trained
        self.input_dtype = input_dtype
        caps = set(self.capabilities) | {"gradients"}
        if hasattr(module, "embedding") and isinstance(getattr(module, "embedding"), nn.Embedding):
            caps.add("embedding")
        if trained is not None and trained.family == "gan":
            caps = {"generator"}
        self.capabilities = frozenset(caps)
        if trained is not None:
            self.kind = "deepaudit"

    def _to_tensor(self, x: np.ndarray) -> torch.Tensor:
        t = torch.as_tensor(np.asarray(x))
        if self.input_dtype is not None:
            t = t.to(self.input_dtype)
        elif t.is_floating_point():
            t = t.float()
        return t.to(self.device, non_blocking=True)

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _raw_predict(self, x: np.ndarray) -> np.ndarray:
        with torch.no_grad(), self._autocast():
            out = self.module(self._to_tensor(x))
        out = out.float()
        if self.task in ("binary", "multiclass"):
            out = self._to_proba_tensor(out)
        return out.cpu().numpy()

    def _to_proba_tensor(self, out: torch.Tensor) -> torch.Tensor:
        if self.output == "auto":
            self.output = _detect_output(out)
        if out.dim() == 1 or out.shape[-1] == 1:
            z = out.reshape(-1)
            return z if self.output == "probabilities" else torch.sigmoid(z)
        return out if self.output == "probabilities" else torch.softmax(out, dim=1)

    def score_module(self, *, as_proba: bool = False) -> nn.Module:
        if "gradients" not in self.capabilities:
            return super().score_module(as_proba=as_proba)
        # "auto" is resolved by the first predict_proba call (the runner makes one before any check runs).
        output = "logits" if self.output == "auto" else self.output
        return ScoreModule(self.module, output=output, task=self.task, as_proba=as_proba).to(self.device).eval()

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for key, tensor in sorted(self.module.state_dict().items()):
            digest.update(key.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()


class PredictProbaAdapter(ModelAdapter):
    """Any object with ``predict_proba`` (classification) or ``predict`` (regression): a black box."""

    kind = "sklearn"

    def __init__(self, model: Any, **kwargs: Any) -> None:
        super().__init__(name=type(model).__name__, **kwargs)
        self.model = model

    def _raw_predict(self, x: np.ndarray) -> np.ndarray:
        if self.task in ("binary", "multiclass"):
            if hasattr(self.model, "predict_proba"):
                return np.asarray(self.model.predict_proba(x))
            labels = np.asarray(self.model.predict(x)).astype(int)  # hard labels -> one-hot probabilities
            bad = labels[(labels < 0) | (labels >= self.n_classes)]
            if bad.size:
                raise ModelOutputError(f"The model predicted label {bad[0]} but the data has {self.n_classes} classes.")
            return np.eye(self.n_classes)[labels]
        return np.asarray(self.model.predict(x))


class CallableAdapter(ModelAdapter):
    """A plain function ``f(x: np.ndarray) -> probabilities (n, k)`` (or values for regression)."""

    kind = "callable"

    def __init__(self, fn: Callable[[np.ndarray], Any], **kwargs: Any) -> None:
        super().__init__(name=getattr(fn, "__name__", type(fn).__name__), **kwargs)
        self.fn = fn

    def _raw_predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.fn(x))


def _detect_output(out: torch.Tensor) -> str:
    """'probabilities' when outputs are in [0, 1] and rows sum to 1 (or one column in [0, 1]), else 'logits'."""
    in_unit = bool(out.min() >= 0) and bool(out.max() <= 1)
    if out.dim() == 1 or out.shape[-1] == 1:
        return "probabilities" if in_unit else "logits"
    sums_one = bool(torch.allclose(out.sum(dim=1), torch.ones(out.shape[0], device=out.device), atol=1e-4))
    return "probabilities" if in_unit and sums_one else "logits"


def _check_fits(model: TrainedModel, dataset: Dataset) -> None:
    """A deepaudit model must be audited on data of its own kind, classes and input shape."""
    if model.kind and model.kind != dataset.kind:
        raise InvalidInputError(f"The model was trained on {model.kind!r} data but the 'dataset' is {dataset.kind!r}.")
    if model.family != "gan" and model.class_names and list(model.class_names) != list(dataset.class_names):
        raise InvalidInputError(
            f"The model's classes {model.class_names} differ from the dataset's {dataset.class_names}: "
            "audit it on data with the same labels in the same order."
        )
    if model.family != "gan" and model.input_shape and dataset.kind in ("tabular", "image"):
        if tuple(model.input_shape) != tuple(dataset.input_shape):
            raise InvalidInputError(
                f"The model expects inputs of shape {tuple(model.input_shape)} but the 'dataset' gives {dataset.input_shape}."
            )


def wrap_model(model: Any, dataset: Dataset, *, output: OutputKind = "auto", device: str = "auto",
               batch_size: int = 1024) -> ModelAdapter:
    """Choose the adapter for ``model`` (explicitly, by what it is) and check it fits ``dataset``.

    Args:
        model: a ``TrainedModel``, ``torch.nn.Module``, an object with ``predict_proba``/``predict``, a callable,
            or an existing ``ModelAdapter``.
        dataset: the data the model is audited on (gives task and classes).
        output: for torch modules, whether they return "logits" or "probabilities" ("auto": detected).
        device: "auto" | "cpu" | "cuda".
        batch_size: rows per model call.

    Returns:
        A ``ModelAdapter``.

    Raises:
        InvalidTypeError: the model is none of the supported kinds.
        InvalidInputError: ``output`` is not a known value.
    """
    if isinstance(model, ModelAdapter):
        return model
    if output not in ("auto", "logits", "probabilities"):
        raise InvalidInputError(f"The 'output' argument must be 'auto', 'logits' or 'probabilities'. Got {output!r}.")
    dev = resolve_device(device)
    task = dataset.task
    common = {"task": task, "class_names": list(dataset.class_names), "batch_size": batch_size}
    input_dtype = torch.long if dataset.kind == "text" else None
    if isinstance(model, TrainedModel):
        _check_fits(model, dataset)
        if model.family == "gan":
            adapter = TorchAdapter(model.module, task="generative", class_names=list(model.class_names), device=dev,
                                   batch_size=batch_size, output="logits", name="gan", trained=model)
            return adapter
        return TorchAdapter(model.module, device=dev, output="logits", name=model.family, trained=model,
                            input_dtype=input_dtype, **common)
    if isinstance(model, nn.Module):
        return TorchAdapter(model, device=dev, output=output, input_dtype=input_dtype, **common)
    if hasattr(model, "predict_proba") or hasattr(model, "predict"):
        return PredictProbaAdapter(model, device=torch.device("cpu"), **common)
    if callable(model):
        return CallableAdapter(model, device=torch.device("cpu"), **common)
    raise InvalidTypeError(
        "The 'model' argument must be a deepaudit TrainedModel, a torch.nn.Module, an object with predict_proba or "
        f"predict, or a callable. Got {type(model).__name__}."
    )
