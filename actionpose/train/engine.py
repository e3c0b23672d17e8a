"""Training one config end to end: ``fit`` is a short sequence of named steps.

The steps live in their own modules: device/autocast policy (``train.precision``), torchrun
(``train.distributed``), seeded sampling (``train.sampling``), optimiser and schedule
(``train.optim``), one epoch and one evaluation (``train.loop``), run folders and checkpoints
(``train.runs``), the data root (``data.roots``) and the model (``models.registry``).

Each epoch is measured on the held-out test split (every ``eval_every`` epochs and always the
final one: the other epochs' test cells stay empty) and recorded in the run folder. Reported
accuracy is the final epoch's, never the best epoch's (choosing an epoch on the test split would
tune on it). With ``val_fraction`` > 0 a validation split is carved per class from the training
split (``data.validation``, seeded by ``val_seed``), the model trains on the rest and is also
measured on it whenever the test split is (``val_*`` columns); ``val_videos.txt`` records the carve and
``val_predictions.csv`` the final model's validation predictions, for choices (fusion weights,
settings) that must never read the test split. With ``deterministic=True`` a resumed run ends
with metrics identical to an uninterrupted one (see ``train.sampling``).
"""
from __future__ import annotations

import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch.utils.data import DataLoader

from actionpose.data.estimated import pose_source
from actionpose.data.roots import default_cache_dir, resolve_data_root, world_context_bias
from actionpose.errors import CheckpointError, ConfigError, DataError
from actionpose.extract import estimated
from actionpose.io import write_json
from actionpose.models.registry import build_model, get_family, get_pose_mode, heatmap_size, modalities
from actionpose.train.distributed import Dist, init_distributed, wrap_model
from actionpose.train.experiments import TrainConfig, dataset_label
from actionpose.train.loop import Trainer, evaluate, train_one_epoch
from actionpose.train.optim import build_optimizer, build_scheduler
from actionpose.train.precision import amp_dtype_for, configure_determinism, resolve_device
from actionpose.train.runs import (METRIC_COLUMNS, VAL_COLUMNS, VAL_FILE, VAL_VIDEOS, _write_confusion,
                                   _write_metrics, _write_predictions, _write_val_videos, prepare_run,
                                   rng_state, run_dir, save_checkpoints, set_rng_state, unlock_run)
from actionpose.train.sampling import EpochSampler, SeededItems, collate, seed_everything

def carve(cfg: TrainConfig, root: Path) -> tuple[list[str], list[str]] | None:
    """(train, validation) videos of split ``cfg.split``'s training subset, or None without a
    validation split (``val_fraction`` 0)."""
    if not cfg.val_fraction:
        return None
    from actionpose.data import jhmdb as J
    from actionpose.data.validation import carve_validation

    entries = [e for e in J.read_split(root, cfg.split) if e.subset == "train"]
    train, val = carve_validation([e.video for e in entries], [e.cls for e in entries],
                                  cfg.val_fraction, cfg.val_seed)
    if not val:
        raise ConfigError(f"val_fraction={cfg.val_fraction}: no class of split {cfg.split}'s training "
                          f"subset in {root} has two videos to hold one out")
    return train, val


def _dataset_options(cfg: TrainConfig, heatmap_size, cache_dir, uint8: bool) -> dict[str, Any]:
    return dict(
        uint8=uint8,
        split=cfg.split, num_frames=cfg.num_frames, size=tuple(cfg.size),
        heatmap_size=heatmap_size, heatmap_sigma=cfg.heatmap_sigma, cache_dir=cache_dir,
        mask_from_joints="mask" in get_pose_mode(cfg.pose).reads,
        modalities=modalities(cfg), crop=cfg.crop, mask_inputs=tuple(cfg.mask_inputs),
        pose_quality=cfg.pose_quality(),
    )


def build_datasets(cfg: TrainConfig, root: Path, *, heatmap_size=None, cache_dir=None, uint8=False):
    """Train and test datasets of the official split ``cfg.split`` (``uint8``: video and masks
    stay uint8 until :func:`to_device` converts the batch, as ``fit`` does). With a validation
    split, ``train`` holds the training videos it leaves (see :func:`carve`)."""
    from actionpose.data.dataset import JHMDB

    common = _dataset_options(cfg, heatmap_size, cache_dir, uint8)
    carved = carve(cfg, root)
    train = JHMDB(root, subset="train", videos=carved[0] if carved else None, **common)
    test = JHMDB(root, subset="test", clips_per_video=cfg.clips_per_video, **common)
    if train.classes != test.classes:
        raise DataError(root, "train and test splits list different classes")
    return train, test


def build_validation(cfg: TrainConfig, root: Path, *, heatmap_size=None, cache_dir=None, uint8=False):
    """The validation dataset (evaluated like the test split), or None (``val_fraction`` 0)."""
    from actionpose.data.dataset import JHMDB

    carved = carve(cfg, root)
    if carved is None:
        return None
    return JHMDB(root, subset="train", videos=carved[1], train=False,
                 clips_per_video=cfg.clips_per_video,
                 **_dataset_options(cfg, heatmap_size, cache_dir, uint8))


@dataclass
class RunData:
    """The datasets and loaders of a run."""

    root: Path
    train: Any
    test: Any
    train_sampler: EpochSampler
    train_loader: DataLoader
    test_loader: DataLoader
    val: Any = None  # the validation dataset and loader (val_fraction > 0)
    val_loader: DataLoader | None = None

    @property
    def classes(self) -> list[str]:
        return self.train.classes


def load_data(cfg: TrainConfig, dist: Dist, device: torch.device, *, data_root=None,
              cache_dir=None) -> RunData:
    """The run's datasets (uint8 until :func:`actionpose.train.loop.to_device`) and loaders."""
    root = Path(data_root) if data_root is not None else resolve_data_root(cfg, estimate=estimated.build)
    options = dict(heatmap_size=heatmap_size(cfg), cache_dir=cache_dir or default_cache_dir(root), uint8=True)
    train_ds, test_ds = build_datasets(cfg, root, **options)
    val_ds = build_validation(cfg, root, **options)
    train_sampler = EpochSampler(len(train_ds), seed=cfg.seed, shuffle=True, rank=dist.rank, world=dist.world)
    test_sampler = EpochSampler(len(test_ds), seed=0, shuffle=False, rank=dist.rank, world=dist.world)
    # A private generator: creating a loader iterator must not draw from the global RNG (which
    # drives dropout), or a resumed run would diverge from an uninterrupted one.
    loader_kw = dict(batch_size=cfg.batch_size, num_workers=cfg.workers, collate_fn=collate,
                     pin_memory=device.type == "cuda", persistent_workers=cfg.workers > 0,
                     generator=torch.Generator().manual_seed(cfg.seed))
    if cfg.workers > 0:
        loader_kw["prefetch_factor"] = 4
    # drop the last partial batch: a batch of one breaks BatchNorm in training mode
    train_loader = DataLoader(SeededItems(train_ds), sampler=train_sampler,
                              drop_last=len(train_sampler) > cfg.batch_size, **loader_kw)
    test_loader = DataLoader(SeededItems(test_ds), sampler=test_sampler, **loader_kw)
    val_loader = None
    if val_ds is not None:
        val_sampler = EpochSampler(len(val_ds), seed=0, shuffle=False, rank=dist.rank, world=dist.world)
        val_loader = DataLoader(SeededItems(val_ds), sampler=val_sampler, **loader_kw)
    return RunData(root, train_ds, test_ds, train_sampler, train_loader, test_loader, val_ds, val_loader)


def build_trainer(cfg: TrainConfig, num_classes: int, device: torch.device, dist: Dist,
                  steps_per_epoch: int) -> Trainer:
    """Model (in the family's memory format), optimiser, schedule, autocast dtype and scaler."""
    model = build_model(cfg, num_classes).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=get_family(cfg.family).memory_format)
    optimizer = build_optimizer(cfg, model)
    scheduler = build_scheduler(cfg, optimizer, steps_per_epoch)
    amp_dtype = amp_dtype_for(cfg, device, model)
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and amp_dtype == torch.float16)
    return Trainer(model, model, optimizer, scheduler, scaler, amp_dtype, device, dist, steps_per_epoch)


def restore(t: Trainer, state: dict | None, ckpt_path: Path) -> tuple[int, float, list[dict]]:
    """(start epoch, best accuracy so far, history) from a checkpoint, which also sets the model,
    optimiser, schedule, scaler and RNG state; a fresh start without one."""
    if state is None:
        return 0, -1.0, []
    try:
        t.model.load_state_dict(state["model"])
        t.optimizer.load_state_dict(state["optimizer"])
        t.scheduler.load_state_dict(state["scheduler"])
        t.scaler.load_state_dict(state["scaler"])
    except (KeyError, RuntimeError, ValueError) as exc:
        raise CheckpointError(f"{ckpt_path}: does not fit this model/optimizer ({exc})") from exc
    set_rng_state(state["rng"])
    return state["epoch"], state["best_acc"], state["history"]


def record_epoch(cfg: TrainConfig, folder: Path, t: Trainer, history: list[dict], best_acc: float,
                 classes: list[str], *, progress: bool) -> float:
    """metrics.csv, the progress line and the checkpoints after an epoch; the new best accuracy."""
    row = history[-1]
    _write_metrics(folder / "metrics.csv", history, validation=cfg.val_fraction > 0)
    acc = row["test_video_acc"]  # None: an epoch that eval_every skips
    if progress:
        val = f" | val video {row['val_video_acc']:.3f}" if row.get("val_video_acc") is not None else ""
        test = ("test not evaluated" if acc is None else
                f"test clip {row['test_clip_acc']:.3f} video {acc:.3f}")
        print(f"[{cfg.experiment} {cfg.run_name()}] epoch {row['epoch']}: train loss "
              f"{row['train_loss']:.3f} acc {row['train_acc']:.3f}{val} | {test}",
              file=sys.stderr, flush=True)
    # best.pt is chosen on the validation split only: a run without one keeps last.pt alone
    val = row.get("val_video_acc")
    earlier = [r["val_video_acc"] for r in history[:-1] if r.get("val_video_acc") is not None]
    improved = val is not None and (not earlier or val > max(earlier))
    best_acc = best_acc if acc is None else max(best_acc, acc)
    ckpt = {"model": t.model.state_dict(), "optimizer": t.optimizer.state_dict(),
            "scheduler": t.scheduler.state_dict(), "scaler": t.scaler.state_dict(),
            "epoch": row["epoch"], "best_acc": best_acc, "history": history,
            "rng": rng_state(), "config": cfg.to_dict(), "classes": classes}
    save_checkpoints(folder, ckpt, improved=improved)
    return best_acc


def summarise(cfg: TrainConfig, data: RunData, t: Trainer, result: dict, history: list[dict],
              best_acc: float, seconds_this_call: float) -> dict[str, Any]:
    """The run's summary.json: what was trained on what, the final epoch's metrics, resources."""
    columns = METRIC_COLUMNS + (VAL_COLUMNS if data.val is not None else [])
    validation = {} if data.val is None else {"val_fraction": cfg.val_fraction, "val_seed": cfg.val_seed,
                                              "num_val_videos": len(data.val.videos)}
    return {
        "complete": True,
        "experiment": cfg.experiment,
        "run": cfg.run_name(),
        "dataset": dataset_label(cfg.dataset),
        "data_root": str(data.root),
        "context_bias": world_context_bias(data.root),  # of the embedded world (None: real data)
        **pose_source(data.root),
        "preset": cfg.preset,
        "split": cfg.split,
        "seed": cfg.seed,
        "classes": data.classes,
        "num_train_clips": len(data.train),
        "num_test_videos": len(result["names"]),
        **validation,
        "epochs": cfg.epochs,
        "final": {k: history[-1][k] for k in columns if k not in ("epoch", "lr", "seconds")},
        "best_test_video_acc_not_for_reporting": best_acc,
        "seconds_total": float(sum(r["seconds"] for r in history)),
        "seconds_this_call": seconds_this_call,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "device": str(t.device),
        "amp": str(t.amp_dtype).replace("torch.", "") if t.amp_dtype else "fp32",
        "world_size": t.dist.world,
        "torch": torch.__version__,
    }


def fit(cfg: TrainConfig, out: str | Path = "runs", *, resume: bool = False,
        data_root: str | Path | None = None, progress: bool = True,
        cache_dir: str | Path | None = None, stop_after_epochs: int | None = None,
        on_epoch: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Train ``cfg`` and evaluate on the test split each epoch; returns the summary dict.

    ``resume``: continue from ``last.pt`` of the run folder (refused if its config differs).
    ``stop_after_epochs``: leave after that many epochs of this call (to test resuming).
    ``on_epoch``: called (main process only) with each epoch's metrics.csv row once it is
    recorded and checkpointed (e.g. TensorBoard scalars); it computes nothing of the run's.
    """
    dist = init_distributed(cfg.device)
    device = resolve_device(cfg.device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    folder = run_dir(cfg, out)
    state = prepare_run(folder, cfg, resume=resume, main=dist.main)
    try:
        configure_determinism(cfg.deterministic, device)
        seed_everything(cfg.seed)
        data = load_data(cfg, dist, device, data_root=data_root, cache_dir=cache_dir)
        t = build_trainer(cfg, len(data.classes), device, dist, len(data.train_loader))
        start_epoch, best_acc, history = restore(t, state, folder / "last.pt")
        t.train_model = wrap_model(t.model, dist, device)
        if cfg.compile:
            t.train_model = torch.compile(t.train_model)
        if dist.main:
            write_json(folder / "config.json", cfg.to_dict())
            _write_metrics(folder / "metrics.csv", history, validation=data.val is not None)
            if data.val is not None:
                _write_val_videos(folder / VAL_VIDEOS, data.val.videos, data.val.labels, data.classes)
        started = time.perf_counter()
        result = val_result = None
        for epoch in range(start_epoch, cfg.epochs):
            t0 = time.perf_counter()
            data.train_sampler.set_epoch(epoch)
            trained = train_one_epoch(cfg, t, data.train_loader, epoch=epoch, where=folder,
                                      progress=progress)
            result = val_result = None
            if evaluates(epoch, cfg.epochs, cfg.eval_every):
                result = evaluate(cfg, t.model, data.test_loader, device, t.amp_dtype, dist,
                                  len(data.classes))
                val_result = validate(cfg, t, data)
            history.append(epoch_row(epoch, trained, result, time.perf_counter() - t0, val_result,
                                     validation=data.val is not None))
            if dist.main:
                best_acc = record_epoch(cfg, folder, t, history, best_acc, data.classes,
                                        progress=progress)
                if on_epoch is not None:
                    on_epoch(history[-1])
            if stop_after_epochs is not None and epoch + 1 - start_epoch >= stop_after_epochs \
                    and epoch + 1 < cfg.epochs:
                return {"complete": False, "epoch": epoch + 1}
        if result is None:  # resumed a finished run: evaluate the final weights again
            result = evaluate(cfg, t.model, data.test_loader, device, t.amp_dtype, dist, len(data.classes))
            val_result = validate(cfg, t, data)
        summary = summarise(cfg, data, t, result, history, best_acc, time.perf_counter() - started)
        if dist.main:
            _write_predictions(folder / "predictions.csv", result, data.classes)
            if val_result is not None:
                _write_predictions(folder / VAL_FILE, val_result, data.classes)
            _write_confusion(folder / "confusion.csv", result["confusion"], data.classes)
            write_json(folder / "summary.json", summary)
        return summary
    finally:
        unlock_run(folder)  # a no-op where this process holds no lock


def evaluates(epoch: int, epochs: int, every: int) -> bool:
    """Whether (0-based) ``epoch`` of ``epochs`` evaluates the test and validation splits under
    ``eval_every=every``: every ``every``-th epoch, and always the final one."""
    return (epoch + 1) % every == 0 or epoch + 1 == epochs


def validate(cfg: TrainConfig, t: Trainer, data: RunData) -> dict[str, Any] | None:
    """:func:`evaluate` on the validation split (None without one)."""
    if data.val_loader is None:
        return None
    return evaluate(cfg, t.model, data.val_loader, t.device, t.amp_dtype, t.dist, len(data.classes))


def epoch_row(epoch: int, trained: dict[str, float], result: dict[str, Any] | None, seconds: float,
              val_result: dict[str, Any] | None = None, *, validation: bool = False) -> dict:
    """One row of metrics.csv (columns in ``runs.METRIC_COLUMNS`` order, then ``VAL_COLUMNS``).
    ``result`` None: an epoch that ``eval_every`` does not evaluate (test cells None, and the
    validation cells too when the run has a validation split, ``validation``)."""
    val = {} if val_result is None else {
        "val_loss": val_result["test_loss"], "val_clip_acc": val_result["test_clip_acc"],
        "val_video_acc": val_result["test_video_acc"]}
    if validation and val_result is None:
        val = dict.fromkeys(VAL_COLUMNS)
    test = {k: None if result is None else result[k]
            for k in ("test_loss", "test_clip_acc", "test_video_acc", "test_video_top5")}
    return {
        "epoch": epoch + 1,
        "train_loss": trained["train_loss"],
        "train_acc": trained["train_acc"],
        **test,
        "lr": trained["lr"],
        "skipped_steps": trained["skipped_steps"],
        "seconds": seconds,
        **val,
    }
