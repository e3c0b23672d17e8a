"""Seeded sampling: the order of an epoch and each item's augmentation come from (run seed,
epoch[, index]) only, so neither the number of DataLoader workers nor an interruption changes
what the model sees; items read in the main process (``workers=0``) restore the global generators
afterwards, so the model's own draws (dropout) are the same with and without workers.

Errors in DataLoader workers: torch re-creates a worker's exception from its formatted traceback
as one string, which turns a ``DataError(path, problem)`` into a long RuntimeError. So
:class:`SeededItems` returns an :class:`ActionposeError` raised in a worker as a
:class:`FailedItem`, :func:`collate` passes it through, and :func:`checked` raises the original
error in the main process: the same one-line message as without workers.
"""
from __future__ import annotations

import math
import random
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler, default_collate, get_worker_info

from actionpose.errors import ActionposeError


def item_seed(seed: int, epoch: int, *index: int) -> int:
    """A 63-bit seed from (seed, epoch[, index]); no index = the epoch's sampling order."""
    return int(np.random.SeedSequence([seed, epoch, *index]).generate_state(1, np.uint64)[0] >> 1)


def seed_everything(seed: int) -> None:
    """torch's, numpy's and Python's global generators from ``seed``."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


class EpochSampler(Sampler):
    """Yields (index, item_seed); shuffles by (seed, epoch); shards across ranks like
    DistributedSampler (padding by repetition so every rank gets the same count)."""

    def __init__(self, n: int, *, seed: int, shuffle: bool, rank: int = 0, world: int = 1):
        self.n, self.seed, self.shuffle, self.rank, self.world = n, seed, shuffle, rank, world
        self.epoch = 0
        self.per_rank = math.ceil(n / world)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.per_rank

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if self.shuffle:
            g = torch.Generator().manual_seed(item_seed(self.seed, self.epoch))
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        total = self.per_rank * self.world
        order = (order * math.ceil(total / max(self.n, 1)))[:total]
        for index in order[self.rank:total:self.world]:
            yield index, item_seed(self.seed, self.epoch, index)


class SeededItems(Dataset):
    """Wraps a dataset so ``ds[(index, seed)]`` draws its randomness from ``seed``."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key):
        index, seed = key
        in_main = get_worker_info() is None
        if in_main:  # the model's own draws (dropout) must not depend on the number of workers
            saved = torch.default_generator.get_state(), np.random.get_state(), random.getstate()
        # torch's CPU generator only: torch.manual_seed would also queue lazy CUDA/XPU/MTIA
        # seeding, each recording a formatted stack trace per item.
        torch.default_generator.manual_seed(seed)
        np.random.seed(seed % 2**32)
        random.seed(seed)
        try:
            return self.dataset[index]
        except ActionposeError as exc:
            if in_main:
                raise
            return FailedItem(exc)
        finally:
            if in_main:
                torch.default_generator.set_state(saved[0])
                np.random.set_state(saved[1])
                random.setstate(saved[2])


class FailedItem:
    """An :class:`ActionposeError` raised while a worker read an item, carried to the main
    process whole (the error pickles with its message and fields)."""

    def __init__(self, error: ActionposeError):
        self.error = error


def collate(items: list):
    """``default_collate``, except that a batch holding a :class:`FailedItem` becomes that item."""
    failed = next((item for item in items if isinstance(item, FailedItem)), None)
    return failed if failed is not None else default_collate(items)


def checked(batch):
    """``batch``, or the worker's original error raised here."""
    if isinstance(batch, FailedItem):
        raise batch.error
    return batch


__all__ = ["item_seed", "seed_everything", "EpochSampler", "SeededItems", "FailedItem", "collate",
           "checked"]
