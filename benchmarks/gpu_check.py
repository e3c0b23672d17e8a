"""The GPU check: one command, four time-boxed steps, one JSON.

``bash benchmarks/gpu_check.sh [--smoke] [--out DIR]`` (this module's ``main``) runs, each step
in its own process group with a time box so that a hang or crash in one never stops the others:

1. ``throughput``: paper-preset train steps (forward + backward + SGD step, random clips) of C3D,
   attention ResNet-101 and two-stream ResNet-101 + AlexNet in fp32 vs autocast (bf16, fp16) with
   and without channels_last; clips/s from the median step after warm-up. Target: the engine's
   AMP dtype + channels_last >= 2x fp32 on every model.
2. ``train``: ``actionpose data synth`` of a small puppet world, then ``actionpose train c3d-pose
   --preset paper`` on it for a few epochs.
3. ``notebook``: notebooks/02 executed by ``jupyter nbconvert --execute`` (smoke preset: its three
   runs train on the GPU, then it loads them back).
4. ``torchrun``: ``torchrun --standalone --nproc_per_node 1 -m actionpose train c3d`` on step 2's data.

It writes ``DIR/gpu_check.json`` (default results/) after every step. ``--smoke`` runs the same
steps at toy sizes on the CPU. Nothing needs the network: every model is randomly initialised
(C3D trains from scratch; ResNet-101/AlexNet ImageNet weights would need a download, and a train
step's speed does not depend on the weights). Exit status 0 when every step ran, 1 otherwise (a
missed speed target is a measurement, not a failure).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET = 2.0  # AMP + channels_last vs fp32, every paper-preset model
NOTEBOOK = "notebooks/02_attention_pooling_pose.ipynb"  # puppet data only, trains and reloads runs
WEIGHTS_NOTE = ("random: C3D trains from scratch; the ImageNet weights of ResNet-101/AlexNet need a "
                "download, and a train step's speed does not depend on the weights")

# (experiment, smoke overrides of its paper-preset config): the same models at toy sizes. C3D
# gets 3 frames: at 4, conv3 would see 2 frames, where oneDNN's bf16 Conv3d weight gradient on
# CPU returns garbage (benchmarks/bf16_conv3d_probe.py); the smoke checks the harness, not oneDNN.
MODELS = (
    ("c3d", dict(width=0.125, fc_dim=32, num_frames=3, size=(32, 32), batch_size=2)),
    ("attention", dict(backbone="resnet18", num_frames=2, size=(32, 32), batch_size=2)),
    ("two-stream", dict(backbone="resnet18", num_frames=3, size=(64, 64), batch_size=2)),
)


# ---------------------------------------------------------------------------------------------
# step 1: train-step throughput (runs in its own process: python -m benchmarks.gpu_check --step)


def _paper_config(experiment: str, smoke: bool):
    from actionpose.train.experiments import make_config

    return make_config(experiment, "paper", **(dict(MODELS)[experiment] if smoke else {}))


def _build(cfg, num_classes: int = 21):
    """The model of ``cfg`` (built by its registry entry, random weights), its memory format, and
    its keyword inputs for a random batch."""
    import dataclasses

    import torch

    from actionpose.models.registry import build_model, get_family

    family = get_family(cfg.family)
    model = build_model(dataclasses.replace(cfg, weights=None), num_classes)
    b, t, (h, w) = cfg.batch_size, cfg.num_frames, cfg.size
    return model, family.memory_format, lambda d: {
        arg: torch.randn(b, 3, t, h, w, device=d) for arg, key in family.inputs.items() if key == "video"}


def _modes(device) -> list[tuple[str, object, bool]]:
    """(name, autocast dtype or None, channels_last); fp16 autocast only on CUDA."""
    import torch

    modes = [("fp32", None, False), ("bf16", torch.bfloat16, False),
             ("bf16+channels_last", torch.bfloat16, True)]
    if device.type == "cuda":
        modes += [("fp16", torch.float16, False), ("fp16+channels_last", torch.float16, True)]
    return modes


def _target_mode(device) -> str:
    """The mode ``amp=auto`` trains in (the engine: bf16 where CUDA supports it, else fp16)."""
    import torch

    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return "fp16+channels_last"
    return "bf16+channels_last"


def _step_times(cfg, device, dtype, channels_last: bool, *, warmup: int, steps: int, min_steps: int,
                deadline: float) -> list[float]:
    """Seconds of each timed train step (after ``warmup`` untimed ones); past ``deadline`` the
    loop stops once ``min_steps`` steps are timed."""
    import torch

    from benchmarks.bench_models import _loss

    torch.manual_seed(0)
    model, fmt, inputs = _build(cfg)
    model = model.to(device).train()
    x = inputs(device)
    if channels_last:  # the family's own format: channels_last_3d for 3-D CNNs, channels_last for 2-D
        model = model.to(memory_format=fmt)
        x = {k: v.contiguous(memory_format=fmt) if v.dim() == 5 and fmt == torch.channels_last_3d else v
             for k, v in x.items()}
    labels = torch.randint(0, 21, (cfg.batch_size,), device=device)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times: list[float] = []
    for i in range(warmup + steps):
        if i >= warmup + min_steps and time.monotonic() > deadline:
            break  # time box: keep what was measured (never fewer than min_steps)
        sync()
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = _loss(model(**x), labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        sync()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    if not torch.isfinite(loss):
        raise FloatingPointError(f"loss became {float(loss)}")
    return times


def _cuda_warmup(device) -> None:
    """Create the CUDA context and the cuBLAS/cuDNN handles with a tiny conv and matmul."""
    import torch

    x = torch.randn(2, 3, 4, 8, 8, device=device, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, 3, device=device, requires_grad=True)
    (torch.nn.functional.conv3d(x, w).sum() + (w.flatten(1) @ w.flatten(1).T).sum()).backward()
    torch.cuda.synchronize()


def throughput(smoke: bool, part: Path, budget: float) -> None:
    """Measure every model in every mode; rewrite ``part`` after each measurement."""
    import torch

    device = torch.device("cuda" if torch.cuda.is_available() and not smoke else "cpu")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as the engine does on CUDA
    warmup, steps, min_steps = (1, 2, 1) if smoke else (3, 20, 5)
    if device.type == "cuda":  # context, cuBLAS/cuDNN handles: paid once, outside every mode's share
        _cuda_warmup(device)
    result = {"device": str(device), "warmup_steps": warmup, "timed_steps": steps, "min_timed_steps": min_steps,
              "target": f"{_target_mode(device)} >= {TARGET:g}x fp32 clips/s", "models": []}
    started = time.monotonic()
    for index, (experiment, _) in enumerate(MODELS):
        cfg = _paper_config(experiment, smoke)
        # each model gets an equal share of what is left of the budget
        model_deadline = time.monotonic() + (budget - (time.monotonic() - started)) / (len(MODELS) - index)
        entry = {"model": experiment, "family": cfg.family, "batch": cfg.batch_size,
                 "frames": cfg.num_frames, "size": list(cfg.size), "modes": {}}
        entry.update(width=cfg.width, backbone=cfg.backbone, temporal_backbone=cfg.temporal_backbone)
        result["models"].append(entry)
        modes = _modes(device)
        for j, (name, dtype, channels_last) in enumerate(modes):
            # a mode may use its share of the model's remaining time, not more
            deadline = time.monotonic() + (model_deadline - time.monotonic()) / (len(modes) - j)
            try:
                t0 = time.monotonic()
                times = _step_times(cfg, device, dtype, channels_last, warmup=warmup, steps=steps,
                                    min_steps=min_steps, deadline=deadline)
                median = statistics.median(times)
                entry["modes"][name] = {"clips_per_s": cfg.batch_size / median, "step_s": median,
                                        "steps_timed": len(times), "step_s_min": min(times),
                                        "step_s_max": max(times),
                                        "setup_s": round(time.monotonic() - t0 - sum(times), 2)}
            except Exception as exc:  # noqa: BLE001 - recorded, the next mode still runs
                entry["modes"][name] = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
            finally:
                if device.type == "cuda":
                    torch.cuda.empty_cache()
            _judge(entry, _target_mode(device))
            part.write_text(json.dumps(result, indent=1))


def _judge(entry: dict, target_mode: str) -> None:
    """Speed-ups over fp32 and the target verdict of one model."""
    base = entry["modes"].get("fp32", {}).get("clips_per_s")
    entry["speedup_vs_fp32"] = {name: m["clips_per_s"] / base for name, m in entry["modes"].items()
                                if base and "clips_per_s" in m and name != "fp32"}
    ratio = entry["speedup_vs_fp32"].get(target_mode)
    entry["target_mode"] = target_mode
    entry["met"] = None if ratio is None else ratio >= TARGET


# ---------------------------------------------------------------------------------------------
# the orchestrator


def _run(cmd: list[str], *, timeout: float, env: dict, log: Path, cwd: Path = REPO) -> dict:
    """Run ``cmd`` in its own process group; on timeout kill the whole group (DataLoader
    workers, the notebook kernel, torchrun's children)."""
    t0 = time.monotonic()
    with log.open("ab") as out:
        out.write(("$ " + " ".join(cmd) + "\n").encode())
        out.flush()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=max(timeout, 1.0))
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            rc = proc.wait()
            timed_out = True
    return {"cmd": " ".join(cmd), "rc": rc, "timed_out": timed_out,
            "seconds": round(time.monotonic() - t0, 1)}


def _tail(log: Path, n: int = 1500) -> str:
    try:
        return log.read_text(errors="replace")[-n:]
    except OSError:
        return ""


def _failed(call: dict) -> str | None:
    if call["timed_out"]:
        return f"time box of the step reached after {call['seconds']} s: {call['cmd']}"
    if call["rc"] != 0:
        return f"exit status {call['rc']}: {call['cmd']}"
    return None


def _metrics(folder: Path) -> list[dict]:
    path = folder / "metrics.csv"
    if not path.is_file():
        return []
    with path.open() as f:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(f)]


def _run_summary(runs: Path) -> dict:
    """What the one run under ``runs`` finished: epochs, accuracy, device, amp."""
    folders = [p.parent for p in runs.rglob("metrics.csv")]
    if len(folders) != 1:
        return {"run_folders": len(folders)}
    history = _metrics(folders[0])
    out = {"epochs_done": len(history),
           "seconds_per_epoch": [round(r["seconds"], 1) for r in history if "seconds" in r]}
    if history:
        out.update({k: history[-1][k] for k in ("train_loss", "test_video_acc") if k in history[-1]})
    summary = folders[0] / "summary.json"
    if summary.is_file():
        s = json.loads(summary.read_text())
        out.update({k: s.get(k) for k in ("complete", "device", "amp", "world_size", "num_train_clips")})
    return out


def _step_throughput(ctx: dict, budget: float) -> dict:
    part = ctx["work"] / "throughput.json"
    cmd = [sys.executable, "-m", "benchmarks.gpu_check", "--step", "throughput", "--part", str(part),
           "--budget", str(budget - 15)] + (["--smoke"] if ctx["smoke"] else [])
    call = _run(cmd, timeout=budget, env=ctx["env"], log=ctx["work"] / "throughput.log")
    result = json.loads(part.read_text()) if part.is_file() else {}
    errors = [f"{m['model']} {name}: {v['error']}" for m in result.get("models", [])
              for name, v in m["modes"].items() if "error" in v]
    missing = len(MODELS) - len(result.get("models", []))
    error = _failed(call) or ("; ".join(errors) if errors else None) or \
        (f"{missing} model(s) not measured" if missing else None)
    return {**result, "call": call, "error": error}


def _step_train(ctx: dict, budget: float) -> dict:
    deadline = time.monotonic() + budget
    data = ctx["data"]
    synth = ["--preset", "smoke"] if ctx["smoke"] else ["--preset", "cpu", "--clips-per-class", "30"]
    log = ctx["work"] / "train.log"
    gen = _run([sys.executable, "-m", "actionpose", "data", "synth", str(data), *synth],
               timeout=budget / 2, env=ctx["env"], log=log)
    result = {"synth": gen}
    if _failed(gen):
        return {**result, "error": _failed(gen)}
    preset, epochs = ("smoke", 1) if ctx["smoke"] else ("paper", 3)
    runs = ctx["work"] / "runs-train"
    call = _run([sys.executable, "-m", "actionpose", "train", "c3d-pose", "--preset", preset,
                 "--data", str(data), "--epochs", str(epochs), "--out", str(runs), "--quiet"],
                timeout=deadline - time.monotonic(), env=ctx["env"], log=log)
    run = _run_summary(runs)
    # time caps the training: epochs finished before the time box count
    error = _failed(call) if not (call["timed_out"] and run.get("epochs_done")) else None
    if not error and not run.get("epochs_done"):
        error = "no epoch finished"
    return {**result, "train": call, "preset": preset, "epochs_asked": epochs, "run": run, "error": error}


def _step_notebook(ctx: dict, budget: float) -> dict:
    out = ctx["work"] / "notebook"
    env = {**ctx["env"], "ACTIONPOSE_PRESET": "smoke", "ACTIONPOSE_SEEDS": "1",
           "ACTIONPOSE_RUNS": str(ctx["work"] / "runs-notebook"), "MPLBACKEND": "Agg"}
    call = _run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                 NOTEBOOK, "--output-dir", str(out), f"--ExecutePreprocessor.timeout={int(budget)}"],
                timeout=budget, env=env, log=ctx["work"] / "notebook.log")
    result = {"notebook": NOTEBOOK, "preset": "smoke", "call": call, "error": _failed(call)}
    executed = out / Path(NOTEBOOK).name
    if executed.is_file():
        text = "".join("".join(o.get("text", "")) for c in json.loads(executed.read_text())["cells"]
                       if c["cell_type"] == "code" for o in c.get("outputs", []))
        result["device_line"] = next((ln for ln in text.splitlines() if "| device" in ln), None)
    return result


def _step_torchrun(ctx: dict, budget: float) -> dict:
    if not (ctx["data"] / "synth_info.json").is_file():
        return {"error": "needs the puppet dataset of the train step, which is missing"}
    runs = ctx["work"] / "runs-torchrun"
    preset = "smoke" if ctx["smoke"] else "paper"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1",
           "-m", "actionpose", "train", "c3d", "--preset", preset, "--data", str(ctx["data"]),
           "--epochs", "1", "--out", str(runs), "--quiet"]
    call = _run(cmd, timeout=budget, env=ctx["env"], log=ctx["work"] / "torchrun.log")
    run = _run_summary(runs)
    error = _failed(call) or (None if run.get("complete") else "the run did not complete")
    return {"launcher": "torchrun (python -m torch.distributed.run)", "preset": preset, "call": call,
            "run": run, "error": error}


# name, function, time box in seconds (GPU, smoke): the GPU boxes sum to 7.5 minutes; the smoke
# ones only catch a hang (a quiet 2-core machine runs the whole smoke in about a minute, a
# loaded one several times slower)
STEPS = (
    ("throughput", _step_throughput, (260, 150)),
    ("train", _step_train, (70, 150)),
    ("notebook", _step_notebook, (70, 150)),
    ("torchrun", _step_torchrun, (50, 150)),
)


def _machine() -> dict:
    import torch

    from benchmarks.__main__ import _machine as base

    info = base()
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(device=torch.cuda.get_device_name(0), gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    cuda_runtime=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                    bf16_supported=torch.cuda.is_bf16_supported(),
                    tf32={"matmul": torch.backends.cuda.matmul.allow_tf32,
                          "cudnn": torch.backends.cudnn.allow_tf32})
    else:
        info["device"] = info.get("cpu_model") or info["processor"] or "cpu"
    return info


def run_all(smoke: bool, out_dir: Path, keep_work: bool = False) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "gpu_check.json"
    work = Path(tempfile.mkdtemp(prefix="gpu_check-"))
    env = {**os.environ, "ACTIONPOSE_DATA": str(work / "data"), "ACTIONPOSE_RUNS": str(work / "runs"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    ctx = {"smoke": smoke, "work": work, "env": env, "data": work / "data" / "puppet-smoke"
           if smoke else work / "data" / "puppet-gpu-check"}
    try:
        machine = _machine()
    except Exception as exc:  # noqa: BLE001 - a broken torch install still gets its JSON
        machine = {"error": f"{type(exc).__name__}: {exc}"}
    report = {"smoke": smoke, "started_at": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine,
              "weights": WEIGHTS_NOTE, "work_dir": str(work) if keep_work else None, "steps": {}}
    t0 = time.monotonic()
    for name, step, (gpu_box, smoke_box) in STEPS:
        box = smoke_box if smoke else gpu_box
        print(f"gpu_check: {name} (time box {box} s) ...", file=sys.stderr, flush=True)
        s0 = time.monotonic()
        try:
            result = step(ctx, box)
        except Exception as exc:  # noqa: BLE001 - one step's failure never stops the others
            result = {"error": f"{type(exc).__name__}: {exc}"}
        result.update(seconds=round(time.monotonic() - s0, 1), time_box_s=box, ok=result.get("error") is None)
        if not result["ok"]:
            result["log_tail"] = _tail(work / f"{name}.log")
        report["steps"][name] = result
        print(f"gpu_check: {name} {'ok' if result['ok'] else 'FAILED: ' + result['error']} "
              f"({result['seconds']} s)", file=sys.stderr, flush=True)
        report["seconds_total"] = round(time.monotonic() - t0, 1)
        models = report["steps"].get("throughput", {}).get("models", [])
        verdicts = [m.get("met") for m in models]
        report["target"] = {"rule": f"AMP + channels_last >= {TARGET:g}x fp32 clips/s on every paper-preset model",
                            "judged": not smoke,
                            "met": all(verdicts) if verdicts and None not in verdicts else None}
        report["all_steps_ok"] = all(s["ok"] for s in report["steps"].values())
        out.write_text(json.dumps(report, indent=1) + "\n")
    if not keep_work:
        shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {out}", file=sys.stderr)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bash benchmarks/gpu_check.sh", description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="toy sizes on the CPU (under 2 minutes)")
    parser.add_argument("--out", default=str(REPO / "results"), help="folder of gpu_check.json (default results/)")
    parser.add_argument("--keep-work", action="store_true", help="keep the scratch folder (data, runs, logs)")
    parser.add_argument("--step", choices=("throughput",), help=argparse.SUPPRESS)
    parser.add_argument("--part", help=argparse.SUPPRESS)
    parser.add_argument("--budget", type=float, default=170.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step == "throughput":
        throughput(args.smoke, Path(args.part), args.budget)
        return 0
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        parser.error(f"--out {out}: not a folder")
    report = run_all(args.smoke, out, keep_work=args.keep_work)
    return 0 if report["all_steps_ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
