"""The model families and the pose modes: one registry entry each, read by everything else.

A :class:`Family` says how to build the model from a config, which batch entries its ``forward``
takes, which pose modes it allows, its memory format, whether CPU autocast may pick bf16 for it,
the stride of the heatmaps it wants and its loss. A :class:`PoseMode` says which data it reads
and, for the input-level modes, which wrapper of :mod:`actionpose.models.guidance` applies it.
The training engine, ``validate``, the benchmarks and ``actionpose list`` ask this module; none
of them dispatches on a family or pose name.

A config is read by attribute only (``cfg.width``, ``cfg.pose``, ...), so this module does not
depend on the training package. Adding a family is one :func:`register_family` call::

    register_family(Family("tiny", build=lambda cfg, *, num_classes, in_channels:
                           Tiny(num_classes, in_channels), inputs={"x": "video"}))
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import nn

from actionpose.errors import ConfigError
from actionpose.models.backbones import FEATURE_STRIDE, feature_size
from actionpose.models.guidance import BackgroundWeakened, MaskChannel
from actionpose.models.losses import heads_cross_entropy

INPUT_LEVEL = ("none", "weaken", "mask_channel")


@dataclass(frozen=True)
class PoseMode:
    """How pose enters. ``reads``: the modalities it adds to the data; ``wrap``: for an input-level
    mode, ``wrap(model, cfg, video_arg)`` gives the guided model (None: the family's builder
    handles the mode, or no pose); ``extra_channels``: channels it adds to the model's input."""

    name: str
    description: str
    reads: tuple[str, ...] = ()
    wrap: Callable[[nn.Module, Any, str], nn.Module] | None = None
    extra_channels: int = 0


@dataclass(frozen=True)
class Family:
    """One model family. ``build(cfg, *, num_classes, in_channels)`` returns the bare model;
    ``inputs`` maps each ``forward`` keyword to the batch entry it takes (an entry absent from
    the batch is left out); ``in_channels`` is that of its main input before pose adds any."""

    name: str
    build: Callable[..., nn.Module]
    inputs: Mapping[str, str]
    pose_modes: tuple[str, ...] = INPUT_LEVEL
    description: str = ""
    in_channels: int = 3
    memory_format: torch.memory_format = torch.channels_last_3d
    cpu_bf16: bool = False  # may amp=auto pick bf16 on CPU (see actionpose.train.precision)
    feature_stride: int | None = None  # heatmap poses: maps at ceil(H / stride) x ceil(W / stride)
    loss: Callable[[Any, dict, torch.Tensor], torch.Tensor] = heads_cross_entropy
    reads: Callable[[Any], tuple[str, ...]] = field(default=lambda cfg: ("frames",))
    weights: tuple[str, ...] | None = None  # named weights it loads (and files); None: none at all

    @property
    def video_arg(self) -> str | None:
        """The ``forward`` keyword that takes the RGB clip (where input-level pose enters)."""
        return next((arg for arg, key in self.inputs.items() if key == "video"), None)


POSE_MODES: dict[str, PoseMode] = {}
FAMILIES: dict[str, Family] = {}


def register_pose_mode(mode: PoseMode) -> PoseMode:
    POSE_MODES[mode.name] = mode
    return mode


def register_family(family: Family, *, replace: bool = False) -> Family:
    """Add ``family`` to the registry (``replace``: overwrite an entry of the same name)."""
    if family.name in FAMILIES and not replace:
        raise ConfigError(f"family {family.name!r} is already registered")
    unknown = [m for m in family.pose_modes if m not in POSE_MODES]
    if unknown:
        raise ConfigError(f"family {family.name!r}: unknown pose modes {unknown} "
                          f"(choose from {', '.join(POSE_MODES)})")
    if family.video_arg is None and any(POSE_MODES[m].wrap for m in family.pose_modes):
        raise ConfigError(f"family {family.name!r}: input-level pose modes need an input that "
                          "takes the 'video' batch entry")
    FAMILIES[family.name] = family
    return family


def get_family(name: str) -> Family:
    if name not in FAMILIES:
        raise ConfigError(f"unknown family {name!r} (choose from {', '.join(FAMILIES)})")
    return FAMILIES[name]


def get_pose_mode(name: str) -> PoseMode:
    if name not in POSE_MODES:
        raise ConfigError(f"unknown pose mode {name!r} (choose from {', '.join(POSE_MODES)})")
    return POSE_MODES[name]


def check_weights(family: str, weights: str | None) -> None:
    """Refuse weights a family cannot load (a family without any, or an unknown name)."""
    fam = get_family(family)
    if weights is None:
        return
    if fam.weights is None:
        raise ConfigError(f"weights={weights!r}: family {family!r} trains from scratch and loads no "
                          "weights; set weights=null")
    if weights not in fam.weights and "/" not in str(weights) and not Path(str(weights)).suffix:
        raise ConfigError(f"weights={weights!r}: family {family!r} loads "
                          f"{', '.join(fam.weights)} or a file")


def check_mask_inputs(family: str, mask_inputs) -> None:
    """Mask-derived channels (``cfg.mask_inputs``) need a family whose input is the mask."""
    if mask_inputs and "mask" not in get_family(family).inputs.values():
        raise ConfigError(f"mask_inputs={list(mask_inputs)!r}: family {family!r} does not take the "
                          "mask as its input, so it has no channels to add them to")


def check_pose(family: str, pose: str) -> None:
    """Refuse a family/pose pair that cannot run, naming the pose modes the family allows."""
    fam, _ = get_family(family), get_pose_mode(pose)
    if pose not in fam.pose_modes:
        raise ConfigError(f"pose={pose!r} does not fit family {family!r}; it allows "
                          f"{', '.join(fam.pose_modes)}")


# ---------------------------------------------------------------------------------------------
# what a config needs and builds


def modalities(cfg) -> tuple[str, ...]:
    """The data entries a run of ``cfg`` reads (frames, mask, joints, flow)."""
    fam, pose = get_family(cfg.family), get_pose_mode(cfg.pose)
    base = fam.reads(cfg)
    return (*base[:1], *pose.reads, *base[1:])


def heatmap_size(cfg) -> tuple[int, int] | None:
    """Joint heatmaps at the family's feature-map size, for the pose modes that read joints."""
    fam, pose = get_family(cfg.family), get_pose_mode(cfg.pose)
    if "joints" not in pose.reads or fam.feature_stride is None:
        return None
    return feature_size(tuple(cfg.size), fam.feature_stride)


def build_model(cfg, num_classes: int) -> nn.Module:
    """The family's model for ``cfg``, wrapped by its input-level pose mode."""
    fam, pose = get_family(cfg.family), get_pose_mode(cfg.pose)
    check_pose(cfg.family, cfg.pose)
    check_mask_inputs(cfg.family, cfg.mask_inputs)
    model = fam.build(cfg, num_classes=num_classes,
                      in_channels=fam.in_channels + pose.extra_channels + len(cfg.mask_inputs))
    stride = getattr(model, "feature_stride", fam.feature_stride)
    if heatmap_size(cfg) is not None and stride != fam.feature_stride:
        raise ConfigError(f"backbone {cfg.backbone!r} has feature stride {stride}, the heatmaps "
                          f"are made for {fam.feature_stride}")
    return pose.wrap(model, cfg, fam.video_arg) if pose.wrap is not None else model


def model_inputs(cfg, batch: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword inputs of ``cfg``'s (wrapped) model for one batch."""
    fam, pose = get_family(cfg.family), get_pose_mode(cfg.pose)
    inputs = {arg: batch[key] for arg, key in fam.inputs.items() if key in batch}
    if pose.wrap is not None:
        inputs["mask"] = batch["mask"]
    return inputs


def forward(cfg, model: nn.Module, batch: Mapping[str, Any]) -> dict[str, Any]:
    """``model``'s outputs on ``batch`` as a dict (a bare tensor becomes ``{"logits": ...}``)."""
    out = model(**model_inputs(cfg, batch))
    return out if isinstance(out, dict) else {"logits": out}


def compute_loss(cfg, out: dict[str, Any], labels: torch.Tensor) -> torch.Tensor:
    """The family's training loss."""
    return get_family(cfg.family).loss(cfg, out, labels)


# ---------------------------------------------------------------------------------------------
# the pose modes


def _weakened(model: nn.Module, cfg, video_arg: str) -> nn.Module:
    return BackgroundWeakened(model, cfg.background_factor, space=cfg.weaken_space,
                              video_arg=video_arg)


def _mask_channel(model: nn.Module, cfg, video_arg: str) -> nn.Module:
    return MaskChannel(model, video_arg=video_arg)


for _mode in (
    PoseMode("none", "no pose"),
    PoseMode("weaken", "background weakened by the person mask, x * (m + a (1 - m))",
             reads=("mask",), wrap=_weakened),
    PoseMode("mask_channel", "the person mask as one more input channel", reads=("mask",),
             wrap=_mask_channel, extra_channels=1),
    PoseMode("heatmaps_concat", "joint heatmaps into the model (attention: the top-down "
             "attention)", reads=("joints",)),
    PoseMode("heatmaps_reg", "joint heatmaps as an auxiliary target", reads=("joints",)),
    PoseMode("pose_only", "the person mask alone is the input", reads=("mask",)),
    PoseMode("joints", "the joints (with their confidences) alone are the input", reads=("joints",)),
):
    register_pose_mode(_mode)


# ---------------------------------------------------------------------------------------------
# the families


def _c3d(cfg, *, num_classes: int, in_channels: int) -> nn.Module:
    from actionpose.models.c3d import c3d

    return c3d(num_classes=num_classes, width=cfg.width, fc_dim=cfg.fc_dim,
               num_frames=cfg.num_frames, size=tuple(cfg.size), dropout=cfg.dropout,
               batch_norm=cfg.batch_norm, in_channels=in_channels)


def _pose_only(cfg, *, num_classes: int, in_channels: int) -> nn.Module:
    from actionpose.models.pose_only import pose_only

    return pose_only(num_classes=num_classes, in_channels=in_channels, width=cfg.width,
                     fc_dim=cfg.fc_dim, num_frames=cfg.num_frames, size=tuple(cfg.size),
                     dropout=cfg.dropout, head=cfg.head)


_ATTENTION_POSE = {"heatmaps_concat": "concat", "heatmaps_reg": "regularized"}


def _attention(cfg, *, num_classes: int, in_channels: int) -> nn.Module:
    from actionpose.models.attention import attention_pool

    return attention_pool(num_classes=num_classes, backbone=cfg.backbone, weights=cfg.weights,
                          pose=_ATTENTION_POSE.get(cfg.pose), dropout=cfg.dropout)


def _two_stream(cfg, *, num_classes: int, in_channels: int) -> nn.Module:
    from actionpose.models.two_stream import two_stream

    return two_stream(num_classes=num_classes, spatial_backbone=cfg.backbone,
                      temporal_backbone=cfg.temporal_backbone, num_frames=cfg.num_frames,
                      temporal_input=cfg.temporal_input, init_mode=cfg.init_mode,
                      weights=cfg.weights, streams=tuple(cfg.streams))


def _video(arch: str) -> Callable[..., nn.Module]:
    def build(cfg, *, num_classes: int, in_channels: int) -> nn.Module:
        from actionpose.models.video import video_resnet

        return video_resnet(arch, num_classes=num_classes, in_channels=in_channels,
                            weights=cfg.weights)
    return build


def _two_stream_reads(cfg) -> tuple[str, ...]:
    return ("frames", "flow") if cfg.temporal_input == "flow" else ("frames",)


def _stgcn(cfg, *, num_classes: int, in_channels: int) -> nn.Module:
    from actionpose.models.stgcn import JointStream

    return JointStream(num_classes=num_classes, frame_size=tuple(cfg.size), width=cfg.width,
                       dropout=cfg.dropout, with_confidence=in_channels == 3)


def _heatmap_volume(cfg, *, num_classes: int, in_channels: int) -> nn.Module:
    from actionpose.models.heatmap_volume import HeatmapVolumeStream
    from actionpose.pose.volumes import VolumeConfig

    # by default the volume at half the clip's size (PoseC3D: 56 px maps for 112-224 px frames)
    size = cfg.volume_size or tuple(max(1, s // 2) for s in cfg.size)
    volume = VolumeConfig(size=tuple(size), sigma=cfg.heatmap_sigma or VolumeConfig.sigma)
    return HeatmapVolumeStream(num_classes=num_classes, frame_size=tuple(cfg.size),
                               num_frames=cfg.num_frames, volume=volume, width=cfg.width,
                               fc_dim=cfg.fc_dim, dropout=cfg.dropout, head=cfg.head)


_JOINTS = {"joints": "joints", "confidence": "joint_conf"}
_IMAGENET = ("imagenet", "efficientnet-lite0")

register_family(Family(
    "c3d", _c3d, {"x": "video"}, INPUT_LEVEL,
    "C3D (Tran et al. 2015), 3x3x3 convs from scratch"))
register_family(Family(
    "attention", _attention, {"video": "video", "heatmaps": "heatmaps"},
    ("none", "weaken", "heatmaps_concat", "heatmaps_reg"),
    "attention pooling (Girdhar & Ramanan 2017) on a 2-D ImageNet backbone",
    memory_format=torch.channels_last, cpu_bf16=True, feature_stride=FEATURE_STRIDE,
    weights=_IMAGENET))
register_family(Family(
    "two_stream", _two_stream, {"video": "video", "flow": "flow"}, ("none", "weaken"),
    "two-stream, late fusion; stacked-RGB or optical-flow temporal stream",
    memory_format=torch.channels_last, cpu_bf16=True, reads=_two_stream_reads, weights=_IMAGENET))
register_family(Family(
    "pose_only", _pose_only, {"x": "mask"}, ("pose_only",),
    "a small 3-D CNN on the person mask alone", in_channels=1, reads=lambda cfg: ()))
register_family(Family(
    "stgcn", _stgcn, _JOINTS, ("joints",),
    "ST-GCN (Yan et al. 2018) on the JHMDB-15 joint coordinates and confidences",
    memory_format=torch.contiguous_format, reads=lambda cfg: ()))
register_family(Family(
    "heatmap_volume", _heatmap_volume, _JOINTS, ("joints",),
    "joint and limb heatmap volumes (PoseC3D), built on the device, into the pose-only 3-D CNN",
    reads=lambda cfg: ()))
for _arch, _what in (("r3d_18", "3-D convs"), ("mc3_18", "3-D convs in the first stage, 2-D after"),
                     ("r2plus1d_18", "(2+1)-D convs")):
    register_family(Family(
        _arch, _video(_arch), {"x": "video"}, INPUT_LEVEL,
        f"torchvision's video ResNet-18, {_what} (Tran et al. 2018)", weights=("kinetics400",)))


__all__ = ["PoseMode", "Family", "POSE_MODES", "FAMILIES", "INPUT_LEVEL", "register_pose_mode",
           "register_family", "get_family", "get_pose_mode", "check_pose", "check_mask_inputs",
           "check_weights", "modalities", "heatmap_size", "build_model", "model_inputs", "forward",
           "compute_loss"]
