"""Data-parallel training with torchrun: the process group, and the two reductions the engine
needs (epoch statistics summed, evaluation rows gathered)."""
from __future__ import annotations

import dataclasses
import os
from typing import Any

import torch
from torch import nn


@dataclasses.dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device_name: str) -> Dist:
    """Join the torchrun process group if WORLD_SIZE > 1 (gloo on CPU, nccl on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as dist

    if not dist.is_initialized():
        use_cuda = torch.cuda.is_available() and device_name in ("auto", "cuda")
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def wrap_model(model: nn.Module, dist: Dist, device: torch.device) -> nn.Module:
    """``model`` in DistributedDataParallel when there is more than one process."""
    if dist.world <= 1:
        return model
    return nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None)


def sum_over_ranks(values: list[torch.Tensor], dist: Dist) -> list[torch.Tensor]:
    """Each scalar summed over every process (unchanged in a single process)."""
    if dist.world <= 1:
        return values
    import torch.distributed as tdist

    stats = torch.stack(values)
    tdist.all_reduce(stats)
    return list(stats)


def gather_from_ranks(obj: Any, dist: Dist) -> list[Any]:
    """``obj`` of every process, in rank order (``[obj]`` in a single process)."""
    if dist.world <= 1:
        return [obj]
    import torch.distributed as tdist

    gathered: list = [None] * dist.world
    tdist.all_gather_object(gathered, obj)
    return gathered


__all__ = ["Dist", "init_distributed", "wrap_model", "sum_over_ranks", "gather_from_ranks"]
