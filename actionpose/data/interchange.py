"""A tree's joints as pyskl / MMAction2 skeleton annotations, and back.

The annotation file is a pickle of ``{"split": {name: [frame_dir, ...]}, "annotations": [...]}``;
each annotation holds ``frame_dir``, ``label`` (0-based class index), ``img_shape`` (H, W),
``original_shape``, ``total_frames``, ``keypoint`` (M, T, V, 2) float32 in 0-based pixels and
``keypoint_score`` (M, T, V) float32. Here M = 1 and V = 15 (JHMDB-15); joints without a person
are written as 0 with score 0. Splits are named ``train<k>`` / ``test<k>``.

Import never runs code from the file: :class:`SafeUnpickler` allows only plain containers and
numpy arrays.
"""
from __future__ import annotations

import io
import pickle
import re
from pathlib import Path

import numpy as np

from actionpose.data import jhmdb
from actionpose.errors import DataError
from actionpose.io import atomic_path

__all__ = ["SafeUnpickler", "load_annotations", "export_pyskl", "import_pyskl", "main_export", "main_import"]

_SAFE_GLOBALS = {
    ("builtins", name) for name in ("dict", "list", "tuple", "set", "frozenset", "int", "float", "complex", "str", "bytes", "bytearray", "bool", "slice")
} | {
    (module, name)
    for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
} | {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}
_SPLIT_NAME = re.compile(r"^(?P<subset>train|test)(?P<k>[1-3])$")


class SafeUnpickler(pickle.Unpickler):
    """Unpickles plain containers, numbers, strings and numpy arrays; refuses every other global."""

    def __init__(self, file, *, path: Path):
        super().__init__(file)
        self.path = path

    def find_class(self, module: str, name: str):
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise DataError(self.path, f"refused to load {module}.{name}: an annotation file may hold only containers and numpy arrays")


def load_annotations(path: str | Path) -> dict:
    """Read and validate a pyskl annotation pickle (restricted unpickling)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "annotation file not found")
    try:
        data = SafeUnpickler(io.BytesIO(path.read_bytes()), path=path).load()
    except DataError:
        raise
    except Exception as exc:  # truncated or not a pickle
        raise DataError(path, f"not a readable pickle ({type(exc).__name__}: {exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        raise DataError(path, "expected a dict with 'split' and 'annotations' (a list)")
    split = data.get("split", {})
    if not isinstance(split, dict) or not all(isinstance(v, list) for v in split.values()):
        raise DataError(path, "'split' must map split names to lists of frame_dir")
    for i, ann in enumerate(data["annotations"]):
        where = f"annotations[{i}]"
        if not isinstance(ann, dict):
            raise DataError(path, f"{where} is not a dict")
        for key in ("frame_dir", "label", "total_frames", "keypoint"):
            if key not in ann:
                raise DataError(path, f"{where} has no {key!r}")
        kp = ann["keypoint"]
        T = ann["total_frames"]
        if not isinstance(kp, np.ndarray) or kp.ndim != 4 or kp.shape[1:] != (T, jhmdb.NUM_JOINTS, 2):
            shape = getattr(kp, "shape", type(kp).__name__)
            raise DataError(path, f"{where} ({ann['frame_dir']}): keypoint must be (M, {T}, {jhmdb.NUM_JOINTS}, 2), got {shape}")
        score = ann.get("keypoint_score")
        if score is not None and (not isinstance(score, np.ndarray) or score.shape != kp.shape[:3]):
            raise DataError(path, f"{where} ({ann['frame_dir']}): keypoint_score must be {kp.shape[:3]}, got {getattr(score, 'shape', None)}")
        if not isinstance(ann["label"], (int, np.integer)) or ann["label"] < 0:
            raise DataError(path, f"{where} ({ann['frame_dir']}): label must be a class index >= 0, got {ann['label']!r}")
    return data


def _img_shape(root: Path, cls: str, video: str) -> tuple[int, int]:
    mask = jhmdb.mask_path(root, cls, video)
    if mask.is_file():
        return tuple(int(n) for n in jhmdb.read_mask(mask).shape[:2])
    return tuple(int(n) for n in jhmdb.read_frame(jhmdb.list_frame_files(jhmdb.frames_dir(root, cls, video))[0]).shape[:2])


def export_pyskl(root: str | Path, out: str | Path) -> dict:
    """Write the joints (and confidences) of every clip in the tree's splits as a pyskl
    annotation pickle at ``out``; returns it."""
    root = Path(root)
    classes = jhmdb.modality_classes(root)
    split: dict[str, list[str]] = {}
    homes: dict[str, str] = {}
    for k in range(1, jhmdb.NUM_SPLITS + 1):
        try:
            entries = jhmdb.read_split(root, k, classes)
        except DataError:
            if k == 1:
                raise
            continue
        for e in entries:
            if homes.setdefault(e.video, e.cls) != e.cls:
                raise DataError(root / jhmdb.SPLITS_DIR, f"video {e.video!r} is listed under two classes ({homes[e.video]!r}, {e.cls!r}); pyskl's frame_dir must be unique")
            split.setdefault(f"{e.subset}{k}", []).append(e.video)
    annotations = []
    for video, cls in sorted(homes.items(), key=lambda kv: (kv[1], kv[0])):
        joints = jhmdb.read_joints(jhmdb.joints_path(root, cls, video))
        xy, conf = joints.joints_xy(), joints.joint_confidence()
        person = np.isfinite(xy).all(-1) & (conf > 0)
        H, W = _img_shape(root, cls, video)
        annotations.append({
            "frame_dir": video, "label": classes.index(cls), "img_shape": (H, W), "original_shape": (H, W),
            "total_frames": int(xy.shape[0]),
            "keypoint": np.where(person[..., None], xy, 0.0).astype(np.float32)[None],
            "keypoint_score": np.where(person, conf, 0.0).astype(np.float32)[None],
        })
    data = {"split": split, "annotations": annotations}
    with atomic_path(out) as tmp:
        tmp.write_bytes(pickle.dumps(data, protocol=4))
    return data


def import_pyskl(path: str | Path, out: str | Path, classes: list[str] | None = None) -> int:
    """Write a pyskl annotation file's joints and splits into a tree at ``out`` (joints only);
    class ``label`` is named ``classes[label]`` (default ``class<label>``). Of several persons,
    the one with the highest mean score is kept. Returns the clip count."""
    path, out = Path(path), Path(out)
    data = load_annotations(path)
    labels = sorted({int(a["label"]) for a in data["annotations"]})
    if classes is not None and labels and labels[-1] >= len(classes):
        raise DataError(path, f"label {labels[-1]} has no name: only {len(classes)} classes given")
    names = classes or [f"class{i}" for i in range(labels[-1] + 1 if labels else 0)]
    codes: dict[str, list[int]] = {}
    for name, dirs in data["split"].items():
        m = _SPLIT_NAME.match(name)
        if m is None:
            raise DataError(path, f"split {name!r}: expected names train1..3 / test1..3")
        for d in dirs:
            codes.setdefault(d, [0] * jhmdb.NUM_SPLITS)[int(m.group("k")) - 1] = 1 if m.group("subset") == "train" else 2
    assignments = []
    for ann in data["annotations"]:
        kp = np.asarray(ann["keypoint"], np.float32)
        score = np.asarray(ann.get("keypoint_score", np.ones(kp.shape[:3], np.float32)), np.float32)
        best = int(np.argmax(score.mean(axis=(1, 2))))
        xy, conf = kp[best], score[best]
        xy = np.where((conf > 0)[..., None], xy, np.nan)
        cls, video = names[int(ann["label"])], str(ann["frame_dir"])
        jhmdb.write_joints(
            jhmdb.joints_path(out, cls, video), np.transpose(xy, (2, 1, 0)).astype(np.float64) + 1.0,
            confidence=conf.T.astype(np.float32),
        )
        if video in codes:
            assignments.append((video, cls, tuple(codes[video])))
    if assignments:
        jhmdb.write_splits(out, assignments, formats=("official",))
    return len(data["annotations"])


def main_export(args) -> int:
    """CLI handler of ``actionpose data export-pyskl``."""
    data = export_pyskl(args.root, args.out)
    print(f"data export-pyskl: {len(data['annotations'])} clip(s), splits {sorted(data['split'])} -> {args.out}")
    return 0


def main_import(args) -> int:
    """CLI handler of ``actionpose data import-pyskl``."""
    classes = [c.strip() for c in args.classes.split(",")] if args.classes else None
    n = import_pyskl(args.input, args.out, classes)
    print(f"data import-pyskl: {n} clip(s) -> {args.out}")
    return 0
