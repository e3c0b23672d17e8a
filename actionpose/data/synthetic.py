"""The embedded dataset: a procedural "puppet world" written in JHMDB's on-disk format.

``actionpose data synth OUT [--preset smoke|cpu|paper] [--actors JHMDB_ROOT]`` (or
:func:`generate`) writes ``Rename_Images`` (PNG frames), ``joint_positions`` (pos_img,
pos_world, scale, viewpoint), ``puppet_mask`` (the exact per-pixel mask of the rendered body),
the three splits (``<class>_test_split<k>.txt`` and ``JHMDB_{train,test}<k>.txt``) and
``synth_info.json`` (config, classes, counts, seed, timing) through :mod:`actionpose.data.jhmdb`.

Actors. By default each clip shows a 2-D capsule puppet with the JHMDB-15 joints, random body
proportions, limb thickness and clothing, moving by its class's joint-angle program (see
:mod:`actionpose.data.synthetic_motion`) with random amplitude, speed, phase, event times,
mirroring, position, scale and length. With ``actors=JHMDB_ROOT`` the actors are real: each of
the source's puppet-mask sequences (resized to the preset's frame size) is filled with a clothing
texture (head/shirt/pants by height within the silhouette) and composited over the same
procedural scene; classes, video names and the three splits are the source's, and joints are
written (rescaled) only where the source has ``joint_positions.mat``.

Scene. A background "style" (one of 8 patterns x a palette anchored per style) with per-clip
jitter, moving distractor shapes (discs, boxes, rotating bars) behind the actor, camera jitter
(a drift plus shake of the background; puppets move with it), per-frame flicker and sensor noise.

Context bias ``b``. Class ``c`` (its position in the sorted class list) has home style ``c``;
there are as many styles as classes. A clip in split 1's *training* set shows its class's home
style with probability ``b`` and a uniformly random style otherwise; every other clip (split 1's
test set) draws its style uniformly at random. So on split 1 a model that reads the background
learns a shortcut that fails at test time. Splits 2 and 3 are other random 70/30 partitions of
the same clips: their training and test sets both mix biased and unbiased clips (about 70% of
each came from split 1's training set), so they carry a weaker bias (~0.7 b) in *both* subsets
and do not test robustness to context; use split 1 for the context-bias experiments.

Determinism. Every clip's randomness comes from ``numpy.random.SeedSequence((seed, class id,
clip index))`` (puppets; the class id is its position in :data:`CLASS_ORDER`, so a class's
clips do not depend on which other classes are generated) or ``(seed, source class position,
clip index)`` (actors), and splits from ``(seed, split, class)``: the output is the same
whatever the number of worker processes. PNG frames and split files are byte-identical between
runs; the .mat files are identical except for the 116-byte text header in which scipy stamps
the creation time.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from actionpose.data import jhmdb
from actionpose.data import synthetic_motion as motion
from actionpose.data import synthetic_render as render
from actionpose.errors import ConfigError, DataError
from actionpose.io import atomic_dir, write_json

CLASS_ORDER = motion.CLASS_ORDER
INFO_FILE = "synth_info.json"
TEST_FRACTION = 0.3
_SPLIT_TAG, _ACTOR_TAG, _SUBSET_TAG = 7_001, 7_002, 7_003
# what an existing output folder may contain for --overwrite to replace it
_OWN_ENTRIES = {jhmdb.FRAMES_DIR, jhmdb.VIDEOS_DIR, jhmdb.JOINTS_DIR, jhmdb.MASK_DIR,
                jhmdb.SPLITS_DIR, INFO_FILE}


@dataclass(frozen=True)
class SynthConfig:
    """Everything that shapes the generated dataset (see :func:`synth_config` for presets)."""

    preset: str = "cpu"
    num_classes: int = 10
    clips_per_class: int = 60
    size: tuple[int, int] = (120, 160)  # (H, W)
    frames: tuple[int, int] = (20, 40)  # clip length range, inclusive
    context_bias: float = 0.25
    seed: int = 0
    distractors: tuple[int, int] = (0, 2)  # per clip, inclusive
    distractor_speed: float = 2.0  # pixels per frame at 120x160, scaled with the frame size
    camera_jitter: float = 3.0  # pixels at 120x160, scaled with the frame size
    noise: float = 3.0  # std of Gaussian sensor noise, 0..255 scale
    flicker: float = 0.08  # +- relative brightness per frame
    pose_jitter: float = 0.08  # radians of smooth random wobble on every joint angle
    height: tuple[float, float] = (0.55, 0.75)  # actor height / frame height
    background_contrast: tuple[float, float] = (0.25, 0.6)  # pattern contrast range
    thickness: tuple[float, float] = (0.75, 1.35)  # limb thickness factor range
    actor_classes: int | None = None  # --actors: keep the first N sorted source classes
    actor_clips_per_class: int | None = None  # --actors: a seeded subset of N clips per class

    def validate(self) -> "SynthConfig":
        problems = []
        if not 1 <= self.num_classes <= len(CLASS_ORDER):
            problems.append(f"num_classes must be 1..{len(CLASS_ORDER)}, got {self.num_classes}")
        if self.clips_per_class < 2:
            problems.append(f"clips_per_class must be >= 2 (train and test), got {self.clips_per_class}")
        if len(self.size) != 2 or min(self.size) < 16:
            problems.append(f"size must be (H, W) with both >= 16, got {self.size}")
        lo, hi = self.frames
        if not 2 <= lo <= hi:
            problems.append(f"frames must be a range 2 <= lo <= hi, got {self.frames}")
        if not 0.0 <= self.context_bias <= 1.0:
            problems.append(f"context_bias must be in [0, 1], got {self.context_bias}")
        if not 0 <= self.distractors[0] <= self.distractors[1]:
            problems.append(f"distractors must be a range 0 <= lo <= hi, got {self.distractors}")
        for name in ("distractor_speed", "camera_jitter", "noise", "flicker", "pose_jitter"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.1 <= self.height[0] <= self.height[1] <= 1.0:
            problems.append(f"height must be a range within [0.1, 1], got {self.height}")
        if not 0.0 <= self.background_contrast[0] <= self.background_contrast[1] <= 1.0:
            problems.append(f"background_contrast must be a range within [0, 1], got "
                            f"{self.background_contrast}")
        for name in ("actor_classes", "actor_clips_per_class"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if problems:
            raise ConfigError("synthetic dataset: " + "; ".join(problems))
        return self

    @property
    def classes(self) -> list[str]:
        """The puppet classes, sorted (the JHMDB reader's order)."""
        return sorted(CLASS_ORDER[: self.num_classes])

    @property
    def scale(self) -> float:
        """Pixel-valued knobs are given at 120x160 and scale with the frame height."""
        return self.size[0] / 120.0


PRESETS: dict[str, dict[str, Any]] = {
    "smoke": dict(num_classes=4, clips_per_class=6, size=(64, 80), frames=(14, 18),
                  actor_classes=4, actor_clips_per_class=6),
    # calibrated so a narrow C3D trained from scratch learns in minutes (see README)
    "cpu": dict(num_classes=10, clips_per_class=80, size=(120, 160), frames=(20, 40),
                height=(0.65, 0.85), noise=2.0, distractors=(0, 1), pose_jitter=0.06),
    "paper": dict(num_classes=21, clips_per_class=100, size=(240, 320), frames=(15, 40)),
}


def synth_config(preset: str = "cpu", **overrides: Any) -> SynthConfig:
    """The config of ``preset`` (smoke | cpu | paper) with keyword ``overrides`` applied."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown synthetic preset {preset!r} (choose from {sorted(PRESETS)})")
    known = {f for f in SynthConfig.__dataclass_fields__}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(f"unknown synthetic config field(s) {unknown} (known: {sorted(known)})")
    values = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
    for key in ("size", "frames", "distractors", "height", "thickness", "background_contrast"):
        if key in values:
            values[key] = tuple(values[key])
    return SynthConfig(preset=preset, **values).validate()


# ---------------------------------------------------------------------------------------------
# planning: which clips, their seeds and split codes


@dataclass(frozen=True)
class ClipJob:
    cls: str
    video: str
    home_style: int  # = the class's position among the generated classes
    num_styles: int
    entropy: tuple[int, ...]
    splits: tuple[int, int, int]  # 1 train, 2 test, 0 unused; split 1 drives the context bias
    source: str | None = None  # --actors: the source root


def _rng(*entropy: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(e) for e in entropy]))


def _random_partition(n: int, seed: int, k: int, class_id: int) -> np.ndarray:
    """Codes (n,) with round(30%) (at least one) test clips (2), the rest train (1)."""
    order = _rng(seed, _SPLIT_TAG, k, class_id).permutation(n)
    codes = np.ones(n, np.int64)
    codes[order[: max(1, int(round(TEST_FRACTION * n)))]] = 2
    return codes


def plan_puppets(config: SynthConfig) -> list[ClipJob]:
    classes = config.classes
    jobs = []
    for pos, cls in enumerate(classes):
        class_id = CLASS_ORDER.index(cls)
        n = config.clips_per_class
        codes = [_random_partition(n, config.seed, k, class_id) for k in (1, 2, 3)]
        for i in range(n):
            jobs.append(ClipJob(cls=cls, video=f"{cls}_{i:04d}", home_style=pos,
                                num_styles=len(classes), entropy=(config.seed, class_id, i),
                                splits=tuple(int(c[i]) for c in codes)))
    return jobs


def plan_actors(config: SynthConfig, source: str | Path) -> list[ClipJob]:
    """One job per puppet mask of the source JHMDB tree, with the source's labels and splits."""
    source = Path(source)
    mask_root = source / jhmdb.MASK_DIR
    if not mask_root.is_dir():
        raise DataError(mask_root, "no puppet_mask folder: --actors needs a JHMDB tree with puppet masks")
    all_classes = sorted(p.name for p in mask_root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not all_classes:
        raise DataError(mask_root, "no class folders")
    classes = all_classes
    if config.actor_classes is not None:
        if config.actor_classes > len(all_classes):
            raise ConfigError(f"actor_classes={config.actor_classes} but {mask_root} has "
                              f"{len(all_classes)} classes")
        classes = all_classes[: config.actor_classes]
    codes: dict[str, list[int]] = {}
    for k in (1, 2, 3):
        for entry in jhmdb.read_split(source, k, classes=jhmdb.modality_classes(source)):
            codes.setdefault(entry.video, [0, 0, 0])[k - 1] = 1 if entry.subset == "train" else 2
    jobs = []
    for pos, cls in enumerate(classes):
        videos = sorted(p.parent.name for p in (mask_root / cls).glob(f"*/{jhmdb.MASK_FILE}"))
        if not videos:
            raise DataError(mask_root / cls, "no puppet_mask.mat under this class folder")
        class_id = all_classes.index(cls)
        if config.actor_clips_per_class is not None and config.actor_clips_per_class < len(videos):
            pick = _rng(config.seed, _SUBSET_TAG, class_id).permutation(len(videos))
            videos = [videos[i] for i in sorted(pick[: config.actor_clips_per_class])]
        for i, video in enumerate(videos):
            jobs.append(ClipJob(cls=cls, video=video, home_style=pos, num_styles=len(classes),
                                entropy=(config.seed, _ACTOR_TAG, class_id, i),
                                splits=tuple(codes.get(video, [0, 0, 0])), source=str(source)))
    return jobs


# ---------------------------------------------------------------------------------------------
# rendering one clip


def _scene(config: SynthConfig, job: ClipJob, rng: np.random.Generator, T: int,
           offsets: np.ndarray) -> tuple[np.ndarray, int]:
    """(T, H, W, 3) float32 background frames with distractors, and the style used."""
    H, W = config.size
    if job.splits[0] == 1 and rng.uniform() < config.context_bias:
        style = job.home_style
    else:
        style = int(rng.integers(job.num_styles))
    margin = int(np.ceil(np.abs(offsets).max(initial=0.0))) + 1
    canvas = render.background(style, (H + 2 * margin, W + 2 * margin), rng,
                               float(rng.uniform(*config.background_contrast)))
    frames = render.crop_background(canvas, offsets, (H, W), margin).copy()
    lo, hi = config.distractors
    render.draw_distractors(frames, rng, int(rng.integers(lo, hi + 1)),
                            config.distractor_speed * config.scale)
    return frames, style


def render_puppet_clip(config: SynthConfig, job: ClipJob) -> dict[str, Any]:
    """Frames, joints and mask of one puppet clip (deterministic in ``job.entropy``)."""
    H, W = config.size
    r_motion, r_body, r_scene, r_finish, r_camera = (
        np.random.default_rng(s) for s in np.random.SeedSequence(list(job.entropy)).spawn(5))
    T = int(r_motion.integers(config.frames[0], config.frames[1] + 1))
    prog = motion.PROGRAMS[job.cls](motion.draw_params(r_motion, T))
    body = motion.draw_body(r_body)
    wobble = motion.smooth_jitter(r_body, 10, T, config.pose_jitter)
    joints = motion.forward_kinematics(prog, body, pose_jitter=wobble)  # body heights, belly at 0
    height_px = float(r_body.uniform(*config.height)) * H
    ground = float(r_body.uniform(0.86, 0.96)) * H
    if prog.grounded:
        base_y = ground - joints[:, 13:15, 1].max(axis=1) * height_px
    else:
        base_y = np.full(T, ground - (body.standing_drop + 0.05) * height_px)
    travel = (prog.dx - prog.dx.mean()) * height_px
    span = float(np.ptp(travel)) if T > 1 else 0.0
    lo_x, hi_x = 0.15 * W + span / 2, 0.85 * W - span / 2
    centre = float(r_body.uniform(lo_x, hi_x)) if lo_x < hi_x else W / 2
    px = joints * height_px
    px[..., 0] += centre + travel[:, None]
    px[..., 1] += (base_y + prog.dy * height_px)[:, None]
    facing = "right"
    if r_body.uniform() < 0.5:
        px = motion.mirror_joints(px, centre)
        facing = "left"
    offsets = render.camera_path(r_camera, T, config.camera_jitter * config.scale)
    px = px - offsets[:, None, :]  # the camera moves, the world (puppet included) shifts
    thickness = float(r_body.uniform(*config.thickness))
    sleeves = [(render.SHIRT, render.SKIN), (render.SHIRT, render.SHIRT), (render.SKIN, render.SKIN)]
    labels = render.draw_puppet(px, body, height_px, thickness,
                                sleeves[int(r_body.integers(len(sleeves)))], (H, W))
    bg, style = _scene(config, job, r_scene, T, offsets)
    textures = render.actor_textures(r_body, (H, W))
    frames = render.finish(render.composite(bg, labels, textures), r_finish, config.noise,
                           config.flicker)
    belly = px[:, 1:2, :]
    pos_img = np.transpose(px + 1.0, (2, 1, 0))
    pos_world = np.transpose((px - belly) / height_px, (2, 1, 0))
    return dict(frames=frames, mask=np.transpose(labels > 0, (1, 2, 0)).astype(np.uint8),
                pos_img=pos_img, pos_world=pos_world, scale=np.full(T, height_px),
                viewpoint=f"{prog.view}-{facing}", style=style)


def _resize_masks(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(h, w, T) {0,1} -> (H, W, T) {0,1} by area averaging and a 0.5 threshold."""
    import cv2

    H, W = size
    out = np.empty((H, W, mask.shape[2]), np.uint8)
    for start in range(0, mask.shape[2], 4):  # INTER_AREA takes at most 4 channels
        chunk = mask[:, :, start:start + 4].astype(np.float32)
        small = cv2.resize(chunk, (W, H), interpolation=cv2.INTER_AREA)
        out[:, :, start:start + 4] = (small.reshape(H, W, -1) > 0.5)
    return out


def _silhouette_labels(mask: np.ndarray) -> np.ndarray:
    """(T, H, W) part labels for a real silhouette: head (top 16%), shirt (to 52%), pants."""
    H = mask.shape[0]
    rows = mask.any(axis=1)  # (H, T)
    has = rows.any(axis=0)
    top = np.argmax(rows, axis=0)
    bottom = H - 1 - np.argmax(rows[::-1], axis=0)
    extent = np.maximum(bottom - top + 1, 1)
    r = np.arange(H)[:, None]
    part = np.where(r < top + 0.16 * extent, render.SKIN,
                    np.where(r < top + 0.52 * extent, render.SHIRT, render.PANTS))  # (H, T)
    labels = mask * part[:, None, :].astype(np.uint8) * has[None, None, :]
    return np.transpose(labels, (2, 0, 1))


def render_actor_clip(config: SynthConfig, job: ClipJob) -> dict[str, Any]:
    """A real silhouette sequence, textured and composited over a procedural scene."""
    H, W = config.size
    source = Path(job.source)
    src_mask = jhmdb.read_mask(jhmdb.mask_path(source, job.cls, job.video))
    h, w, T = src_mask.shape
    mask = _resize_masks(src_mask, (H, W))
    r_body, r_scene, r_finish, r_camera = (
        np.random.default_rng(s) for s in np.random.SeedSequence(list(job.entropy)).spawn(4))
    labels = _silhouette_labels(mask)
    # the real footage carries its own camera motion: jitter moves the background only
    offsets = render.camera_path(r_camera, T, config.camera_jitter * config.scale)
    bg, style = _scene(config, job, r_scene, T, offsets)
    textures = render.actor_textures(r_body, (H, W))
    frames = render.finish(render.composite(bg, labels, textures), r_finish, config.noise,
                           config.flicker)
    out: dict[str, Any] = dict(frames=frames, mask=mask, style=style)
    src_joints = jhmdb.joints_path(source, job.cls, job.video)
    if src_joints.is_file():
        jf = jhmdb.read_joints(src_joints)
        if jf.num_frames != T:
            raise DataError(src_joints, f"{jf.num_frames} frames of joints, the mask has {T}")
        factor = np.array([W / w, H / h])[:, None, None]
        # 1-based -> 0-based pixel centres, scale, back to 1-based
        out["pos_img"] = (jf.pos_img - 1.0 + 0.5) * factor - 0.5 + 1.0
        if jf.pos_world is not None:
            out["pos_world"] = jf.pos_world
        if jf.scale is not None:
            out["scale"] = jf.scale
        out["viewpoint"] = jf.viewpoint or None
    return out


def _run_job(task: tuple[str, SynthConfig, ClipJob]) -> dict[str, Any]:
    root, config, job = task
    clip = render_actor_clip(config, job) if job.source else render_puppet_clip(config, job)
    fields = {k: clip[k] for k in ("pos_world", "scale", "viewpoint") if clip.get(k) is not None}
    jhmdb.write_clip(root, job.cls, job.video, frames=clip["frames"], mask=clip["mask"],
                     pos_img=clip.get("pos_img"), **(fields if clip.get("pos_img") is not None else {}))
    return dict(cls=job.cls, video=job.video, frames=int(clip["frames"].shape[0]),
                style=int(clip["style"]), home=int(clip["style"]) == job.home_style,
                split1=job.splits[0], joints=clip.get("pos_img") is not None)


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)


# ---------------------------------------------------------------------------------------------
# the whole dataset


def _check_out(out: Path, overwrite: bool) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise DataError(out, "exists and is not a folder")
    entries = {p.name for p in out.iterdir()}
    if not entries:
        return
    if not overwrite:
        raise DataError(out, "already exists and is not empty (pass --overwrite to replace it)")
    foreign = sorted(entries - _OWN_ENTRIES)
    if foreign:
        raise DataError(out, f"holds files that are not a generated dataset ({foreign[:5]}); "
                             "refusing to replace it")


def _folder_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def generate(out: str | Path, config: SynthConfig | None = None, *, workers: int | None = None,
             actors: str | Path | None = None, overwrite: bool = False,
             progress: bool = False) -> dict[str, Any]:
    """Write the dataset to ``out`` (atomically: a crash leaves no half dataset); return the
    summary also written to ``out/synth_info.json``.

    ``actors``: a JHMDB root whose puppet masks become the actors (its classes and splits).
    ``workers``: processes (default: all cores); the output does not depend on it.
    """
    config = (config or synth_config()).validate()
    out = Path(out)
    _check_out(out, overwrite)
    jobs = plan_actors(config, actors) if actors is not None else plan_puppets(config)
    workers = (os.cpu_count() or 1) if workers is None else int(workers)
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    start = time.perf_counter()
    records: list[dict[str, Any]] = []
    with atomic_dir(out) as tmp:
        tasks = [(str(tmp), config, job) for job in jobs]
        if workers == 1 or len(jobs) < 4:
            _init_worker()
            results = map(_run_job, tasks)
            pool = None
        else:
            pool = multiprocessing.get_context("fork").Pool(min(workers, len(jobs)), _init_worker)
            results = pool.imap_unordered(_run_job, tasks, chunksize=4)
        try:
            for i, rec in enumerate(results, start=1):
                records.append(rec)
                if progress and (i % 50 == 0 or i == len(jobs)):
                    print(f"\r  {i}/{len(jobs)} clips", end="", file=sys.stderr, flush=True)
        finally:
            if pool is not None:
                pool.terminate()
                pool.join()
        if progress:
            print(file=sys.stderr)
        jhmdb.write_splits(tmp, [(j.video, j.cls, j.splits) for j in jobs])
        info = _summary(config, jobs, records, actors, time.perf_counter() - start, workers)
        info["bytes"] = _folder_bytes(tmp)
        info = json.loads(json.dumps(info))  # tuples -> lists: return what the file says
        write_json(tmp / INFO_FILE, info)
    return info


def _summary(config: SynthConfig, jobs: list[ClipJob], records: list[dict[str, Any]],
             actors: str | Path | None, seconds: float, workers: int) -> dict[str, Any]:
    classes = sorted({j.cls for j in jobs})
    train = [r for r in records if r["split1"] == 1]
    test = [r for r in records if r["split1"] == 2]
    return {
        "format_version": 1,
        "config": asdict(config),
        "source": "actors" if actors is not None else "puppets",
        "actors_root": None if actors is None else str(Path(actors).resolve()),
        "seed": config.seed,
        "classes": classes,
        "home_styles": {cls: i for i, cls in enumerate(classes)},
        "num_clips": len(records),
        "num_frames": int(sum(r["frames"] for r in records)),
        "clips_per_class": {c: sum(r["cls"] == c for r in records) for c in classes},
        "clips_with_joints": sum(r["joints"] for r in records),
        "split1_train_home_fraction": float(np.mean([r["home"] for r in train])) if train else None,
        "split1_test_home_fraction": float(np.mean([r["home"] for r in test])) if test else None,
        "size": list(config.size),
        "seconds": round(seconds, 3),
        "workers": workers,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def main(args) -> int:
    """CLI handler of ``actionpose data synth``."""
    overrides: dict[str, Any] = {"seed": args.seed, "size": args.size,
                                 "context_bias": args.context_bias}
    if args.actors:
        overrides.update(actor_classes=args.classes, actor_clips_per_class=args.clips_per_class)
    else:
        overrides.update(num_classes=args.classes, clips_per_class=args.clips_per_class)
    config = synth_config(args.preset, **overrides)
    info = generate(args.out, config, workers=args.workers, actors=args.actors,
                    overwrite=args.overwrite, progress=True)
    print(f"wrote {info['num_clips']} clips ({info['num_frames']} frames, "
          f"{len(info['classes'])} classes, {info['bytes'] / 1e6:.1f} MB) to {args.out} "
          f"in {info['seconds']:.1f} s")
    return 0


__all__ = ["SynthConfig", "PRESETS", "CLASS_ORDER", "INFO_FILE", "synth_config", "generate",
           "plan_puppets", "plan_actors", "render_puppet_clip", "render_actor_clip", "main"]
