"""One epoch of training and one evaluation pass, for every model family (the MAE split:
``train_one_epoch`` and ``evaluate``; the engine strings them together)."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from actionpose.errors import TrainingError
from actionpose.models.registry import compute_loss, forward
from actionpose.train.distributed import Dist, gather_from_ranks, sum_over_ranks
from actionpose.train.precision import grads_finite
from actionpose.train.sampling import checked


@dataclass
class Trainer:
    """What a training step needs. ``model`` is the bare model (clipping, checks, checkpoints);
    ``train_model`` the one called (DDP and/or compiled around it)."""

    model: nn.Module
    train_model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    amp_dtype: torch.dtype | None
    device: torch.device
    dist: Dist
    steps_per_epoch: int


def to_device(batch: dict[str, Any], device: torch.device, cfg) -> dict[str, Any]:
    """The batch on ``device``; uint8 video/masks travel as uint8 and become float there."""
    from actionpose.data.clips import to_float_inputs

    moved = {key: value.to(device, non_blocking=True) if isinstance(value, torch.Tensor) else value
             for key, value in batch.items()}
    out = to_float_inputs(moved)
    if cfg.channels_last:
        for key in ("video", "mask"):
            value = out.get(key)
            if isinstance(value, torch.Tensor) and value.ndim == 5:
                out[key] = value.contiguous(memory_format=torch.channels_last_3d)
    return out


def train_one_epoch(cfg, t: Trainer, loader: DataLoader, *, epoch: int, where: Path,
                    progress: bool = False) -> dict[str, float]:
    """Train ``t.train_model`` for one pass over ``loader``; returns train loss and accuracy (over
    every process), the lr at the epoch's first step and the number of skipped steps.

    A non-finite loss is a :class:`TrainingError` naming ``where`` (the run folder). Under bf16 a
    step with non-finite gradients is skipped and counted, as GradScaler does for fp16 overflow;
    too many of them is a TrainingError too.
    """
    t.train_model.train()
    loss_sum = torch.zeros((), dtype=torch.float64)
    correct = torch.zeros((), dtype=torch.float64)
    seen = torch.zeros((), dtype=torch.float64)
    skipped_steps = 0
    epoch_lr = t.optimizer.param_groups[0]["lr"]
    bar = _progress(loader, progress and t.dist.main, f"{cfg.experiment} {epoch + 1}/{cfg.epochs}")
    for batch in bar:
        batch = to_device(checked(batch), t.device, cfg)
        with torch.autocast(t.device.type, dtype=t.amp_dtype, enabled=t.amp_dtype is not None):
            out = forward(cfg, t.train_model, batch)
        loss = compute_loss(cfg, out, batch["label"])
        if not torch.isfinite(loss):
            raise TrainingError(f"{where}: loss became {float(loss)} at epoch {epoch + 1}; "
                                "lower lr or turn amp off")
        t.optimizer.zero_grad(set_to_none=True)
        t.scaler.scale(loss).backward()
        if cfg.grad_clip:
            t.scaler.unscale_(t.optimizer)
            nn.utils.clip_grad_norm_(t.model.parameters(), cfg.grad_clip)
        if t.amp_dtype == torch.bfloat16 and not grads_finite(t.model):
            skipped_steps += 1
            if skipped_steps > max(3, 0.05 * t.steps_per_epoch):
                raise TrainingError(f"{where}: {skipped_steps} steps with non-finite gradients "
                                    "under bf16 autocast; run with amp=off")
        else:
            t.scaler.step(t.optimizer)
        t.scaler.update()
        t.scheduler.step()
        n = len(batch["label"])
        loss_sum += float(loss.detach()) * n
        correct += float((out["logits"].detach().argmax(1) == batch["label"]).sum())
        seen += n
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{float(loss_sum / seen):.3f}", acc=f"{float(correct / seen):.3f}")
    loss_sum, correct, seen = sum_over_ranks([loss_sum, correct, seen], t.dist)
    return {"train_loss": float(loss_sum / seen), "train_acc": float(correct / seen),
            "lr": epoch_lr, "skipped_steps": skipped_steps}


@torch.no_grad()
def evaluate(cfg, model: nn.Module, loader: DataLoader, device: torch.device,
             amp_dtype, dist: Dist, num_classes: int) -> dict[str, Any]:
    """Clip and video accuracy on the loader's (test) data; video scores = mean clip softmax."""
    model.eval()
    rows: list[tuple[str, int, int, np.ndarray]] = []
    total_loss, count = 0.0, 0
    for batch in loader:
        batch = to_device(checked(batch), device, cfg)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            out = forward(cfg, model, batch)
        logits = out["logits"].float()
        loss = F.cross_entropy(logits, batch["label"], reduction="sum")
        total_loss += float(loss)
        count += len(logits)
        probs = logits.softmax(dim=1).cpu().numpy()
        for name, clip, label, p in zip(batch["name"], batch["clip"].tolist(),
                                        batch["label"].tolist(), probs):
            rows.append((name, int(clip), int(label), p))
    parts = gather_from_ranks((rows, total_loss, count), dist)
    if dist.world > 1:
        rows = [r for part in parts for r in part[0]]
        total_loss = sum(part[1] for part in parts)
        count = sum(part[2] for part in parts)
    return video_metrics(rows, total_loss, count, num_classes)


def video_metrics(rows, total_loss: float, count: int, num_classes: int) -> dict[str, Any]:
    """Clip accuracy and video-level scores (mean clip softmax) from (name, clip, label, probs)."""
    unique: dict[tuple[str, int], tuple[int, np.ndarray]] = {}
    for name, clip, label, p in rows:  # padding of the distributed sampler repeats items
        unique[(name, clip)] = (label, p)
    clip_correct = [int(np.argmax(p) == label) for label, p in unique.values()]
    videos: dict[str, list] = {}
    for (name, _), (label, p) in unique.items():
        videos.setdefault(name, [label, []])[1].append(p)
    names = sorted(videos)
    labels = np.array([videos[n][0] for n in names])
    scores = np.stack([np.mean(videos[n][1], axis=0) for n in names])
    preds = scores.argmax(axis=1)
    top5 = None
    if num_classes > 5:
        top = np.argsort(-scores, axis=1)[:, :5]
        top5 = float(np.mean([labels[i] in top[i] for i in range(len(labels))]))
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (labels, preds), 1)
    return {
        "test_loss": total_loss / max(count, 1),
        "test_clip_acc": float(np.mean(clip_correct)),
        "test_video_acc": float(np.mean(preds == labels)),
        "test_video_top5": top5,
        "names": names, "labels": labels, "preds": preds, "scores": scores,
        "confusion": confusion,
    }


def _progress(loader, enabled: bool, desc: str):
    if not enabled:
        return loader
    from tqdm.auto import tqdm

    return tqdm(loader, desc=desc, leave=False, file=sys.stderr, dynamic_ncols=True)


__all__ = ["Trainer", "to_device", "train_one_epoch", "evaluate", "video_metrics"]
