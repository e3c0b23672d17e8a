"""The benchmark suite's smoke run: `python -m benchmarks --smoke --only pipeline --only data`."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

from actionpose.train.runs import run_dir
from actionpose.train.experiments import make_config, report_plan

REPO = Path(__file__).resolve().parents[1]


def _fake_runs(runs: Path, data_root: Path) -> None:
    """One complete cpu run of the report plan (c3d, seed 0) and one smoke run to be ignored."""
    data_root.mkdir(parents=True)
    (data_root / "synth_info.json").write_text(json.dumps({"seconds": 30.0}))
    cpu = run_dir(make_config("c3d", "cpu", seed=0), runs)
    smoke = run_dir(make_config("c3d", "smoke", seed=0), runs)
    for folder, preset, rss in ((cpu, "cpu", 1.5), (smoke, "smoke", 9.0)):
        folder.mkdir(parents=True)
        (folder / "summary.json").write_text(json.dumps({
            "complete": True, "preset": preset, "seed": 0, "peak_rss_gib": rss,
            "seconds_total": 120.0, "data_root": str(data_root)}))
    log = [{"preset": "cpu", "seeds": 1, "whole_plan": True, "runs_planned": 20, "runs_trained": 20,
            "minutes": 42.5, "jobs": 2},
           {"preset": "cpu", "seeds": 1, "whole_plan": True, "runs_planned": 20, "runs_trained": 3,
            "minutes": 9.0, "jobs": 2},  # a resumed call: not a from-scratch measurement
           {"preset": "smoke", "seeds": 1, "whole_plan": True, "runs_planned": 18, "runs_trained": 18,
            "minutes": 2.0, "jobs": 1}]
    (runs / "reproduce_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log) + '{"cut')


def test_smoke_suite_prints_a_number_per_row(tmp_path):
    runs = tmp_path / "runs"
    _fake_runs(runs, tmp_path / "data")
    out = tmp_path / "bench.json"
    # --only merges: rows of modules not run are kept, rows of the modules run are replaced
    kept = {"name": "models: kept", "value": 1.0, "unit": "x", "module": "bench_models"}
    out.write_text(json.dumps({"rows": [kept, {"name": "data: stale", "value": 0.0, "unit": "x",
                                               "module": "bench_data"}]}))
    env = {**os.environ, "ACTIONPOSE_RUNS": str(runs)}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--only", "pipeline", "--only", "data",
         "--out", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "# bench_data:" in proc.stdout and "# bench_pipeline:" in proc.stdout

    rows = json.loads(out.read_text())["rows"]
    assert rows[0] == kept and not any(r["name"] == "data: stale" for r in rows)
    rows = rows[1:]
    assert {r["module"] for r in rows} == {"bench_data", "bench_pipeline"}
    assert all(r["measured_at"] for r in rows)
    lines = [ln for ln in proc.stdout.splitlines() if ln and not ln.startswith(("#", "wrote "))]
    assert len(lines) == len(rows)
    for row, line in zip(rows, lines):
        assert isinstance(row["value"], (int, float)) and math.isfinite(row["value"]), row
        assert line.startswith(row["name"]) and f"{row['value']:.4g}" in line, (row, line)

    for prefix in ("pipeline: train step c3d ", "pipeline: train step pose-only ",
                   "pipeline: temporal input, stacked RGB ", "pipeline: temporal input, Farneback flow ",
                   "pipeline: DataLoader 2 workers, cached, train transforms (frames+mask",
                   "pipeline: DataLoader 2 workers, cached, train transforms (mask"):
        assert sum(r["name"].startswith(prefix) for r in rows) == 1, prefix
    rss = [r for r in rows if r["name"].startswith("run peak RSS")]
    assert [r["value"] for r in rss] == [1.5]  # the smoke-preset run is not counted
    assert rss[0]["met"] is True
    (reproduce,) = [r for r in rows if r["name"].startswith("reproduce --preset cpu")]
    assert reproduce["value"] == (120.0 + 30.0) / 60.0
    assert reproduce["runs_complete"] == 1
    assert reproduce["runs_planned"] == len(report_plan("cpu", 1))
    assert "met" not in reproduce  # the sum is informative; the wall time is judged
    (wall,) = [r for r in rows if r["name"].startswith("reproduce wall time --preset cpu")]
    assert wall["value"] == 42.5 and wall["met"] is True and wall["jobs"] == 2


def test_conv_kind_breakdown_counts_each_kind_of_convolution():
    import torch

    from benchmarks.bench_models import Case, _conv_kind_rows

    def build():
        return torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, padding=1),              # dense
            torch.nn.Conv2d(8, 8, 3, padding=1, groups=8),    # depthwise
            torch.nn.Conv2d(8, 16, 1),                        # pointwise
            torch.nn.Conv2d(16, 16, 1),                       # pointwise
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(16, 4))

    case = Case("tiny", build, lambda d: {"input": torch.randn(2, 3, 16, 16, device=d)}, 2,
                num_classes=4, repeats=1)
    rows = _conv_kind_rows(case, step_fp32=1.0)
    by_kind = {r["name"].split(" convs")[0].removeprefix("tiny "): r for r in rows}
    assert {k: r["layers"] for k, r in by_kind.items()} == {"dense kxk": 1, "depthwise": 1, "pointwise 1x1": 2}
    for row in rows:
        assert row["value"] == row["fp32_s"] / row["bf16_s"] > 0
        assert row["share_of_fp32_step"] == row["fp32_s"]


def test_jhmdb_run_rows_read_the_preset_runs_records():
    from benchmarks import bench_jhmdb_runs

    rows = bench_jhmdb_runs.run(smoke=True)
    assert [r["split"] for r in rows[:2]] == [1, 2] and [r["value"] for r in rows[:2]] == [25.0, 35.0]
    assert rows[-1]["value"] == 15.0 and rows[-1]["met"] is True and rows[-1]["runs"] == 2
    assert math.isnan(bench_jhmdb_runs.jhmdb_run_rows(REPO / "tests")[-1]["value"])  # none: unmeasured
