"""Offline pose extraction: any video collection -> a JHMDB-format tree with estimated pose.

``actionpose pose extract INPUT --out ROOT`` (handler :func:`main`, work in :func:`extract`).

INPUT is one of
- a video file (class ``unlabeled``),
- a folder of videos: videos in class sub-folders take the sub-folder as label (as in HMDB51 or
  UCF101), videos directly in the folder get class ``unlabeled``,
- a folder of frames (.png/.jpg, no videos): one clip named after the folder, class ``unlabeled``.

Files beside the videos that are not videos (stills, notes, ...) are skipped and listed with the
reason in the summary: a still is not a clip (put it in a folder of its own to extract it as a
one-frame clip). Each clip gets

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

Splits: after extraction ``splits/<class>_test_split<k>.txt`` (official format) are rewritten
over every complete clip of the tree: per class, a deterministic 70/30 train/test split of the
videos ordered by a hash of (k, name), so the three splits differ; a class with one video puts
it in train.
"""
from __future__ import annotations

import hashlib
import multiprocessing
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actionpose.data import jhmdb
from actionpose.errors import ActionposeError, DataError, PoseError
from actionpose.io import write_json
from actionpose.pose.skeletons import COCO17, JHMDB15, MEDIAPIPE33, Skeleton, to_jhmdb15

__all__ = [
    "PoseEstimator", "MediaPipePose", "KeypointRCNN", "make_estimator", "estimate_clip",
    "find_clips", "ClipSource", "clip_complete", "write_extracted_splits", "extract", "main",
    "META_DIR", "UNLABELED",
]

META_DIR = "pose_meta"
UNLABELED = "unlabeled"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
MASK_THRESHOLD = 0.5
TRAIN_FRACTION = 0.7
POSE_EXTRA = "pip install actionpose[pose]  (mediapipe==0.10.14)"


# --------------------------------------------------------------------------------------------
# estimators


class PoseEstimator:
    """One person's pose per RGB frame. Subclasses set ``skeleton`` and implement ``__call__``.

    ``__call__(frame)`` takes uint8 (H, W, 3) RGB and returns keypoints (K, 2) in 0-based
    pixels (NaN when no person), confidence (K,) in [0, 1] and a person mask (H, W) float in
    [0, 1] or None when the estimator has no segmentation. ``reset()`` forgets any tracking
    state (call it between clips); ``close()`` frees resources.
    """

    name = "base"
    skeleton: Skeleton = JHMDB15

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        raise NotImplementedError

    def reset(self) -> None:
        """Forget tracking state (the next frame starts a new clip)."""

    def close(self) -> None:
        """Free resources."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @staticmethod
    def _check_frame(frame: np.ndarray) -> np.ndarray:
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise PoseError(f"a frame must be uint8 RGB (H, W, 3), got {frame.dtype} {frame.shape}")
        return np.ascontiguousarray(frame)

    def _no_person(self) -> tuple[np.ndarray, np.ndarray, None]:
        k = self.skeleton.num_joints
        return np.full((k, 2), np.nan, np.float32), np.zeros(k, np.float32), None


class MediaPipePose(PoseEstimator):
    """MediaPipe Pose (legacy ``solutions.pose``), 33 landmarks, tracking across frames.

    Only ``model_complexity=1`` ships inside the mediapipe wheel; 0 and 2 would download their
    model at first use, which fails offline, so they are refused up front.
    """

    name = "mediapipe"
    skeleton = MEDIAPIPE33

    def __init__(
        self,
        model_complexity: int = 1,
        *,
        static_image_mode: bool = False,
        enable_segmentation: bool = True,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
    ):
        if model_complexity != 1:
            raise PoseError(
                f"MediaPipe model_complexity={model_complexity} is not available offline: only "
                "model_complexity=1 (pose_landmark_full) ships in the mediapipe wheel; 0 and 2 "
                "are downloaded at first use. Use --model-complexity 1."
            )
        os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ log chatter
        try:
            import mediapipe as mp
        except ImportError as exc:
            raise PoseError(f"mediapipe is not installed ({exc}); install it with: {POSE_EXTRA}") from exc
        self.enable_segmentation = enable_segmentation
        self._pose = mp.solutions.pose.Pose(
            static_image_mode=static_image_mode,
            model_complexity=model_complexity,
            smooth_landmarks=True,
            enable_segmentation=enable_segmentation,
            smooth_segmentation=True,
            min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence,
        )

    def __call__(self, frame: np.ndarray):
        frame = self._check_frame(frame)
        H, W = frame.shape[:2]
        with warnings.catch_warnings():  # protobuf's deprecation notice from inside mediapipe
            warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype")
            result = self._pose.process(frame)
        if result.pose_landmarks is None:
            return self._no_person()
        lm = result.pose_landmarks.landmark
        xyv = np.array([(p.x, p.y, p.visibility) for p in lm], np.float32)  # normalised to [0, 1]
        # MediaPipe's normalised coordinates measure from the image's edge; 0-based pixel
        # coordinates measure from the first pixel's centre
        keypoints = np.stack([xyv[:, 0] * W - 0.5, xyv[:, 1] * H - 0.5], -1)
        confidence = np.clip(xyv[:, 2], 0.0, 1.0)
        mask = None
        if self.enable_segmentation and result.segmentation_mask is not None:
            mask = np.asarray(result.segmentation_mask, np.float32)
        return keypoints, confidence, mask

    def reset(self) -> None:
        self._pose.reset()

    def close(self) -> None:
        if getattr(self, "_pose", None) is not None:
            self._pose.close()
            self._pose = None


class KeypointRCNN(PoseEstimator):
    """torchvision's Keypoint R-CNN (ResNet-50 FPN, COCO-17), the highest-scoring person.

    Needs its COCO weights in the torch hub cache (``torch.hub.get_dir()/checkpoints``); this
    class never downloads. No segmentation: extraction rasterises the mask from the joints.
    """

    name = "keypointrcnn"
    skeleton = COCO17

    def __init__(self, *, min_score: float = 0.5, device: str = "cpu"):
        import torch
        from torchvision.models.detection import (
            KeypointRCNN_ResNet50_FPN_Weights,
            keypointrcnn_resnet50_fpn,
        )

        weights = KeypointRCNN_ResNet50_FPN_Weights.COCO_V1
        cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        if not cached.is_file():
            raise PoseError(
                f"Keypoint R-CNN weights are not in the torch hub cache ({cached} is missing) and "
                f"this tool does not download; fetch them once online from {weights.url} into "
                f"{cached.parent}, or use --estimator mediapipe"
            )
        try:
            state = torch.load(cached, map_location="cpu", weights_only=True)
            model = keypointrcnn_resnet50_fpn(weights=None, weights_backbone=None)
            model.load_state_dict(state)
        except Exception as exc:  # a truncated or foreign file
            raise PoseError(f"{cached}: cannot load Keypoint R-CNN weights: {exc}") from exc
        self._torch = torch
        self.model = model.eval().to(device)
        self.device = device
        self.min_score = min_score

    def __call__(self, frame: np.ndarray):
        frame = self._check_frame(frame)
        torch = self._torch
        x = torch.from_numpy(frame).permute(2, 0, 1).float().div(255).to(self.device)
        with torch.inference_mode():
            out = self.model([x])[0]
        keep = out["scores"] >= self.min_score
        if not bool(keep.any()):
            return self._no_person()
        best = int(torch.argmax(torch.where(keep, out["scores"], torch.zeros_like(out["scores"]))))
        keypoints = out["keypoints"][best, :, :2].cpu().numpy().astype(np.float32)
        # keypoint scores are heatmap logits; a sigmoid gives a usable [0, 1] confidence
        confidence = torch.sigmoid(out["keypoints_scores"][best]).cpu().numpy().astype(np.float32)
        return keypoints, confidence * float(out["scores"][best]), None


def make_estimator(name: str = "mediapipe", *, model_complexity: int = 1) -> PoseEstimator:
    """An estimator by name: ``mediapipe`` or ``keypointrcnn``."""
    key = name.lower().replace("-", "").replace("_", "")
    if key == "mediapipe":
        return MediaPipePose(model_complexity=model_complexity)
    if key == "keypointrcnn":
        return KeypointRCNN()
    raise PoseError(f"unknown estimator {name!r}; choose mediapipe or keypointrcnn")


def estimate_clip(
    estimator: PoseEstimator, frames: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run ``estimator`` over (T, H, W, 3) frames (tracking reset first).

    Returns JHMDB-15 joints (T, 15, 2) 0-based (NaN without a person), confidence (T, 15) and a
    person mask uint8 (T, H, W) in {0, 1}.
    """
    from actionpose.pose.render import masks_from_joints

    T, H, W = frames.shape[:3]
    estimator.reset()
    k = estimator.skeleton.num_joints
    points = np.full((T, k, 2), np.nan, np.float32)
    conf = np.zeros((T, k), np.float32)
    masks = np.zeros((T, H, W), np.uint8)
    need_mask = np.zeros(T, bool)
    for t, frame in enumerate(frames):
        kp, c, m = estimator(frame)
        points[t], conf[t] = kp, c
        if m is not None:
            masks[t] = m > MASK_THRESHOLD
        else:
            need_mask[t] = bool(np.isfinite(kp).all(-1).any())
    joints, joint_conf = to_jhmdb15(points, conf, source=estimator.skeleton)
    if need_mask.any():
        drawn = masks_from_joints(joints[need_mask], joint_conf[need_mask], frame_size=(H, W))
        masks[need_mask] = drawn.numpy().astype(np.uint8)
    return joints, joint_conf, masks


# --------------------------------------------------------------------------------------------
# inputs


@dataclass(frozen=True)
class ClipSource:
    """One clip to extract: a video file, or a folder of frames (``kind`` "video" | "frames")."""

    path: Path
    cls: str
    video: str
    kind: str


def _is_video(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in jhmdb.VIDEO_EXTENSIONS


def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def find_clips(input_path: str | Path) -> tuple[list[ClipSource], list[tuple[str, str]]]:
    """The clips under INPUT and the entries skipped with a reason [(path, reason)]."""
    path = Path(input_path)
    if not path.exists():
        raise DataError(path, "input not found (expected a video file, a folder of videos or of frames)")
    skipped: list[tuple[str, str]] = []
    if path.is_file():
        if _is_video(path):
            return [ClipSource(path, UNLABELED, path.stem, "video")], skipped
        raise DataError(
            path, f"unsupported file type {path.suffix!r}; videos must be one of {', '.join(jhmdb.VIDEO_EXTENSIONS)}"
        )
    entries = _visible(path)
    has_videos = any(_is_video(p) for p in entries) or any(
        p.is_dir() and any(_is_video(q) for q in _visible(p)) for p in entries
    )
    if not has_videos:
        if any(_is_image(p) for p in entries):
            return [ClipSource(path, UNLABELED, path.name, "frames")], skipped
        raise DataError(
            path,
            f"no videos ({', '.join(jhmdb.VIDEO_EXTENSIONS)}) in the folder or its class "
            "sub-folders, and no frames (.png/.jpg)",
        )
    clips: list[ClipSource] = []
    seen: set[tuple[str, str]] = set()

    def add(p: Path, cls: str) -> None:
        if _is_video(p):
            if (cls, p.stem) in seen:
                skipped.append((str(p), f"another video of class {cls!r} is already named {p.stem!r}"))
            else:
                seen.add((cls, p.stem))
                clips.append(ClipSource(p, cls, p.stem, "video"))
        elif _is_image(p):
            skipped.append((str(p), "a still image, not a clip (put stills in a folder of their own to extract them as frames)"))
        elif p.is_file():
            skipped.append((str(p), f"unsupported file type {p.suffix or '(none)'!r}"))

    for p in entries:
        if p.is_dir():
            inner = _visible(p)
            if not any(_is_video(q) for q in inner):
                skipped.append((str(p), "folder holds no videos"))
                continue
            for q in inner:
                if q.is_dir():
                    skipped.append((str(q), "nested folder inside a class folder"))
                else:
                    add(q, p.name)
        else:
            add(p, UNLABELED)
    return clips, skipped


def _read_source(src: ClipSource, max_frames: int | None) -> np.ndarray:
    if src.kind == "frames":
        files = jhmdb.list_frame_files(src.path)
        if max_frames is not None:
            files = files[:max_frames]
        frames = [jhmdb.read_frame(f) for f in files]
        for f, img in zip(files, frames):
            if img.shape != frames[0].shape:
                raise DataError(f, f"frame size {img.shape[:2]} differs from the first frame's {frames[0].shape[:2]}")
        return np.stack(frames)
    return jhmdb.read_video(src.path, max_frames=max_frames)


def _resize(frames: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    if size is None or tuple(frames.shape[1:3]) == tuple(size):
        return frames
    import cv2

    h, w = size
    interp = cv2.INTER_AREA if h * w < frames.shape[1] * frames.shape[2] else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f, (w, h), interpolation=interp) for f in frames])


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
    frames = _resize(_read_source(src, max_frames), size)
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


def _num_train(n: int) -> int:
    """Train videos of a class of ``n``: 70% rounded, at least one in each subset when n >= 2."""
    return n if n == 1 else min(n - 1, max(1, round(TRAIN_FRACTION * n)))


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
    assignments = []
    for cls, videos in clips.items():
        codes: dict[str, list[int]] = {v: [] for v in videos}
        for k in (1, 2, 3):
            order = sorted(videos, key=lambda v: hashlib.sha1(f"{k}:{cls}/{v}".encode()).hexdigest())
            for rank, v in enumerate(order):
                codes[v].append(1 if rank < _num_train(len(videos)) else 2)
        assignments += [(v, cls, tuple(codes[v])) for v in videos]
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
