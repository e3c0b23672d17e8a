"""Issue 16: the share of a cpu-preset run spent evaluating the test split every epoch.

Per model family (c3d, attention, two-stream, pose-only: one experiment each, cpu preset, the
engine's own ``train_one_epoch`` and ``evaluate`` with its datasets, transforms, sampler, autocast
policy and cached clips) one training epoch and one test evaluation are timed side by side in
this process, alternating, on one thread and without DataLoader workers (so that the process's
CPU time covers the data pipeline too; CPU time moves less with the machine's load than wall
time, and both are recorded). The embedded puppet world of the cpu preset is used where it exists
(``data/puppet-cpu``), else a small one at the same preset is generated; every ``stride``-th
training and test video is timed (the cache warmed by an untimed pass) and the per-clip times are
scaled to the full split's clip counts, so the share is that of a full epoch: train clips x train
time per clip vs test clips (videos x ``clips_per_video``) x evaluation time per clip.

From those, the run-time speed-up of evaluating every k epochs (``eval_every=k``: and always at
the final epoch) is projected for each family at its preset epochs, and for a whole
``reproduce --seeds 1`` plan (each run weighted by its committed ``seconds`` in
``results/runs.csv``). A last row measures it directly: a short c3d ``fit`` on a small cpu world
with ``eval_every`` 1 vs 4, side by side.

``--smoke``: smoke preset on a tiny world; checks that it runs, judges nothing.
"""
from __future__ import annotations

import csv
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import torch

from benchmarks.common import measurement

FAMILIES = {"c3d": "c3d", "attention": "attention", "two_stream": "two-stream", "pose_only": "pose-only"}
EVERY = (2, 3, 4)


def _world(tmp: Path, *, smoke: bool) -> tuple[Path, str]:
    """(dataset root, how it was obtained)."""
    from actionpose.data import synthetic
    from actionpose.paths import data_root

    if not smoke:
        existing = data_root() / "puppet-cpu"
        if (existing / synthetic.INFO_FILE).is_file():
            return existing, f"{existing} (the cpu preset's embedded world)"
    config = (synthetic.synth_config("smoke", num_classes=3, clips_per_class=6) if smoke
              else synthetic.synth_config("cpu", clips_per_class=10))
    root = tmp / "world"
    synthetic.generate(root, config, workers=1)
    return root, "generated small world (" + ("smoke" if smoke else "cpu") + " preset)"


def _loaders(cfg, train_ds, test_ds):
    """Train and test loaders as :func:`actionpose.train.engine.load_data` builds them."""
    from torch.utils.data import DataLoader

    from actionpose.train.sampling import EpochSampler, SeededItems, collate

    kw = dict(batch_size=cfg.batch_size, num_workers=cfg.workers, collate_fn=collate,
              generator=torch.Generator().manual_seed(cfg.seed))
    train_sampler = EpochSampler(len(train_ds), seed=cfg.seed, shuffle=True)
    train = DataLoader(SeededItems(train_ds), sampler=train_sampler,
                       drop_last=len(train_sampler) > cfg.batch_size, **kw)
    test = DataLoader(SeededItems(test_ds), sampler=EpochSampler(len(test_ds), seed=0, shuffle=False), **kw)
    return train_sampler, train, test


def _timed(fn) -> tuple[float, float]:
    """(wall s, process CPU s) of ``fn()``."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def family_times(experiment: str, root: Path, cache_dir: Path, *, preset: str, stride: int,
                 rounds: int) -> dict:
    """Seconds per clip of training and of evaluation of ``experiment`` (medians over ``rounds``
    alternating epoch/evaluation pairs on every ``stride``-th video), and the full split's counts."""
    from actionpose.data.dataset import JHMDB
    from actionpose.models.registry import heatmap_size
    from actionpose.train import engine
    from actionpose.train.distributed import Dist
    from actionpose.train.experiments import make_config
    from actionpose.train.loop import evaluate, train_one_epoch
    from actionpose.train.sampling import seed_everything

    cfg = make_config(experiment, preset, workers=0)
    options = engine._dataset_options(cfg, heatmap_size(cfg), cache_dir, True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_full, test_full = engine.build_datasets(cfg, root, heatmap_size=heatmap_size(cfg),
                                                      cache_dir=cache_dir, uint8=True)
        train_ds = JHMDB(root, subset="train", videos=train_full.videos[::stride], **options)
        test_ds = JHMDB(root, subset="test", videos=test_full.videos[::stride],
                        clips_per_video=cfg.clips_per_video, **options)
    seed_everything(cfg.seed)
    sampler, train_loader, test_loader = _loaders(cfg, train_ds, test_ds)
    cpu = torch.device("cpu")
    t = engine.build_trainer(cfg, len(train_full.classes), cpu, Dist(), len(train_loader))
    classes = len(train_full.classes)

    def epoch() -> None:
        train_one_epoch(cfg, t, train_loader, epoch=0, where=root)

    def test() -> None:
        evaluate(cfg, t.model, test_loader, cpu, t.amp_dtype, Dist(), classes)

    epoch(), test()  # untimed: fills the clip cache, warms the kernels
    train_clips = len(train_loader) * cfg.batch_size if train_loader.drop_last else len(train_ds)
    walls: dict[str, list[float]] = {"train": [], "eval": []}
    cpus: dict[str, list[float]] = {"train": [], "eval": []}
    for r in range(rounds):
        sampler.set_epoch(r + 1)
        for key, fn, clips in (("train", epoch, train_clips), ("eval", test, len(test_ds))):
            wall, cpu_s = _timed(fn)
            walls[key].append(wall / clips)
            cpus[key].append(cpu_s / clips)
    full_train = len(train_full) // cfg.batch_size * cfg.batch_size  # drop_last, as fit
    return dict(cfg=cfg, family=cfg.family, train_clips_full=full_train, eval_clips_full=len(test_full),
                train_clips_timed=train_clips, eval_clips_timed=len(test_ds),
                train_s_per_clip=statistics.median(walls["train"]),
                eval_s_per_clip=statistics.median(walls["eval"]),
                amp=str(t.amp_dtype).replace("torch.", "") if t.amp_dtype else "fp32",
                train_cpu_per_clip=statistics.median(cpus["train"]),
                eval_cpu_per_clip=statistics.median(cpus["eval"]))


def evaluations(epochs: int, every: int) -> int:
    """How many epochs of ``epochs`` evaluate the test split with ``eval_every=every``."""
    from actionpose.train.engine import evaluates

    return sum(evaluates(e, epochs, every) for e in range(epochs))


def speedup(train_s: float, eval_s: float, epochs: int, every: int) -> float:
    """Run time with every epoch evaluated / run time with ``eval_every=every``."""
    return (epochs * (train_s + eval_s)) / (epochs * train_s + evaluations(epochs, every) * eval_s)


def plan_rows(shares: dict[str, tuple[float, float]], runs_csv: Path) -> list[dict]:
    """The projected speed-up of a ``reproduce --seeds 1`` plan, each seed-0 run of
    ``runs_csv`` weighted by its committed seconds, at its family's measured times."""
    from actionpose.train.experiments import make_config, report_plan

    if not runs_csv.is_file():
        return []
    seconds = {}
    with open(runs_csv, newline="") as fh:
        for r in csv.DictReader(fh):
            if r["preset"] == "cpu" and r["seed"] == "0" and r["context_bias"] == "":
                seconds[(r["experiment"], r["dataset"], r["split"])] = float(r["seconds"])
    total, by_every, used = 0.0, {k: 0.0 for k in EVERY}, 0
    for cfg in report_plan("cpu", 1):
        key = (cfg.experiment, cfg.dataset, str(cfg.split))
        if key not in seconds or make_config(cfg.experiment, "cpu").family not in shares:
            continue
        train_s, eval_s = shares[cfg.family]
        used += 1
        total += seconds[key]
        for k in EVERY:
            by_every[k] += seconds[key] / speedup(train_s, eval_s, cfg.epochs, k)
    if not used:
        return []
    return [measurement(f"eval share: reproduce --seeds 1 plan, projected speed-up with eval_every={k}",
                        total / by_every[k], "x", runs=used,
                        note="each seed-0 run of results/runs.csv weighted by its committed seconds, "
                             "at its family's measured train/eval CPU times (two-stream's for the "
                             "init and flow variants); a projection, not a timed reproduce")
            for k in EVERY]


def fit_rows(tmp: Path, *, smoke: bool) -> list[dict]:
    """A short c3d fit on a small world, eval_every 1 vs 4, timed side by side (2 pairs)."""
    from actionpose.data import synthetic
    from actionpose.train import engine
    from actionpose.train.experiments import make_config

    preset = "smoke" if smoke else "cpu"
    root = tmp / "fit-world"
    synthetic.generate(root, synthetic.synth_config(preset, clips_per_class=2 if smoke else 6),
                       workers=1)
    epochs = 4
    times: dict[int, list[float]] = {1: [], 4: []}
    finals: dict[int, dict] = {}
    for pair in range(2):
        for every in (1, 4):
            cfg = make_config("c3d", preset, workers=0, epochs=epochs, eval_every=every)
            out = tmp / f"fit-{pair}-{every}"
            c0 = time.process_time()
            summary = engine.fit(cfg, out, data_root=root, progress=False, cache_dir=tmp / "fit-cache")
            times[every].append(time.process_time() - c0)
            finals[every] = summary["final"]
    if finals[1] != finals[4]:
        raise AssertionError(f"eval_every changed the final metrics: {finals[1]} vs {finals[4]}")
    base, new = min(times[1]), min(times[4])
    return [measurement(f"eval share: c3d fit {epochs} epochs ({preset} preset, small world), "
                        "eval_every=4 vs 1", new, "s", baseline=base, ratio=base / new,
                        unit_note="process CPU seconds, best of 2, 1 thread, no workers",
                        final_metrics_equal=True)]


def run(smoke: bool) -> list[dict]:
    preset = "smoke" if smoke else "cpu"
    stride, rounds = (1, 1) if smoke else (5, 3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rows: list[dict] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench_eval_share_") as tmp_name:
            tmp = Path(tmp_name)
            root, source = _world(tmp, smoke=smoke)
            load_before = os.getloadavg()[0]
            measured = {}
            for family, experiment in FAMILIES.items():
                m = family_times(experiment, root, tmp / "cache", preset=preset, stride=stride,
                                 rounds=rounds)
                measured[family] = m
                train_cpu = m["train_cpu_per_clip"] * m["train_clips_full"]
                eval_cpu = m["eval_cpu_per_clip"] * m["eval_clips_full"]
                train_wall = m["train_s_per_clip"] * m["train_clips_full"]
                eval_wall = m["eval_s_per_clip"] * m["eval_clips_full"]
                epochs = m["cfg"].epochs
                rows.append(measurement(
                    f"eval share: {experiment} ({preset} preset), test evaluation / (train epoch + "
                    "evaluation)", 100 * eval_cpu / (train_cpu + eval_cpu), "%",
                    ratio=eval_cpu / train_cpu,
                    note="ratio = evaluation / train epoch (CPU time); value from CPU time, "
                         "share_wall_pct from wall time",
                    share_wall_pct=100 * eval_wall / (train_wall + eval_wall),
                    train_epoch_cpu_s=round(train_cpu, 4), eval_cpu_s=round(eval_cpu, 4),
                    train_epoch_wall_s=round(train_wall, 4), eval_wall_s=round(eval_wall, 4),
                    train_clips=m["train_clips_full"], eval_clips=m["eval_clips_full"],
                    timed_clips=[m["train_clips_timed"], m["eval_clips_timed"]], rounds=rounds,
                    epochs=epochs, amp=m["amp"],
                    **{f"speedup_eval_every_{k}": round(speedup(train_cpu, eval_cpu, epochs, k), 3)
                       for k in (*EVERY, epochs)},
                    threads=1, workers=0, data=source))
            load_after = os.getloadavg()[0]
            for row in rows:
                row["load_avg_1min"] = [round(load_before, 2), round(load_after, 2)]
            if not smoke:
                shares = {f: (m["train_cpu_per_clip"] * m["train_clips_full"],
                              m["eval_cpu_per_clip"] * m["eval_clips_full"]) for f, m in measured.items()}
                rows += plan_rows(shares, Path(__file__).resolve().parents[1] / "results" / "runs.csv")
            rows += fit_rows(tmp, smoke=smoke)
    finally:
        torch.set_num_threads(threads)
    return rows

