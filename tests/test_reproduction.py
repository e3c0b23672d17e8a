"""`reproduce`'s check against the committed records, on small run folders built here."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from actionpose.cli import main
from actionpose.train import reproduction as R
from actionpose.train.experiments import make_config
from report_fixtures import METRICS_HEADER, write_run


def _run(runs: Path, experiment: str, acc: float, *, seed: int = 0, amp: str = "fp32",
         records: Path | None = None, backfilled: bool = False, **overrides) -> Path:
    """A finished run folder under ``runs`` with a full config; with ``records`` also its
    committed record (full, or ``backfilled`` without config.json)."""
    cfg = make_config(experiment, "smoke", seed=seed, **overrides)
    folder = write_run(runs, experiment, acc, seed=seed)
    folder = folder.rename(runs / experiment / cfg.run_name())
    (folder / "config.json").write_text(json.dumps(cfg.to_dict()))
    summary = json.loads((folder / "summary.json").read_text())
    summary.update(device="cpu", amp=amp, run=cfg.run_name())
    (folder / "summary.json").write_text(json.dumps(summary))
    if records is not None:
        target = records / experiment / "puppet" / folder.name
        shutil.copytree(folder, target)
        if backfilled:
            (target / "config.json").unlink()
            summary["config"] = {"background_factor": 0.25, "context_bias": None}
            (target / "summary.json").write_text(json.dumps(summary))
    return folder


def _set_final(folder: Path, acc: float, seconds: float = 1.5) -> None:
    rows = (f"1,1.0,0.5,1.0,{acc},{acc / 2},1.0,0.001,0,{seconds}\n"
            f"2,1.0,0.5,1.0,{acc},{acc},1.0,0.001,0,{seconds}\n")
    (folder / "metrics.csv").write_text(METRICS_HEADER + rows)
    summary = json.loads((folder / "summary.json").read_text())
    summary["final"]["test_video_acc"] = acc
    (folder / "summary.json").write_text(json.dumps(summary))


@pytest.fixture
def committed(tmp_path):
    """Records of c3d seeds 0-2 (acc 0.5, 0.6, 0.7: SD 10 pt) and their run folders."""
    runs, records = tmp_path / "runs", tmp_path / "results" / "records"
    folders = [_run(runs, "c3d", acc, seed=s, records=records) for s, acc in enumerate((0.5, 0.6, 0.7))]
    return runs, records, folders


def test_a_run_equal_but_for_seconds_is_identical(committed):
    runs, records, folders = committed
    _set_final(folders[0], 0.5, seconds=99.0)  # another machine's wall time
    table = R.check_against_records(folders, records)
    assert list(table["status"]) == ["identical"] * 3
    assert (table["cpu_dependent"] == "").all()  # c3d: fp32 on CPU whatever the machine


def test_a_difference_is_judged_against_two_sds_of_the_committed_seeds(committed):
    runs, records, folders = committed
    _set_final(folders[0], 0.55)   # +5 pt, within 2 SD (20 pt)
    _set_final(folders[1], 0.85)   # +25 pt, outside
    table = R.check_against_records(folders, records).set_index("run")
    near, far = table.loc[folders[0].name], table.loc[folders[1].name]
    assert near["status"] == far["status"] == "differs"
    assert near["delta_pt"] == pytest.approx(5.0) and near["spread_pt"] == pytest.approx(20.0)
    assert near["within_spread"] is True and far["within_spread"] is False
    assert near["committed_seeds"] == 3 and near["detail"] == "test_clip_acc, test_video_acc differ from epoch 1"


def test_the_check_is_written_and_summarised(committed, capsys):
    runs, records, folders = committed
    _set_final(folders[2], 0.95)
    table = R.check_against_records(folders, records)
    line = R.report_check(table, runs / "reproduction.csv")
    written = pd.read_csv(runs / "reproduction.csv")
    assert list(written.columns) == R.COLUMNS and len(written) == 3
    assert line.startswith("reproduce: 3 run(s) checked against the records: 2 identical, 1 differ "
                           "(0 within the seed spread, 1 outside; |Δ| <= 2 SD of the committed seeds)")
    err = capsys.readouterr().err
    assert f"c3d puppet {folders[2].name}: differs: test video acc 95.0 vs 70.0 committed (+25.0 pt), " \
           "OUTSIDE the seed spread" in err


def test_backfilled_records_compare_on_metrics_only_and_configs_must_match(tmp_path):
    runs, records = tmp_path / "runs", tmp_path / "records"
    back = _run(runs, "c3d", 0.5, records=records, backfilled=True)
    full = _run(runs, "c3d-pose", 0.5, records=records)
    record_config = records / "c3d-pose" / "puppet" / full.name / "config.json"
    record_config.write_text(record_config.read_text().replace('"lr": 0.01', '"lr": 0.003'))
    lone = _run(runs, "c3d", 0.5, seed=1)
    rows = R.check_against_records([back, full, lone], records).to_dict("records")
    assert rows[0]["status"] == "identical"
    _set_final(back, 0.6)
    again = R.check_against_records([back], records).iloc[0]
    assert again["status"] == "differs" and again["detail"].startswith("backfilled record: metrics only")
    assert rows[1]["status"] == "config differs" and "lr: 0.01 (run folder) != 0.003 (record)" in rows[1]["detail"]
    assert rows[2]["status"] == "no record"


def test_cpu_dependent_runs_are_named_with_the_reason():
    attention = make_config("attention", "cpu").to_dict()
    assert "bf16 autocast on CPU" in R.cpu_dependence(attention, {"device": "cpu", "amp": "bfloat16"})
    assert "AVX512-BF16 or AMX" in R.cpu_dependence(attention, {"device": "cpu", "amp": "fp32"})
    assert R.cpu_dependence(attention, {"device": "cuda:0", "amp": "bfloat16"}) == ""
    assert R.cpu_dependence({**attention, "amp": "off"}, {"device": "cpu", "amp": "fp32"}) == ""
    c3d = make_config("c3d", "cpu").to_dict()  # amp=auto never picks bf16 for the 3-D CNNs
    assert R.cpu_dependence(c3d, {"device": "cpu", "amp": "fp32"}) == ""
    flow = make_config("two-stream-flow", "cpu").to_dict()
    assert "Farneback" in R.cpu_dependence({**flow, "amp": "off"}, {"device": "cpu", "amp": "fp32"})


def test_reproduce_missing_trains_only_what_the_records_lack(tmp_path, capsys):
    from actionpose.train.experiments import dataset_label, report_plan

    results, out = tmp_path / "results", tmp_path / "runs"
    for cfg in report_plan("smoke", 1, only=["c3d"], have_jhmdb=True):
        write_run(results / "records", cfg.experiment, 0.5, preset="smoke",
                  dataset=dataset_label(cfg.dataset), records=True)
    code = main(["reproduce", "--preset", "smoke", "--seeds", "1", "--only", "c3d", "--missing",
                 "--out", str(out), "--results", str(results), "--quiet"])
    err = capsys.readouterr().err
    assert code == 0 and "reproduce: 0 runs at preset smoke without a committed record" in err
    assert "reproduce: nothing to train" in err and not out.exists()
