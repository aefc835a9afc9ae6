"""Knowledge distillation of a trained classifier into a smaller student of the same family.

The student's config is the teacher's with its widths scaled down (``student_config``); it is trained on the train
split with ``alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(student, y)``, where ``_T`` are the
outputs softened by the temperature ``T`` (Hinton et al., 2015). Seeded: the same inputs give the same student on
the CPU.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from audit.errors import InvalidInputError, InvalidTypeError, describe_value
from models.dataset import Dataset
from models.device import resolve_device
from models.families import build_module, train_settings
from models.training import TrainedModel, test_metrics

__all__ = ["student_config", "distill", "distillation_loss"]


def student_config(family: str, config: Any, scale: float) -> Any:
    """The teacher's ``config`` with its widths multiplied by ``scale`` (each at least 2; heads still divide).

    mlp: ``hidden``; cnn: ``channels`` and ``hidden``; lstm: ``hidden`` and ``embed_dim``; transformer:
    ``d_model`` (a multiple of ``n_heads``) and ``ff_dim``.

    Raises:
        InvalidInputError: ``family`` cannot be distilled (the GAN) or ``scale`` is not in (0, 1].

    Example:
        >>> from models.mlp import MLPConfig
        >>> student_config("mlp", MLPConfig(input_dim=4, hidden=(128, 64)), 0.25).hidden
        (32, 16)
    """
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < float(scale) <= 1:
        raise InvalidInputError(f"The 'scale' argument must be a number in (0, 1]. Got {describe_value(scale)} instead.")

    def shrink(width: int) -> int:
        return max(2, int(round(width * float(scale))))

    if family == "mlp":
        changes: dict[str, Any] = {"hidden": tuple(shrink(w) for w in config.hidden)}
    elif family == "cnn":
        changes = {"channels": tuple(shrink(w) for w in config.channels), "hidden": shrink(config.hidden)}
    elif family == "lstm":
        changes = {"hidden": shrink(config.hidden), "embed_dim": shrink(config.embed_dim)}
    elif family == "transformer":
        heads = int(config.n_heads)
        changes = {"d_model": max(heads, heads * int(round(config.d_model * float(scale) / heads))),
                   "ff_dim": shrink(config.ff_dim)}
    else:
        raise InvalidInputError(
            f"Distillation applies to the mlp, cnn, lstm and transformer families. Got family {family!r}."
        )
    return dataclasses.replace(config, **changes)


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, target: torch.Tensor, *,
                      temperature: float, alpha: float) -> torch.Tensor:
    """``alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE(s, y)``, averaged over the batch."""
    t = float(temperature)
    soft = F.kl_div(F.log_softmax(student_logits / t, dim=1), F.log_softmax(teacher_logits / t, dim=1),
                    reduction="batchmean", log_target=True)
    hard = F.cross_entropy(student_logits, target)
    return alpha * t * t * soft + (1.0 - alpha) * hard


def distill(teacher: TrainedModel, dataset: Dataset, *, scale: float = 0.25, temperature: float = 2.0,
            alpha: float = 0.5, epochs: int = 5, seed: int = 0, device: str | torch.device = "auto",
            lr: float | None = None, batch_size: int | None = None) -> TrainedModel:
    """Train a smaller student of ``teacher``'s family on ``dataset.train`` from the teacher's softened outputs.

    Args:
        teacher: a trained classifier (mlp, cnn, lstm or transformer); not changed.
        dataset: the data the teacher was trained on (its train split teaches; its test split scores the student).
        scale: width multiplier of the student (see ``student_config``).
        temperature: softmax temperature T > 0 of the soft targets.
        alpha: weight in [0, 1] of the soft loss; ``1 - alpha`` weighs the cross-entropy on the labels.
        epochs: passes over the train split (no early stopping).
        seed: seeds the student's initialisation, dropout and shuffling.
        device: where to train (``"auto" | "cpu" | "cuda"``).
        lr, batch_size: optimiser settings (default: the family's training defaults).

    Returns:
        The student as a ``TrainedModel`` (eval mode, test metrics, one history record per epoch).

    Raises:
        InvalidTypeError: ``teacher`` or ``dataset`` has the wrong type.
        InvalidInputError: a regression or generative teacher, or an argument out of range.

    Example:
        >>> student = distill(tm, ds, scale=0.25, epochs=3)  # doctest: +SKIP
    """
    if not isinstance(teacher, TrainedModel):
        raise InvalidTypeError(f"The 'teacher' argument must be a models.TrainedModel. Got {type(teacher).__name__}.")
    if not isinstance(dataset, Dataset):
        raise InvalidTypeError(f"The 'dataset' argument must be a models.Dataset. Got {type(dataset).__name__}.")
    if teacher.task not in ("binary", "multiclass"):
        raise InvalidInputError(f"Distillation needs a classifier (binary or multiclass). Got task {teacher.task!r}.")
    if not (isinstance(temperature, (int, float)) and not isinstance(temperature, bool)
            and math.isfinite(temperature) and temperature > 0):
        raise InvalidInputError(f"The 'temperature' argument must be a number > 0. Got {describe_value(temperature)}.")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= float(alpha) <= 1:
        raise InvalidInputError(f"The 'alpha' argument must be a number in [0, 1]. Got {describe_value(alpha)}.")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise InvalidInputError(f"The 'epochs' argument must be an int >= 1. Got {describe_value(epochs)} instead.")
    settings = train_settings(teacher.family, dataset.kind)
    lr = settings.lr if lr is None else float(lr)
    batch_size = settings.batch_size if batch_size is None else int(batch_size)
    target = resolve_device(device)
    config = student_config(teacher.family, teacher.config, scale)
    x, y = _tensors(dataset, "train")
    soft_targets = _teacher_logits(teacher.module, x, target)
    history: list[dict[str, Any]] = []
    forks = [target.index if target.index is not None else torch.cuda.current_device()] if target.type == "cuda" else []
    with torch.random.fork_rng(devices=forks):
        torch.manual_seed(int(seed))
        student = build_module(teacher.family, config).to(target)
        optimizer = torch.optim.AdamW(student.parameters(), lr=lr, weight_decay=settings.weight_decay)
        shuffle = torch.Generator().manual_seed(int(seed))
        for epoch in range(1, epochs + 1):
            student.train()
            order = torch.randperm(len(y), generator=shuffle)
            total, seen = 0.0, 0
            for start in range(0, len(y), batch_size):
                index = order[start : start + batch_size]
                if len(index) < 2 and seen > 0:  # a one-row batch breaks BatchNorm
                    continue
                xb, yb, tb = x[index].to(target), y[index].to(target), soft_targets[index].to(target)
                optimizer.zero_grad(set_to_none=True)
                loss = distillation_loss(student(xb).float(), tb, yb, temperature=float(temperature),
                                         alpha=float(alpha))
                loss.backward()
                if settings.grad_clip > 0:
                    nn.utils.clip_grad_norm_(student.parameters(), settings.grad_clip)
                optimizer.step()
                total += float(loss.detach()) * len(index)
                seen += len(index)
            history.append({"epoch": epoch, "train_loss": total / max(seen, 1)})
    student.eval()
    metrics: dict[str, Any] = test_metrics(student, dataset, target)
    metrics.update(distilled_from=teacher.family, temperature=float(temperature), alpha=float(alpha), scale=float(scale))
    return dataclasses.replace(teacher, module=student, config=config, metrics=metrics, history=history,
                               seed=int(seed), discriminator=None, snapshots=[])


def _tensors(dataset: Dataset, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    part = dataset.split(split)
    x = torch.from_numpy(np.ascontiguousarray(part.x, dtype=np.int64 if dataset.kind == "text" else np.float32))
    return x, torch.from_numpy(np.ascontiguousarray(part.y, dtype=np.int64))


def _teacher_logits(module: nn.Module, x: torch.Tensor, device: torch.device) -> torch.Tensor:
    was_training = module.training
    module.eval()
    teacher_device = next((p.device for p in module.parameters()), device)
    parts = []
    try:
        with torch.no_grad():
            for start in range(0, len(x), 1024):
                parts.append(module(x[start : start + 1024].to(teacher_device)).float().cpu())
    finally:
        module.train(was_training)
    return torch.cat(parts, dim=0)
