"""A trained model ready for inference, from a run folder or from an exported file.

:class:`ModelSpec` says what the model reads (the export's ``FILE.json`` holds exactly it);
:class:`InferenceModel` is the one forward used by evaluation, prediction and export: the named
input tensors in, logits out, pose applied inside (background weakening, mask channel).
"""
from __future__ import annotations

import dataclasses
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from actionpose.errors import CheckpointError, ConfigError, RunError

__all__ = ["ModelSpec", "InferenceModel", "LoadedModel", "open_run", "model_from_config", "run_data_root",
           "load_model", "model_input_names"]

INPUT_ORDER = ("video", "mask", "heatmaps", "joints", "joint_conf", "flow")


MODALITY_INPUTS = {"frames": ("video",), "mask": ("mask",), "joints": ("heatmaps",), "flow": ("flow",)}
JOINT_INPUTS = ("joints", "joint_conf")  # joints for a family that takes them as they are


def model_input_names(cfg) -> tuple[str, ...]:
    """The tensors a config's model reads at inference, in :data:`INPUT_ORDER`: joints enter as
    heatmaps, or as joints and confidences where the family takes them (stgcn, heatmap_volume)."""
    from actionpose.models.registry import get_family, modalities

    takes_joints = "joints" in get_family(cfg.family).inputs.values()
    names = {n for m in modalities(cfg)
             for n in (JOINT_INPUTS if m == "joints" and takes_joints else MODALITY_INPUTS[m])}
    return tuple(n for n in INPUT_ORDER if n in names)


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to feed a model: input names and shapes (batch first), normalisation,
    classes and the pose it needs (``mask``, ``joints`` or nothing)."""

    experiment: str
    family: str
    pose: str
    classes: tuple[str, ...]
    num_frames: int
    size: tuple[int, int]
    inputs: tuple[str, ...]
    heatmap_size: tuple[int, int] | None
    heatmap_sigma: float | None
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @property
    def pose_needed(self) -> tuple[str, ...]:
        """Which estimated pose the inputs are made from: ("mask",), ("joints",) or ()."""
        return tuple(p for p, names in (("mask", ("mask",)), ("joints", ("heatmaps", "joints")))
                     if set(names) & set(self.inputs))

    def input_shape(self, name: str, batch: int = 1) -> tuple[int, ...]:
        t, (h, w) = self.num_frames, self.size
        shapes = {"video": (batch, 3, t, h, w), "mask": (batch, 1, t, h, w),
                  "flow": (batch, 2, t - 1, h, w),
                  "joints": (batch, t, 15, 2), "joint_conf": (batch, t, 15)}  # pixels of (h, w)
        if self.heatmap_size is not None:
            shapes["heatmaps"] = (batch, 15, t, *self.heatmap_size)
        return shapes[name]

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["input_shapes"] = {name: list(self.input_shape(name)) for name in self.inputs}
        out["pose_needed"] = list(self.pose_needed)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelSpec":
        fields = {f.name for f in dataclasses.fields(cls)}
        missing = sorted(fields - set(data))
        if missing:
            raise KeyError(f"missing keys {missing}")
        values = {k: data[k] for k in fields}
        for key in ("classes", "size", "inputs", "mean", "std", "heatmap_size"):
            if values[key] is not None:
                values[key] = tuple(values[key])
        return cls(**values)

    @classmethod
    def from_config(cls, cfg, classes) -> "ModelSpec":
        from actionpose.normalization import IMAGENET_MEAN, IMAGENET_STD
        from actionpose.models.registry import heatmap_size

        return cls(experiment=cfg.experiment, family=cfg.family, pose=cfg.pose,
                   classes=tuple(classes), num_frames=cfg.num_frames, size=tuple(cfg.size),
                   inputs=model_input_names(cfg), heatmap_size=heatmap_size(cfg),
                   heatmap_sigma=cfg.heatmap_sigma, mean=IMAGENET_MEAN, std=IMAGENET_STD)


class InferenceModel(nn.Module):
    """``forward(*inputs)`` in ``spec.inputs`` order -> logits (B, K); what an export holds."""

    def __init__(self, model: nn.Module, cfg):
        super().__init__()
        self.model = model
        self.cfg = cfg
        self.names = model_input_names(cfg)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        from actionpose.models.registry import forward

        return forward(self.cfg, self.model, dict(zip(self.names, inputs)))["logits"]


@dataclass
class LoadedModel:
    """A model to run: ``spec`` and ``logits(inputs)`` (a dict of float tensors, batch first).

    ``module`` / ``cfg`` / ``folder`` are set for a run folder (needed by evaluation, export and
    explanations); an export has only its ``path``.
    """

    spec: ModelSpec
    logits: Callable[[dict[str, torch.Tensor]], torch.Tensor]
    module: InferenceModel | None = None
    cfg: Any = None
    folder: Path | None = None
    summary: dict | None = None
    path: Path | None = None

    @property
    def source(self) -> Path:
        return self.folder if self.folder is not None else self.path


def _read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise RunError(f"{path}: {what} not found")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RunError(f"{path}: unreadable {what} ({' '.join(str(exc).split())})") from None
    if not isinstance(data, dict):
        raise RunError(f"{path}: {what} is not a JSON object")
    return data


def open_run(folder: str | Path, *, device: str = "cpu", checkpoint: str = "last.pt") -> LoadedModel:
    """A finished run's final weights (``last.pt``: the reported epoch) in eval mode.

    A missing folder, an unfinished run (no complete ``summary.json``), a corrupt config or
    checkpoint, or weights that do not fit the config are a one-line error naming the file.
    """
    from actionpose.train.experiments import TrainConfig, validate
    from actionpose.train.runs import load_checkpoint

    folder = Path(folder)
    if not folder.is_dir():
        raise RunError(f"{folder}: run folder not found")
    try:
        cfg = TrainConfig.from_dict(_read_json(folder / "config.json", "run config"))
        validate(cfg)
    except (ConfigError, TypeError) as exc:
        raise RunError(f"{folder / 'config.json'}: not a valid run config ({exc})") from None
    summary = _read_json(folder / "summary.json", "run summary (the run is unfinished: finish it "
                                                  "with `actionpose train --resume`)")
    if not summary.get("complete"):
        raise RunError(f"{folder / 'summary.json'}: the run is not complete; finish it with "
                       "`actionpose train --resume`")
    state = load_checkpoint(folder / checkpoint)
    classes = state.get("classes")
    if not isinstance(classes, list) or "model" not in state:
        raise CheckpointError(f"{folder / checkpoint}: not an actionpose run checkpoint (no model or classes)")
    try:
        loaded = model_from_config(cfg, classes, state=state["model"], device=device)
    except (RuntimeError, KeyError, ValueError) as exc:
        raise CheckpointError(f"{folder / checkpoint}: weights do not fit the run's config "
                              f"({' '.join(str(exc).split())[:200]})") from None
    return dataclasses.replace(loaded, folder=folder, summary=summary)


def model_from_config(cfg, classes, *, state: dict | None = None, device: str = "cpu") -> LoadedModel:
    """The model of ``cfg`` for ``classes``, with weights ``state`` (None: as initialised)."""
    from actionpose.models.registry import build_model
    from actionpose.train.precision import resolve_device

    model = build_model(cfg, len(classes))
    if state is not None:
        model.load_state_dict(state)
    dev = resolve_device(device)
    module = InferenceModel(model, cfg).to(dev).eval()
    spec = ModelSpec.from_config(cfg, classes)

    @torch.no_grad()
    def logits(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return module(*(inputs[n].to(dev) for n in spec.inputs)).float().cpu()

    return LoadedModel(spec, logits, module=module, cfg=cfg)


def run_data_root(loaded: LoadedModel, data: str | Path | None = None) -> Path:
    """The dataset a run was trained on (``data`` overrides the one its summary records)."""
    from actionpose.errors import DataError

    recorded = (loaded.summary or {}).get("data_root")
    if data is None and not recorded:
        raise DataError(loaded.folder / "summary.json", "records no data_root; pass --data ROOT")
    root = Path(data if data is not None else recorded)
    if not root.is_dir():
        raise DataError(root, f"dataset of run {loaded.folder} not found (moved? pass --data ROOT)")
    return root


def load_model(path: str | Path, *, device: str = "cpu") -> LoadedModel:
    """A run folder, or an exported FILE (TorchScript or ONNX) with its ``FILE.json``."""
    path = Path(path)
    if path.is_dir():
        return open_run(path, device=device)
    if not path.exists():
        raise RunError(f"{path}: neither a run folder nor an exported model file")
    meta_path = path.with_name(path.name + ".json")
    meta = _read_json(meta_path, "export description")
    try:
        spec = ModelSpec.from_dict(meta)
    except (KeyError, TypeError, ValueError) as exc:
        raise RunError(f"{meta_path}: not an actionpose export description ({exc})") from None
    fmt = meta.get("format")
    if fmt == "torchscript":
        try:
            with warnings.catch_warnings():  # torch.jit is deprecated, still the way to ship it
                warnings.filterwarnings("ignore", category=FutureWarning)
                module = torch.jit.load(str(path), map_location="cpu").eval()
        except Exception as exc:  # a truncated or foreign file
            raise CheckpointError(f"{path}: cannot load the TorchScript model ({' '.join(str(exc).split())[:160]})") from None

        @torch.no_grad()
        def logits(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
            return module(*(inputs[n] for n in spec.inputs)).float()
    elif fmt == "onnx":
        session = _onnx_session(path)

        def logits(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
            feeds = {n: np.ascontiguousarray(inputs[n].numpy(), np.float32) for n in spec.inputs}
            return torch.from_numpy(session.run(["logits"], feeds)[0])
    else:
        raise RunError(f"{meta_path}: unknown export format {fmt!r} (torchscript or onnx)")
    return LoadedModel(spec, logits, path=path)


def _onnx_session(path: Path):
    try:
        import onnxruntime
    except ImportError:
        raise ConfigError("onnxruntime is not installed: pip install actionpose[export]") from None
    try:
        return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise CheckpointError(f"{path}: cannot load the ONNX model ({' '.join(str(exc).split())[:160]})") from None
