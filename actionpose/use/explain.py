"""Where a model looks: Grad-CAM, attention maps, and the share of it on the person.

- 3-D CNNs (C3D, the pose-only net): Grad-CAM on the last ``Conv3d``, with the ``grad-cam``
  package's hooks and channel weights (it handles 5-D activations (B, C, T, h, w)); the map is
  ReLU'd and resized to (T, H, W) here, not min-max normalised as the package does.
- 2-D streams on frames (the two-stream spatial stream): Grad-CAM on the stream's last
  ``Conv2d``, each frame of the clip an image of the batch.
- Attention pooling: its own maps, the bottom-up saliency times the top-down map of the predicted
  class (``a * b_k``, whose mean over the frame is the class score), positive part.

**Context reliance** of a video = the share of its attribution inside the person mask,
``sum(map * mask) / sum(map)`` over its clips; ``mask_fraction`` (the mask's share of the pixels)
is what a map spread evenly over the frame would give. ``actionpose explain RUN [INPUT] --out
DIR`` writes a PNG strip per video (frames over heat overlays) and ``context_reliance.csv``;
without INPUT it explains the run's test split (:func:`run_context_reliance`), and given a runs
folder, every complete run in it (:func:`reliance_over_runs`: with vs without pose, and across
the context-bias sweep).
"""
from __future__ import annotations

import csv
import dataclasses
import sys
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from actionpose.errors import ConfigError
from actionpose.io import atomic_path, write_json

__all__ = ["attribution_maps", "context_reliance", "run_context_reliance", "explain_input", "save_strip",
           "reliance_over_runs", "reliance_figure", "main"]

STRIPS = 8  # PNG strips written for a run's test split (every video gets its numbers)


class _OneInput(nn.Module):
    """The inference model as a function of one input (what grad-cam calls); the others fixed.
    ``frames``: that input arrives as (B*T, C, H, W) frames and is folded back into clips."""

    def __init__(self, module: nn.Module, inputs: dict[str, torch.Tensor], name: str, frames: bool):
        super().__init__()
        self.module, self.inputs, self.name, self.frames = module, inputs, name, frames

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.frames:
            b, c, t, h, w = self.inputs[self.name].shape
            x = x.reshape(b, t, c, h, w).transpose(1, 2)
        feed = {**self.inputs, self.name: x}
        return self.module(*(feed[n] for n in self.module.names))


def _grad_cam(module, inputs: dict[str, torch.Tensor]) -> tuple[np.ndarray, str]:
    try:
        from pytorch_grad_cam import GradCAM
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    except ImportError:
        raise ConfigError("Grad-CAM needs the grad-cam package: pip install actionpose[explain]") from None
    convs3d = [m for m in module.modules() if isinstance(m, nn.Conv3d)]
    name = module.names[0]
    b, c, t, h, w = inputs[name].shape
    if convs3d:
        layer, frames, x = convs3d[-1], False, inputs[name]
    else:  # a 2-D network on frames: the stream that sees single RGB frames
        spatial = [m for n, m in module.named_modules() if isinstance(m, nn.Conv2d) and "spatial" in n]
        if not spatial:
            raise ConfigError(f"no Conv3d and no spatial-stream Conv2d in {type(module.model).__name__} "
                              "to take Grad-CAM at")
        layer, frames, x = spatial[-1], True, inputs[name].transpose(1, 2).reshape(b * t, c, h, w)
    wrapped = _OneInput(module, inputs, name, frames).eval()
    # grad-cam's hooks and channel weights (5-D included), but not its final maps: it min-max
    # normalises each map, which zeroes a constant map and shifts the share inside the mask
    with GradCAM(model=wrapped, target_layers=[layer]) as cam:
        outputs = cam.activations_and_grads(x)
        targets = [ClassifierOutputTarget(int(k)) for k in outputs.argmax(1)]
        wrapped.zero_grad()
        sum(target(o) for target, o in zip(targets, outputs)).backward()
        acts = cam.activations_and_grads.activations[0].numpy()
        grads = cam.activations_and_grads.gradients[0].numpy()
        raw = torch.from_numpy(np.maximum(cam.get_cam_image(x, layer, targets, acts, grads), 0))
    wrapped.zero_grad()
    raw = raw.float()[:, None]
    if frames:
        maps = F.interpolate(raw, size=(h, w), mode="bilinear", align_corners=False).reshape(b, t, h, w)
    else:
        maps = F.interpolate(raw, size=(t, h, w), mode="trilinear", align_corners=False)[:, 0]
    return maps.numpy(), "grad-cam"


def attribution_maps(loaded, inputs: dict[str, torch.Tensor]) -> tuple[np.ndarray, np.ndarray, str]:
    """(maps (B, T, H, W) >= 0 at the clip's size, probabilities (B, K), method) for a batch of
    model inputs of a run (``loaded`` from :func:`~actionpose.use.model.open_run`)."""
    from actionpose.models.registry import forward

    module, cfg = loaded.module, loaded.cfg
    if module is None:
        raise ConfigError(f"{loaded.source}: explanations need a run folder, not an exported model")
    device = next(module.parameters()).device
    inputs = {n: inputs[n].to(device) for n in module.names}
    with torch.no_grad():
        out = forward(cfg, module.model, inputs)
    probs = out["logits"].float().softmax(1).cpu()
    t, (h, w) = cfg.num_frames, tuple(cfg.size)
    if "bottom_up" in out and "top_down" in out:
        k = probs.argmax(1).to(device)
        maps = (out["bottom_up"] * out["top_down"][torch.arange(len(k), device=device), :, k]).float().clamp_min(0)
        maps = F.interpolate(maps, size=(h, w), mode="bilinear", align_corners=False).cpu().numpy()
        method = "attention"
    else:
        maps, method = _grad_cam(module, inputs)
    return maps, probs.numpy(), method


def context_reliance(maps: np.ndarray, masks: np.ndarray) -> tuple[float, float]:
    """(share of the attribution inside the mask, share of the pixels inside it) over all the
    clips given: maps (N, T, H, W) >= 0, masks (N, T, H, W) in [0, 1]. NaN without attribution."""
    total = float(maps.sum())
    inside = float((maps * masks).sum())
    return (inside / total if total > 0 else float("nan")), float(masks.mean())


def _heat(frame: np.ndarray, cam: np.ndarray) -> np.ndarray:
    import cv2

    top = float(cam.max())
    heat = cv2.applyColorMap(np.uint8(255 * (cam / top if top > 0 else cam)), cv2.COLORMAP_JET)[..., ::-1]
    return (0.5 * frame + 0.5 * heat).astype(np.uint8)


def save_strip(path: str | Path, frames: np.ndarray, maps: np.ndarray, masks: np.ndarray | None,
               title: str, height: int = 128) -> Path:
    """A PNG: the clip's frames (mask outlined) over the same frames with the map overlaid."""
    import cv2

    path = Path(path)
    scale = height / frames.shape[1]
    size = (max(1, round(frames.shape[2] * scale)), height)
    top, bottom = [], []
    for t in range(len(frames)):
        f = cv2.resize(frames[t], size, interpolation=cv2.INTER_LINEAR)
        if masks is not None:
            m = cv2.resize(np.uint8(masks[t] > 0.5), size, interpolation=cv2.INTER_NEAREST)
            contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            f = cv2.drawContours(f.copy(), contours, -1, (60, 220, 60), 1)
        top.append(f)
        bottom.append(_heat(cv2.resize(frames[t], size), cv2.resize(maps[t], size)))
    strip = np.concatenate([np.concatenate(top, 1), np.concatenate(bottom, 1)], 0)
    band = np.zeros((22, strip.shape[1], 3), np.uint8)
    cv2.putText(band, title, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    with atomic_path(path) as tmp:
        ok, buf = cv2.imencode(".png", cv2.cvtColor(np.concatenate([band, strip], 0), cv2.COLOR_RGB2BGR))
        tmp.write_bytes(buf.tobytes())
    return path


def _display_frames(loaded, inputs: dict[str, torch.Tensor], i: int) -> np.ndarray:
    """Clip ``i`` as uint8 (T, H, W, 3) for drawing (the mask itself for a mask-only model)."""
    from actionpose.data.clips import denormalize_video

    if "video" in inputs:
        v = denormalize_video(inputs["video"][i]).clamp(0, 255).byte()
        return v.permute(1, 2, 3, 0).numpy()
    m = (inputs["mask"][i, 0] * 255).byte().numpy()
    return np.repeat(m[..., None], 3, -1)


def _rows(loaded, batches: Iterable[tuple[list[str], list[str | None], dict[str, torch.Tensor]]],
          out: Path | None, strips: int) -> list[dict[str, Any]]:
    """Per video: label, prediction, context reliance, mask fraction (strips for the first ones).
    ``batches`` yield (video names, labels, inputs with a ``mask``), a video's clips together."""
    classes = loaded.spec.classes
    per_video: dict[str, dict[str, Any]] = {}
    for names, labels, inputs in batches:
        maps, probs, method = attribution_maps(loaded, inputs)
        masks = inputs["mask"][:, 0].numpy()
        for i, (name, label) in enumerate(zip(names, labels)):
            row = per_video.setdefault(name, {"video": name, "label": label, "method": method,
                                              "maps": [], "masks": [], "probs": []})
            row["maps"].append(maps[i])
            row["masks"].append(masks[i])
            row["probs"].append(probs[i])
            if out is not None and len(row["maps"]) == 1 and len(per_video) <= strips:
                k = int(probs[i].argmax())
                save_strip(out / f"{name}.png", _display_frames(loaded, inputs, i), maps[i], masks[i],
                           f"{name}: {classes[k]} {probs[i][k]:.2f} ({method})")
    rows = []
    for row in per_video.values():
        share, fraction = context_reliance(np.stack(row.pop("maps")), np.stack(row.pop("masks")))
        p = np.mean(row.pop("probs"), 0)
        rows.append({**row, "prediction": classes[int(p.argmax())], "probability": float(p.max()),
                     "context_reliance": share, "mask_fraction": fraction})
    return rows


def _summarise(rows: list[dict[str, Any]], out: Path | None, **info) -> dict[str, Any]:
    shares = np.array([r["context_reliance"] for r in rows], float)
    fractions = np.array([r["mask_fraction"] for r in rows], float)
    summary = {**info, "videos": len(rows), "mean_context_reliance": float(np.nanmean(shares)) if
               np.isfinite(shares).any() else None, "mean_mask_fraction": float(fractions.mean()),
               "method": rows[0]["method"] if rows else None}
    if out is not None:
        with atomic_path(out / "context_reliance.csv") as tmp:
            with open(tmp, "w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=["video", "label", "prediction", "probability",
                                                   "context_reliance", "mask_fraction", "method"])
                w.writeheader()
                w.writerows(rows)
        write_json(out / "context_reliance.json", {**summary, "per_video": rows})
    return {**summary, "per_video": rows}


def run_context_reliance(run: str | Path, *, out: str | Path | None = None, data: str | Path | None = None,
                         strips: int = STRIPS, device: str = "cpu") -> dict[str, Any]:
    """Context reliance of every video of a run's test split (its clips, as evaluated), with
    ``out``: ``context_reliance.csv``/``.json`` and PNG strips of the first ``strips`` videos."""
    from actionpose.data.dataset import JHMDB
    from actionpose.models.registry import heatmap_size, modalities
    from actionpose.use.model import open_run, run_data_root

    loaded = open_run(run, device=device)
    cfg = loaded.cfg
    root = run_data_root(loaded, data)
    mods = tuple(dict.fromkeys(("frames", *modalities(cfg), "mask")))
    test = JHMDB(root, split=cfg.split, subset="test", modalities=mods, num_frames=cfg.num_frames,
                 size=tuple(cfg.size), clips_per_video=cfg.clips_per_video,
                 heatmap_size=heatmap_size(cfg), heatmap_sigma=cfg.heatmap_sigma, mask_from_joints=True)
    out = Path(out) if out is not None else None

    def batches():
        per = cfg.clips_per_video
        for v in range(len(test) // per):
            items = [test[v * per + c] for c in range(per)]
            inputs = {k: torch.stack([it[k] for it in items]) for k in (*loaded.spec.inputs, "mask")}
            yield [items[0]["name"]] * per, [test.classes[items[0]["label"]]] * per, inputs

    rows = _rows(loaded, batches(), out, strips)
    return _summarise(rows, out, run=str(loaded.folder), experiment=cfg.experiment, split=cfg.split)


def explain_input(run: str | Path, input: str | Path, *, out: str | Path | None = None,
                  estimator: str = "mediapipe", max_side: int | None = 640, max_frames: int | None = None,
                  window: int | None = None,
                  device: str = "cpu") -> dict[str, Any]:
    """Context reliance and strips for videos (as ``predict`` reads them, pose estimated for the
    mask), one clip per sliding window."""
    from actionpose.extract.estimators import make_estimator
    from actionpose.extract.sources import find_clips
    from actionpose.use.model import open_run
    from actionpose.use.predict import DEFAULT_WINDOW, estimate_pose, read_clip, window_inputs, window_starts

    loaded = open_run(run, device=device)
    spec = dataclasses.replace(loaded.spec, inputs=tuple(dict.fromkeys((*loaded.spec.inputs, "mask"))))
    window = window or DEFAULT_WINDOW
    sources, _ = find_clips(input)
    out = Path(out) if out is not None else None
    est = make_estimator(estimator)

    def batches():
        for src in sources:
            frames, _, _ = read_clip(src, max_side, max_frames)
            pose = estimate_pose(frames, est)
            spans = [(s, min(s + window, len(frames)))
                     for s in window_starts(len(frames), window, max(1, window // 2))]
            items = [window_inputs(spec, frames, pose, span) for span in spans]
            yield [src.video] * len(items), [None] * len(items), \
                {k: torch.stack([it[k] for it in items]) for k in spec.inputs}

    try:
        rows = _rows(loaded, batches(), out, strips=len(sources))
    finally:
        est.close()
    return _summarise(rows, out, run=str(loaded.folder), experiment=loaded.cfg.experiment, input=str(input))


def reliance_over_runs(runs: str | Path, out: str | Path | None = None, *, device: str = "cpu") -> list[dict[str, Any]]:
    """Context reliance of every complete run under ``runs`` (``runs/<experiment>/<run>/``),
    one row each; a run's own numbers go to ``RUN/eval/context_reliance/`` and are reused while
    newer than its ``last.pt``. With ``out`` (a folder): ``context_reliance_runs.csv`` and
    ``context_reliance_runs.png`` (per experiment, and against the context bias when swept)."""
    import json

    from actionpose.errors import RunError
    from actionpose.train.experiments import dataset_label

    rows = []
    for folder in sorted(Path(runs).glob("*/*/summary.json")):
        run = folder.parent
        try:
            if not json.loads(folder.read_text()).get("complete"):
                continue
            cfg = json.loads((run / "config.json").read_text())
        except (OSError, ValueError) as exc:
            raise RunError(f"{folder}: unreadable run record ({exc})") from None
        cached = run / "eval" / "context_reliance" / "context_reliance.json"
        if cached.is_file() and cached.stat().st_mtime >= (run / "last.pt").stat().st_mtime:
            summary = json.loads(cached.read_text())
        else:
            summary = run_context_reliance(run, out=cached.parent, strips=0, device=device)
        rows.append({"experiment": cfg["experiment"], "run": run.name, "dataset": dataset_label(cfg["dataset"]),
                     "context_bias": cfg.get("context_bias"), "seed": cfg["seed"], "pose": cfg["pose"],
                     "videos": summary["videos"], "method": summary["method"],
                     "context_reliance": summary["mean_context_reliance"],
                     "mask_fraction": summary["mean_mask_fraction"]})
    if not rows:
        raise RunError(f"{runs}: no complete run folders (runs/<experiment>/<run>/) found")
    if out is not None:
        out = Path(out)
        with atomic_path(out / "context_reliance_runs.csv") as tmp:
            with open(tmp, "w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=list(rows[0]))
                w.writeheader()
                w.writerows(rows)
        reliance_figure(rows, out / "context_reliance_runs.png")
    return rows


def reliance_figure(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Mean context reliance per experiment (seeds as dots, the mask's share of the pixels as a
    tick) and, when runs at several context biases exist, reliance against the bias."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    base = [r for r in rows if r["context_bias"] is None and r["context_reliance"] is not None]
    swept = [r for r in rows if r["context_bias"] is not None and r["context_reliance"] is not None]
    fig, axes = plt.subplots(1, 2 if swept else 1, figsize=(11 if swept else 6, 3.6), squeeze=False)
    ax = axes[0, 0]
    names = sorted({(r["dataset"], r["experiment"]) for r in base})
    for x, (dataset, exp) in enumerate(names):
        vals = [r for r in base if (r["dataset"], r["experiment"]) == (dataset, exp)]
        ys = [r["context_reliance"] for r in vals]
        ax.bar(x, np.mean(ys), color="tab:blue", alpha=0.6)
        ax.plot([x] * len(ys), ys, "k.", ms=4)
        ax.plot([x - 0.4, x + 0.4], [np.mean([r["mask_fraction"] for r in vals])] * 2, "r-", lw=1)
    ax.set_xticks(range(len(names)), [f"{e}\n({d})" for d, e in names], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("attribution inside the person mask")
    ax.set_title("context reliance (red: the mask's share of the pixels)", fontsize=9)
    if swept:
        ax = axes[0, 1]
        for exp in sorted({r["experiment"] for r in swept}):
            pts = sorted((r["context_bias"], r["context_reliance"]) for r in swept if r["experiment"] == exp)
            biases = sorted({b for b, _ in pts})
            ax.plot(biases, [np.mean([y for b2, y in pts if b2 == b]) for b in biases], "o-", label=exp)
        ax.set_xlabel("context bias b")
        ax.set_title("context reliance across the context-bias sweep", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, metadata={"Software": None})
    plt.close(fig)
    return path


def main(args) -> int:
    """CLI handler of ``actionpose explain``."""
    from actionpose.use.predict import quiet_ffmpeg

    quiet_ffmpeg()
    if args.input is None and not (Path(args.run) / "config.json").is_file() and Path(args.run).is_dir():
        rows = reliance_over_runs(args.run, args.out, device=args.device)
        for r in rows:
            print(f"{r['experiment']} {r['run']}: context reliance {r['context_reliance']:.3f} "
                  f"(mask covers {r['mask_fraction']:.3f})")
        print(f"wrote {Path(args.out) / 'context_reliance_runs.csv'} and .png", file=sys.stderr)
        return 0
    if args.input is None:
        summary = run_context_reliance(args.run, out=args.out, device=args.device)
    else:
        summary = explain_input(args.run, args.input, out=args.out, estimator=args.estimator,
                                max_side=args.max_side, max_frames=args.max_frames, device=args.device)
    for r in summary["per_video"]:
        print(f"{r['video']}: {r['prediction']} {r['probability']:.2f}; context reliance "
              f"{r['context_reliance']:.3f} (mask covers {r['mask_fraction']:.3f})")
    mean = summary["mean_context_reliance"]
    print(f"{summary['videos']} video(s), {summary['method']}: mean context reliance "
          f"{'n/a' if mean is None else f'{mean:.3f}'}, mean mask fraction {summary['mean_mask_fraction']:.3f}"
          f"; wrote {args.out}", file=sys.stderr)
    return 0
