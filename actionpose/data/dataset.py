"""The JHMDB torch Dataset: probes the tree, indexes clips and loads the sampled frames of
each; a :class:`~actionpose.data.transforms.ClipTransform` moves every modality alike.

Sample contract: ``video`` (3, T, H, W) float ImageNet-normalised, ``mask``
(1, T, H, W) in [0, 1], ``joints`` (T, 15, 2) 0-based pixels of the output frame (x = column;
a missing joint, NaN in the file, is (-1, -1) with confidence 0), ``joint_conf`` (T, 15),
``heatmaps`` (15, T, h, w) when ``heatmap_size`` is given, ``flow`` (2, T-1, H, W) for the
"flow" modality, ``label``, ``name`` (the video) and ``clip`` (which of the video's
``clips_per_video`` clips).
"""
from __future__ import annotations

import inspect
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from actionpose.data import jhmdb as J
from actionpose.data.clips import ClipCache, resize_uint8, source_key
from actionpose.data.transforms import Clip, ClipTransform, DegradePose
from actionpose.errors import ConfigError, DataError

MODALITIES = ("frames", "joints", "mask", "flow")
JHMDB_FRAME_SIZE = (240, 320)


@dataclass
class _Video:
    """What construction learned about one video (cheaply) and what items need of it."""

    cls: str
    video: str
    label: int
    length: int  # common frame count of the requested sources (frames from a video: refined on read)
    frame_files: list[Path] | None = None  # PNG/JPG frames
    video_file: Path | None = None  # used when there are no PNG frames
    frame_size: tuple[int, int] | None = None
    joints: np.ndarray | None = None  # (T, 15, 2) native 0-based pixels
    joint_conf: np.ndarray | None = None  # (T, 15)
    mask_file: Path | None = None
    mask_size: tuple[int, int] | None = None
    render_mask: bool = False  # no mask file: render it from the joints
    lengths: dict[str, int] = field(default_factory=dict)

    @property
    def native_size(self) -> tuple[int, int] | None:
        return self.frame_size or self.mask_size


class JHMDB(Dataset):
    """JHMDB (or any tree in its format) as a torch Dataset of clips.

    The Dataset probes the tree and indexes clips; ``transform`` (a :class:`ClipTransform`)
    picks each item's frames and turns them into the sample. Without one, the keyword
    ``options`` build :meth:`ClipTransform.standard` (``train`` defaults to ``subset ==
    "train"``): ``num_frames``, ``size``, ``clips_per_video``, ``sampler``, ``crop_scale``,
    ``crop_ratio``, ``flip``, ``flip_prob``, ``heatmap_size``, ``heatmap_sigma``,
    ``normalize``, ``uint8``, ``pose_quality``. ``cache_dir`` stores decoded uint8 frames and
    masks at ``cache_size`` (default: the output size times the transform's ``headroom()``;
    never above the native size). ``skip_bad`` drops clips whose files are missing or malformed
    (checked cheaply at construction) with a warning; they are listed in ``skipped``.
    ``mask_from_joints`` draws the mask of a clip without a mask file from its joints.
    ``frame_size`` is the native (H, W) assumed for the joints of a tree that has neither
    frames nor masks. ``videos``: keep only these videos of the subset (a validation split carved
    from the training subset, see :mod:`actionpose.data.validation`).
    """

    def __init__(
        self,
        root: str | Path,
        split: int = 1,
        subset: str = "train",
        modalities: Sequence[str] = ("frames", "joints", "mask"),
        transform: ClipTransform | None = None,
        *,
        mask_from_joints: bool = False,
        cache_dir: str | Path | None = None,
        cache_size: tuple[int, int] | None = None,
        skip_bad: bool = False,
        frame_size: tuple[int, int] = JHMDB_FRAME_SIZE,
        videos: Sequence[str] | None = None,
        **options,
    ):
        self.root = Path(root)
        modalities = tuple(modalities)
        unknown = [m for m in modalities if m not in MODALITIES]
        if unknown or not modalities:
            raise ConfigError(f"modalities must be a non-empty subset of {MODALITIES}, got {modalities}")
        if subset not in ("train", "test"):
            raise ConfigError(f"subset must be 'train' or 'test', got {subset!r}")
        if transform is None:
            transform = _standard_transform(subset, options)
        elif options:
            raise ConfigError(f"JHMDB: give either transform= or its options, not both (got "
                              f"{sorted(options)})")
        self.split, self.subset, self.modalities = split, subset, modalities
        self.transform = transform
        self.mask_from_joints = mask_from_joints
        self.frame_size = frame_size
        if cache_size is None:  # crops need headroom; without them the output size is enough
            grow = transform.headroom()
            cache_size = (math.ceil(transform.size[0] * grow), math.ceil(transform.size[1] * grow))
        self.cache_size = (int(cache_size[0]), int(cache_size[1]))
        self.cache = ClipCache(cache_dir) if cache_dir is not None else None
        # cache keys stat every source file; computed once per clip and resolution per instance
        # (a source changed while the dataset is open is seen by the next instance)
        self._keys: dict[tuple, str] = {}
        self._need_frames = "frames" in modalities or "flow" in modalities
        self._need_joints = "joints" in modalities  # and, per clip, where a mask is rendered
        # the pose-quality knob measures in the person's height, from the joints wherever a tree
        # has them (a mask's is taller), so its units are the same for every pose mode
        self._height_joints = any(isinstance(s, DegradePose) for s in transform.steps)
        self._check_folders()

        self.classes: list[str] = J.modality_classes(self.root)
        entries = [e for e in J.read_split(self.root, split) if e.subset == subset]
        if videos is not None:
            entries = _only(entries, videos, f"split {split} {subset}")
        self.skipped: list[tuple[str, str]] = []
        self._clips: list[_Video] = []
        for e in entries:
            try:
                self._clips.append(self._probe(e))
            except DataError as exc:
                if not skip_bad:
                    raise
                self.skipped.append((e.video, str(exc)))
        if not self._clips:
            raise self._no_clips(entries)
        if self.skipped:
            first = "; ".join(reason for _, reason in self.skipped[:3])
            warnings.warn(
                f"JHMDB {self.root} split {split} {subset}: skipped {len(self.skipped)} bad "
                f"clip(s) of {len(entries)}: {first}{' ...' if len(self.skipped) > 3 else ''}",
                stacklevel=2,
            )
        self.videos: list[str] = [c.video for c in self._clips]
        self.labels: list[int] = [c.label for c in self._clips]

    # ----------------------------------------------------------------------------------------
    # construction

    def _no_clips(self, entries: list) -> DataError:
        """Refused up front: an empty subset would only fail after training, when evaluating."""
        if entries:
            return DataError(self.root, f"split {self.split} {self.subset}: all {len(entries)} clips "
                                        f"were skipped as bad, e.g. {self.skipped[0][1]}")
        official = J.split_sources(self.root, self.split)["official"]
        if official:
            code = 1 if self.subset == "train" else 2
            return DataError(self.root / J.SPLITS_DIR, f"none of the {len(official)} "
                             f"<class>_test_split{self.split}.txt files marks a video {code} "
                             f"({self.subset}): split {self.split} has no {self.subset} clips")
        return DataError(self.root / J.SPLITS_DIR / f"JHMDB_{self.subset}{self.split}.txt",
                         f"lists no video: split {self.split} has no {self.subset} clips")

    def _check_folders(self) -> None:
        if not self.root.is_dir():
            raise DataError(self.root, "dataset root not found")
        if self._need_frames and not any((self.root / d).is_dir() for d in (J.FRAMES_DIR, J.VIDEOS_DIR)):
            raise DataError(self.root / J.FRAMES_DIR, f"modality folder not found (nor {J.VIDEOS_DIR}); "
                                                      f"needed for {self.modalities}")
        if "joints" in self.modalities and not (self.root / J.JOINTS_DIR).is_dir():
            raise DataError(self.root / J.JOINTS_DIR, "modality folder not found")
        if "mask" in self.modalities and not (self.root / J.MASK_DIR).is_dir():
            if not (self.mask_from_joints and (self.root / J.JOINTS_DIR).is_dir()):
                raise DataError(self.root / J.MASK_DIR, "modality folder not found"
                                + ("" if self.mask_from_joints else " (mask_from_joints=False)"))

    def _probe(self, e: J.SplitEntry) -> _Video:
        root, cls, video = self.root, e.cls, e.video
        listed = f"listed in {e.source}"
        if cls not in self.classes:
            raise DataError(root, f"unknown class {cls!r} for video {video!r} ({listed})")
        clip = _Video(cls, video, self.classes.index(cls), 0)
        if self._need_frames:
            fdir = J.frames_dir(root, cls, video)
            if fdir.is_dir():
                fp = J.probe_frames(root, cls, video)
                clip.frame_files, clip.frame_size = fp.files, fp.size
                clip.lengths["frames"] = fp.count
            elif J.video_path(root, cls, video).is_file():
                vp = J.probe_video(root, cls, video)
                clip.video_file, clip.frame_size = vp.path, vp.size
            else:
                raise DataError(fdir, f"video does not exist: no frame folder and no "
                                      f"{J.video_path(root, cls, video)} ({listed})")
        if "mask" in self.modalities:
            mpath = J.mask_path(root, cls, video)
            if mpath.is_file():
                H, W, T = J.probe_mask(root, cls, video)
                clip.mask_file, clip.mask_size = mpath, (H, W)
                clip.lengths["mask"] = T
            elif self.mask_from_joints:
                if not J.joints_path(root, cls, video).is_file():
                    raise DataError(mpath, f"not found, and no {J.joints_path(root, cls, video)} to "
                                           f"render a mask from ({listed})")
                clip.render_mask = True
            else:
                raise DataError(mpath, f"file not found ({listed})")
        if self._need_joints or clip.render_mask:
            jpath = J.joints_path(root, cls, video)
            if not jpath.is_file():
                raise DataError(jpath, f"file not found ({listed})")
            jf = J.probe_joints(root, cls, video)
            clip.joints, clip.joint_conf = jf.joints_xy(), jf.joint_confidence()
            clip.lengths["joints"] = jf.num_frames
            if clip.native_size is None:
                clip.frame_size = self._peek_size(cls, video)
        elif self._height_joints and clip.native_size is not None \
                and J.joints_path(root, cls, video).is_file():
            jf = J.probe_joints(root, cls, video)  # not a modality: its frame count decides nothing
            clip.joints, clip.joint_conf = jf.joints_xy(), jf.joint_confidence()
        if clip.lengths:
            clip.length = min(clip.lengths.values())
            if len(set(clip.lengths.values())) > 1:
                detail = ", ".join(f"{m} {n}" for m, n in clip.lengths.items())
                warnings.warn(f"{cls}/{video}: frame counts disagree ({detail}); "
                              f"using the first {clip.length} frames", stacklevel=3)
        elif clip.video_file is None:
            raise DataError(root, f"{cls}/{video}: nothing to load")
        return clip

    def _peek_size(self, cls: str, video: str) -> tuple[int, int]:
        """Native frame size for joints when neither frames nor masks are loaded."""
        try:
            if J.frames_dir(self.root, cls, video).is_dir():
                return J.probe_frames(self.root, cls, video).size
            if J.mask_path(self.root, cls, video).is_file():
                return J.probe_mask(self.root, cls, video)[:2]
        except DataError:
            pass  # the modality is not requested: its problems are not this dataset's
        return self.frame_size

    # ----------------------------------------------------------------------------------------
    # items

    def __len__(self) -> int:
        return len(self._clips) * self.transform.sample.clips_per_video

    def __repr__(self) -> str:
        return (f"JHMDB({str(self.root)!r}, split={self.split}, subset={self.subset!r}, "
                f"modalities={self.modalities}, {len(self._clips)} videos x "
                f"{self.transform.sample.clips_per_video} clips, {self.transform})")

    def _cache_res(self, native: tuple[int, int]) -> tuple[int, int]:
        return (min(self.cache_size[0], native[0]), min(self.cache_size[1], native[1]))

    def _frames_source(self, clip: _Video) -> tuple[Callable[[np.ndarray], np.ndarray], int]:
        """(read, length): ``read(indices)`` gives those frames as uint8 (len, h, w, 3); length is
        the number of frames. Cached clips read only the sampled rows; uncached PNG folders
        decode only the sampled frames; an uncached video is decoded whole."""
        if self.cache is not None:
            res = self._cache_res(clip.frame_size)
            sources = clip.frame_files if clip.frame_files is not None else [clip.video_file]
            key = self._source_key(("frames", clip.cls, clip.video, res), sources, res)
            name = f"{clip.cls}__{clip.video}__frames_{res[0]}x{res[1]}"
            build = lambda: resize_uint8(self._decode_all(clip), res)  # noqa: E731
            length = self.cache.shape(name, key, build)[0]
            return (lambda idx: self.cache.take(name, key, build, idx)), length
        if clip.frame_files is None:
            arr = self._decode_all(clip)
            return (lambda idx: arr[idx]), len(arr)

        def read(idx: np.ndarray) -> np.ndarray:
            uniq, inverse = np.unique(idx, return_inverse=True)
            return J.read_frames(clip.frame_files[0].parent, indices=uniq.tolist())[inverse]
        return read, len(clip.frame_files)

    def _source_key(self, memo: tuple, sources, res: tuple[int, int]) -> str:
        key = self._keys.get(memo)
        if key is None:
            key = self._keys[memo] = source_key(sources, res)
        return key

    def _decode_all(self, clip: _Video) -> np.ndarray:
        if clip.frame_files is not None:
            frames = J.read_frames(clip.frame_files[0].parent)
        else:
            frames = J.read_video(clip.video_file)
        return frames

    def _mask_frames(self, clip: _Video, idx: np.ndarray) -> np.ndarray:
        """Mask frames ``idx`` as uint8 (len(idx), h, w) in 0..255."""
        def build() -> np.ndarray:
            m = J.read_mask(clip.mask_file)
            return np.ascontiguousarray(np.transpose(m, (2, 0, 1))) * np.uint8(255)

        if self.cache is None:
            return build()[idx]
        res = self._cache_res(clip.mask_size)
        key = self._source_key(("mask", clip.cls, clip.video, res), [clip.mask_file], res)
        return self.cache.take(f"{clip.cls}__{clip.video}__mask_{res[0]}x{res[1]}", key,
                               lambda: resize_uint8(build(), res), idx)

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        per_video = self.transform.sample.clips_per_video
        clip, k = self._clips[index // per_video], index % per_video
        # one draw from torch's RNG per item: DataLoader seeding (worker seeds) makes it reproducible
        rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item())) if self.transform.random else None

        read_frames = None
        length = clip.length
        if self._need_frames:
            read_frames, n = self._frames_source(clip)
            if not clip.lengths:  # frames from a video alone: its length is known once decoded
                length = n
            elif n < length:
                warnings.warn(f"{clip.cls}/{clip.video}: the frames hold {n} frames, other "
                              f"modalities {length}; using the first {n}", stacklevel=2)
                length = n
        idx = self.transform.sample.indices(length, k, rng)
        item = Clip(clip.native_size or self.frame_size, wanted=self.modalities, video=clip.video,
                    index=k, render_mask=False)
        if self._need_frames:
            item.frames = torch.from_numpy(read_frames(idx)).permute(0, 3, 1, 2)  # (T, 3, H, W)
        if clip.joints is not None:
            at = np.minimum(idx, len(clip.joints) - 1)  # idx itself where joints are a modality
            item.joints, item.conf = clip.joints[at], clip.joint_conf[at]
        if "mask" in self.modalities:
            if clip.render_mask:
                item.render_mask = True
            else:
                item.mask = torch.from_numpy(self._mask_frames(clip, idx))[:, None]  # (T, 1, h, w)
        sample: dict = {"label": clip.label, "name": clip.video, "clip": k, **self.transform(item, rng)}
        if "flow" in self.modalities:
            sample["flow"] = self._flow(clip, item, idx)
        return sample

    def _flow(self, clip: _Video, item: Clip, idx: np.ndarray) -> torch.Tensor:
        from actionpose.data.flow import farneback_flow

        frames = item.frames.permute(0, 2, 3, 1).contiguous().numpy()  # (T, H, W, 3) uint8
        if self.cache is None or self.transform.random:  # random clips rarely repeat: caching them is waste
            return farneback_flow(frames)
        size = item.frame_size
        sources = clip.frame_files if clip.frame_files is not None else [clip.video_file]
        key = source_key(sources, self._cache_res(clip.frame_size), size, idx.tolist(), item.box, item.flip)
        name = f"{clip.cls}__{clip.video}__flow_{size[0]}x{size[1]}_{idx[0]}_{idx[-1]}_{len(idx)}"
        flow = self.cache.get(name, key, lambda: farneback_flow(frames).numpy().astype(np.float16))
        return torch.from_numpy(np.asarray(flow, np.float32))


def _only(entries: list, videos: Sequence[str], where: str) -> list:
    """The ``entries`` of ``videos``; a video the subset does not list is a ConfigError."""
    keep = set(videos)
    missing = sorted(keep - {e.video for e in entries})
    if missing:
        raise ConfigError(f"JHMDB videos=: {len(missing)} not in {where}, e.g. {missing[0]!r}")
    return [e for e in entries if e.video in keep]


def _standard_transform(subset: str, options: dict) -> ClipTransform:
    """:meth:`ClipTransform.standard` from the Dataset's keyword options."""
    allowed = set(inspect.signature(ClipTransform.standard).parameters)
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ConfigError(f"JHMDB: unknown option(s) {unknown}; the transform takes {sorted(allowed)}")
    train = options.pop("train", None)
    return ClipTransform.standard(train=subset == "train" if train is None else bool(train), **options)


__all__ = ["JHMDB", "MODALITIES"]
