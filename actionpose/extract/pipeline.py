"""Extraction: any video collection -> a JHMDB-format tree with estimated pose.

``actionpose pose extract INPUT --out ROOT`` (handler :func:`main`, work in :func:`extract`;
what INPUT may be: :mod:`actionpose.extract.sources`). Each clip gets

- ``Rename_Images/<class>/<video>/00001.png ...`` (resized to ``--size`` if given; pose is
  estimated on the frames as written),
- ``joint_positions/<class>/<video>/joint_positions.mat`` in JHMDB-15, pos_img 1-based; frames
  without a person have NaN joints and confidence 0, and a ``confidence`` (15, T) array holds
  the estimator's per-joint confidence,
- ``puppet_mask/<class>/<video>/puppet_mask.mat`` from MediaPipe's person segmentation
  (threshold 0.5; all zero where no person), or rasterised from the joints for estimators
  without segmentation,
- ``pose_meta/<class>/<video>.json`` written last: the clip's completion marker (frames,
  person fraction, estimator, source file). A clip with its marker and files is skipped on a
  re-run, so an interrupted extraction resumes where it stopped.

Splits: after extraction the tree's ``splits/<class>_test_split<k>.txt`` are rewritten over every
complete clip (:func:`actionpose.extract.splits.hashed_splits`).
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from actionpose.data import jhmdb
from actionpose.errors import ActionposeError, DataError, PoseError
from actionpose.extract.estimators import PoseEstimator, estimate_clip, make_estimator
from actionpose.extract.sources import ClipSource, find_clips, read_source, resize
from actionpose.extract.splits import hashed_splits
from actionpose.io import write_json

__all__ = ["META_DIR", "clip_complete", "write_extracted_splits", "extract", "main"]

META_DIR = "pose_meta"


def _meta_path(root: Path, cls: str, video: str) -> Path:
    return root / META_DIR / cls / f"{video}.json"


def clip_complete(root: str | Path, cls: str, video: str) -> bool:
    """True when the clip's marker and its frames, joints and mask files all exist."""
    root = Path(root)
    return (
        _meta_path(root, cls, video).is_file()
        and jhmdb.joints_path(root, cls, video).is_file()
        and jhmdb.mask_path(root, cls, video).is_file()
        and jhmdb.frames_dir(root, cls, video).is_dir()
    )


# --------------------------------------------------------------------------------------------
# extraction

_WORKER_ESTIMATOR: PoseEstimator | None = None


def _init_worker(estimator: str, model_complexity: int) -> None:
    global _WORKER_ESTIMATOR
    os.environ.setdefault("GLOG_minloglevel", "2")
    _WORKER_ESTIMATOR = make_estimator(estimator, model_complexity=model_complexity)


def _extract_one(
    src: ClipSource, root: Path, estimator: PoseEstimator, max_frames: int | None, size: tuple[int, int] | None
) -> dict:
    t0 = time.perf_counter()
    frames = resize(read_source(src, max_frames), size)
    joints, conf, masks = estimate_clip(estimator, frames)
    T = frames.shape[0]
    pos_img = np.transpose(joints, (2, 1, 0)).astype(np.float64) + 1.0  # (2, 15, T), 1-based
    person = conf.max(1) > 0
    jhmdb.write_clip(
        root, src.cls, src.video,
        frames=frames, pos_img=pos_img, mask=np.transpose(masks, (1, 2, 0)),
        confidence=conf.T.astype(np.float32), viewpoint="",
    )
    meta = {
        "class": src.cls, "video": src.video, "source": str(src.path), "kind": src.kind,
        "estimator": estimator.name, "frames": int(T), "height": int(frames.shape[1]),
        "width": int(frames.shape[2]), "person_frames": int(person.sum()),
        "person_fraction": float(person.mean()), "mean_confidence": float(conf[person].mean()) if person.any() else 0.0,
        "seconds": time.perf_counter() - t0,
    }
    write_json(_meta_path(root, src.cls, src.video), meta)  # the completion marker, last
    return meta


def _worker_task(src: ClipSource, root: Path, max_frames, size) -> tuple[str, dict | str]:
    try:
        return "ok", _extract_one(src, root, _WORKER_ESTIMATOR, max_frames, size)
    except ActionposeError as exc:
        return "skip", str(exc)


def write_extracted_splits(root: str | Path) -> int:
    """Rewrite the official-format splits over every complete clip; returns the clip count."""
    root = Path(root)
    meta_root = root / META_DIR
    clips: dict[str, list[str]] = {}
    if meta_root.is_dir():
        for cls_dir in sorted(p for p in meta_root.iterdir() if p.is_dir()):
            for m in sorted(cls_dir.glob("*.json")):
                if clip_complete(root, cls_dir.name, m.stem):
                    clips.setdefault(cls_dir.name, []).append(m.stem)
    assignments = hashed_splits(clips)
    if assignments:
        jhmdb.write_splits(root, assignments, formats=("official",))
    return len(assignments)


def extract(
    input: str | Path,
    out: str | Path,
    *,
    estimator: str = "mediapipe",
    model_complexity: int = 1,
    workers: int = 1,
    max_frames: int | None = None,
    size: tuple[int, int] | None = None,
    progress: bool = True,
) -> dict:
    """Extract pose from INPUT into a JHMDB-format tree at ``out``; returns a summary dict.

    Summary keys: ``out``, ``clips`` (complete clips in the tree), ``extracted`` (this run),
    ``already_done`` (skipped as complete), ``skipped`` [(path, reason)], ``frames`` (extracted
    this run), ``person_fraction`` (over those frames), ``seconds``, ``frames_per_second``,
    ``per_clip`` {"class/video": meta}.
    """
    from tqdm.auto import tqdm

    root = Path(out)
    if max_frames is not None and max_frames < 1:
        raise PoseError(f"max_frames must be >= 1, got {max_frames}")
    if workers < 1:
        raise PoseError(f"workers must be >= 1, got {workers}")
    sources, skipped = find_clips(input)
    t0 = time.perf_counter()
    todo = [s for s in sources if not clip_complete(root, s.cls, s.video)]
    already = len(sources) - len(todo)
    per_clip: dict[str, dict] = {}
    # build an estimator up front so a missing extra or a bad option fails before any work
    local = make_estimator(estimator, model_complexity=model_complexity) if todo else None
    bar = tqdm(total=len(todo), desc="pose extract", unit="clip", disable=not progress or not todo)
    try:
        if workers == 1 or len(todo) <= 1:
            for src in todo:
                try:
                    per_clip[f"{src.cls}/{src.video}"] = _extract_one(src, root, local, max_frames, size)
                except ActionposeError as exc:
                    skipped.append((str(src.path), str(exc)))
                bar.update(1)
        else:
            local.close()
            local = None
            # spawn, not fork: a forked copy of MediaPipe's or torch's running threads can hang
            with ProcessPoolExecutor(
                max_workers=min(workers, len(todo)), mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker, initargs=(estimator, model_complexity),
            ) as pool:
                futures = {pool.submit(_worker_task, s, root, max_frames, size): s for s in todo}
                for fut in as_completed(futures):
                    src = futures[fut]
                    status, value = fut.result()
                    if status == "ok":
                        per_clip[f"{src.cls}/{src.video}"] = value
                    else:
                        skipped.append((str(src.path), value))
                    bar.update(1)
    finally:
        bar.close()
        if local is not None:
            local.close()
    n_clips = write_extracted_splits(root)
    seconds = time.perf_counter() - t0
    frames = sum(m["frames"] for m in per_clip.values())
    person = sum(m["person_frames"] for m in per_clip.values())
    summary = {
        "out": str(root),
        "clips": n_clips,
        "extracted": len(per_clip),
        "already_done": already,
        "skipped": skipped,
        "frames": frames,
        "person_fraction": person / frames if frames else None,
        "seconds": seconds,
        "frames_per_second": frames / seconds if frames and seconds > 0 else None,
        "per_clip": per_clip,
    }
    if n_clips:
        write_json(root / "pose_extract_summary.json", summary)
    return summary


def main(args) -> int:
    """CLI handler of ``actionpose pose extract``."""
    summary = extract(
        args.input, args.out,
        estimator=args.estimator, model_complexity=args.model_complexity, workers=args.workers,
        max_frames=args.max_frames, size=args.size, progress=sys.stderr.isatty(),
    )
    for name, meta in sorted(summary["per_clip"].items()):
        print(f"  {name}: {meta['frames']} frames, person in {meta['person_fraction']:.0%}")
    for path, reason in summary["skipped"]:
        print(f"  skipped {path}: {reason}")
    fps = summary["frames_per_second"]
    print(
        f"pose extract: {summary['extracted']} clip(s) extracted, {summary['already_done']} already done, "
        f"{len(summary['skipped'])} skipped; {summary['frames']} frames"
        + (f" at {fps:.1f} frames/s" if fps else "")
        + f"; {summary['clips']} clip(s) in {summary['out']}"
    )
    if summary["clips"] == 0:
        raise DataError(args.input, "no clip could be extracted (see the skipped list above)")
    return 0
