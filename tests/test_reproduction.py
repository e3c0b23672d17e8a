"""`reproduce`'s check against the committed records, on small run folders built here."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from actionpose.cli import main
from actionpose.pose.quality import PoseQuality
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


def test_the_spread_is_over_the_committed_seeds_at_the_same_pose_quality(tmp_path):
    runs, records = tmp_path / "runs", tmp_path / "results" / "records"
    clean = [_run(runs, "c3d-pose", acc, seed=s, records=records) for s, acc in enumerate((0.5, 0.6, 0.7))]
    missed = PoseQuality(miss_rate=0.5).config()
    for s, acc in enumerate((0.1, 0.9)):  # the same seeds at another setting: not the clean runs' spread
        _run(tmp_path / "runs-missed", "c3d-pose", acc, seed=s, records=records, **missed)
    _set_final(clean[0], 0.55)
    row = R.check_against_records(clean[:1], records).iloc[0]
    assert row["committed_seeds"] == 3 and row["spread_pt"] == pytest.approx(20.0)


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


def test_a_record_trained_in_another_precision_says_so(tmp_path):
    runs, records = tmp_path / "runs", tmp_path / "records"
    folder = _run(runs, "attention", 0.5, amp="fp32", records=records)
    summary = records / "attention" / "puppet" / folder.name / "summary.json"
    summary.write_text(summary.read_text().replace('"amp": "fp32"', '"amp": "bfloat16"'))
    _set_final(folder, 0.45)
    row = R.check_against_records([folder], records).iloc[0]
    assert row["status"] == "differs" and row["detail"].startswith("trained in fp32, the record in bfloat16")
    assert "AVX512-BF16 or AMX" in row["cpu_dependent"]


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
                 "--out", str(out), "--records", str(results / "records"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 0 and "reproduce: 0 runs at preset smoke without a committed record" in err
    assert "reproduce: nothing to train" in err and not out.exists()


# ---------------------------------------------------------------------------------------------
# actionpose seeds: the stopping rule, planned and run


def _records(records: Path, base: list[float], treat: list[float], preset: str = "smoke") -> None:
    for seed, (a, b) in enumerate(zip(base, treat)):
        write_run(records, "c3d", a, seed=seed, preset=preset, records=True)
        write_run(records, "c3d-pose", b, seed=seed, preset=preset, records=True)


def test_seeds_plan_prints_each_claim_state_and_what_it_would_train(tmp_path, capsys):
    records = tmp_path / "results" / "records"
    _records(records, [0.5, 0.4, 0.6], [0.7, 0.3, 0.65])  # Δ +5 ± 20 pt: open
    write_run(records, "c3d", 0.5, seed=4, preset="smoke", records=True)  # one side of seed 4 only
    code = main(["seeds", "--claim", "c3d-pose", "--claim", "two-stream-mask", "--plan",
                 "--preset", "smoke", "--results", str(tmp_path / "results")])
    out, err = capsys.readouterr()
    assert code == 0
    line = next(l for l in out.splitlines() if l.startswith("seeds: c3d-pose"))
    assert "open (3 seeds; about 10 needed)" in line and "±5 pt needs about" in line
    # seeds 3..9: both sides, except seed 4's baseline, which has a record
    assert "would train seed(s) 3, 4, 5, 6, 7, 8, 9: 13 run(s)" in line
    assert "seeds: two-stream-mask (puppet): open (0 seeds; at least 2 needed); would train seed(s) 0, 1: 4 run(s)" in out
    assert "seeds: 17 run(s) planned at preset smoke" in err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("argv, message", [
    (["--claim", "c3d-pos", "--plan"], "--claim 'c3d-pos': unknown claim; choose from c3d-pose"),
    (["--claim", "c3d-pose@x", "--plan"], "the context bias after @ must be a number"),
    (["--claim", "c3d-pose-actors@0.5", "--plan"], "a sweep point needs a puppet-world claim"),
    (["--claim", "c3d-pose@0.25", "--plan"],
     "--claim c3d-pose@0.25: b = 0.25 is the world of the preset's own runs; use --claim c3d-pose"),
])
def test_seeds_refuses_an_unknown_claim_in_one_line(argv, message, capsys, tmp_path):
    _records(tmp_path / "records", [0.5, 0.4], [0.6, 0.5])  # preset smoke, world b = 0.25
    assert main(["seeds", *argv, "--preset", "smoke", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def _fake_trainer(accs: dict):
    """Writes finished run folders instead of training: acc per (experiment, seed)."""
    calls = []

    def train(todo, out):
        for _, cfg in todo:
            calls.append((cfg.experiment, cfg.seed))
            folder = write_run(Path(out), cfg.experiment, accs[cfg.experiment](cfg.seed),
                               seed=cfg.seed, preset=cfg.preset)
            (folder / "config.json").write_text(json.dumps(cfg.to_dict()))
        return []
    return train, calls


def test_until_decided_adds_pairs_until_a_rule_stops_it_and_logs_which(tmp_path):
    from actionpose.report.tables import compare_all
    from actionpose.report.records import load_runs
    from actionpose.train import seeds as S

    records, out = tmp_path / "records", tmp_path / "runs"
    _records(records, [0.5, 0.4, 0.6], [0.7, 0.3, 0.65])  # open at 3 seeds
    # every new seed gains 10 pt (sd of Δ shrinks): the interval soon clears 0
    train, calls = _fake_trainer({"c3d": lambda s: 0.5, "c3d-pose": lambda s: 0.6 + 0.01 * (s % 2)})
    rule = S.until_decided(S.parse_claims(["c3d-pose"])[0], "smoke", out, records, train=train)
    assert rule.state == "decided (interval one side)" and not rule.open
    assert calls[:2] == [("c3d", 3), ("c3d-pose", 3)] and len(calls) == 2 * (rule.seeds - 3)
    log = [json.loads(l) for l in (out / "seeds_log.jsonl").read_text().splitlines()]
    assert log == [{**log[0], "claim": "c3d-pose", "seeds": rule.seeds, "stopped_by": rule.state}]
    # the new runs are records now, and the table says the same
    row = compare_all(load_runs(records)).set_index("key").loc["c3d-pose"]
    assert row["seeds"] == rule.seeds and row["stopping"] == rule.state
    # a claim already ended trains nothing
    assert S.until_decided(S.parse_claims(["c3d-pose"])[0], "smoke", out, records, train=train).state == rule.state
    assert len(calls) == 2 * (rule.seeds - 3)


def test_until_decided_stops_at_ten_seeds(tmp_path):
    from actionpose.train import seeds as S

    records = tmp_path / "records"
    _records(records, [0.5] * 8, [0.2, 0.8] * 4)  # Δ ±30 pt around 0 and staying so
    train, calls = _fake_trainer({"c3d": lambda s: 0.5, "c3d-pose": lambda s: (0.2, 0.8)[s % 2]})
    rule = S.until_decided(S.parse_claims(["c3d-pose"])[0], "smoke", tmp_path / "runs", records, train=train)
    assert rule.state == "stopped (10 seeds)" and rule.seeds == 10 and len(calls) == 4


def test_seeds_until_decided_end_to_end_at_the_smoke_preset(tmp_path, monkeypatch, capsys):
    """Nine committed seeds (built here), so the rule needs one real pair: trained, copied into
    the records, and the claim ends at ten seeds or earlier."""
    monkeypatch.setenv("ACTIONPOSE_DATA", str(tmp_path / "data"))
    results = tmp_path / "results"
    _records(results / "records", [0.5, 0.3] * 4 + [0.5], [0.3, 0.5] * 4 + [0.3])
    code = main(["seeds", "--claim", "c3d-pose", "--until-decided", "--preset", "smoke",
                 "--out", str(tmp_path / "runs"), "--results", str(results), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err[-2000:]
    assert "c3d-pose: stopped (10 seeds) at 10 seeds" in out
    for experiment in ("c3d", "c3d-pose"):
        record = results / "records" / experiment / "puppet" / "puppet-smoke-split1-seed9"
        assert sorted(p.name for p in record.iterdir()) == [
            "config.json", "metrics.csv", "predictions.csv", "summary.json"]
    # the reproduction check reads real run folders: a run is identical to its own record
    trained = [tmp_path / "runs" / e / "puppet-smoke-split1-seed9" for e in ("c3d", "c3d-pose")]
    table = R.check_against_records(trained, results / "records")
    assert list(table["status"]) == ["identical", "identical"] and (table["cpu_dependent"] == "").all()
