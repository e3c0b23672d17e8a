"""Device, autocast dtype and determinism of a run: one policy, read by the engine and the
benchmarks. A family's registry entry says whether CPU autocast may use bf16 for it."""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from actionpose.errors import ConfigError
from actionpose.models.registry import get_family


def resolve_device(name: str = "auto") -> torch.device:
    """cuda > mps > cpu for "auto"; otherwise the named device (error if it is absent)."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available")
    return dev


def cpu_supports_bf16() -> bool:
    """True where the CPU has native bf16 (AVX512-BF16 or AMX); elsewhere bf16 is emulated, slow."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device`` (None = full fp32)."""
    if amp == "off":
        return None
    if device.type == "cuda":
        if amp == "fp16":
            return torch.float16
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu":
        if amp == "fp16":
            raise ConfigError("amp=fp16 is for CUDA; use bf16 or off on CPU")
        if amp == "bf16" or (amp == "auto" and cpu_supports_bf16()):
            return torch.bfloat16
    return None


def amp_dtype_for(cfg, device: torch.device, model: nn.Module) -> torch.dtype | None:
    """The autocast dtype a run of ``cfg`` trains ``model`` in on ``device``; with
    ``depthwise_fp32`` under CPU bf16 it also keeps ``model``'s depthwise convs in fp32."""
    dtype = autocast_dtype(cfg.amp, device)
    if cfg.amp == "auto" and device.type == "cpu" and not get_family(cfg.family).cpu_bf16:
        dtype = None  # the family trains in fp32 on CPU unless amp=bf16 asks (see its entry)
    if cfg.deterministic and device.type == "cpu" and dtype is not None:
        dtype = None  # oneDNN's bf16 kernels differ from run to run; determinism needs fp32
    if device.type == "cpu" and dtype == torch.bfloat16:
        from actionpose.models.precision import keep_depthwise_fp32, keep_two_frame_conv3d_fp32

        keep_two_frame_conv3d_fp32(model)  # oneDNN's bf16 weight gradient is wrong at 2 frames
        if cfg.depthwise_fp32:
            keep_depthwise_fp32(model)
    return dtype


def configure_determinism(deterministic: bool, device: torch.device) -> None:
    """Deterministic algorithms (and no cuDNN autotuning) when asked; autotuning on CUDA otherwise."""
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        if device.type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.backends.cudnn.benchmark = False
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def grads_finite(model: nn.Module) -> bool:
    """True when every gradient of ``model`` is finite (a bf16 step is skipped otherwise)."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    return bool(torch.stack([torch.isfinite(g).all() for g in grads]).all()) if grads else True


__all__ = ["resolve_device", "cpu_supports_bf16", "autocast_dtype", "amp_dtype_for",
           "configure_determinism", "grads_finite"]
