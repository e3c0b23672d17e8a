"""One fit/evaluate loop for every model: CPU, one GPU, or many with torchrun.

Each epoch is measured on the held-out test split and recorded in the run folder
(``actionpose.train.runs``). Reported accuracy is the final epoch's, never the best epoch's
(choosing an epoch on the test split would tune on it).

Reproducibility: every training item draws its augmentation from a seed derived from (run seed,
epoch, index) and the sampler's order from (run seed, epoch), so neither the number of DataLoader
workers nor an interruption changes what the model sees; with ``deterministic=True`` a resumed run
ends with metrics identical to an uninterrupted one.
"""
from __future__ import annotations

import dataclasses
import math
import os
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Sampler

from actionpose.errors import CheckpointError, ConfigError, DataError
from actionpose.io import write_json
from actionpose.models.registry import build_model, compute_loss, forward, get_family, get_pose_mode
from actionpose.models.registry import heatmap_size as registry_heatmap_size
from actionpose.models.registry import modalities
from actionpose.train.experiments import TrainConfig, dataset_label
from actionpose.train.runs import (METRIC_COLUMNS, _write_confusion, _write_metrics, _write_predictions,
                                   prepare_run, run_dir, rng_state, save_checkpoints, set_rng_state,
                                   unlock_run)


# ---------------------------------------------------------------------------------------------
# devices, precision, distributed


def resolve_device(name: str = "auto") -> torch.device:
    """cuda > mps > cpu for "auto"; otherwise the named device (error if it is absent)."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available")
    return dev


def cpu_supports_bf16() -> bool:
    """True where the CPU has native bf16 (AVX512-BF16 or AMX); elsewhere bf16 is emulated, slow."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device`` (None = full fp32)."""
    if amp == "off":
        return None
    if device.type == "cuda":
        if amp == "fp16":
            return torch.float16
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu":
        if amp == "fp16":
            raise ConfigError("amp=fp16 is for CUDA; use bf16 or off on CPU")
        if amp == "bf16" or (amp == "auto" and cpu_supports_bf16()):
            return torch.bfloat16
    return None


def amp_dtype_for(cfg: TrainConfig, device: torch.device, model: nn.Module) -> torch.dtype | None:
    """The autocast dtype a run of ``cfg`` trains ``model`` in on ``device``; with
    ``depthwise_fp32`` under CPU bf16 it also keeps ``model``'s depthwise convs in fp32."""
    dtype = autocast_dtype(cfg.amp, device)
    if cfg.amp == "auto" and device.type == "cpu" and not get_family(cfg.family).cpu_bf16:
        # bf16 training of the 3-D CNNs on CPU (oneDNN) returns NaN gradients in a few percent
        # of steps, which no isolated Conv3d reproduces; amp=bf16 still forces it (non-finite
        # steps are then skipped and counted).
        dtype = None
    if cfg.deterministic and device.type == "cpu" and dtype is not None:
        dtype = None  # oneDNN's bf16 kernels differ from run to run; determinism needs fp32
    if cfg.depthwise_fp32 and device.type == "cpu" and dtype == torch.bfloat16:
        from actionpose.models.precision import keep_depthwise_fp32

        keep_depthwise_fp32(model)
    return dtype


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


# ---------------------------------------------------------------------------------------------
# sampling: order and augmentation seeds from (seed, epoch), independent of workers


def _item_seed(seed: int, epoch: int, *index: int) -> int:
    """A 63-bit seed from (seed, epoch[, index]); no index = the epoch's sampling order."""
    return int(np.random.SeedSequence([seed, epoch, *index]).generate_state(1, np.uint64)[0] >> 1)


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
            g = torch.Generator().manual_seed(_item_seed(self.seed, self.epoch))
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        total = self.per_rank * self.world
        order = (order * math.ceil(total / max(self.n, 1)))[:total]
        for index in order[self.rank:total:self.world]:
            yield index, _item_seed(self.seed, self.epoch, index)


class SeededItems(Dataset):
    """Wraps a dataset so ``ds[(index, seed)]`` draws its randomness from ``seed``."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key):
        index, seed = key
        # torch's CPU generator only: torch.manual_seed would also queue lazy CUDA/XPU/MTIA
        # seeding, each recording a formatted stack trace (~1 ms per item, measured).
        torch.default_generator.manual_seed(seed)
        np.random.seed(seed % 2**32)
        random.seed(seed)
        return self.dataset[index]


# ---------------------------------------------------------------------------------------------
# data and model from a config


def resolve_data_root(cfg: TrainConfig, *, data_dir: str | Path | None = None) -> Path:
    """The dataset folder for ``cfg.dataset``; the embedded datasets are generated if missing."""
    from actionpose.paths import data_root, shared_jhmdb

    base = Path(data_dir) if data_dir is not None else data_root()
    if cfg.dataset == "jhmdb":
        env = os.environ.get("ACTIONPOSE_JHMDB")
        root = Path(env) if env else shared_jhmdb()
        if root is None or not root.is_dir():
            raise DataError(root or "../shared/jhmdb", "JHMDB root not found (set ACTIONPOSE_JHMDB "
                            "or pass --data ROOT)")
        return root
    if cfg.dataset in ("puppet", "actors"):
        from actionpose.data import synthetic

        preset = "cpu" if cfg.preset == "paper" else cfg.preset
        bias = "" if cfg.context_bias is None else f"-bias{cfg.context_bias:g}"
        root = base / f"{cfg.dataset}-{preset}{bias}"
        if not (root / "synth_info.json").is_file():
            overrides = {} if cfg.context_bias is None else {"context_bias": cfg.context_bias}
            actors = None
            if cfg.dataset == "actors":
                actors = shared_jhmdb()
                if actors is None:
                    raise DataError("../shared/jhmdb", "the real-actor composite needs a JHMDB "
                                    "tree with puppet masks")
            synthetic.generate(root, synthetic.synth_config(preset, **overrides), actors=actors)
        return root
    root = Path(cfg.dataset)
    if not root.is_dir():
        raise DataError(root, "data root not found")
    return root


def build_datasets(cfg: TrainConfig, root: Path, *, heatmap_size=None, cache_dir=None, uint8=False):
    """Train and test datasets of the official split ``cfg.split`` (``uint8``: video and masks
    stay uint8 until :func:`to_device` converts the batch, as ``fit`` does)."""
    from actionpose.data.dataset import JHMDB

    common = dict(
        uint8=uint8,
        split=cfg.split, num_frames=cfg.num_frames, size=tuple(cfg.size),
        heatmap_size=heatmap_size, heatmap_sigma=cfg.heatmap_sigma, cache_dir=cache_dir,
        mask_from_joints="mask" in get_pose_mode(cfg.pose).reads,
        modalities=modalities(cfg),
    )
    train = JHMDB(root, subset="train", **common)
    test = JHMDB(root, subset="test", clips_per_video=cfg.clips_per_video, **common)
    if train.classes != test.classes:
        raise DataError(root, "train and test splits list different classes")
    return train, test


# ---------------------------------------------------------------------------------------------
# optimiser and schedule


def build_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr)
    return torch.optim.AdamW(groups, lr=cfg.lr)


def lr_factor(cfg: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """LR multiplier at optimiser step ``step`` (linear warm-up, then cosine / step / constant)."""
    epoch = step / max(steps_per_epoch, 1)
    if cfg.warmup_epochs > 0 and epoch < cfg.warmup_epochs:
        return (epoch + 1.0 / max(steps_per_epoch, 1)) / cfg.warmup_epochs
    if cfg.schedule == "cosine":
        span = max(cfg.epochs - cfg.warmup_epochs, 1e-8)
        progress = min(max(epoch - cfg.warmup_epochs, 0.0) / span, 1.0)
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if cfg.schedule == "step":
        return cfg.gamma ** int(epoch // cfg.step_size)
    return 1.0


# ---------------------------------------------------------------------------------------------
# evaluation


@torch.no_grad()
def evaluate(cfg: TrainConfig, model: nn.Module, loader: DataLoader, device: torch.device,
             amp_dtype, dist: Dist, num_classes: int) -> dict[str, Any]:
    """Clip and video accuracy on the loader's (test) data; video scores = mean clip softmax."""
    model.eval()
    rows: list[tuple[str, int, int, np.ndarray]] = []
    total_loss, count = 0.0, 0
    for batch in loader:
        batch = to_device(batch, device, cfg)
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
    if dist.world > 1:
        import torch.distributed as tdist

        gathered: list = [None] * dist.world
        tdist.all_gather_object(gathered, (rows, total_loss, count))
        rows = [r for part in gathered for r in part[0]]
        total_loss = sum(part[1] for part in gathered)
        count = sum(part[2] for part in gathered)
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


def to_device(batch: dict[str, Any], device: torch.device, cfg: TrainConfig) -> dict[str, Any]:
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


# ---------------------------------------------------------------------------------------------
# fit


def default_cache_dir(root: Path) -> Path:
    """Decoded-clip cache of a dataset root: under data/.cache, never inside the root (which may
    be read-only or shared, like ../shared/jhmdb)."""
    import hashlib

    from actionpose.paths import data_root

    digest = hashlib.sha1(str(Path(root).resolve()).encode()).hexdigest()[:10]
    return data_root() / ".cache" / f"{Path(root).name}-{digest}"


_heatmap_size = registry_heatmap_size  # read by actionpose.train.runs.load_run


def fit(cfg: TrainConfig, out: str | Path = "runs", *, resume: bool = False,
        data_root: str | Path | None = None, progress: bool = True,
        cache_dir: str | Path | None = None, stop_after_epochs: int | None = None) -> dict[str, Any]:
    """Train ``cfg`` and evaluate on the test split each epoch; returns the summary dict.

    ``resume``: continue from ``last.pt`` of the run folder (refused if its config differs).
    ``stop_after_epochs``: leave after that many epochs of this call (to test resuming).
    """
    dist = init_distributed(cfg.device)
    device = resolve_device(cfg.device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    folder = run_dir(cfg, out)
    ckpt_path = folder / "last.pt"
    state = prepare_run(folder, cfg, resume=resume, main=dist.main)

    if cfg.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        if device.type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.backends.cudnn.benchmark = False
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    random.seed(cfg.seed)

    root = Path(data_root) if data_root is not None else resolve_data_root(cfg)
    heatmap_size = registry_heatmap_size(cfg)
    train_ds, test_ds = build_datasets(cfg, root, heatmap_size=heatmap_size,
                                       cache_dir=cache_dir or default_cache_dir(root), uint8=True)
    num_classes = len(train_ds.classes)

    train_sampler = EpochSampler(len(train_ds), seed=cfg.seed, shuffle=True, rank=dist.rank, world=dist.world)
    test_sampler = EpochSampler(len(test_ds), seed=0, shuffle=False, rank=dist.rank, world=dist.world)
    # A private generator: creating a loader iterator must not draw from the global RNG (which
    # drives dropout), or a resumed run would diverge from an uninterrupted one.
    loader_kw = dict(batch_size=cfg.batch_size, num_workers=cfg.workers,
                     pin_memory=device.type == "cuda", persistent_workers=cfg.workers > 0,
                     generator=torch.Generator().manual_seed(cfg.seed))
    if cfg.workers > 0:
        loader_kw["prefetch_factor"] = 4
    # drop the last partial batch: a batch of one breaks BatchNorm in training mode
    train_loader = DataLoader(SeededItems(train_ds), sampler=train_sampler,
                              drop_last=len(train_sampler) > cfg.batch_size, **loader_kw)
    test_loader = DataLoader(SeededItems(test_ds), sampler=test_sampler, **loader_kw)

    family = get_family(cfg.family)
    model = build_model(cfg, num_classes).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=family.memory_format)
    optimizer = build_optimizer(cfg, model)
    steps_per_epoch = len(train_loader)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(cfg, step, steps_per_epoch))
    amp_dtype = amp_dtype_for(cfg, device, model)
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and amp_dtype == torch.float16)

    start_epoch, best_acc, history = 0, -1.0, []
    if state is not None:
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            scaler.load_state_dict(state["scaler"])
        except (KeyError, RuntimeError, ValueError) as exc:
            raise CheckpointError(f"{ckpt_path}: does not fit this model/optimizer ({exc})") from exc
        start_epoch, best_acc, history = state["epoch"], state["best_acc"], state["history"]
        set_rng_state(state["rng"])
    train_model = model
    if dist.world > 1:
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.compile:
        train_model = torch.compile(train_model)

    if dist.main:
        write_json(folder / "config.json", cfg.to_dict())
        _write_metrics(folder / "metrics.csv", history)
    started = time.perf_counter()
    epochs_this_call = 0
    result = None
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        train_sampler.set_epoch(epoch)
        train_model.train()
        loss_sum = torch.zeros((), dtype=torch.float64)
        correct = torch.zeros((), dtype=torch.float64)
        seen = torch.zeros((), dtype=torch.float64)
        skipped_steps = 0
        epoch_lr = optimizer.param_groups[0]["lr"]  # at the epoch's first step
        bar = _progress(train_loader, progress and dist.main, f"{cfg.experiment} {epoch + 1}/{cfg.epochs}")
        for batch in bar:
            batch = to_device(batch, device, cfg)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                out = forward(cfg, train_model, batch)
            loss = compute_loss(cfg, out, batch["label"])
            if not torch.isfinite(loss):
                raise ConfigError(f"{folder}: loss became {float(loss)} at epoch {epoch + 1}; "
                                  "lower lr or turn amp off")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.grad_clip:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            if amp_dtype == torch.bfloat16 and not _grads_finite(model):
                # oneDNN's bf16 Conv3d backward on CPU sporadically returns NaN gradients
                # (measured: ~1-4% of steps for the 3-D CNNs here). Skip such a step, as
                # GradScaler does for fp16 overflow, and count it; too many is an error.
                skipped_steps += 1
                if skipped_steps > max(3, 0.05 * steps_per_epoch):
                    raise ConfigError(f"{folder}: {skipped_steps} steps with non-finite gradients "
                                      "under bf16 autocast; run with amp=off")
            else:
                scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            n = len(batch["label"])
            loss_sum += float(loss.detach()) * n
            correct += float((out["logits"].detach().argmax(1) == batch["label"]).sum())
            seen += n
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{float(loss_sum / seen):.3f}", acc=f"{float(correct / seen):.3f}")
        if dist.world > 1:
            import torch.distributed as tdist

            stats = torch.stack([loss_sum, correct, seen])
            tdist.all_reduce(stats)
            loss_sum, correct, seen = stats
        result = evaluate(cfg, model, test_loader, device, amp_dtype, dist, num_classes)
        row = {
            "epoch": epoch + 1,
            "train_loss": float(loss_sum / seen),
            "train_acc": float(correct / seen),
            "test_loss": result["test_loss"],
            "test_clip_acc": result["test_clip_acc"],
            "test_video_acc": result["test_video_acc"],
            "test_video_top5": result["test_video_top5"],
            "lr": epoch_lr,
            "skipped_steps": skipped_steps,
            "seconds": time.perf_counter() - t0,
        }
        history.append(row)
        if dist.main:
            _write_metrics(folder / "metrics.csv", history)
            if progress:
                print(f"[{cfg.experiment} {cfg.run_name()}] epoch {epoch + 1}: train loss "
                      f"{row['train_loss']:.3f} acc {row['train_acc']:.3f} | test clip "
                      f"{row['test_clip_acc']:.3f} video {row['test_video_acc']:.3f}",
                      file=sys.stderr, flush=True)
            improved = row["test_video_acc"] > best_acc
            best_acc = max(best_acc, row["test_video_acc"])
            ckpt = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                    "epoch": epoch + 1, "best_acc": best_acc, "history": history,
                    "rng": rng_state(), "config": cfg.to_dict(), "classes": train_ds.classes}
            save_checkpoints(folder, ckpt, improved=improved)
        epochs_this_call += 1
        if stop_after_epochs is not None and epochs_this_call >= stop_after_epochs and epoch + 1 < cfg.epochs:
            unlock_run(folder)
            return {"complete": False, "epoch": epoch + 1}

    if result is None:  # resumed a finished run: evaluate the final weights again
        result = evaluate(cfg, model, test_loader, device, amp_dtype, dist, num_classes)
    summary = {
        "complete": True,
        "experiment": cfg.experiment,
        "run": cfg.run_name(),
        "dataset": dataset_label(cfg.dataset),
        "data_root": str(root),
        "preset": cfg.preset,
        "split": cfg.split,
        "seed": cfg.seed,
        "classes": train_ds.classes,
        "num_train_clips": len(train_ds),
        "num_test_videos": len(result["names"]),
        "epochs": cfg.epochs,
        "final": {k: history[-1][k] for k in METRIC_COLUMNS if k not in ("epoch", "lr", "seconds")},
        "best_test_video_acc_not_for_reporting": best_acc,
        "seconds_total": float(sum(r["seconds"] for r in history)),
        "seconds_this_call": time.perf_counter() - started,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "device": str(device),
        "amp": str(amp_dtype).replace("torch.", "") if amp_dtype else "fp32",
        "world_size": dist.world,
        "torch": torch.__version__,
    }
    if dist.main:
        _write_predictions(folder / "predictions.csv", result, train_ds.classes)
        _write_confusion(folder / "confusion.csv", result["confusion"], train_ds.classes)
        write_json(folder / "summary.json", summary)
        unlock_run(folder)
    return summary


def _grads_finite(model: nn.Module) -> bool:
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    return bool(torch.stack([torch.isfinite(g).all() for g in grads]).all()) if grads else True


def _progress(loader, enabled: bool, desc: str):
    if not enabled:
        return loader
    from tqdm.auto import tqdm

    return tqdm(loader, desc=desc, leave=False, file=sys.stderr, dynamic_ncols=True)
