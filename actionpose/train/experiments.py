"""Experiments are data: one frozen config per run, built from a registry and a preset.

``make_config("c3d-pose", preset="cpu", seed=1, background_factor=0.25)`` gives the full,
flat :class:`TrainConfig` that a run folder's ``config.json`` records. The registry holds the
report's experiments (and two beyond it); presets scale them (smoke: seconds, cpu: minutes on two
cores, paper: the report's settings for a GPU).
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from actionpose.errors import ConfigError

DATASETS = ("puppet", "actors", "actors-estimated", "jhmdb")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines one training run (flat, so ``key=value`` overrides are simple)."""

    experiment: str
    family: str
    preset: str = "cpu"
    # data
    dataset: str = "puppet"  # puppet (embedded), actors (real-actor composite), actors-estimated
    # (its frames, MediaPipe pose), jhmdb, or a path
    split: int = 1
    num_frames: int = 16
    size: tuple[int, int] = (112, 112)
    clips_per_video: int = 2  # evaluation clips per test video (video accuracy averages them)
    context_bias: float | None = None  # embedded dataset only; None = the preset's default
    # > 0: that fraction of each class's training videos is held out as a validation split
    # (data.validation), carved with ``val_seed`` — fixed, not the run's seed, so that every seed
    # of a study is chosen on the same validation videos
    val_fraction: float = 0.0
    val_seed: int = 0
    crop: str = "resize"  # resize (the whole frame to ``size``) | person (data.transforms.PersonCrop)
    mask_inputs: tuple[str, ...] = ()  # extra mask-derived channels (data.transforms.MASK_INPUTS)
    # pose
    pose: str = "none"
    background_factor: float = 0.25  # weaken: x * (m + a (1 - m)), the same in training and test
    weaken_space: str = "normalised"  # normalised (ImageNet mean/std) | pixels (see models.guidance)
    # Gaussian sigma in map pixels of the joint heatmaps (None: max(h, w) / 32, at least 1) and of
    # heatmap_volume's maps (None: 0.6, pyskl's)
    heatmap_sigma: float | None = None
    aux_weight: float = 1.0  # heatmaps_reg: weight of the auxiliary heatmap loss
    volume_size: tuple[int, int] | None = None  # heatmap_volume maps (h, w); None: half of ``size``
    # the pose-quality knob (pose.knob.PoseQuality), in units of the person's height: the pose
    # the model sees made worse, never the frames; drawn anew per epoch and video in training,
    # once per test (and validation) video, the same for every epoch and seed
    pose_jitter: float = 0.0
    pose_miss_rate: float = 0.0
    pose_offset: tuple[float, float] = (0.0, 0.0)
    pose_mask_change: float = 0.0  # > 0 dilates the mask, < 0 erodes it
    # model
    width: float = 1.0  # c3d / pose_only channel multiplier
    fc_dim: int = 4096
    head: str = "flatten"  # pose_only: flatten the last feature cells into fc | pool them globally
    batch_norm: bool = False  # c3d: BatchNorm after each conv (not in Tran et al.; trains faster from scratch)
    dropout: float = 0.5
    backbone: str = "resnet18"  # attention backbone; two-stream spatial backbone
    temporal_backbone: str = "efficientnet_lite0"
    temporal_input: str = "rgb"  # rgb (stacked frames) | flow (Farneback)
    streams: tuple[str, ...] = ("spatial", "temporal")
    init_mode: str = "replicate"
    weights: str | None = None  # None | imagenet | efficientnet-lite0 | path
    # optimisation
    optimizer: str = "sgd"  # sgd | adam | adamw
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"  # cosine | step | constant
    warmup_epochs: float = 0.0
    step_size: int = 10
    gamma: float = 0.1
    grad_clip: float | None = None
    label_smoothing: float = 0.0
    epochs: int = 10
    batch_size: int = 8
    # evaluate the test (and validation) split every k epochs and always at the final one; the
    # metrics.csv rows of the other epochs leave those columns empty. Training and the final
    # metrics do not depend on it (evaluation draws no training randomness, changes no weights).
    eval_every: int = 1
    # runtime
    seed: int = 0
    workers: int = 2
    amp: str = "auto"  # auto | bf16 | fp16 | off
    channels_last: bool = True
    # CPU bf16 autocast: run depthwise convs in fp32 (oneDNN's bf16 depthwise kernels are slower;
    # see models.precision). Off in the presets so far: the committed cpu-preset runs were trained
    # without it (it changes their numerics).
    depthwise_fp32: bool = False
    compile: bool = False
    deterministic: bool = False
    device: str = "auto"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown config keys {unknown}")
        data = dict(data)
        for key in ("size", "streams", "mask_inputs", "volume_size", "pose_offset"):
            if key in data and isinstance(data[key], list):
                data[key] = tuple(data[key])
        return cls(**data)

    def run_name(self) -> str:
        bias = "" if self.context_bias is None else f"-bias{self.context_bias:g}"
        quality = "".join(f"-{part}" for part in self.pose_quality_parts())
        return (f"{dataset_label(self.dataset)}-{self.preset}{bias}{quality}-split{self.split}"
                f"-seed{self.seed}")

    def pose_quality(self):
        """The run's :class:`~actionpose.pose.knob.PoseQuality`, or None for the pose as it is."""
        from actionpose.pose.knob import PoseQuality

        quality = PoseQuality.from_config(self.__dict__)
        return None if quality.is_perfect else quality

    def pose_quality_parts(self) -> list[str]:
        """The knob's settings that differ from perfect pose, as run-name parts (e.g. jitter0.05)."""
        quality = self.pose_quality()
        return [] if quality is None else quality.parts()


def dataset_label(dataset: str) -> str:
    """A short name for a dataset setting (a path becomes its folder name)."""
    from pathlib import Path

    return dataset if dataset in DATASETS else Path(dataset).name


@dataclass(frozen=True)
class Experiment:
    """A registry entry: a family and the settings that make it this experiment."""

    name: str
    description: str
    family: str
    settings: dict[str, Any] = field(default_factory=dict)
    in_report: bool = False  # trained by `reproduce` (REPORT_RUNS)


def _exp(name: str, description: str, family: str, *, in_report: bool = True, **settings) -> Experiment:
    return Experiment(name, description, family, settings, in_report)


EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in [
        _exp("c3d", "C3D on RGB clips, no pose", "c3d"),
        _exp("c3d-pose", "C3D, background weakened by the person mask", "c3d",
             pose="weaken"),
        _exp("attention", "attention pooling (rank-1, Girdhar & Ramanan), no pose", "attention"),
        _exp("attention-pose", "attention pooling, joint heatmaps concatenated into the top-down "
             "attention (the seed's way)", "attention", pose="heatmaps_concat"),
        _exp("attention-pose-reg", "attention pooling, pose-regularised bottom-up attention "
             "(Girdhar & Ramanan's auxiliary heatmap loss)", "attention",
             pose="heatmaps_reg"),
        *[
            _exp(f"two-stream-init-{mode}", f"temporal stream alone (stacked RGB), first layer "
                 f"init '{mode}' from ImageNet", "two_stream", init_mode=mode,
                 streams=("temporal",))
            for mode in ("none", "replicate", "replicate_scaled", "average")
        ],
        _exp("two-stream", "two-stream: spatial + stacked-RGB temporal stream, late fusion",
             "two_stream"),
        _exp("two-stream-mask", "two-stream with the background weakened by the puppet mask",
             "two_stream", pose="weaken"),
        _exp("two-stream-flow", "two-stream with a Farneback optical-flow temporal stream "
             "(beyond the report)", "two_stream", temporal_input="flow"),
        _exp("pose-only", "a small 3-D CNN on the person mask alone (beyond the report)",
             "pose_only", pose="pose_only"),
        # torchvision's video ResNets (beyond the report)
        _exp("r2plus1d", "R(2+1)D-18 on RGB clips, no pose", "r2plus1d_18", in_report=False),
        _exp("r2plus1d-pose", "R(2+1)D-18, background weakened by the person mask", "r2plus1d_18",
             in_report=False, pose="weaken"),
        _exp("r2plus1d-mask", "R(2+1)D-18, the person mask as a 4th input channel", "r2plus1d_18",
             in_report=False, pose="mask_channel"),
        _exp("r3d", "R3D-18 on RGB clips, no pose", "r3d_18", in_report=False),
        _exp("mc3", "MC3-18 on RGB clips, no pose", "mc3_18", in_report=False),
        # more ways of feeding pose (issue 18, beyond the report)
        _exp("c3d-mask-channel", "C3D, the person mask as a 4th input channel", "c3d",
             in_report=False, pose="mask_channel"),
        _exp("stgcn", "ST-GCN on the JHMDB-15 joints and their confidences alone", "stgcn",
             in_report=False, pose="joints"),
        _exp("heatmap-volume", "joint and limb heatmap volumes (PoseC3D) into a small 3-D CNN",
             "heatmap_volume", in_report=False, pose="joints"),
    ]
}
VIDEO_RESNETS = ("r3d_18", "mc3_18", "r2plus1d_18")



def register_experiment(exp: Experiment, *, replace: bool = False) -> Experiment:
    """Add ``exp`` (its family must be registered in :mod:`actionpose.models.registry`)."""
    from actionpose.models.registry import get_family

    get_family(exp.family)
    if exp.name in EXPERIMENTS and not replace:
        raise ConfigError(f"experiment {exp.name!r} is already registered")
    EXPERIMENTS[exp.name] = exp
    return exp


# Per preset: settings for every family, then per family.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "smoke": {
        "all": dict(num_frames=4, size=(32, 32), epochs=1, batch_size=4, clips_per_video=1,
                    workers=0, dataset="puppet"),
        "c3d": dict(width=0.125, fc_dim=32, batch_norm=True),
        "attention": dict(backbone="resnet18", weights=None),
        "two_stream": dict(backbone="resnet18", temporal_backbone="resnet18", weights=None),
        "pose_only": dict(width=0.125, fc_dim=32),
        "stgcn": dict(width=0.125),
        "heatmap_volume": dict(width=0.125, fc_dim=32),
        **{arch: dict(weights=None) for arch in VIDEO_RESNETS},
    },
    "cpu": {
        "all": dict(num_frames=8, size=(64, 64), epochs=12, batch_size=8, clips_per_video=2,
                    workers=2, dataset="puppet"),
        # AdamW 3e-4: at higher rates, and with SGD, the narrow C3D on plain RGB stayed at chance
        # or collapsed to a constant prediction in some seeds (README, calibration)
        "c3d": dict(width=0.25, fc_dim=256, batch_norm=True, optimizer="adamw", lr=3e-4,
                    weight_decay=0.05, epochs=20),
        "attention": dict(backbone="efficientnet_lite0", weights="efficientnet-lite0",
                          size=(96, 96), num_frames=4, optimizer="adamw", lr=3e-4,
                          weight_decay=0.01, epochs=8),
        "two_stream": dict(backbone="efficientnet_lite0", temporal_backbone="efficientnet_lite0",
                           weights="efficientnet-lite0", size=(64, 64), num_frames=5,
                           optimizer="adamw", lr=3e-4, weight_decay=0.01, epochs=5),
        "pose_only": dict(width=0.25, fc_dim=256, optimizer="adamw", lr=1e-3, weight_decay=0.05,
                          epochs=20),
        # not yet chosen on data: pose-only's optimisation for the two joint streams
        "stgcn": dict(width=0.25, dropout=0.0, optimizer="adamw", lr=1e-3, weight_decay=0.05,
                      epochs=20),
        "heatmap_volume": dict(width=0.25, fc_dim=256, optimizer="adamw", lr=1e-3,
                               weight_decay=0.05, epochs=20),
        # full-width torchvision nets: short, small clips so that a run fits on two cores
        **{arch: dict(weights=None, num_frames=8, size=(64, 64), optimizer="adamw", lr=3e-4,
                      weight_decay=0.05, epochs=5) for arch in VIDEO_RESNETS},
    },
    "paper": {
        "all": dict(num_frames=16, size=(112, 112), epochs=30, batch_size=16, clips_per_video=3,
                    workers=8, dataset="jhmdb"),
        "c3d": dict(width=1.0, fc_dim=4096, lr=0.003),
        "attention": dict(backbone="resnet101", weights="imagenet", size=(224, 224),
                          num_frames=8, lr=0.001),
        "two_stream": dict(backbone="resnet101", temporal_backbone="alexnet", weights="imagenet",
                           size=(224, 224), num_frames=10, lr=0.001),
        "pose_only": dict(width=0.5, fc_dim=512, lr=0.01),
        "stgcn": dict(width=1.0, dropout=0.0, lr=0.1),  # ST-GCN's own: full width, SGD 0.1
        "heatmap_volume": dict(width=0.5, fc_dim=512, lr=0.01),
        **{arch: dict(weights="kinetics400", size=(112, 112), num_frames=16, lr=0.001)
           for arch in VIDEO_RESNETS},
    },
    # Issue 19: pose alone on real JHMDB masks (official splits); made for pose-only (the one
    # family that reads masks alone; other families get only the "all" settings). Chosen on the
    # validation split carved from split 1's training videos (`actionpose tune`, val_fraction 0.2
    # there; records and table in results/tune/pose-only-jhmdb-split1/), never on a test split:
    # the pooled head (vs flattening), the silhouette's distance transform as an extra channel
    # (vs none or its motion), 2 test clips without flips (vs 1, 5 or 10 clips and flips:
    # `actionpose evaluate --on val`). The rest (16 frames at 64x64, person-centred crop, width
    # 0.5, warm-up + cosine, label smoothing, 40 epochs) are the study's starting values, not
    # varied. The final runs train on the whole training split, final epoch.
    "jhmdb": {
        "all": dict(dataset="jhmdb", num_frames=16, size=(64, 64), epochs=40, batch_size=16,
                    clips_per_video=2, workers=2, eval_every=5),
        "pose_only": dict(head="pool", crop="person", mask_inputs=("distance",), width=0.5,
                          fc_dim=256, optimizer="adamw", lr=2e-3, weight_decay=0.05,
                          schedule="cosine", warmup_epochs=2.0, label_smoothing=0.1, dropout=0.3),
    },
}


def _suggest(name: str, choices) -> str:
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    return f" (did you mean {', '.join(close)}?)" if close else f" (choose from {', '.join(choices)})"


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {name!r}{_suggest(name, EXPERIMENTS)}")
    return EXPERIMENTS[name]


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """Turn ``["lr=0.1", "size=[64,64]"]`` into typed values checked against TrainConfig."""
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    result: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not key=value")
        key, text = item.split("=", 1)
        key = key.strip().replace("-", "_")
        if key not in fields:
            raise ConfigError(f"unknown override key {key!r}{_suggest(key, fields)}")
        result[key] = _typed_override(key, text, str(fields[key].type))
    return result


def _typed_override(key: str, text: str, annotation: str) -> Any:
    """``text`` as the type TrainConfig declares for ``key`` (a ConfigError names the mismatch)."""
    kinds = [k.strip() for k in annotation.split("|")]
    if "None" in kinds and text.strip().lower() in ("null", "none"):
        return None
    kind = next(k for k in kinds if k != "None")
    if kind == "str":
        return text  # bare: sgd, a path, or digits such as a folder name
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = text
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind.startswith("tuple") and isinstance(value, list):
        return tuple(value)
    raise ConfigError(f"override {key}={text!r}: expected {annotation.replace('None', 'null')}")


def make_config(experiment: str, preset: str = "cpu", **overrides) -> TrainConfig:
    """The full config of ``experiment`` at ``preset`` with ``overrides`` applied last."""
    exp = get_experiment(experiment)
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}{_suggest(preset, PRESETS)}")
    values: dict[str, Any] = {}
    values.update(PRESETS[preset]["all"])
    values.update(PRESETS[preset].get(exp.family, {}))
    values.update(exp.settings)
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for key, value in overrides.items():
        if key not in fields:
            raise ConfigError(f"unknown override key {key!r}{_suggest(key, fields)}")
        if value is not None:
            values[key] = value
    cfg = TrainConfig(experiment=exp.name, family=exp.family, preset=preset, **values)
    validate(cfg)
    return cfg


def validate(cfg: TrainConfig) -> None:
    """Reject configs that cannot run, with the reason."""
    check_ranges(cfg)
    from actionpose.models.guidance import SPACES
    from actionpose.models.registry import check_mask_inputs, check_pose, check_weights

    check_pose(cfg.family, cfg.pose)  # the family/pose pair, from the model registry
    check_weights(cfg.family, cfg.weights)
    check_mask_inputs(cfg.family, cfg.mask_inputs)
    if cfg.weaken_space not in SPACES:
        raise ConfigError(f"weaken_space must be one of {', '.join(SPACES)}, got {cfg.weaken_space!r}")
    if cfg.temporal_input == "flow" and cfg.num_frames < 2:
        raise ConfigError("a flow temporal stream needs num_frames >= 2")
    check_pose_quality(cfg)


# what each part of the pose-quality knob changes (pose.quality): the joints or the mask
_QUALITY_REACHES = {"pose_jitter": ("joints",), "pose_miss_rate": ("joints", "mask"),
                    "pose_offset": ("joints", "mask"), "pose_mask_change": ("mask",)}


def check_pose_quality(cfg: TrainConfig) -> None:
    """Refuse a pose-quality setting that would change nothing the run reads (the knob never
    touches frames; jitter moves joints only, mask_change the mask only)."""
    from actionpose.models.registry import modalities

    reads = set(modalities(cfg))
    for key, reaches in _QUALITY_REACHES.items():
        value = getattr(cfg, key)
        if any(value) if key == "pose_offset" else value:
            if not reads & set(reaches):
                raise ConfigError(f"{key}={value!r}: experiment {cfg.experiment!r} (pose={cfg.pose!r}) "
                                  f"reads no {' or '.join(reaches)} for it to change")


# ---------------------------------------------------------------------------------------------
# every field's range and meaning

CHOICES: dict[str, tuple[str, ...]] = {
    "optimizer": ("sgd", "adam", "adamw"),
    "schedule": ("cosine", "step", "constant"),
    "amp": ("auto", "bf16", "fp16", "off"),
    "temporal_input": ("rgb", "flow"),
    "head": ("flatten", "pool"),
    "crop": ("resize", "person"),
}
INT_MINIMA = {"epochs": 1, "batch_size": 1, "num_frames": 1, "clips_per_video": 1, "fc_dim": 1,
              "workers": 0, "seed": 0, "val_seed": 0,
              "eval_every": 1}
FLOAT_RANGES: dict[str, tuple[Callable[[float], bool], str]] = {
    "lr": (lambda v: v > 0, "> 0"),
    "width": (lambda v: v > 0, "> 0 (the channel multiplier)"),
    "weight_decay": (lambda v: v >= 0, ">= 0"),
    "warmup_epochs": (lambda v: v >= 0, ">= 0"),
    "aux_weight": (lambda v: v >= 0, ">= 0"),
    "momentum": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "dropout": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "label_smoothing": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "background_factor": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "val_fraction": (lambda v: 0 <= v < 1, "in [0, 1) (0: no validation split)"),
    "pose_jitter": (lambda v: v >= 0, ">= 0 (a fraction of the person's height)"),
    "pose_miss_rate": (lambda v: 0 <= v <= 1, "in [0, 1] (the fraction of frames missed)"),
    "pose_mask_change": (lambda v: True, "a finite number (> 0 dilates, < 0 erodes)"),
}
OPTIONAL_POSITIVE = ("grad_clip", "heatmap_sigma")
STREAMS = ("spatial", "temporal")
DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def check_ranges(cfg: TrainConfig) -> None:
    """Refuse a field outside its range or meaning with a one-line ConfigError naming the key.

    Reads no data, so a bad value fails before anything is loaded or trained."""
    for key, choices in CHOICES.items():
        _need(cfg, key, getattr(cfg, key) in choices, "one of " + ", ".join(choices))
    _need(cfg, "split", cfg.split in (1, 2, 3), "1, 2 or 3")
    for key, low in INT_MINIMA.items():
        _need(cfg, key, _is_int(getattr(cfg, key)) and getattr(cfg, key) >= low, f"an integer >= {low}")
    _need(cfg, "seed", cfg.seed < 2**32, "below 2**32 (numpy's seed range)")
    for key, (ok, what) in FLOAT_RANGES.items():
        _need(cfg, key, _is_real(getattr(cfg, key)) and ok(getattr(cfg, key)), what)
    for key in OPTIONAL_POSITIVE:
        value = getattr(cfg, key)
        _need(cfg, key, value is None or (_is_real(value) and value > 0), "null or > 0")
    bias = cfg.context_bias
    _need(cfg, "context_bias", bias is None or (_is_real(bias) and 0 <= bias <= 1), "null or in [0, 1]")
    _need(cfg, "size", isinstance(cfg.size, (tuple, list)) and len(cfg.size) == 2
          and all(_is_int(s) and s >= 1 for s in cfg.size), "[height, width], two integers >= 1")
    # maps finer than the clip's frames would hold nothing more, at a cost in memory
    _need(cfg, "volume_size", cfg.volume_size is None or (
        isinstance(cfg.volume_size, (tuple, list)) and len(cfg.volume_size) == 2
        and all(_is_int(v) and 1 <= v <= s for v, s in zip(cfg.volume_size, cfg.size))),
        f"null or [height, width], two integers from 1 to the clip's size {list(cfg.size)}")
    _need(cfg, "pose_offset", isinstance(cfg.pose_offset, (tuple, list)) and len(cfg.pose_offset) == 2
          and all(_is_real(v) for v in cfg.pose_offset), "[dx, dy], two finite numbers (fractions "
          "of the person's height)")
    if cfg.schedule == "step":
        _need(cfg, "step_size", _is_int(cfg.step_size) and cfg.step_size >= 1,
              "an integer >= 1 with schedule=step (epochs between lr steps)")
        _need(cfg, "gamma", _is_real(cfg.gamma) and cfg.gamma > 0, "> 0 with schedule=step")
    _need(cfg, "streams", isinstance(cfg.streams, (tuple, list)) and len(cfg.streams) > 0
          and set(cfg.streams) <= set(STREAMS) and len(set(cfg.streams)) == len(cfg.streams),
          "a non-empty list of distinct " + ", ".join(STREAMS))
    from actionpose.data.transforms import MASK_INPUTS

    _need(cfg, "mask_inputs", isinstance(cfg.mask_inputs, (tuple, list))
          and set(cfg.mask_inputs) <= set(MASK_INPUTS) and len(set(cfg.mask_inputs)) == len(cfg.mask_inputs),
          "a list of distinct " + ", ".join(MASK_INPUTS))
    _need(cfg, "device", isinstance(cfg.device, str) and DEVICE.fullmatch(cfg.device) is not None,
          "auto, cpu, cuda or cuda:N (the devices this package supports)")
    from actionpose.models.backbones import BACKBONES
    from actionpose.models.init import INIT_MODES

    for key, choices in (("backbone", BACKBONES), ("temporal_backbone", BACKBONES), ("init_mode", INIT_MODES)):
        _need(cfg, key, getattr(cfg, key) in choices, "one of " + ", ".join(choices))
    if isinstance(cfg.weights, str) and ("/" in cfg.weights or Path(cfg.weights).suffix):
        _need(cfg, "weights", Path(cfg.weights).expanduser().is_file(),
              "a named set of weights or an existing file (no such file)")


def _need(cfg: TrainConfig, key: str, ok: bool, what: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={getattr(cfg, key)!r}: must be {what}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def describe() -> list[tuple[str, str, str]]:
    """(name, family, description) of every experiment, in registry order."""
    return [(e.name, e.family, e.description) for e in EXPERIMENTS.values()]


# The context-bias sweep's default pair (the seed's way of feeding pose, heatmaps into the
# attention); `--sweep-pair c3d c3d-pose` sweeps the background-weakening pair.
SWEEP_PAIR: tuple[str, str] = ("attention", "attention-pose")


def report_plan(preset: str = "cpu", seeds: int = 3, *, only=(), data: str | None = None,
                sweep=(), sweep_pair: tuple[str, str] = SWEEP_PAIR,
                have_jhmdb: bool = True) -> list[TrainConfig]:
    """The configs of every report run (REPORT_RUNS x seeds; pose-only on JHMDB over its three
    official splits except at the smoke preset), plus ``sweep_pair`` (baseline, treatment) at each
    ``sweep`` context bias of the puppet world."""
    for name in sweep_pair:
        get_experiment(name)
    plan = []
    for experiment, dataset in REPORT_RUNS:
        if only and experiment not in only:
            continue
        if dataset in ("actors", "jhmdb") and not have_jhmdb:
            continue
        if data is not None and dataset == "puppet":
            dataset = data
        splits = (1, 2, 3) if dataset == "jhmdb" and preset != "smoke" else (1,)
        for seed in range(seeds):
            for split in splits:
                plan.append(make_config(experiment, preset, seed=seed, split=split, dataset=dataset))
    for bias in sweep or ():
        for experiment in sweep_pair:
            for seed in range(seeds):
                plan.append(make_config(experiment, preset, seed=seed, context_bias=bias))
    return plan


# The report's experiment list, in the order `reproduce` runs them, with the data each uses.
REPORT_RUNS: list[tuple[str, str]] = [
    *[(name, "puppet") for name, e in EXPERIMENTS.items() if e.in_report],
    *[(name, "actors") for name in ("c3d", "c3d-pose", "two-stream", "two-stream-mask")],
    ("pose-only", "jhmdb"),
]
