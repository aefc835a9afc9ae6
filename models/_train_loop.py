"""The supervised training loop shared by the mlp, cnn, lstm and transformer families.

Seeded shuffling (a ``torch.Generator``), AdamW, cross-entropy or MSE, bf16 autocast on CUDA, early stopping on the
validation loss with the best weights restored, an optional wall-clock budget, a tqdm bar and a per-epoch callback.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from models.dataset import Split
from models.device import autocast
from models.families import TrainSettings

__all__ = ["EpochCallback", "LoopResult", "DeviceData", "to_device_data", "evaluate", "lr_factor", "fit_supervised"]

EpochCallback = Callable[[dict[str, Any]], None]

#: Splits smaller than this are copied to the GPU once; bigger ones stay in pinned host memory.
_GPU_RESIDENT_BYTES = 2 * 1024**3
_EVAL_BATCH = 1024


@dataclass
class LoopResult:
    """What a training loop reports besides the trained weights."""

    history: list[dict[str, Any]]
    best_epoch: int  # the epoch whose weights were kept (the last one when there is no validation split)
    stop_reason: str  # "epochs" | "early_stopping" | "time_budget"


@dataclass
class DeviceData:
    """One split's inputs and targets as tensors, resident on the device or pinned on the host."""

    x: torch.Tensor
    y: torch.Tensor
    device: torch.device

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows ``index`` on the device."""
        if self.x.device == self.device:
            index = index.to(self.device)
            return self.x[index], self.y[index]
        return self.x[index].to(self.device, non_blocking=True), self.y[index].to(self.device, non_blocking=True)


def to_device_data(split: Split, kind: str, task: str, device: torch.device) -> DeviceData:
    """Tensors of ``split`` for ``device``: token ids (text) as int64, other inputs as float32."""
    x = torch.from_numpy(np.ascontiguousarray(split.x, dtype=np.int64 if kind == "text" else np.float32))
    y_dtype = np.float32 if task == "regression" else np.int64
    y = torch.from_numpy(np.ascontiguousarray(split.y, dtype=y_dtype))
    if device.type == "cuda":
        if x.element_size() * x.nelement() + y.element_size() * y.nelement() <= _GPU_RESIDENT_BYTES:
            x, y = x.to(device), y.to(device)
        else:
            x, y = x.pin_memory(), y.pin_memory()
    return DeviceData(x=x, y=y, device=device)


def _loss_fn(task: str) -> nn.Module:
    return nn.MSELoss() if task == "regression" else nn.CrossEntropyLoss()


def evaluate(module: nn.Module, data: DeviceData, task: str) -> dict[str, float]:
    """Mean loss and accuracy (classification) or MAE (regression) of ``module`` on ``data``, in eval mode."""
    if len(data) == 0:
        return {}
    loss_fn = _loss_fn(task)
    was_training = module.training
    module.eval()
    total_loss, total_metric = 0.0, 0.0
    try:
        with torch.no_grad():
            for start in range(0, len(data), _EVAL_BATCH):
                index = torch.arange(start, min(start + _EVAL_BATCH, len(data)))
                xb, yb = data.batch(index)
                with autocast(data.device):
                    out = module(xb)
                out = out.float()
                total_loss += float(loss_fn(out, yb)) * len(index)
                if task == "regression":
                    total_metric += float((out - yb).abs().sum())
                else:
                    total_metric += float((out.argmax(dim=1) == yb).sum())
    finally:
        module.train(was_training)
    name = "mae" if task == "regression" else "accuracy"
    return {"loss": total_loss / len(data), name: total_metric / len(data)}


def lr_factor(settings: TrainSettings, total_steps: int) -> Callable[[int], float]:
    """The multiplier of ``settings.lr`` at each optimiser step: linear warm-up, then constant or cosine decay."""
    warmup = int(settings.warmup * total_steps)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if settings.schedule != "cosine":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return settings.final_lr + (1.0 - settings.final_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def fit_supervised(
    module: nn.Module,
    train: Split,
    val: Split,
    *,
    kind: str,
    task: str,
    settings: TrainSettings,
    device: torch.device,
    seed: int,
    max_seconds: float | None,
    progress: bool,
    on_epoch: EpochCallback | None,
    desc: str,
) -> LoopResult:
    """Train ``module`` in place (already on ``device``) and restore its best validation weights.

    The caller seeds torch's global RNG (dropout); shuffling uses its own generator seeded with ``seed``.
    """
    train_data = to_device_data(train, kind, task, device)
    val_data = to_device_data(val, kind, task, device)
    loss_fn = _loss_fn(task)
    optimizer = torch.optim.AdamW(module.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    steps_per_epoch = max(1, -(-len(train_data) // settings.batch_size))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(settings, settings.epochs * steps_per_epoch))
    shuffle = torch.Generator().manual_seed(int(seed))
    metric = "val_mae" if task == "regression" else "val_accuracy"
    history: list[dict[str, Any]] = []
    best_loss, best_epoch, best_state = float("inf"), 0, None
    stale, stop_reason = 0, "epochs"
    started = time.perf_counter()
    bar = tqdm(total=settings.epochs, desc=desc, disable=not progress, leave=False, unit="epoch")
    try:
        for epoch in range(1, settings.epochs + 1):
            epoch_start = time.perf_counter()
            module.train()
            order = torch.randperm(len(train_data), generator=shuffle)
            seen = 0
            loss_sum = torch.zeros((), dtype=torch.float64, device=device)  # summed on the device: no sync per step
            for start in range(0, len(train_data), settings.batch_size):
                index = order[start : start + settings.batch_size]
                if len(index) < 2 and seen > 0:  # a single-row batch breaks BatchNorm and adds noise
                    continue
                xb, yb = train_data.batch(index)
                optimizer.zero_grad(set_to_none=True)
                with autocast(device):
                    out = module(xb)
                loss = loss_fn(out.float(), yb)
                loss.backward()
                if settings.grad_clip > 0:
                    nn.utils.clip_grad_norm_(module.parameters(), settings.grad_clip)
                optimizer.step()
                scheduler.step()
                loss_sum += loss.detach().double() * len(index)
                seen += len(index)
                if max_seconds is not None and time.perf_counter() - started > max_seconds:
                    stop_reason = "time_budget"
                    break
            scores = evaluate(module, val_data, task)
            record: dict[str, Any] = {
                "epoch": epoch,
                "train_loss": float(loss_sum) / max(seen, 1),
                "val_loss": scores.get("loss"),
                metric: scores.get(metric[4:]),
                "seconds": time.perf_counter() - epoch_start,
            }
            history.append(record)
            bar.update(1)
            bar.set_postfix({k: round(v, 4) for k, v in record.items() if isinstance(v, float) and k != "seconds"})
            if on_epoch is not None:
                on_epoch(dict(record, epochs=settings.epochs))
            if scores:
                if scores["loss"] < best_loss:
                    best_loss, best_epoch, stale = scores["loss"], epoch, 0
                    best_state = {key: value.detach().clone() for key, value in module.state_dict().items()}
                else:
                    stale += 1
            else:
                best_epoch = epoch
            if stop_reason == "time_budget":
                break
            if settings.patience > 0 and stale >= settings.patience:
                stop_reason = "early_stopping"
                break
    finally:
        bar.close()
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return LoopResult(history=history, best_epoch=best_epoch, stop_reason=stop_reason)
