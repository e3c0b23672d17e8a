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
without INPUT it explains the run's test split (:func:`run_context_reliance`: the engine's own test
dataset, the mask read with the model's inputs, so both get the same sampling, crop and resize).

``actionpose explain --test-split RUN [RUN ...]`` (run folders, or folders holding runs) does every
test video of each run and writes ``RUN/context_reliance.csv`` (video, label, prediction,
probability, context_reliance, mask_fraction, method) and ``RUN/context_reliance.json`` (the
means, timing, agreement with the run's ``predictions.csv``) beside the run's record, which is never
changed (:func:`reliance_beside_run`); both are reused while newer than the run's ``last.pt``.
``actionpose records collect`` copies the CSV into the run's record, and ``actionpose figures``
reads it (:mod:`actionpose.report.reliance`). Given ``--out`` it also writes a table of the runs
and the report's context-reliance figure of them.
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

__all__ = ["attribution_maps", "context_reliance", "run_context_reliance", "reliance_beside_run",
           "find_runs", "explain_input", "save_strip", "reliance_over_runs", "main"]

STRIPS = 8  # PNG strips written for a run's test split (every video gets its numbers)
BATCH = 8  # clips per attribution batch (whole videos: a video's clips are never split)
RELIANCE_CSV, RELIANCE_JSON = "context_reliance.csv", "context_reliance.json"
CSV_FIELDS = ["video", "label", "prediction", "probability", "context_reliance", "mask_fraction", "method"]


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
    if not {"video", "mask"} & set(module.names):
        raise ConfigError(f"{loaded.source}: experiment {cfg.experiment!r} reads the joints alone: "
                          "no frames or mask for Grad-CAM to map or context to rely on")
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
    """Per video: label, prediction, context reliance, mask fraction (strips for the first ones
    into ``out``). ``batches`` yield (video names, labels, inputs with a ``mask``), a video's clips
    together."""
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


def _summarise(rows: list[dict[str, Any]], **info) -> dict[str, Any]:
    shares = np.array([r["context_reliance"] for r in rows], float)
    fractions = np.array([r["mask_fraction"] for r in rows], float)
    return {**info, "videos": len(rows), "mean_context_reliance": float(np.nanmean(shares)) if
            np.isfinite(shares).any() else None, "mean_mask_fraction": float(fractions.mean()),
            "method": rows[0]["method"] if rows else None, "per_video": rows}


def _write(folder: Path, summary: dict[str, Any]) -> None:
    """``context_reliance.csv`` (one row per video) and ``context_reliance.json`` (the rest)."""
    with atomic_path(folder / RELIANCE_CSV) as tmp:
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
            w.writeheader()
            w.writerows(summary["per_video"])
    write_json(folder / RELIANCE_JSON, {k: v for k, v in summary.items() if k != "per_video"})


def _test_dataset(loaded, root: Path, *, frames: bool):
    """The run's test dataset as the engine builds its test loader (sampling, crop, resize,
    cache), reading the mask beside the model's inputs (and the frames, for strips): every
    modality of an item goes through the same transform, so the mask lies where the model looks."""
    from actionpose.data.dataset import JHMDB
    from actionpose.data.roots import default_cache_dir
    from actionpose.models.registry import heatmap_size
    from actionpose.train.engine import _dataset_options  # the test loader's own options

    cfg = loaded.cfg
    options = _dataset_options(cfg, heatmap_size=heatmap_size(cfg), cache_dir=default_cache_dir(root),
                               uint8=False)
    reads = tuple(options["modalities"])
    if cfg.crop == "person" and "mask" not in reads:
        # the person crop is boxed on the mask when one is read, on the joints otherwise: reading
        # the mask would move the crop away from the one the model was evaluated with
        raise ConfigError(f"{loaded.folder}: context reliance of a crop=person run without a mask "
                          "input is not supported (its crop box comes from the joints)")
    options["modalities"] = tuple(dict.fromkeys((*reads, *(("frames",) if frames else ()), "mask")))
    options["mask_from_joints"] = True  # a tree without mask files: the mask drawn from the joints
    return JHMDB(root, subset="test", clips_per_video=cfg.clips_per_video, **options)


def run_context_reliance(run: str | Path, *, out: str | Path | None = None, data: str | Path | None = None,
                         strips: int = STRIPS, device: str = "cpu") -> dict[str, Any]:
    """Context reliance of every video of a run's test split (its clips, as evaluated), with
    ``out``: ``context_reliance.csv``/``.json`` and PNG strips of the first ``strips`` videos."""
    from actionpose.use.model import open_run, run_data_root

    loaded = open_run(run, device=device)
    root = run_data_root(loaded, data)
    out = Path(out) if out is not None else None
    test = _test_dataset(loaded, root, frames=out is not None and strips > 0)
    names = tuple(dict.fromkeys((*loaded.spec.inputs, "mask")))

    def batches():
        per = loaded.cfg.clips_per_video
        videos = len(test) // per
        step = max(1, BATCH // per)
        for v0 in range(0, videos, step):
            items = [test[i] for i in range(v0 * per, min(videos, v0 + step) * per)]
            keys = dict.fromkeys((*names, *(("video",) if "video" in items[0] else ())))  # + frames to draw
            inputs = {k: torch.stack([it[k] for it in items]) for k in keys}
            yield [it["name"] for it in items], [test.classes[it["label"]] for it in items], inputs

    rows = _rows(loaded, batches(), out, strips)
    summary = _summarise(rows, run=str(loaded.folder), experiment=loaded.cfg.experiment, split=loaded.cfg.split)
    if out is not None:
        _write(out, summary)
    return summary


def _agreement(run: Path, rows: list[dict[str, Any]]) -> float | None:
    """Share of the videos whose prediction here equals the run's ``predictions.csv`` (None
    without one): 1 unless the run was trained in reduced precision or its data changed."""
    path = run / "predictions.csv"
    if not path.is_file():
        return None
    with open(path, newline="") as fh:
        recorded = {r["video"]: r["prediction"] for r in csv.DictReader(fh)}
    same = [recorded.get(r["video"]) == r["prediction"] for r in rows]
    return float(np.mean(same)) if same else None


def _open_config(run: Path) -> dict[str, Any]:
    import json

    return json.loads((run / "config.json").read_text())  # open_run has read it already


def _fresh(run: Path) -> dict[str, Any] | None:
    """The stored summary of ``run``'s context reliance if both files are newer than its weights."""
    import json

    paths = [run / RELIANCE_JSON, run / RELIANCE_CSV]
    weights = run / "last.pt"
    if not all(p.is_file() for p in paths) or not weights.is_file():
        return None
    if min(p.stat().st_mtime for p in paths) < weights.stat().st_mtime:
        return None
    try:
        return json.loads(paths[0].read_text())
    except (OSError, ValueError):
        return None  # recomputed and rewritten


def reliance_beside_run(run: str | Path, *, redo: bool = False, data: str | Path | None = None,
                        device: str = "cpu", strips_out: str | Path | None = None,
                        strips: int = STRIPS) -> dict[str, Any]:
    """Context reliance of every test video of ``run``, stored beside it as ``context_reliance.csv``
    and ``context_reliance.json`` (the run's own record is not touched); reused while newer than
    its ``last.pt`` unless ``redo``. ``strips_out``: PNG strips of the first ``strips`` videos there.
    Returns the summary (``reused`` says whether it was computed now)."""
    import time

    run = Path(run)
    stored = None if redo or strips_out is not None else _fresh(run)
    if stored is not None:
        return {**stored, "reused": True}
    t0 = time.perf_counter()
    summary = run_context_reliance(run, out=strips_out, data=data, strips=strips, device=device)
    seconds = time.perf_counter() - t0
    cfg = _open_config(run)
    summary = {**summary, "run": run.name, "preset": cfg.get("preset"), "seed": cfg.get("seed"),
               "agreement_with_predictions_csv": _agreement(run, summary["per_video"]),
               "device": device, "seconds": seconds,
               "seconds_per_video": seconds / max(1, summary["videos"])}
    _write(run, summary)
    return {**summary, "reused": False}


def _unexplainable(config: dict) -> str | None:
    """Why a run's model has no attribution in pixels (it reads no frames and no mask), or None."""
    from actionpose.models.registry import modalities
    from actionpose.train.experiments import TrainConfig

    try:
        reads = modalities(TrainConfig.from_dict(config))
    except Exception:  # noqa: BLE001 - open_run names what is wrong with the config
        return None
    if {"frames", "mask"} & set(reads):
        return None
    return f"{config.get('family')} reads {', '.join(reads) or 'no pixels'}: no attribution in pixels"


def find_runs(paths: Iterable[str | Path], split: int | None = None) -> tuple[list[Path], list[str]]:
    """(run folders, reasons some were passed over) for ``paths``: each a run folder, or a folder
    searched for complete runs with weights (``split``: only that split's). A named run folder
    that is unfinished, lacks weights or is of another split is an error; a searched one is
    passed over with its reason."""
    import json

    from actionpose.errors import RunError

    runs, passed = [], []
    for path in map(Path, paths):
        if not path.is_dir():
            raise RunError(f"{path}: run folder not found")
        if (path / "config.json").is_file():
            found, named = [path], True
        else:
            found, named = sorted(p.parent for p in path.rglob("summary.json")
                                  if (p.parent / "config.json").is_file()), False
            if not found:
                raise RunError(f"{path}: neither a run folder nor a folder holding runs "
                               "(no config.json with a summary.json below it)")
        for run in found:
            try:
                summary = json.loads((run / "summary.json").read_text()) if (run / "summary.json").is_file() else {}
                config = json.loads((run / "config.json").read_text())
            except (OSError, ValueError) as exc:
                raise RunError(f"{run}: unreadable run record ({' '.join(str(exc).split())})") from None
            trained = config.get("split")
            reason = ("unfinished" if not summary.get("complete") else "no last.pt (weights not kept)"
                      if not (run / "last.pt").is_file() else _unexplainable(config))
            if split is not None and trained != split:
                if named:
                    raise RunError(f"{run}: trained on split {trained}, not split {split}")
                continue
            if reason is not None:
                if named:
                    raise RunError(f"{run}: {reason}; context reliance needs a finished run with its weights")
                passed.append(f"{run}: {reason}")
                continue
            runs.append(run)
    return list(dict.fromkeys(runs)), passed


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
    summary = _summarise(rows, run=str(loaded.folder), experiment=loaded.cfg.experiment, input=str(input))
    if out is not None:
        _write(out, summary)
    return summary


def _run_row(run: Path, summary: dict[str, Any]) -> dict[str, Any]:
    """One row of the runs table: the run's identity (as the report reads records) and its means."""
    import json

    from actionpose.train.experiments import dataset_label

    cfg = json.loads((run / "config.json").read_text())
    record = json.loads((run / "summary.json").read_text())
    world = record.get("context_bias")
    return {"experiment": cfg["experiment"], "run": run.name, "dataset": dataset_label(cfg["dataset"]),
            "preset": cfg["preset"], "split": cfg["split"], "seed": cfg["seed"], "pose": cfg["pose"],
            "context_bias": np.nan if cfg.get("context_bias") is None else float(cfg["context_bias"]),
            "world_context_bias": np.nan if world is None else float(world),
            "videos": summary["videos"], "method": summary["method"],
            "context_reliance": np.nan if summary["mean_context_reliance"] is None
            else summary["mean_context_reliance"],
            "mask_fraction": summary["mean_mask_fraction"],
            "seconds_per_video": summary.get("seconds_per_video"), "path": str(run)}


def reliance_over_runs(paths: str | Path | Iterable[str | Path], out: str | Path | None = None, *,
                       split: int | None = None, redo: bool = False, data: str | Path | None = None,
                       device: str = "cpu", strips: int = 0, report=print) -> list[dict[str, Any]]:
    """:func:`reliance_beside_run` of every run :func:`find_runs` finds under ``paths``, one row
    each (``report`` gets a line per run as it is done). With ``out`` (a folder):
    ``context_reliance_runs.csv``, the report's ``context_reliance.png`` of these runs (with vs
    without pose, and across the context bias when swept) and, with ``strips``, PNG strips of the
    first videos of each run under ``out/<experiment>/<run>/``."""
    import pandas as pd

    from actionpose.report.reliance import reliance_figure, save_figure

    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    runs, passed = find_runs(paths, split)
    if not runs:
        from actionpose.errors import RunError

        raise RunError(f"{', '.join(map(str, paths))}: no finished run with its weights found"
                       + (f" (passed over {len(passed)}, e.g. {passed[0]})" if passed else ""))
    for line in passed:
        print(f"skipped {line}", file=sys.stderr)
    out = Path(out) if out is not None else None
    rows = []
    for run in runs:
        where = out / run.parent.name / run.name if out is not None and strips else None
        summary = reliance_beside_run(run, redo=redo, data=data, device=device, strips_out=where, strips=strips)
        rows.append(_run_row(run, summary))
        report(_line(rows[-1], summary))
    if out is not None:
        table = pd.DataFrame(rows)
        with atomic_path(out / "context_reliance_runs.csv") as tmp:
            table.drop(columns=["path"]).to_csv(tmp, index=False)
        fig = reliance_figure(table)
        if fig is not None:
            save_figure(fig, out, "context_reliance")
    return rows


def _line(row: dict[str, Any], summary: dict[str, Any]) -> str:
    share = row["context_reliance"]
    agree = summary.get("agreement_with_predictions_csv")
    timing = ("reused" if summary.get("reused") else
              f"{summary['seconds']:.1f} s, {summary['seconds_per_video']:.3f} s/video")
    return (f"{row['experiment']} {row['run']}: context reliance "
            f"{'n/a' if np.isnan(share) else f'{share:.3f}'} (mask covers {row['mask_fraction']:.3f}), "
            f"{row['videos']} videos, {row['method']}"
            + ("" if agree is None else f", predictions as recorded: {agree:.0%}") + f" [{timing}]")


def main(args) -> int:
    """CLI handler of ``actionpose explain``."""
    from actionpose.use.predict import quiet_ffmpeg

    quiet_ffmpeg()
    runs = None
    if args.test_split is not None:
        if args.input is not None:
            raise ConfigError("explain --test-split takes run folders only (an INPUT video is "
                              "explained without --test-split)")
        runs = ([args.run] if args.run is not None else []) + list(args.test_split)
        if not runs:
            raise ConfigError("explain --test-split: name at least one run folder (or a folder of runs)")
    elif args.run is None:
        raise ConfigError("explain: name a run folder (RUN), or use --test-split RUN [RUN ...]")
    elif args.input is None and not (Path(args.run) / "config.json").is_file() and Path(args.run).is_dir():
        runs = [args.run]  # a folder of runs: each run's test split
    if runs is not None:
        rows = reliance_over_runs(runs, args.out, split=args.split, redo=args.redo, data=args.data,
                                  device=args.device, strips=(args.strips or 0) if args.out else 0)
        where = f"; wrote {Path(args.out) / 'context_reliance_runs.csv'}" if args.out else ""
        print(f"{len(rows)} run(s): context_reliance.csv and .json beside each run{where}", file=sys.stderr)
        return 0
    if args.out is None:
        raise ConfigError("explain RUN [INPUT]: --out DIR is required (the strips and "
                          "context_reliance.csv go there)")
    if args.input is None:
        summary = run_context_reliance(args.run, out=args.out, data=args.data, device=args.device,
                                       strips=STRIPS if args.strips is None else args.strips)
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
