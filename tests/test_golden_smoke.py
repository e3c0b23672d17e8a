"""Refactoring guard: smoke runs of every experiment give exactly the metrics recorded before.

Each experiment trains 2 epochs at the smoke preset, deterministic, one thread, fp32 (bf16 kernels
differ between CPUs), on a smoke puppet world generated here; its per-epoch metrics (all but the
wall time) must equal ``tests/golden/smoke_metrics.json``. Exact on the CPU model that wrote the
file; on another CPU model fp32 kernels may round differently, so there losses are compared to
1e-4 and accuracies are not compared (the file names the CPU it was written on).

Regenerate only when a change of numerics is intended (and said so in the commit):
``OMP_NUM_THREADS=1 python tests/test_golden_smoke.py --write``.
"""
from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

GOLDEN = Path(__file__).with_name("golden") / "smoke_metrics.json"
# lr 1e-3: at the smoke preset's own rates some families diverge to inf/NaN, which hides changes
SETTINGS = dict(epochs=2, deterministic=True, amp="off", workers=0, seed=0, lr=1e-3)
IGNORED = {"seconds"}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def experiments() -> list[str]:
    from actionpose.train.experiments import EXPERIMENTS

    return list(EXPERIMENTS)


def smoke_metrics(name: str, data_root: Path, out: Path) -> list[dict]:
    """The per-epoch metrics of ``name`` at the golden settings, as plain floats."""
    from actionpose.train import engine
    from actionpose.train.experiments import make_config

    torch.set_num_threads(1)
    cfg = make_config(name, "smoke", **SETTINGS)
    engine.fit(cfg, out, data_root=data_root, progress=False, cache_dir=out / "cache")
    frame = pd.read_csv(Path(out) / cfg.experiment / cfg.run_name() / "metrics.csv")
    rows = frame.drop(columns=[c for c in IGNORED if c in frame]).to_dict("records")
    return [{k: (float(v) if isinstance(v, (int, float)) else v) for k, v in r.items()} for r in rows]


def make_data(root: Path) -> Path:
    from actionpose.data import synthetic

    synthetic.generate(root, synthetic.synth_config("smoke"), workers=1)
    return root


@pytest.fixture(scope="module")
def golden():
    if not GOLDEN.is_file():
        pytest.fail(f"{GOLDEN} is missing: write it with `python {Path(__file__).name} --write`")
    return json.loads(GOLDEN.read_text())


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("golden") / "puppet-smoke")


@pytest.mark.slow
@pytest.mark.parametrize("name", experiments())
def test_smoke_metrics_unchanged(name, golden, data, tmp_path):
    assert name in golden["runs"], f"{name}: no golden metrics (new experiment? add it with --write)"
    got, want = smoke_metrics(name, data, tmp_path), golden["runs"][name]
    assert len(got) == len(want)
    same_cpu = golden["cpu"] == cpu_model()
    for epoch, (g, w) in enumerate(zip(got, want), 1):
        assert set(g) == set(w), f"{name} epoch {epoch}: columns {sorted(set(g) ^ set(w))} differ"
        for key, value in w.items():
            if same_cpu:
                assert _same(g[key], value), f"{name} epoch {epoch} {key}: {g[key]!r} != golden {value!r}"
            elif "loss" in key:
                assert g[key] == pytest.approx(value, abs=1e-4), f"{name} epoch {epoch} {key}"


def _same(a, b) -> bool:
    return a == b or (a != a and b != b)  # NaN (no top-5 with < 5 classes) equals NaN


def write_golden() -> None:
    import tempfile

    torch.set_num_threads(1)
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        data_root = make_data(Path(tmp) / "puppet-smoke")
        for name in experiments():
            out = Path(tmp) / "runs" / name
            runs[name] = smoke_metrics(name, data_root, out)
            print(name, runs[name][-1].get("test_video_acc"), flush=True)
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps({"cpu": cpu_model(), "torch": torch.__version__,
                                  "settings": SETTINGS, "runs": runs}, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(__doc__)
    write_golden()
