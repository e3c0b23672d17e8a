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

import json
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from actionpose.data import jhmdb
from actionpose.errors import ActionposeError, DataError, PoseError
from actionpose.extract.estimators import PoseEstimator, estimate_clip, make_estimator
from actionpose.extract.sources import (ClipSource, find_clips, header_frames, is_frames_tree, read_source,
                                        resize)
from actionpose.extract.splits import SplitSpec, hashed_splits, read_split_files
from actionpose.io import write_json

__all__ = [
    "META_DIR", "clip_complete", "check_out_folder", "extraction_options", "write_extracted_splits", "extract",
    "main",
]

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
# extraction options: recorded per clip, compared on a rerun


def extraction_options(estimator: PoseEstimator, max_frames: int | None, size: tuple[int, int] | None) -> dict:
    """What decides a clip's output: the estimator (as ``module:Class``) and its settings,
    ``max_frames`` and ``size``. Recorded in each clip's metadata under ``options``."""
    cls = type(estimator)
    return {
        "estimator": f"{cls.__module__}:{cls.__qualname__}",
        "estimator_options": estimator.options,
        "max_frames": max_frames,
        "size": None if size is None else [int(size[0]), int(size[1])],
    }


def _option_changes(recorded: dict | None, wanted: dict) -> str:
    """'' when equal, else 'key: old -> new' for each differing option."""
    if recorded is None:
        return "options not recorded (extracted by an older version)"
    keys = sorted(set(recorded) | set(wanted))
    return ", ".join(
        f"{k}: {recorded.get(k)!r} -> {wanted.get(k)!r}" for k in keys if recorded.get(k) != wanted.get(k)
    )


def _stale_clips(root: Path, sources: list[ClipSource], wanted: dict) -> list[tuple[ClipSource, str]]:
    """Complete clips of ``sources`` extracted with other options, with what differs."""
    stale = []
    for src in sources:
        if clip_complete(root, src.cls, src.video):
            path = _meta_path(root, src.cls, src.video)
            try:
                recorded = json.loads(path.read_text()).get("options")
            except (OSError, ValueError, AttributeError) as exc:
                raise DataError(path, f"unreadable clip metadata ({exc}); delete it to redo the clip") from exc
            changes = _option_changes(recorded, wanted)
            if changes:
                stale.append((src, changes))
    return stale


def check_out_folder(out: Path) -> None:
    """Refuse an ``--out`` that is a file or cannot be written, before any work (and without
    creating it: a probe file is written into it, or into its nearest existing parent)."""
    if out.exists() and not out.is_dir():
        raise DataError(out, "--out is a file, not a folder")
    base = out
    while not base.exists() and base != base.parent:
        base = base.parent
    try:
        if not base.is_dir():
            raise NotADirectoryError(f"{base} is a file")
        fd, probe = tempfile.mkstemp(prefix=".write_probe.", dir=base)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise DataError(out, f"--out is not a writable folder ({exc.strerror or exc})") from exc


# --------------------------------------------------------------------------------------------
# extraction

_WORKER_ESTIMATOR: PoseEstimator | None = None
_PARENT_POLL_S = 0.2


def _exit_with_parent(parent: int) -> None:
    """Watchdog thread of a worker: exit at once when the parent process is gone (killed)."""
    while os.getppid() == parent:
        time.sleep(_PARENT_POLL_S)
    os._exit(1)


def _init_worker(estimator: str, model_complexity: int, parent: int) -> None:
    global _WORKER_ESTIMATOR
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True, name="exit-with-parent").start()
    os.environ.setdefault("GLOG_minloglevel", "2")
    _WORKER_ESTIMATOR = make_estimator(estimator, model_complexity=model_complexity)


def _extract_one(src: ClipSource, root: Path, estimator: PoseEstimator, options: dict) -> dict:
    t0 = time.perf_counter()
    max_frames, size = options["max_frames"], options["size"]
    frames = resize(read_source(src, max_frames), size)
    T = frames.shape[0]
    warning = None
    if src.kind == "video":
        claimed = header_frames(src.path)
        expected = claimed if claimed is None or max_frames is None else min(claimed, max_frames)
        if expected is not None and T < expected:
            warning = f"the header claims {claimed} frames but only {T} decode (truncated?); extracted {T}"
    joints, conf, masks = estimate_clip(estimator, frames)
    pos_img = np.transpose(joints, (2, 1, 0)).astype(np.float64) + 1.0  # (2, 15, T), 1-based
    person = conf.max(1) > 0
    jhmdb.write_clip(
        root, src.cls, src.video,
        frames=frames, pos_img=pos_img, mask=np.transpose(masks, (1, 2, 0)),
        confidence=conf.T.astype(np.float32), viewpoint="",
    )
    meta = {
        "class": src.cls, "video": src.video, "source": str(src.path), "kind": src.kind,
        "estimator": estimator.name, "options": options, "frames": int(T), "height": int(frames.shape[1]),
        "width": int(frames.shape[2]), "person_frames": int(person.sum()),
        "person_fraction": float(person.mean()), "mean_confidence": float(conf[person].mean()) if person.any() else 0.0,
        "warning": warning, "seconds": time.perf_counter() - t0,
    }
    write_json(_meta_path(root, src.cls, src.video), meta)  # the completion marker, last
    return meta


def _worker_task(src: ClipSource, root: Path, options: dict) -> tuple[str, dict | str]:
    try:
        return "ok", _extract_one(src, root, _WORKER_ESTIMATOR, options)
    except ActionposeError as exc:
        return "skip", str(exc)


def _complete_clips(root: Path) -> dict[str, list[str]]:
    """{class: videos} of every complete clip in the tree."""
    clips: dict[str, list[str]] = {}
    meta_root = root / META_DIR
    if meta_root.is_dir():
        for cls_dir in sorted(p for p in meta_root.iterdir() if p.is_dir()):
            for m in sorted(cls_dir.glob("*.json")):
                if clip_complete(root, cls_dir.name, m.stem):
                    clips.setdefault(cls_dir.name, []).append(m.stem)
    return clips


def _select(sources: list[ClipSource], spec: SplitSpec) -> tuple[list[ClipSource], list, list]:
    """Sources listed as train or test somewhere; (path, reason) for the others; and the
    listed-and-used videos not found, as (split file:line, message)."""
    keep, skipped = [], []
    for src in sources:
        codes = spec.assignments.get((src.cls, src.video))
        if codes is None:
            skipped.append((str(src.path), f"not listed in any split file of {spec.folder}"))
        elif not any(codes):
            skipped.append((str(src.path), f"unused (0) in every split of {spec.folder}"))
        else:
            keep.append(src)
    found = {(s.cls, s.video) for s in sources}
    missing = [
        (spec.line[key], f"listed video {key[0]}/{key[1]} is not in the input")
        for key, codes in sorted(spec.assignments.items()) if any(codes) and key not in found
    ]
    return keep, skipped, missing


def write_extracted_splits(root: str | Path, spec: SplitSpec | None = None) -> int:
    """Write the tree's splits (official format) over its complete clips, from ``spec`` (clips it
    does not list as train or test are left out) or hashed; split files of other classes or in
    the list format are removed so the tree's splits are exactly these. Returns the clip count."""
    root = Path(root)
    clips = _complete_clips(root)
    if spec is None:
        assignments = hashed_splits(clips)
    else:
        assignments = [
            (v, c, spec.assignments[(c, v)])
            for c, videos in clips.items() for v in videos if any(spec.assignments.get((c, v), ()))
        ]
    if assignments:
        jhmdb.write_splits(root, assignments, formats=("official",))
        classes = {c for _, c, _ in assignments}
        found = jhmdb.split_files(root)
        for p in found["lists"] + [p for p in found["official"] if p.name.rsplit("_test_split", 1)[0] not in classes]:
            p.unlink()
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
    splits: str | Path | None = None,
    redo: bool = False,
    progress: bool = True,
) -> dict:
    """Extract pose from INPUT into a JHMDB-format tree at ``out``; returns a summary dict.

    A clip already in the tree is kept when it was extracted with the same options
    (:func:`extraction_options`); with other options it is refused (naming the clip and what
    differs) unless ``redo``, which extracts it again.

    ``splits``: a folder of the dataset's official split files (:func:`read_split_files`); only
    the videos they list as train or test are extracted, and the tree's splits are theirs.
    Without it a JHMDB-format INPUT keeps its own official splits; any other INPUT gets a hashed
    split, with a warning that results are not comparable.

    Summary keys: ``out``, ``clips`` (complete clips in the tree), ``extracted`` (this run),
    ``already_done`` (skipped as complete), ``skipped`` [(path, reason)], ``warnings``
    [(path, message)], ``frames`` (extracted this run), ``person_fraction`` (over those frames),
    ``seconds``, ``frames_per_second``, ``per_clip`` {"class/video": meta}.
    """
    root = Path(out)
    if max_frames is not None and max_frames < 1:
        raise PoseError(f"max_frames must be >= 1, got {max_frames}")
    if workers < 1:
        raise PoseError(f"workers must be >= 1, got {workers}")
    sources, skipped = find_clips(input)
    if splits is None and is_frames_tree(input) and jhmdb.split_files(input)["official"]:
        splits = Path(input) / jhmdb.SPLITS_DIR  # a JHMDB-format tree keeps its own splits
    spec = None if splits is None else read_split_files(splits)
    if spec is None:
        notes = [(str(root / jhmdb.SPLITS_DIR), (
            "no --splits given: a hashed 70/30 split per class was written; results on it are not "
            "comparable with published ones (give the dataset's official split files with --splits)"
        ))]
    else:
        sources, unlisted, notes = _select(sources, spec)
        skipped += unlisted
    check_out_folder(root)
    t0 = time.perf_counter()
    # build an estimator up front so a missing extra or a bad option fails before any work
    local = make_estimator(estimator, model_complexity=model_complexity)
    options = extraction_options(local, max_frames, size)
    try:
        stale = _stale_clips(root, sources, options)
        if stale and not redo:
            src, changes = stale[0]
            more = f" (and {len(stale) - 1} more clip(s))" if len(stale) > 1 else ""
            raise DataError(
                _meta_path(root, src.cls, src.video),
                f"clip {src.cls}/{src.video} was extracted with other options ({changes}){more}; "
                "rerun with --redo to extract them again, or use another --out",
            )
        redone = {(s.cls, s.video) for s, _ in stale}
        todo = [s for s in sources if (s.cls, s.video) in redone or not clip_complete(root, s.cls, s.video)]
        per_clip = _run(todo, root, local, options, (estimator, model_complexity), workers, progress, skipped)
    finally:
        local.close()
    n_clips = write_extracted_splits(root, spec)
    seconds = time.perf_counter() - t0
    frames = sum(m["frames"] for m in per_clip.values())
    person = sum(m["person_frames"] for m in per_clip.values())
    summary = {
        "out": str(root),
        "clips": n_clips,
        "extracted": len(per_clip),
        "already_done": len(sources) - len(todo),
        "skipped": skipped,
        "warnings": notes + [(m["source"], m["warning"]) for m in per_clip.values() if m["warning"]],
        "frames": frames,
        "person_fraction": person / frames if frames else None,
        "seconds": seconds,
        "frames_per_second": frames / seconds if frames and seconds > 0 else None,
        "per_clip": per_clip,
    }
    if n_clips:
        write_json(root / "pose_extract_summary.json", summary)
    return summary


def _run(todo, root, local, options, build, workers, progress, skipped) -> dict:
    """Extract ``todo`` here (``local``) or in worker processes (each builds ``build`` =
    (estimator, model_complexity)); failed clips go to ``skipped``."""
    from tqdm.auto import tqdm

    per_clip: dict[str, dict] = {}
    bar = tqdm(total=len(todo), desc="pose extract", unit="clip", disable=not progress or not todo)
    try:
        if workers == 1 or len(todo) <= 1:
            for src in todo:
                try:
                    per_clip[f"{src.cls}/{src.video}"] = _extract_one(src, root, local, options)
                except ActionposeError as exc:
                    skipped.append((str(src.path), str(exc)))
                bar.update(1)
            return per_clip
        # spawn, not fork: a forked copy of MediaPipe's or torch's running threads can hang
        with ProcessPoolExecutor(
            max_workers=min(workers, len(todo)), mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker, initargs=(*build, os.getpid()),
        ) as pool:
            futures = {pool.submit(_worker_task, s, root, options): s for s in todo}
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
    return per_clip


def main(args) -> int:
    """CLI handler of ``actionpose pose extract``."""
    summary = extract(
        args.input, args.out,
        estimator=args.estimator, model_complexity=args.model_complexity, workers=args.workers,
        max_frames=args.max_frames, size=args.size, splits=args.splits, redo=args.redo, progress=sys.stderr.isatty(),
    )
    for name, meta in sorted(summary["per_clip"].items()):
        print(f"  {name}: {meta['frames']} frames, person in {meta['person_fraction']:.0%}")
    for path, reason in summary["skipped"]:
        print(f"  skipped {path}: {reason}")
    for path, message in summary["warnings"]:
        print(f"warning: {path}: {message}", file=sys.stderr)
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
