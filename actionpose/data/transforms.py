"""Clip transforms: typed steps composed in a :class:`ClipTransform` (pyskl's pipeline, typed).

The Dataset probes and indexes; the transform decides which frames an item reads
(:class:`SampleFrames`) and what becomes of them. Geometric steps share one crop box in
*fractions* of the frame and a flip: :class:`RandomResizedCrop`, :class:`CenterCrop` and
:class:`Flip` only choose them, :class:`Resize` applies them to frames, masks and joints in one
interpolation, so that frames cached at reduced resolution, masks at native resolution and
joints in native pixels follow one box exactly. Random steps draw from the item's generator in
pipeline order.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from actionpose.data.clips import (
    FULL_FRAME, SAMPLERS, CropBox, random_crop_box, resized_crop, sample_indices, to_float_inputs,
    transform_joints,
)
from actionpose.errors import ConfigError
from actionpose.pose.quality import PoseQuality, clip_seed, degrade_pose
from actionpose.pose.skeletons import JHMDB15


@dataclass
class Clip:
    """One item on its way through the steps (built per item, changed in place).

    ``frames`` (T, 3, H, W) and ``mask`` (T, 1, H, W) are uint8 until :class:`Normalize`;
    ``joints`` (T, J, 2) are pixels of a ``frame_size`` frame, ``conf`` (T, J).
    ``render_mask``: the mask is to be drawn from the joints (:class:`MasksFromJoints`);
    ``wanted``: the modalities the item returns (joints may be loaded only to draw a mask);
    ``video`` and ``index``: which video and which of its clips (what evaluation seeds from).
    """

    frame_size: tuple[int, int]
    wanted: tuple[str, ...] = ("frames", "joints", "mask")
    video: str = ""
    index: int = 0
    frames: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    joints: np.ndarray | torch.Tensor | None = None
    conf: np.ndarray | torch.Tensor | None = None
    heatmaps: torch.Tensor | None = None
    render_mask: bool = False
    box: CropBox = FULL_FRAME
    flip: bool = False
    flip_permutation: tuple[int, ...] = ()  # how joints swap when flipped

    def outputs(self) -> dict:
        """The wanted sample entries, in the Dataset's layout (channels first)."""
        out: dict = {}
        if "frames" in self.wanted and self.frames is not None:
            out["video"] = self.frames.permute(1, 0, 2, 3).contiguous()  # (3, T, H, W)
        if "joints" in self.wanted and self.joints is not None:
            out["joints"], out["joint_conf"] = self.joints, self.conf
            if self.heatmaps is not None:
                out["heatmaps"] = self.heatmaps
        if "mask" in self.wanted and self.mask is not None:
            out["mask"] = self.mask.permute(1, 0, 2, 3)  # (1, T, H, W)
        return out


class Step(Protocol):
    """A pipeline step: changes ``clip`` in place; ``rng`` is None for deterministic items."""

    random: bool

    def __call__(self, clip: Clip, rng: np.random.Generator | None) -> None: ...


# --------------------------------------------------------------------------------------------
# steps


@dataclass(frozen=True)
class SampleFrames:
    """Which frames an item reads (see :func:`sample_indices`): random segments when
    ``random``, else clip ``k`` of ``clips_per_video`` evenly placed ones."""

    num_frames: int = 16
    sampler: str = "segment"
    clips_per_video: int = 1
    random: bool = True

    def __post_init__(self):
        if self.num_frames < 1 or self.clips_per_video < 1:
            raise ConfigError(f"num_frames and clips_per_video must be >= 1, got {self.num_frames} and "
                              f"{self.clips_per_video}")
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"sampler must be one of {SAMPLERS}, got {self.sampler!r}")

    def indices(self, length: int, clip: int, rng: np.random.Generator | None) -> np.ndarray:
        return sample_indices(length, self.num_frames, train=self.random, rng=rng, clip=clip,
                              clips_per_video=self.clips_per_video, sampler=self.sampler)


@dataclass(frozen=True)
class RandomResizedCrop:
    """Choose a random box: area fraction in ``scale``, log-uniform aspect jitter ``ratio``."""

    scale: tuple[float, float] = (0.8, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    random: bool = field(default=True, init=False)

    def __post_init__(self):
        if not 0 < self.scale[0] <= self.scale[1] <= 1:
            raise ConfigError(f"crop_scale must satisfy 0 < lo <= hi <= 1, got {self.scale}")
        if not 0 < self.ratio[0] <= self.ratio[1]:
            raise ConfigError(f"crop_ratio must satisfy 0 < lo <= hi, got {self.ratio}")

    def __call__(self, clip: Clip, rng: np.random.Generator | None) -> None:
        """Within the box chosen so far (the whole frame, or a :class:`PersonCrop`)."""
        inner, b = random_crop_box(rng, scale=self.scale, ratio=self.ratio), clip.box
        clip.box = CropBox(b.top + inner.top * b.height, b.left + inner.left * b.width,
                           inner.height * b.height, inner.width * b.width)


@dataclass(frozen=True)
class CenterCrop:
    """Choose the centred box holding ``scale`` of the frame's area (the frame's aspect)."""

    scale: float = 1.0
    random: bool = field(default=False, init=False)

    def __post_init__(self):
        if not 0 < self.scale <= 1:
            raise ConfigError(f"center crop scale must be in (0, 1], got {self.scale}")

    def __call__(self, clip: Clip, rng: np.random.Generator | None) -> None:
        side = math.sqrt(self.scale)
        clip.box = CropBox((1 - side) / 2, (1 - side) / 2, side, side)


@dataclass(frozen=True)
class PersonCrop:
    """Choose the box around the person over the whole clip, keeping the pixel aspect.

    The bounding box of the mask (or, without one, of the confident joints) over all frames is
    padded by ``pad`` of its longer side on each side and its shorter side extended (about its
    centre) until the box has the output's aspect ``aspect`` (W / H; 1: square), so the resize
    scales both axes alike instead of squashing a 320x240 frame. The box is shifted inside the
    frame; only where it is larger than the frame is it clipped to it (the aspect then changes).
    A clip where no person is found keeps the whole frame.
    """

    pad: float = 0.1
    aspect: float = 1.0
    random: bool = field(default=False, init=False)

    def __post_init__(self):
        if not (0 <= self.pad <= 1 and self.aspect > 0):
            raise ConfigError(f"person crop needs pad in [0, 1] and aspect > 0, got {self.pad}, "
                              f"{self.aspect}")

    def __call__(self, clip: Clip, rng: np.random.Generator | None) -> None:
        found = _person_extent(clip)
        if found is None:
            clip.box = FULL_FRAME
            return
        (y0, y1, x0, x1), (H, W) = found  # pixels of an H x W grid with the frame's aspect
        (H0, W0) = clip.frame_size
        sy, sx = H0 / H, W0 / W  # to native pixels, where the aspect is measured
        h, w = (y1 - y0) * sy, (x1 - x0) * sx
        grow = 2 * self.pad * max(h, w)
        h, w = h + grow, w + grow
        h, w = max(h, w / self.aspect), max(w, h * self.aspect)
        h, w = min(h, H0), min(w, W0)
        cy, cx = (y0 + y1) / 2 * sy, (x0 + x1) / 2 * sx
        top = min(max(cy - h / 2, 0.0), H0 - h)
        left = min(max(cx - w / 2, 0.0), W0 - w)
        clip.box = CropBox(top / H0, left / W0, h / H0, w / W0)


def _person_extent(clip: Clip):
    """((y0, y1, x0, x1) end-exclusive, (H, W) of the grid) of the person over the clip, or None."""
    if clip.mask is not None:
        on = clip.mask[:, 0] > 127  # (T, h, w)
        rows, cols = on.any(0).any(1), on.any(0).any(0)
        if not bool(rows.any()):
            return None
        r, c = torch.nonzero(rows)[:, 0], torch.nonzero(cols)[:, 0]
        return (int(r[0]), int(r[-1]) + 1, int(c[0]), int(c[-1]) + 1), tuple(on.shape[-2:])
    if clip.joints is not None:
        xy = np.asarray(clip.joints, np.float64)[np.asarray(clip.conf) > 0]
        xy = xy[np.isfinite(xy).all(-1)]
        if not len(xy):
            return None
        (x0, y0), (x1, y1) = xy.min(0), xy.max(0) + 1
        return (y0, y1, x0, x1), tuple(clip.frame_size)
    return None


@dataclass(frozen=True)
class Flip:
    """Mirror the clip with probability ``prob``; joints swap left and right by ``permutation``."""

    prob: float = 0.5
    permutation: tuple[int, ...] = tuple(JHMDB15.flip_permutation())
    random: bool = field(default=True, init=False)

    def __post_init__(self):
        if not 0.0 <= self.prob <= 1.0:
            raise ConfigError(f"flip_prob must be in [0, 1], got {self.prob}")

    def __call__(self, clip: Clip, rng: np.random.Generator | None) -> None:
        clip.flip = bool(rng.random() < self.prob)
        clip.flip_permutation = self.permutation


@dataclass(frozen=True)
class Resize:
    """Apply the chosen box and flip and resize to ``size`` (H, W): frames and file masks
    (antialiased bilinear, uint8 stays uint8), joints (pixels of the output; a missing joint
    becomes (-1, -1), outside the frame) and their confidences."""

    size: tuple[int, int] = (112, 112)
    random: bool = field(default=False, init=False)

    def __post_init__(self):
        if len(self.size) != 2 or min(self.size) < 1:
            raise ConfigError(f"size must be a positive (H, W), got {self.size}")

    def __call__(self, clip: Clip, rng: np.random.Generator | None) -> None:
        size = (int(self.size[0]), int(self.size[1]))
        if clip.frames is not None:
            clip.frames = resized_crop(clip.frames, clip.box, size, flip=clip.flip)
        if clip.mask is not None:
            clip.mask = resized_crop(clip.mask, clip.box, size, flip=clip.flip)
        if clip.joints is not None:
            perm = list(clip.flip_permutation) if clip.flip else []
            joints = transform_joints(clip.joints, frame_size=clip.frame_size, box=clip.box, size=size,
                                      flip=clip.flip, flip_permutation=perm or None)
            # NaN joints (legal only with confidence 0: no person found) become (-1, -1), outside
            # the frame, so that nothing downstream has to guard against NaN
            joints[torch.isnan(joints).any(-1)] = -1.0
            conf = np.asarray(clip.conf)
            if clip.flip and perm:
                conf = conf[:, perm]
            clip.joints, clip.conf = joints, torch.from_numpy(np.ascontiguousarray(conf))
        clip.frame_size = size


@dataclass(frozen=True)
class MasksFromJoints:
    """Draw the person mask from the joints where the clip has no mask file (uint8 0/255, like
    a file mask, so that a batch never mixes dtypes)."""

    random: bool = field(default=False, init=False)

    def __call__(self, clip: Clip, rng: np.random.Generator | None) -> None:
        if clip.render_mask:
            from actionpose.pose.render import masks_from_joints

            drawn = masks_from_joints(clip.joints, clip.conf, frame_size=clip.frame_size)
            clip.mask = (drawn * 255).to(torch.uint8)[:, None]


MASK_INPUTS = ("motion", "distance")


@dataclass(frozen=True)
class MaskInputs:
    """Mask-derived channels after the mask (uint8, so a batch keeps one dtype): ``motion``
    |m_t - m_(t-1)| (the silhouette's change; 0 at the first frame), ``distance`` the Euclidean
    distance to the background inside the silhouette, scaled so the clip's largest is 255."""

    inputs: tuple[str, ...] = MASK_INPUTS
    random: bool = field(default=False, init=False)

    def __post_init__(self):
        unknown = [k for k in self.inputs if k not in MASK_INPUTS]
        if unknown or len(set(self.inputs)) != len(self.inputs):
            raise ConfigError(f"mask_inputs must be distinct names of {', '.join(MASK_INPUTS)}, got "
                              f"{list(self.inputs)}")

    def __call__(self, clip: Clip, rng: np.random.Generator | None) -> None:
        if clip.mask is None or not self.inputs:
            return
        m = clip.mask[:, :1]  # (T, 1, H, W) uint8
        extra = [_MASK_INPUT[name](m) for name in self.inputs]
        clip.mask = torch.cat([m, *extra], dim=1)


def _motion(m: torch.Tensor) -> torch.Tensor:
    d = (m[1:].to(torch.int16) - m[:-1].to(torch.int16)).abs().to(torch.uint8)
    return torch.cat([torch.zeros_like(m[:1]), d])


def _distance(m: torch.Tensor) -> torch.Tensor:
    from scipy.ndimage import distance_transform_edt

    inside = m[:, 0].numpy() > 127
    dist = np.stack([distance_transform_edt(frame) for frame in inside])
    top = dist.max()
    scaled = np.zeros_like(dist) if top == 0 else dist * (255.0 / top)
    return torch.from_numpy(np.rint(scaled).astype(np.uint8))[:, None]


_MASK_INPUT = {"motion": _motion, "distance": _distance}


@dataclass(frozen=True)
class DegradePose:
    """The pose-quality knob (:class:`~actionpose.pose.quality.PoseQuality`) on the clip's
    joints, confidences and mask, in output pixels; the frames are never touched. The unit, the
    person's height, comes from the joints where the clip has them (else from the mask).

    ``random`` (training): the noise is drawn from the item's generator, so it changes with the
    epoch and the run's seed. Otherwise (evaluation) it is seeded by ``seed``, the video and the
    clip index alone: every epoch and every run sees the same degraded pose of a test video.
    A missed frame's joints become (-1, -1) with confidence 0, the sample contract's missing joint.
    """

    quality: PoseQuality
    random: bool = True
    seed: int = 0

    def __call__(self, clip: Clip, rng: np.random.Generator | None) -> None:
        if clip.joints is None and clip.mask is None:
            return
        seed = int(rng.integers(2**62)) if self.random else clip_seed(self.seed, clip.video, clip.index)
        T = (clip.mask if clip.joints is None else clip.joints).shape[0]
        joints = clip.joints if clip.joints is not None else torch.full((T, 1, 2), float("nan"))
        conf = None if clip.joints is None else clip.conf
        mask = None if clip.mask is None else clip.mask[:, 0]  # (T, H, W) uint8
        out_joints, out_conf, out_mask = degrade_pose(joints, conf, mask, quality=self.quality,
                                                      seed=seed, missing=-1.0)
        if clip.joints is not None:
            clip.joints, clip.conf = out_joints, out_conf
        if clip.mask is not None:
            clip.mask = torch.cat([out_mask[:, None], clip.mask[:, 1:]], dim=1)


@dataclass(frozen=True)
class Heatmaps:
    """Gaussian joint heatmaps (J, T, h, w) of ``size`` (h, w); ``sigma`` in output pixels."""

    size: tuple[int, int]
    sigma: float | None = None
    random: bool = field(default=False, init=False)

    def __call__(self, clip: Clip, rng: np.random.Generator | None) -> None:
        if clip.joints is not None and "joints" in clip.wanted:
            from actionpose.pose.render import render_heatmaps

            clip.heatmaps = render_heatmaps(clip.joints, clip.conf, frame_size=clip.frame_size,
                                            out_size=self.size, sigma=self.sigma).float()


@dataclass(frozen=True)
class Normalize:
    """uint8 video to float, ImageNet mean/std (``imagenet=False``: [0, 1]); mask to [0, 1]."""

    imagenet: bool = True

    def outputs(self, sample: dict) -> dict:
        return to_float_inputs(sample, normalize=self.imagenet)


# --------------------------------------------------------------------------------------------
# the pipeline

CROPS = ("resize", "person")


@dataclass(frozen=True)
class ClipTransform:
    """``sample`` picks the frames; ``steps`` run in order on the loaded clip; ``normalize``
    (None: leave video and masks uint8, :func:`to_float_inputs` converts batches later)."""

    sample: SampleFrames = SampleFrames()
    steps: tuple[Step, ...] = (Resize(),)
    normalize: Normalize | None = Normalize()

    def __post_init__(self):
        resized = [i for i, s in enumerate(self.steps) if isinstance(s, Resize)]
        if len(resized) != 1:
            raise ConfigError(f"a ClipTransform needs exactly one Resize step, got {len(resized)}")
        for i, s in enumerate(self.steps):
            if isinstance(s, (RandomResizedCrop, CenterCrop, PersonCrop, Flip)) and i > resized[0]:
                raise ConfigError(f"{type(s).__name__} must come before Resize (it only chooses the "
                                  "box or flip that Resize applies)")
            if isinstance(s, (MasksFromJoints, MaskInputs, Heatmaps, DegradePose)) and i < resized[0]:
                raise ConfigError(f"{type(s).__name__} must come after Resize (it draws on the output)")
        degrade = [i for i, s in enumerate(self.steps) if isinstance(s, DegradePose)]
        for i, s in enumerate(self.steps):
            if isinstance(s, MasksFromJoints) and degrade and i > degrade[0]:
                raise ConfigError("MasksFromJoints must come before DegradePose (a drawn mask is "
                                  "degraded like a file's)")
            if isinstance(s, (MaskInputs, Heatmaps)) and degrade and i < degrade[-1]:
                raise ConfigError(f"{type(s).__name__} must come after DegradePose (it is made from "
                                  "the pose the model sees)")

    @property
    def random(self) -> bool:
        """Whether items draw random numbers (training)."""
        return self.sample.random or any(s.random for s in self.steps)

    @property
    def size(self) -> tuple[int, int]:
        return next(s.size for s in self.steps if isinstance(s, Resize))

    def crops(self) -> bool:
        return any(isinstance(s, RandomResizedCrop) for s in self.steps)

    def headroom(self) -> float:
        """How much larger than the output cached frames and masks should be: a crop enlarges
        what it keeps (a person crop about a person's share of the frame)."""
        grow = 2.5 if any(isinstance(s, PersonCrop) for s in self.steps) else 1.0
        return grow * (1.25 if self.crops() else 1.0)

    def __call__(self, clip: Clip, rng: np.random.Generator | None) -> dict:
        """Run the steps on ``clip``; the sample entries it yields."""
        for step in self.steps:
            step(clip, rng)
        out = clip.outputs()
        return out if self.normalize is None else self.normalize.outputs(out)

    @classmethod
    def standard(
        cls,
        *,
        train: bool,
        num_frames: int = 16,
        size: tuple[int, int] = (112, 112),
        clips_per_video: int = 1,
        sampler: str = "segment",
        crop_scale: tuple[float, float] | None = (0.8, 1.0),
        crop_ratio: tuple[float, float] = (3 / 4, 4 / 3),
        flip: bool | None = None,
        flip_prob: float = 0.5,
        heatmap_size: tuple[int, int] | None = None,
        heatmap_sigma: float | None = None,
        normalize: bool = True,
        uint8: bool = False,
        crop: str = "resize",
        mask_inputs: tuple[str, ...] = (),
        pose_quality: PoseQuality | None = None,
    ) -> ClipTransform:
        """The study's pipeline. Training: random segments, a random resized crop (``crop_scale``
        None: none), a flip (``flip``, default on) with probability ``flip_prob``; evaluation:
        clip ``k`` of ``clips_per_video`` fixed ones, the whole frame. Then resize to ``size``,
        masks drawn from joints where needed, heatmaps at ``heatmap_size`` if given, and the
        video normalised (``normalize``: ImageNet, else [0, 1]; ``uint8``: left as bytes).
        ``crop="person"``: a :class:`PersonCrop` of the output's aspect first, in training and
        evaluation (a random crop then jitters within it); ``mask_inputs``: :class:`MaskInputs`;
        ``pose_quality``: :class:`DegradePose` (drawn per item in training, fixed per test clip)."""
        if crop not in CROPS:
            raise ConfigError(f"crop must be one of {', '.join(CROPS)}, got {crop!r}")
        steps: list = []
        if crop == "person":
            steps.append(PersonCrop(aspect=size[1] / size[0]))
        if train and crop_scale is not None:
            steps.append(RandomResizedCrop(tuple(crop_scale), tuple(crop_ratio)))
        if train and (flip is None or flip):
            steps.append(Flip(flip_prob))
        elif not 0.0 <= flip_prob <= 1.0:
            raise ConfigError(f"flip_prob must be in [0, 1], got {flip_prob}")
        steps += [Resize((int(size[0]), int(size[1]))), MasksFromJoints()]
        if pose_quality is not None and not pose_quality.is_perfect:
            steps.append(DegradePose(pose_quality, random=bool(train)))
        if mask_inputs:
            steps.append(MaskInputs(tuple(mask_inputs)))
        if heatmap_size is not None:
            steps.append(Heatmaps((int(heatmap_size[0]), int(heatmap_size[1])), heatmap_sigma))
        sample = SampleFrames(int(num_frames), sampler, int(clips_per_video), random=bool(train))
        return cls(sample, tuple(steps), None if uint8 else Normalize(bool(normalize)))


__all__ = [
    "Clip", "Step", "SampleFrames", "RandomResizedCrop", "CenterCrop", "PersonCrop", "Flip", "Resize",
    "MasksFromJoints", "MaskInputs", "MASK_INPUTS", "DegradePose", "Heatmaps", "Normalize", "CROPS", "ClipTransform",
]
