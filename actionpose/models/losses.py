"""Training losses of the model families (a family's registry entry names its own)."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def heads_cross_entropy(cfg, out: dict[str, Any], labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on every training head (two-stream: each stream on its own) plus the
    auxiliary loss a model returns (``cfg.aux_weight`` times ``out["aux_loss"]``)."""
    heads = out.get("train_logits") or [out["logits"]]
    loss = sum(F.cross_entropy(h.float(), labels, label_smoothing=cfg.label_smoothing) for h in heads)
    if out.get("aux_loss") is not None:
        loss = loss + cfg.aux_weight * out["aux_loss"].float()
    return loss


__all__ = ["heads_cross_entropy"]
