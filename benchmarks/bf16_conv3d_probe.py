"""Why the 3-D CNNs get non-finite gradients under CPU bf16 autocast, and a way around it.

``python -m benchmarks.bf16_conv3d_probe isolated``: one Conv3d (3x3x3, padding 1), its weight
gradient in bf16 through oneDNN vs float64, for inputs of 1..4 frames. With 2 frames oneDNN's
bf16 weight gradient is garbage in a large share of calls (non-finite, or finite and wrong by
orders of magnitude); with 1, 3 or 4 frames, without oneDNN (``mkldnn.flags(enabled=False)``) or
in fp32 it is right. Forward and input gradient are right everywhere.

``python -m benchmarks.bf16_conv3d_probe model [--model c3d|pose_only] [--steps N] [--fix]``:
the cpu preset's model trained on random clips (one thread, channels_last_3d, bf16 autocast,
AdamW); after each backward, a tensor hook on every layer's output and the parameters' gradients
name the first layer (in backward order) whose own gradient is non-finite while the gradient
reaching it is finite. At 8 frames that is conv4a/conv4b, the only convs that see 2 frames.
``--fix`` runs the convs that see 2 frames in fp32 (as ``depthwise_fp32`` does for depthwise
convs) and also times the train step: fp32, bf16, bf16 with that fix.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch import nn

from actionpose.models.precision import _fp32_class
from actionpose.train.experiments import make_config

PAD = [1, 1, 1]


def _weight_grad(go, x, w, *, mkldnn: bool = True):
    with torch.backends.mkldnn.flags(enabled=mkldnn):
        return torch.ops.aten.convolution_backward(go, x, w, None, [1, 1, 1], PAD, [1, 1, 1], False,
                                                   [0, 0, 0], 1, [False, True, False])[1]


def isolated(trials: int = 20) -> list[dict]:
    """Per (frames, memory format, oneDNN on/off): how many bf16 weight gradients are wrong."""
    rows = []
    for frames in (1, 2, 3, 4):
        for channels_last in (False, True):
            for mkldnn in (True, False):
                wrong = non_finite = 0
                for seed in range(trials):
                    g = torch.Generator().manual_seed(seed)
                    x = torch.randn(2, 16, frames, 8, 8, generator=g)
                    w = torch.randn(32, 16, 3, 3, 3, generator=g) * 0.1
                    go = torch.randn(2, 32, frames, 8, 8, generator=g)
                    ref = _weight_grad(go.double(), x.double(), w.double())
                    fmt = torch.channels_last_3d if channels_last else torch.contiguous_format
                    xb, wb, gb = (t.bfloat16().contiguous(memory_format=fmt) for t in (x, w, go))
                    got = _weight_grad(gb, xb, wb, mkldnn=mkldnn).double()
                    finite = bool(torch.isfinite(got).all())
                    non_finite += not finite
                    # bf16 rounding alone stays under 1% here
                    wrong += not finite or float((got - ref).norm() / ref.norm()) > 0.05
                rows.append({"frames": frames, "channels_last": channels_last, "onednn": mkldnn,
                             "trials": trials, "wrong": wrong, "non_finite": non_finite})
    return rows


def build(model_name: str, num_classes: int = 10):
    from actionpose import models

    cfg = make_config("c3d-pose" if model_name == "c3d" else "pose-only", "cpu")
    common = dict(num_classes=num_classes, width=cfg.width, fc_dim=cfg.fc_dim,
                  num_frames=cfg.num_frames, size=tuple(cfg.size), dropout=cfg.dropout)
    if model_name == "c3d":
        model = models.c3d(batch_norm=cfg.batch_norm, **common)
    else:
        model = models.pose_only(in_channels=1, **common)
    for m in model.modules():  # out-of-place ReLU: a hook on a layer's output must see its grad
        if isinstance(m, nn.ReLU):
            m.inplace = False
    return model.to(memory_format=torch.channels_last_3d).train(), cfg


def clip_batch(model_name: str, cfg, gen: torch.Generator) -> torch.Tensor:
    """A batch shaped like the engine's: an elliptic person mask moving over random frames; C3D
    sees the video weakened by it, pose-only the mask."""
    b, t, (h, w) = cfg.batch_size, cfg.num_frames, cfg.size
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    cy = torch.randint(h // 4, 3 * h // 4, (b, t, 1, 1), generator=gen)
    cx = torch.randint(w // 4, 3 * w // 4, (b, t, 1, 1), generator=gen)
    mask = (((yy - cy) / (h / 3)) ** 2 + ((xx - cx) / (w / 6)) ** 2 <= 1).float().unsqueeze(1)
    x = mask if model_name == "pose_only" else \
        torch.randn(b, 3, t, h, w, generator=gen) * 0.8 * (mask + cfg.background_factor * (1 - mask))
    return x.contiguous(memory_format=torch.channels_last_3d)


def convs_seeing_two_frames(model: nn.Module, x: torch.Tensor) -> list[str]:
    seen = []
    hooks = [m.register_forward_pre_hook(lambda mod, inp, n=n: seen.append(n) if inp[0].shape[2] == 2 else None)
             for n, m in model.named_modules() if isinstance(m, nn.Conv3d)]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return seen


def keep_fp32(model: nn.Module, names: list[str]) -> None:
    for name in names:
        module = model.get_submodule(name)
        module.__class__ = _fp32_class(type(module))


def probe(model_name: str, steps: int, *, fix: bool, seed: int = 0) -> dict:
    """Train ``steps`` steps; find the layer of every non-finite gradient (the step is skipped)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model, cfg = build(model_name)
    two = convs_seeing_two_frames(model, clip_batch(model_name, cfg, gen))
    if fix:
        keep_fp32(model, two)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    names = {m: n for n, m in model.named_modules() if n and not list(m.children())}
    out_ok: dict[str, bool] = {}
    order: list[str] = []

    def hook(module, _inp, out):
        order.append(names[module])
        if out.requires_grad:
            out.register_hook(lambda g, n=names[module]: out_ok.__setitem__(n, bool(torch.isfinite(g).all())))
    for m in names:
        m.register_forward_hook(hook)
    culprits: dict[str, int] = {}
    bad = 0
    for _ in range(steps):
        order.clear()
        out_ok.clear()
        x = clip_batch(model_name, cfg, gen)
        labels = torch.randint(0, 10, (cfg.batch_size,), generator=gen)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model(x)
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(logits.float(), labels).backward()
        bad_params = {n.rsplit(".", 1)[0] for n, p in model.named_parameters()
                      if p.grad is not None and not torch.isfinite(p.grad).all()}
        if not bad_params and all(out_ok.values()):
            opt.step()
            continue
        bad += 1
        rev = order[::-1]  # backward order; the gradient reaching rev[i] is its output's
        culprit = next((n for i, n in enumerate(rev) if out_ok.get(n, True) and (
            n in bad_params or (i + 1 < len(rev) and not out_ok.get(rev[i + 1], True)))), None)
        culprits[str(culprit)] = culprits.get(str(culprit), 0) + 1
    return {"model": model_name, "steps": steps, "non_finite_steps": bad, "culprits": culprits,
            "convs_seeing_2_frames": two, "fix_fp32": two if fix else []}


def step_seconds(model_name: str, mode: str, repeats: int = 7) -> float:
    """Median train step of the cpu preset's model: fp32, bf16, or bf16 with the fix."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model, cfg = build(model_name)
    x = clip_batch(model_name, cfg, gen)
    if mode == "bf16 + 2-frame convs fp32":
        keep_fp32(model, convs_seeing_two_frames(model, x))
    labels = torch.randint(0, 10, (cfg.batch_size,), generator=gen)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    times = []
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode != "fp32"):
            loss = nn.functional.cross_entropy(model(x).float(), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bf16_conv3d_probe")
    parser.add_argument("what", choices=("isolated", "model"))
    parser.add_argument("--model", choices=("c3d", "pose_only"), default="c3d")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--fix", action="store_true", help="2-frame convs in fp32; time the step too")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # as each run of `reproduce --jobs 2` on 2 cores
    out: dict = {"torch": torch.__version__}
    if args.what == "isolated":
        out["rows"] = isolated()
    else:
        out.update(probe(args.model, args.steps, fix=args.fix))
        if args.fix:
            # interleaved, so load from other processes hits every mode alike
            modes = ("fp32", "bf16", "bf16 + 2-frame convs fp32")
            runs = {m: [] for m in modes}
            for _ in range(3):
                for m in modes:
                    runs[m].append(step_seconds(args.model, m))
            out["step_s"] = {m: statistics.median(v) for m, v in runs.items()}
            out["speedup_vs_fp32"] = {m: out["step_s"]["fp32"] / s for m, s in out["step_s"].items()}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
