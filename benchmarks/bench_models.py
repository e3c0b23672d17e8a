"""Train-step speed of every model: fp32 eager vs channels_last + bf16 autocast, and GFLOP/s.

A train step is forward + backward + SGD step on one batch (random data, random weights: the
speed does not depend on them). FLOPs are counted once per configuration with
``torch.utils.flop_counter.FlopCounterMode`` on the meta device (shapes only, no compute) and
compared with a large matmul's throughput in the same dtype (the machine's practical peak).
Targets: bf16 + channels_last >= 1.5x faster than fp32; >= 0.5 of the matmul peak.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count

from actionpose.models.precision import is_depthwise, keep_depthwise_fp32
from benchmarks.common import measurement, median_seconds


@dataclass
class Case:
    name: str
    build: Callable[[], torch.nn.Module]
    inputs: Callable[[torch.device | str], dict]  # keyword inputs of forward
    batch: int
    num_classes: int = 21
    three_d: bool = False  # channels_last_3d instead of channels_last
    repeats: int = 3


def _case(name: str, experiment: str, preset: str, *, batch: int, repeats: int = 3,
          num_classes: int = 21, **overrides) -> Case:
    """The model of ``experiment`` at ``preset`` (with ``overrides``) as the registry builds it,
    with random weights and a random batch of the inputs it reads."""
    from actionpose.models import registry
    from actionpose.train.experiments import make_config

    # random weights: a step's speed does not depend on them (make_config keeps a preset's
    # weights under a None override)
    cfg = dataclasses.replace(make_config(experiment, preset, **overrides), weights=None)
    t, (h, w) = cfg.num_frames, cfg.size
    reads = registry.modalities(cfg)
    heatmaps = registry.heatmap_size(cfg)

    def inputs(d):
        batch_ = {"video": torch.randn(batch, 3, t, h, w, device=d)}
        if "mask" in reads:
            batch_["mask"] = torch.rand(batch, 1, t, h, w, device=d)
        if heatmaps is not None:
            batch_["heatmaps"] = torch.rand(batch, 15, t, *heatmaps, device=d)
        if "flow" in reads:
            batch_["flow"] = torch.randn(batch, 2, t - 1, h, w, device=d)
        return registry.model_inputs(cfg, batch_)
    three_d = registry.get_family(cfg.family).memory_format == torch.channels_last_3d
    return Case(name, lambda: registry.build_model(cfg, num_classes), inputs, batch,
                num_classes=num_classes, three_d=three_d, repeats=repeats)


def _cases(smoke: bool) -> tuple[list[Case], list[Case]]:
    # the 3-D CNNs without BatchNorm, as these rows have always been measured
    if smoke:
        return [
            _case("c3d smoke", "c3d", "smoke", batch_norm=False, batch=2, repeats=1),
            _case("pose_only smoke", "pose-only", "smoke", batch=2, repeats=1),
            _case("attention r18 smoke", "attention-pose-reg", "smoke", num_frames=2, batch=2, repeats=1),
            _case("two_stream smoke", "two-stream", "smoke", num_frames=3, batch=2, repeats=1),
        ], []
    cpu = [
        # the cpu preset's shapes (actionpose.train.experiments PRESETS["cpu"]) and the brief's
        _case("c3d w1/4 8x64x64 b8", "c3d", "cpu", batch_norm=False, batch=8),
        _case("c3d w1/4 16x64x64 b8", "c3d", "cpu", batch_norm=False, num_frames=16, batch=8),
        _case("pose_only w1/4 8x64x64 b8", "pose-only", "cpu", batch=8),
        _case("attention lite0 4x96 b8", "attention", "cpu", batch=8),
        _case("attention r18 4x112 b8", "attention", "cpu", backbone="resnet18", size=(112, 112), batch=8),
        _case("two_stream lite0+lite0 F5 96 b8", "two-stream", "cpu", size=(96, 96), batch=8),
        _case("two_stream r18+lite0 F5 112 b8", "two-stream", "cpu", backbone="resnet18",
              size=(112, 112), batch=8),
    ]
    paper = [
        _case("paper c3d 16x112x112 b1", "c3d", "paper", batch=1, repeats=1),
        _case("paper pose_only w1/2 16x112 b2", "pose-only", "paper", batch=2, repeats=1),
        _case("paper attention r101 8x224 b1", "attention", "paper", batch=1, repeats=1),
        _case("paper two_stream r101+alexnet F10 224 b1", "two-stream", "paper", batch=1, repeats=1),
    ]
    return cpu, paper


def _loss(out, labels):
    from actionpose.models.losses import heads_cross_entropy

    out = out if isinstance(out, dict) else {"logits": out}
    return heads_cross_entropy(SimpleNamespace(label_smoothing=0.0, aux_weight=1.0), out, labels)


def _conv_backward_flops(grad_out_shape, x_shape, w_shape, _bias, _stride, _padding, _dilation,
                         transposed, _output_padding, _groups, output_mask, out_shape=None, **kwargs) -> int:
    """Each of grad_input and grad_weight costs one forward conv. (torch's own formula ignores
    ``groups`` for grad_weight and over-counts depthwise convs ~C times: EfficientNet.)"""
    forward = conv_flop_count(list(x_shape), list(w_shape), list(grad_out_shape), transposed)
    return forward * (int(bool(output_mask[0])) + int(bool(output_mask[1])))


def _train_flops(case: Case) -> int:
    with torch.device("meta"):
        model = case.build()
        inputs = case.inputs("meta")
        labels = torch.zeros(case.batch, dtype=torch.long)
    fixed = {torch.ops.aten.convolution_backward: _conv_backward_flops}
    with FlopCounterMode(display=False, custom_mapping=fixed) as counter:
        _loss(model(**inputs), labels).backward()
    return counter.get_total_flops()


def _step_seconds(case: Case, *, fast: bool, depthwise_fp32: bool = False) -> float:
    torch.manual_seed(0)
    model = case.build().train()
    if depthwise_fp32:
        keep_depthwise_fp32(model)
    inputs = case.inputs("cpu")
    labels = torch.randint(0, case.num_classes, (case.batch,))
    if fast:
        fmt = torch.channels_last_3d if case.three_d else torch.channels_last
        model = model.to(memory_format=fmt)
        inputs = {k: v.contiguous(memory_format=fmt) if v.dim() == (5 if case.three_d else 4) else v
                  for k, v in inputs.items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=fast):
            loss = _loss(model(**inputs), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return median_seconds(step, repeats=case.repeats, warmup=1)


def _conv_kind(conv: torch.nn.modules.conv._ConvNd) -> str:
    if is_depthwise(conv):
        return "depthwise"
    if all(k == 1 for k in conv.kernel_size):
        return "pointwise 1x1"
    return "dense kxk"


def _conv_kind_rows(case: Case, step_fp32: float) -> list[dict]:
    """Where a step's bf16 speed-up goes: every convolution of ``case`` timed alone (forward +
    backward at its real input shape), fp32 vs bf16 + channels_last, summed by kind
    (depthwise / pointwise / dense)."""
    import copy

    torch.manual_seed(0)
    model = case.build().train()
    seen: list[tuple[torch.nn.Module, tuple[int, ...]]] = []
    hooks = [m.register_forward_hook(lambda mod, inp, _out: seen.append((mod, tuple(inp[0].shape))))
             for m in model.modules() if isinstance(m, torch.nn.modules.conv._ConvNd)]
    with torch.no_grad():
        model(**case.inputs("cpu"))
    for hook in hooks:
        hook.remove()
    totals: dict[str, list[float]] = {}
    for conv, shape in seen:
        fmt = torch.channels_last_3d if len(shape) == 5 else torch.channels_last
        seconds = []
        for fast in (False, True):
            layer = copy.deepcopy(conv).to(memory_format=fmt if fast else torch.contiguous_format)
            x = torch.randn(shape).contiguous(memory_format=fmt if fast else torch.contiguous_format)
            x.requires_grad_(True)

            def step(layer=layer, x=x, fast=fast):
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=fast):
                    y = layer(x)
                y.float().sum().backward()
            seconds.append(median_seconds(step, repeats=case.repeats, warmup=1))
        total = totals.setdefault(_conv_kind(conv), [0.0, 0.0, 0])
        total[0] += seconds[0]
        total[1] += seconds[1]
        total[2] += 1
    return [measurement(f"{case.name} {kind} convs alone, bf16+channels_last speed-up", fp32 / bf16, "x",
                        fp32_s=fp32, bf16_s=bf16, layers=count, share_of_fp32_step=fp32 / step_fp32)
            for kind, (fp32, bf16, count) in sorted(totals.items())]


def matmul_peak_gflops(dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of an n x n matmul in ``dtype``, best of ``repeats`` (the machine's practical peak;
    best rather than median because other processes share the cores)."""
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    a @ b
    best = min(median_seconds(lambda: a @ b, repeats=1, warmup=0) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def run(smoke: bool) -> list[dict]:
    rows: list[dict] = []
    n = 512 if smoke else 2048
    peaks = {"fp32": matmul_peak_gflops(torch.float32, n), "bf16": matmul_peak_gflops(torch.bfloat16, n)}
    for key, value in peaks.items():
        rows.append(measurement(f"matmul peak {key} {n}x{n}", value, "GFLOP/s"))
    cpu, paper = _cases(smoke)
    for case in cpu + paper:
        t0 = time.perf_counter()
        with torch.device("meta"):
            shapes_only = case.build()
        params = sum(p.numel() for p in shapes_only.parameters())
        flops = _train_flops(case)
        fp32 = _step_seconds(case, fast=False)
        bf16 = _step_seconds(case, fast=True)
        speedup = fp32 / bf16
        best = "bf16+channels_last" if speedup > 1.0 else "fp32"
        rows.append(measurement(f"{case.name} params", params / 1e6, "M params"))
        rows.append(measurement(f"{case.name} train step fp32", fp32, "s",
                                train_gflop=flops / 1e9))
        rows.append(measurement(f"{case.name} train step bf16+channels_last", bf16, "s", baseline=fp32,
                                ratio=speedup, target=">= 1.5x faster", met=speedup >= 1.5,
                                recommended=best))
        for label, seconds in (("fp32", fp32), ("bf16", bf16)):
            achieved = flops / seconds / 1e9
            ratio = achieved / peaks[label]
            rows.append(measurement(f"{case.name} GFLOP/s {label}", achieved, "GFLOP/s",
                                    baseline=peaks[label], ratio=ratio, target=">= 0.5 of matmul peak",
                                    met=ratio >= 0.5))
        if speedup < 1.5 or (smoke and not case.three_d):
            rows.extend(_conv_kind_rows(case, fp32))  # why the target is missed
        if any(is_depthwise(m) for m in shapes_only.modules()):  # the engine's `depthwise_fp32=true`
            mixed = _step_seconds(case, fast=True, depthwise_fp32=True)
            rows.append(measurement(f"{case.name} train step bf16+channels_last, depthwise fp32", mixed,
                                    "s", baseline=fp32, ratio=fp32 / mixed, target=">= 1.5x faster",
                                    met=fp32 / mixed >= 1.5))
        rows[-1]["bench_s"] = time.perf_counter() - t0
    return rows
