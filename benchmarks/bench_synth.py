"""Generation speed of the embedded dataset (``actionpose data synth``), and its difficulty
calibration.

``run(smoke)``: wall time of the cpu preset with 2 workers (target <= 60 s on 2 cores) and of the
real-actor composite at the cpu preset's frame size (target scaled by its frame count); smoke
mode times the smoke preset only.

``python -m benchmarks.bench_synth --calibrate [ROOT]``: the quick difficulty check used to set
the cpu preset's knobs: a tiny 3-D CNN on RGB (8 frames, 64x64, ~1-2 min on 2 cores) trained on
split 1's training set, accuracy on its test set; plus two model-free probes (nearest centroid on
normalised joints; on the mean background colour).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import measurement

CPU_TARGET_S = 60.0


def _time_generate(config, *, actors=None, workers=2) -> tuple[float, dict]:
    from actionpose.data import synthetic

    with tempfile.TemporaryDirectory(prefix="bench_synth_") as tmp:
        t0 = time.perf_counter()
        info = synthetic.generate(Path(tmp) / "data", config, workers=workers, actors=actors)
        return time.perf_counter() - t0, info


def run(smoke: bool) -> list[dict]:
    from actionpose.data import synthetic
    from actionpose.paths import shared_jhmdb

    rows = []
    preset = "smoke" if smoke else "cpu"
    seconds, info = _time_generate(synthetic.synth_config(preset))
    target = 2.0 if smoke else CPU_TARGET_S
    rows.append(measurement(
        f"synth {preset} preset (puppets, 2 workers)", round(seconds, 2), "s",
        target=f"<= {target:g} s", met=seconds <= target, clips=info["num_clips"],
        frames=info["num_frames"], megabytes=round(info["bytes"] / 1e6, 1)))
    source = shared_jhmdb()
    if source is not None:
        overrides = dict(actor_classes=2, actor_clips_per_class=3) if smoke else {}
        config = synthetic.synth_config(preset, **overrides)
        seconds, info = _time_generate(config, actors=source)
        frames_cpu = config.num_classes * config.clips_per_class * sum(config.frames) / 2
        scaled = CPU_TARGET_S * max(1.0, info["num_frames"] / frames_cpu)
        rows.append(measurement(
            f"synth {preset} preset (real actors from ../shared/jhmdb, 2 workers)",
            round(seconds, 2), "s", target=None if smoke else f"<= {scaled:.0f} s (scaled)",
            met=None if smoke else seconds <= scaled, clips=info["num_clips"],
            frames=info["num_frames"], megabytes=round(info["bytes"] / 1e6, 1)))
    return rows


# ---------------------------------------------------------------------------------------------
# difficulty calibration


def _load(root: Path, split: int, num_frames: int, size: int):
    import cv2

    from actionpose.data import jhmdb

    entries = jhmdb.read_split(root, split)
    classes = sorted({e.cls for e in entries})
    clips, labels, subsets, bg_means, joint_feats = [], [], [], [], []
    for e in entries:
        folder = jhmdb.frames_dir(root, e.cls, e.video)
        files = jhmdb.list_frame_files(folder)
        idx = np.linspace(0, len(files) - 1, num_frames).round().astype(int)
        frames = jhmdb.read_frames(folder, idx.tolist())
        clips.append(np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in frames]))
        mask = jhmdb.read_mask(jhmdb.mask_path(root, e.cls, e.video))[:, :, idx]
        bg = ~mask.astype(bool).transpose(2, 0, 1)
        bg_means.append(frames[bg].mean(axis=0))
        jp = jhmdb.joints_path(root, e.cls, e.video)
        if jp.is_file():
            joint_feats.append(joint_features(jhmdb.read_joints(jp).joints_xy()))
        labels.append(classes.index(e.cls))
        subsets.append(e.subset)
    return (np.stack(clips), np.array(labels), np.array(subsets), np.stack(bg_means),
            np.stack(joint_feats) if len(joint_feats) == len(entries) else None, classes)


def joint_features(joints: np.ndarray, steps: int = 8) -> np.ndarray:
    """Pose descriptor of a (T, 15, 2) joint track: joints relative to the belly, divided by the
    torso length, resampled to ``steps`` frames, plus their frame-to-frame motion."""
    rel = joints - joints[:, 1:2]
    torso = np.linalg.norm(joints[:, 0] - joints[:, 1], axis=-1).mean() + 1e-6
    rel = rel / torso
    rel[..., 0] *= np.sign(np.mean(rel[:, 11:13, 0]) + 1e-9)  # mirror so the hands lead +x
    idx = np.linspace(0, len(joints) - 1, steps).round().astype(int)
    track = rel[idx]
    motion = np.diff(track, axis=0)
    travel = (joints[idx, 1] - joints[idx[0], 1]) / torso
    travel[:, 0] = np.abs(travel[:, 0])
    return np.concatenate([track.ravel(), 2 * motion.ravel(), travel.ravel()])


def nearest_centroid(x_train, y_train, x_test, k: int) -> np.ndarray:
    """Predictions of a nearest-centroid classifier on standardised features."""
    mu, sd = x_train.mean(0), x_train.std(0) + 1e-6
    a, b = (x_train - mu) / sd, (x_test - mu) / sd
    centroids = np.stack([a[y_train == c].mean(0) for c in range(k)])
    return np.argmin(((b[:, None] - centroids[None]) ** 2).sum(-1), axis=1)


def calibrate(root: Path, *, epochs: int = 15, num_frames: int = 8, size: int = 64, seed: int = 0) -> dict:
    """Train a tiny 3-D CNN on split 1 of ``root``; return the accuracies (see module doc)."""
    import torch
    import torch.nn as nn

    torch.manual_seed(seed)
    torch.set_num_threads(2)
    t0 = time.perf_counter()
    clips, labels, subsets, bg, joints, classes = _load(root, 1, num_frames, size)
    k = len(classes)
    train, test = subsets == "train", subsets == "test"
    result = {"classes": k, "train_clips": int(train.sum()), "test_clips": int(test.sum()),
              "load_s": round(time.perf_counter() - t0, 1)}
    pred = nearest_centroid(bg[train], labels[train], bg, k)
    result["background_ncc_train"] = float((pred[train] == labels[train]).mean())
    result["background_ncc_test"] = float((pred[test] == labels[test]).mean())
    if joints is not None:
        pred = nearest_centroid(joints[train], labels[train], joints, k)
        result["joints_ncc_train"] = float((pred[train] == labels[train]).mean())
        result["joints_ncc_test"] = float((pred[test] == labels[test]).mean())

    x = torch.from_numpy(clips).permute(0, 4, 1, 2, 3).float().div(255.0)  # (N, 3, T, H, W)
    x = (x - x.mean(dim=(0, 2, 3, 4), keepdim=True)) / x.std(dim=(0, 2, 3, 4), keepdim=True)
    y = torch.from_numpy(labels)

    def block(cin, cout, stride):
        return nn.Sequential(nn.Conv3d(cin, cout, 3, stride=stride, padding=1, bias=False),
                             nn.BatchNorm3d(cout), nn.ReLU(inplace=True))

    model = nn.Sequential(block(3, 8, (1, 2, 2)), block(8, 16, 2), block(16, 32, 2),
                          block(32, 64, 2), nn.AdaptiveAvgPool3d(1), nn.Flatten(),
                          nn.Dropout(0.3), nn.Linear(64, k))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=epochs * (int(train.sum()) // 16 + 1))
    xi, yi = x[torch.from_numpy(train)], y[torch.from_numpy(train)]
    history = []
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(xi))
        for start in range(0, len(xi), 16):
            b = perm[start:start + 16]
            xb = xi[b]
            flip = torch.rand(len(b)) < 0.5
            xb = torch.where(flip[:, None, None, None, None], xb.flip(-1), xb)
            loss = nn.functional.cross_entropy(model(xb), yi[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            logits = torch.cat([model(x[i:i + 64]) for i in range(0, len(x), 64)])
        pred = logits.argmax(1).numpy()
        history.append((epoch + 1, float((pred[train] == labels[train]).mean()),
                        float((pred[test] == labels[test]).mean())))
    result["cnn_train"], result["cnn_test"] = history[-1][1], history[-1][2]
    result["cnn_best_test"] = max(h[2] for h in history)
    result["cnn_history"] = history
    result["seconds"] = round(time.perf_counter() - t0, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_synth")
    parser.add_argument("--calibrate", metavar="ROOT", nargs="?", const="",
                        help="train the tiny RGB model on ROOT (default: generate the cpu preset)")
    parser.add_argument("--context-bias", type=float, default=None)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    if args.calibrate is None:
        print(json.dumps(run(args.smoke), indent=2))
        return 0
    root = Path(args.calibrate) if args.calibrate else None
    if root is None:
        from actionpose.data import synthetic

        root = Path(tempfile.mkdtemp(prefix="calib_")) / "data"
        synthetic.generate(root, synthetic.synth_config("cpu", context_bias=args.context_bias),
                           workers=os.cpu_count())
    print(json.dumps(calibrate(root, epochs=args.epochs), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
