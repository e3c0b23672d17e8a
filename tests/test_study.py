"""Issue 18's study: runs told apart by pose quality in the records and the report, the study's
registry, and `actionpose seeds --claim study...` planning and training it (fused pairs
included), on small records built here (no training, except one smoke pair at the end)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from actionpose import report
from actionpose.cli import main
from actionpose.errors import DataError
from actionpose.fuse import FUSED_PAIRS
from actionpose.models.registry import modalities
from actionpose.pose.knob import PoseQuality
from actionpose.report import comparisons, pose_quality, stats, tables
from actionpose.report.publish import write_report
from actionpose.train import experiments as X
from actionpose.train import seeds as S
from report_fixtures import METRICS_HEADER, write_degraded, write_run

JITTER = PoseQuality(jitter=0.1)


def _set_seconds(folder: Path, seconds: float) -> None:
    summary = json.loads((folder / "summary.json").read_text())
    (folder / "summary.json").write_text(json.dumps({**summary, "seconds_total": seconds}))


# ---------------------------------------------------------------------------------------------
# the knob's setting, named once


def test_a_setting_round_trips_through_config_run_name_and_record_columns():
    q = PoseQuality(jitter=0.05, miss_rate=0.2, offset=(0.02, -0.01), mask_change=0.05)
    cfg = X.make_config("stgcn", "smoke", **{**q.config(), "pose_mask_change": 0.0})
    assert cfg.pose_quality() == PoseQuality(0.05, 0.2, (0.02, -0.01))
    assert cfg.run_name() == "puppet-smoke-jitter0.05-miss0.2-offset0.02_-0.01-split1-seed0"
    assert q.label == "jitter0.05-miss0.2-offset0.02_-0.01-mask+0.05" and PoseQuality().label == "clean"
    assert PoseQuality.from_config(cfg.to_dict()) == cfg.pose_quality()
    assert PoseQuality.from_config({"experiment": "c3d"}).is_perfect  # a config from before the knob
    assert pose_quality.setting(pose_quality.values(q)) == q


# ---------------------------------------------------------------------------------------------
# records and the report tell runs apart by pose quality


@pytest.fixture
def mixed(tmp_path):
    """c3d (no pose) and stgcn clean and at jitter 0.1, seeds 0-2, in one runs folder."""
    for seed in range(3):
        write_run(tmp_path, "c3d", 0.50 + 0.01 * seed, seed=seed)
        write_run(tmp_path, "stgcn", 0.70, seed=seed)
        write_degraded(tmp_path, "stgcn", 0.60 - 0.02 * seed, JITTER, seed=seed)
    return tmp_path


def test_load_runs_carries_the_knob_and_clean_runs_read_as_zero(mixed):
    runs = report.load_runs(mixed)
    assert set(pose_quality.COLUMNS) <= set(runs.columns)
    degraded = runs[runs["pose_jitter"] > 0]
    assert len(degraded) == 3 and set(degraded["experiment"]) == {"stgcn"}
    assert (degraded["pose_jitter"] == 0.1).all() and (degraded[list(pose_quality.COLUMNS[1:])] == 0).all().all()
    assert (runs.loc[runs["pose_jitter"] == 0, list(pose_quality.COLUMNS)] == 0).all().all()
    curves = report.load(mixed).curves
    assert curves.groupby("pose_jitter").size().to_dict() == {0.0: 12, 0.1: 6}


def test_a_setting_out_of_range_in_a_record_is_an_error_naming_its_config(tmp_path):
    folder = write_degraded(tmp_path, "stgcn", 0.6, JITTER, seed=0)
    (folder / "config.json").write_text(json.dumps({"experiment": "stgcn", "pose_miss_rate": 1.5}))
    with pytest.raises(DataError, match=r"config.json: pose quality miss_rate must be in \[0.0, 1.0\]"):
        report.load_runs(tmp_path)


def test_paired_difference_takes_the_treatment_at_a_setting_against_the_clean_baseline(mixed):
    runs = report.load_runs(mixed)
    clean = stats.paired_difference(runs, "c3d", "stgcn", "puppet")
    assert clean["n_pairs"] == 3 and clean["treatment_mean"] == pytest.approx(0.70)
    worse = stats.paired_difference(runs, "c3d", "stgcn", "puppet", pose_quality=JITTER)
    assert worse["n_pairs"] == 3 and worse["treatment_mean"] == pytest.approx(0.58)
    assert worse["baseline_mean"] == pytest.approx(0.51)  # the no-pose baseline: its only runs
    # a mode against its own clean runs: what the degradation costs it
    cost = stats.paired_deltas(runs, "stgcn", "stgcn", "puppet", pose_quality=JITTER)
    assert cost.to_numpy() == pytest.approx([-0.10, -0.12, -0.14])
    # a setting nobody trained pairs nothing, and a table without the columns is all clean
    assert stats.paired_difference(runs, "c3d", "stgcn", "puppet", pose_quality=PoseQuality(jitter=0.2))["n_pairs"] == 0
    bare = runs.drop(columns=list(pose_quality.COLUMNS))
    assert pose_quality.selected(bare, None).all() and not pose_quality.selected(bare, JITTER).any()


def test_compare_selects_the_setting_and_makes_no_claim_for_degraded_pose(tmp_path, mixed):
    result = report.compare(mixed, "c3d", "stgcn", pose_quality=JITTER)
    assert list(result.table.columns) == ["split", "seed", "test_video_acc c3d", "test_video_se c3d",
                                          "test_video_acc stgcn", "test_video_se stgcn", "delta"]
    assert result.table["delta"].to_numpy() == pytest.approx([0.10, 0.07, 0.04])
    own = report.compare(mixed, "stgcn", "stgcn", pose_quality=JITTER)
    assert own.table["delta"].to_numpy() == pytest.approx([-0.10, -0.12, -0.14])
    assert "test_video_acc stgcn jitter0.1" in own.table
    for seed in range(3):  # a report claim on degraded pose is no claim of the report
        write_run(tmp_path / "p", "c3d", 0.5, seed=seed)
        write_degraded(tmp_path / "p", "c3d-pose", 0.6 + 0.01 * seed, PoseQuality(miss_rate=0.5), seed=seed)
    assert report.compare(tmp_path / "p", "c3d", "c3d-pose", pose_quality=PoseQuality(miss_rate=0.5)).claim is None


def test_summarise_keeps_settings_apart(mixed):
    table = tables.summarise(report.load_runs(mixed))
    stgcn = table[table["experiment"] == "stgcn"].set_index("pose_jitter")
    assert stgcn.loc[0.0, "mean"] == pytest.approx(0.70) and stgcn.loc[0.1, "mean"] == pytest.approx(0.58)


def test_degraded_runs_leave_the_reports_tables_as_they_were_and_add_the_study_table(tmp_path):
    records = tmp_path / "records"
    for seed in range(3):
        write_run(records, "c3d", 0.50 + 0.02 * seed, seed=seed, records=True)
        write_run(records, "c3d-pose", 0.60 + 0.01 * seed, seed=seed, records=True)
    before, after = tmp_path / "before", tmp_path / "after"
    write_report(records, before, tmp_path / "figures-before")
    assert not (before / "study.csv").exists()  # every study point with runs is the report's own
    assert "pose_jitter" not in (before / "runs.csv").read_text().splitlines()[0]
    for seed in range(3):
        write_degraded(records, "c3d-pose", 0.55, PoseQuality(miss_rate=0.2), seed=seed, records=True)
    write_report(records, after, tmp_path / "figures-after")
    for name in ("comparisons.csv", "sweep_slopes.csv"):
        assert (before / name).read_bytes() == (after / name).read_bytes(), name
    # the report's text unchanged, the study's table ("how to feed pose, when") appended
    report_before, report_after = (before / "report.md").read_text(), (after / "report.md").read_text()
    assert report_after.startswith(report_before)
    study_rows = [line for line in report_after[len(report_before):].splitlines() if line.startswith("| c3d-pose")]
    # c3d 50/52/54%, c3d-pose 60/61/62%, at miss0.2 55%: Δs 10/9/8 and 5/3/1 points, t(2) intervals
    assert study_rows == ["| c3d-pose vs c3d | puppet | clean | 52.0 ± 5.0 | 61.0 ± 2.5 | 9.0 ± 2.5 pt | 3 "
                          "| treatment better | decided (interval one side) | – |",
                          "| c3d-pose vs c3d | puppet | miss0.2 | 52.0 ± 5.0 | 55.0 ± 0.0 | 3.0 ± 5.0 pt | 3 "
                          "| no clear difference | decided (half-width <= 5) | – |"]
    runs = pd.read_csv(after / "runs.csv")
    assert list(runs.groupby("pose_miss_rate").size()) == [6, 3]
    study = pd.read_csv(after / "study.csv").set_index("key")
    point = study.loc["c3d-pose/miss0.2"]
    assert point["pose_quality"] == "miss0.2" and point["pose_miss_rate"] == 0.2 and not point["in_report"]
    assert point["n_pairs"] == 3 and point["delta_mean"] == pytest.approx(0.03)
    assert study.loc["c3d-pose", "in_report"] and study.loc["c3d-pose", "delta_mean"] == pytest.approx(0.09)
    # the degraded runs gone, the study table goes with them
    for folder in sorted((records / "c3d-pose" / "puppet").glob("*miss0.2*")):
        for f in folder.iterdir():
            f.unlink()
        folder.rmdir()
    write_report(records, after, tmp_path / "figures-after")
    assert not (after / "study.csv").exists() and not (after / "study_slopes.csv").exists()
    assert not list((tmp_path / "figures-after").glob("study_*"))


def test_study_slopes_fit_each_bias_swept_mode_fused_pairs_included():
    # per mode Δ = base + k b (seed s adds 0.01 s); the clean rows sit at the world's b = 0.25
    modes = {"c3d-pose": (0.05, 0.25), "c3d+stgcn": (0.20, -0.10), "c3d-mask-channel": (0.10, 0.0)}
    rows = []
    for bias in (np.nan, *comparisons.STUDY_BIASES):
        b = 0.25 if np.isnan(bias) else bias
        for seed in range(3):
            accs = {"c3d": 0.4, **{m: 0.4 + base + k * b + 0.01 * seed for m, (base, k) in modes.items()}}
            for exp, acc in accs.items():
                if exp == "c3d-mask-channel" and bias == 0.8:
                    continue  # a mode not yet trained at every bias fits on the ones it has
                rows.append({"experiment": exp, "dataset": "puppet", "split": 1, "seed": seed,
                             "context_bias": bias, "world_context_bias": b, "test_video_acc": acc})
    runs = pd.DataFrame(rows)
    slopes = tables.study_slopes(runs).set_index("treatment")
    assert list(slopes.index) == ["c3d-pose", "c3d-mask-channel", "c3d+stgcn"]  # STUDY_BIAS_MODES order
    assert slopes.loc["c3d+stgcn", "slope"] == pytest.approx(-0.10)
    assert slopes.loc["c3d+stgcn", "biases"] == "0 0.25 0.5 0.8" and slopes.loc["c3d+stgcn", "n_deltas"] == 12
    assert slopes.loc["c3d+stgcn", "interaction_mean"] == pytest.approx(-0.08)
    assert slopes.loc["c3d-mask-channel", "biases"] == "0 0.25 0.5" and slopes.loc["c3d-mask-channel", "slope"] == pytest.approx(0)
    # the report's own sweep fits c3d-pose − c3d the same way
    assert slopes.loc["c3d-pose", "slope"] == pytest.approx(tables.sweep_slopes(runs).iloc[0]["slope"])
    assert tables.study_slopes(runs[runs["context_bias"].isna()]).empty  # no sweep runs: no fit
    text = tables.study_markdown(tables.study_table(runs), tables.study_slopes(runs))
    assert "- c3d+stgcn − c3d (b = 0, 0.25, 0.5, 0.8): slope of Δ on b -10.0 ± " in text
    assert "Δ(0.8) − Δ(0) = -8.0 ± 0.0 pt (paired by seed, 3 seeds)" in text


# ---------------------------------------------------------------------------------------------
# the study's registry


def test_every_study_point_trains_at_the_cpu_preset_with_a_no_pose_baseline():
    from actionpose.data.synthetic import synth_config

    keys = [p.key for p in comparisons.STUDY]
    assert len(keys) == len(set(keys)) and {p.group for p in comparisons.STUDY} == set(comparisons.STUDY_GROUPS)
    world = synth_config("cpu").context_bias
    for point in comparisons.STUDY:
        claim = S.Claim.study(point)
        baseline, *treatment = claim.configs("cpu", 0)
        assert baseline.experiment == point.baseline and baseline.pose == "none"
        assert baseline.pose_quality() is None and baseline.context_bias == point.context_bias
        assert point.context_bias != world  # the preset's own world is the modes' clean row
        if point.stream is None:
            (cfg,) = treatment
            assert cfg.experiment == point.treatment and cfg.pose_quality() == point.quality
            assert set(modalities(cfg)) & {"joints", "mask", "heatmaps"}
        else:
            pair = FUSED_PAIRS[point.treatment]
            assert (pair.a, pair.b) == (point.baseline, point.stream)
            (cfg,) = treatment  # side a is the baseline's run itself
            assert claim.pair_configs("cpu", 0)[0] == baseline
            assert cfg.experiment == point.stream and cfg.pose_quality() == point.quality
    # every mode of issue 18 against its baseline, on both worlds where its pose exists
    modes = {(p.treatment, p.dataset) for p in comparisons.STUDY if p.group == "modes"}
    assert {(m, "puppet") for m in ("c3d-mask-channel", "c3d+pose-only", "c3d+heatmap-volume", "c3d+stgcn")} <= modes
    assert ("c3d+pose-only", "actors") in modes and ("c3d+stgcn", "actors") not in modes
    jitter = {p.treatment for p in comparisons.STUDY if p.quality and p.quality.jitter}
    assert jitter == {"c3d+heatmap-volume", "c3d+stgcn"}  # the modes that read joints


def test_study_claims_parse_by_key_group_and_all(capsys, tmp_path):
    assert len(S.parse_claims(["study"])) == len(comparisons.STUDY)
    quality = S.parse_claims(["study:quality"])
    assert quality and all(c.quality is not None for c in quality)
    (claim,) = S.parse_claims(["study:c3d+stgcn/jitter0.1"])
    assert claim.name == "study:c3d+stgcn/jitter0.1" and claim.quality == JITTER and claim.pair.b == "stgcn"
    assert S.parse_claims(["study:c3d-pose/bias0.8"])[0].bias == 0.8
    assert main(["seeds", "--claim", "study:c3d+stgcn/jitter0.15", "--plan", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert ("--claim 'study:c3d+stgcn/jitter0.15': unknown study point; choose a group (modes, quality, "
            "bias, estimated) or a key such as c3d+stgcn/jitter0.1") in err and len(err.strip().splitlines()) == 1


def test_plan_counts_the_runs_fusions_and_run_minutes_of_the_study(tmp_path, capsys):
    records = tmp_path / "results" / "records"
    for seed in range(2):  # c3d's records kept no per-video scores: fusing trains it again
        _set_seconds(write_run(records, "c3d", 0.5, seed=seed, records=True), 600.0 + 120 * seed)
    code = main(["seeds", "--claim", "study:c3d+stgcn/jitter0.1", "--claim", "study:c3d-mask-channel",
                 "--plan", "--preset", "smoke", "--results", str(tmp_path / "results")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert ("seeds: study:c3d+stgcn/jitter0.1 (puppet): open (0 seeds; at least 2 needed); would train "
            "seed(s) 0, 1: 4 run(s) and fuse 2 pair(s)") in out
    assert "seeds: study:c3d-mask-channel (puppet): open (0 seeds; at least 2 needed); would train seed(s) 0, 1: 2 run(s) (" in out
    assert ("cost: one seed of these 2 claim(s) is 3 run(s) and 1 fused pair(s) (fusing trains nothing): "
            "11 run-minutes for the 1 with committed timings; unmeasured (no committed run of the "
            "experiment on that data): c3d-mask-channel x1, stgcn x1") in out
    assert "cost: the 6 planned run(s) and 2 fusion(s): 22 run-minutes for the 2 with committed timings" in out
    assert "c3d-mask-channel x2, stgcn x2" in out and "seeds: 6 run(s) planned at preset smoke" in err


# ---------------------------------------------------------------------------------------------
# the stopping loop on a fused, degraded study point


def _scored_trainer(c3d_right):
    """Writes finished run folders with per-video scores instead of training: c3d right on the
    first ``c3d_right(seed)`` of 10 videos (0.6 on its choice), the pose stream right on all
    (0.9), so that their equal-weight fusion is right on all."""
    from actionpose.train.runs import run_dir

    calls = []

    def train(todo, out):
        for _, cfg in todo:
            calls.append((cfg.experiment, cfg.seed, cfg.run_name()))
            right, p = (c3d_right(cfg.seed), 0.6) if cfg.experiment == "c3d" else (10, 0.9)
            folder = run_dir(cfg, out)
            folder.mkdir(parents=True)
            lines = ["video,label,prediction,score_a,score_b"]
            for v in range(10):
                label = "ab"[v % 2]
                top = label if v < right else "ab"[1 - v % 2]
                lines.append(f"v{v},{label},{top},{p if top == 'a' else 1 - p},{p if top == 'b' else 1 - p}")
            (folder / "predictions.csv").write_text("\n".join(lines) + "\n")
            acc = right / 10
            (folder / "metrics.csv").write_text(METRICS_HEADER + f"1,1.0,0.5,1.0,{acc},{acc},1.0,0.001,0,1.5\n")
            (folder / "config.json").write_text(json.dumps(cfg.to_dict()))
            (folder / "summary.json").write_text(json.dumps({
                "complete": True, "experiment": cfg.experiment, "run": cfg.run_name(), "dataset": "puppet",
                "preset": cfg.preset, "split": 1, "seed": cfg.seed, "epochs": 1, "num_test_videos": 10,
                "context_bias": 0.25, "final": {"test_video_acc": acc}, "seconds_total": 3.0}))
        return []
    return train, calls


def test_until_decided_trains_fuses_and_records_a_degraded_fused_point(tmp_path, capsys):
    records, out = tmp_path / "records", tmp_path / "runs"
    # c3d seeds 0-2 committed without per-video scores (as the backfilled records); seed 2's
    # record says 70% where training it again gives 50%
    for seed, acc in enumerate((0.5, 0.6, 0.7)):
        write_run(records, "c3d", acc, seed=seed, records=True)
    train, calls = _scored_trainer(lambda seed: (5, 6, 5)[seed])
    (claim,) = S.parse_claims(["study:c3d+stgcn/jitter0.1"])
    rule = S.until_decided(claim, "smoke", out, records, train=train)
    # Δ = fused (100%) − the c3d record: 50, 40, 30 pt: decided at 3 seeds
    assert rule.state == "decided (interval one side)" and rule.seeds == 3
    assert calls == [(e, s, f"puppet-smoke{q}-split1-seed{s}") for s in range(3)
                     for e, q in (("c3d", ""), ("stgcn", "-jitter0.1"))]
    assert "seeds: warning: c3d puppet-smoke-split1-seed2 trained again for its scores reached 50.00%, " \
           "its record 70.00%" in capsys.readouterr().err
    # the pose stream and the fused pair are records now; c3d's records are left as they were
    for seed in range(3):
        name = f"puppet-smoke-jitter0.1-split1-seed{seed}"
        assert (records / "stgcn" / "puppet" / name / "predictions.csv").is_file()
        fused = json.loads((records / "c3d+stgcn" / "puppet" / name / "summary.json").read_text())
        assert fused["final"]["test_video_acc"] == 1.0 and fused["config"]["pose_jitter"] == 0.1
        assert not (records / "c3d" / "puppet" / f"puppet-smoke-split1-seed{seed}" / "predictions.csv").exists()
    runs = report.load_runs(records)
    d = stats.paired_difference(runs, "c3d", "c3d+stgcn", "puppet", pose_quality=JITTER)
    assert d["n_pairs"] == 3 and d["delta_mean"] == pytest.approx(0.4)
    row = tables.study_table(runs).set_index("key").loc["c3d+stgcn/jitter0.1"]
    assert row["stopping"] == rule.state and row["stream"] == "stgcn" and row["stream_mean"] == 1.0
    assert not row["in_report"] and row["treatment_seconds"] == 6.0  # both runs of the pair
    # ended: trains nothing more
    assert S.until_decided(claim, "smoke", out, records, train=train).state == rule.state
    assert len(calls) == 6


def test_seeds_study_claim_end_to_end_at_the_smoke_preset(tmp_path, monkeypatch, capsys):
    """Nine committed seeds of a fused, degraded point (built here), so the rule needs one real
    seed: c3d and stgcn at jitter 0.1 trained, fused from their run folders, all recorded."""
    monkeypatch.setenv("ACTIONPOSE_DATA", str(tmp_path / "data"))
    results = tmp_path / "results"
    records = results / "records"
    for seed in range(9):
        write_run(records, "c3d", 0.4, seed=seed, records=True)
        fused = write_degraded(records, "c3d+stgcn", (0.2, 0.6)[seed % 2], JITTER, seed=seed, records=True)
        assert fused.parent.parent.name == "c3d+stgcn"
    code = main(["seeds", "--claim", "study:c3d+stgcn/jitter0.1", "--until-decided", "--preset", "smoke",
                 "--out", str(tmp_path / "runs"), "--results", str(results), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err[-2000:]
    assert "study:c3d+stgcn/jitter0.1: stopped (10 seeds) at 10 seeds" in out
    assert sorted(p.name for p in (records / "c3d" / "puppet" / "puppet-smoke-split1-seed9").iterdir()) == [
        "config.json", "metrics.csv", "predictions.csv", "summary.json"]
    name = "puppet-smoke-jitter0.1-split1-seed9"
    assert (records / "stgcn" / "puppet" / name / "config.json").is_file()
    summary = json.loads((records / "c3d+stgcn" / "puppet" / name / "summary.json").read_text())
    assert summary["fused"]["run_a"] == str(tmp_path / "runs" / "c3d" / "puppet-smoke-split1-seed9")
    runs = report.load_runs(records)
    assert stats.paired_difference(runs, "c3d", "c3d+stgcn", "puppet", pose_quality=JITTER)["n_pairs"] == 10
    assert np.isclose(runs.loc[runs["experiment"] == "c3d+stgcn", "pose_jitter"], 0.1).all()


@pytest.mark.parametrize("experiment, overrides", [
    ("c3d", {}),
    ("c3d-pose", {"context_bias": 0.8}),
    ("heatmap-volume", JITTER.config()),
    ("c3d-pose", {**PoseQuality(miss_rate=0.2, offset=(0.02, -0.01), mask_change=0.05).config(),
                  "context_bias": 0.0}),
    ("pose-only", {"mask_inputs": ("motion", "distance"), "lr": 0.003, "optimizer": "sgd"}),
])
def test_a_side_by_side_child_trains_exactly_the_config_it_was_given(experiment, overrides):
    """`seeds --jobs 2` and `reproduce --jobs 2` train each run in a child `actionpose train`:
    its command must name every field (the pose-quality knob, once dropped there, trained clean
    pose under a degraded run's name)."""
    from actionpose.cli import parse_args
    from actionpose.train.commands import config_from_args
    from actionpose.train.reproduction import train_command

    cfg = X.make_config(experiment, "cpu", seed=3, split=1, dataset="puppet", **overrides)
    args = parse_args(train_command(cfg, "runs")[3:])
    assert config_from_args(args) == cfg


def test_study_figures_draw_each_mode_against_its_clean_point_and_only_what_the_table_holds():
    from actionpose.report.study_figures import study_figures
    from actionpose.report.tables import STUDY_COLUMNS

    def row(key, group, treatment, delta, **kw):
        base = {c: np.nan for c in STUDY_COLUMNS}
        return {**base, "key": key, "group": group, "dataset": kw.pop("dataset", "puppet"),
                "baseline": "c3d", "treatment": treatment, "delta_mean": delta, "delta_ci95": 0.02,
                "n_pairs": 3, "verdict": "treatment better", "pose_jitter": 0.0, "pose_miss_rate": 0.0, **kw}

    rows = [row("c3d+stgcn", "modes", "c3d+stgcn", 0.10), row("c3d-pose", "modes", "c3d-pose", 0.05),
            row("c3d-pose/actors", "modes", "c3d-pose", 0.04, dataset="actors")]
    figs = dict(study_figures(pd.DataFrame(rows, columns=STUDY_COLUMNS)))
    assert list(figs) == ["study_modes"]
    assert [len(ax.patches) for ax in figs["study_modes"].axes] == [2, 1]  # one bar per mode and world
    rows += [row("c3d+stgcn/jitter0.2", "quality", "c3d+stgcn", -0.02, pose_jitter=0.2),
             row("c3d+stgcn/jitter0.1", "quality", "c3d+stgcn", 0.04, pose_jitter=0.1),
             row("c3d-pose/bias0.8", "bias", "c3d-pose", 0.20, context_bias=0.8)]
    figs = dict(study_figures(pd.DataFrame(rows, columns=STUDY_COLUMNS), world_bias=0.25))
    assert list(figs) == ["study_modes", "study_quality", "study_bias"]
    (ax,) = figs["study_quality"].axes
    (line,) = ax.get_lines()[:1]
    assert list(line.get_xdata()) == [0.0, 0.1, 0.2]  # clean point first, then the knob in order
    assert list(np.round(line.get_ydata(), 6)) == [10.0, 4.0, -2.0]
    line = figs["study_bias"].axes[0].get_lines()[0]
    assert list(line.get_xdata()) == [0.25, 0.8] and list(np.round(line.get_ydata(), 6)) == [5.0, 20.0]
    slopes = pd.DataFrame([{"treatment": "c3d-pose", "slope": 0.27, "slope_ci95": 0.1}])
    figs = dict(study_figures(pd.DataFrame(rows, columns=STUDY_COLUMNS), world_bias=0.25, slopes=slopes))
    labels = figs["study_bias"].axes[0].get_legend_handles_labels()[1]
    assert "c3d-pose: slope +27.0 ± 10.0 pt per unit b" in labels
