"""Export a run's model as one standalone file plus ``FILE.json`` describing its inputs.

``actionpose export RUN --format torchscript|onnx --out FILE``: the exported graph is
:class:`~actionpose.use.model.InferenceModel` (pose guidance inside: pass the mask or heatmaps
it lists, it weakens the background itself), batch size free. ``FILE.json`` is the run's
:class:`~actionpose.use.model.ModelSpec`: input names and shapes, ImageNet mean/std (of [0, 1]
pixels), classes, the pose inputs needed, frames and size. The export is loaded back and checked
against the PyTorch logits before it is kept.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

from actionpose.errors import CheckpointError, ConfigError
from actionpose.io import write_json

__all__ = ["FORMATS", "export_run", "main"]

FORMATS = ("torchscript", "onnx")
TOLERANCE = 1e-4
ONNX_OPSET = 17


def _example(spec, batch: int = 2) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    return tuple(torch.rand(spec.input_shape(n, batch), generator=g) for n in spec.inputs)


def _write_torchscript(module, example, path: Path) -> None:
    with warnings.catch_warnings():  # shape checks in forward are constants of the traced graph
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)  # jit: deprecated, still loadable
        traced = torch.jit.trace(module, example, check_trace=False)
        torch.jit.save(traced, str(path))


def _write_onnx(module, example, path: Path, names: tuple[str, ...]) -> None:
    try:
        import onnx  # noqa: F401  (the exporter needs it)
    except ImportError:
        raise ConfigError("ONNX export needs the onnx package: pip install actionpose[export]") from None
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        torch.onnx.export(module, example, str(path), dynamo=False, input_names=list(names),
                          output_names=["logits"], opset_version=ONNX_OPSET,
                          dynamic_axes={n: {0: "batch"} for n in (*names, "logits")})


def export_run(run: str | Path, fmt: str, out: str | Path) -> dict[str, Any]:
    """Export run ``run`` as ``fmt`` into ``out`` (+ ``out.json``); returns the description.

    Nothing is written at ``out`` unless the export loads back and its logits match PyTorch's
    within 1e-4 of the largest logit (of 1 when they are small): an untrained model's logits
    can reach 1e6, where float32 itself differs in the fourth decimal.
    """
    from actionpose.use.model import load_model, open_run

    if fmt not in FORMATS:
        raise ConfigError(f"export format must be one of {FORMATS}, got {fmt!r}")
    out = Path(out)
    if out.is_dir():
        raise ConfigError(f"{out}: --out is a folder; give the model file to write")
    loaded = open_run(run)
    module, spec = loaded.module.cpu().eval(), loaded.spec
    example = _example(spec)
    with torch.no_grad():
        expected = module(*example).float()
    meta = {**spec.to_dict(), "format": fmt, "run": str(loaded.folder), "torch": torch.__version__,
            "pixels": "video: RGB in [0, 1], then (x - mean) / std; mask in [0, 1]"}
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        staged = work / out.name
        if fmt == "torchscript":
            _write_torchscript(module, example, staged)
        else:
            _write_onnx(module, example, staged, spec.inputs)
        write_json(work / f"{out.name}.json", meta)
        got = load_model(staged).logits(dict(zip(spec.inputs, example)))
        err = float((got - expected).abs().max()) / max(1.0, float(expected.abs().max()))
        if not err <= TOLERANCE:
            raise CheckpointError(f"{out}: the {fmt} export differs from PyTorch by {err:.2e} of the "
                                  f"largest logit (> {TOLERANCE}); not written")
        meta["max_relative_difference"] = err
        write_json(work / f"{out.name}.json", meta)
        os.replace(staged, out)
        os.replace(work / f"{out.name}.json", out.with_name(out.name + ".json"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return meta


def main(args) -> int:
    """CLI handler of ``actionpose export``."""
    meta = export_run(args.run, args.format, args.out)
    shapes = ", ".join(f"{n} {tuple(s)}" for n, s in meta["input_shapes"].items())
    print(f"exported {meta['experiment']} as {meta['format']} to {args.out} (+ .json): inputs {shapes}; "
          f"{len(meta['classes'])} classes; logits match PyTorch to {meta['max_relative_difference']:.1e}")
    return 0
