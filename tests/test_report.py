"""The report from run folders and records: loading, comparisons, tables, the results set
written as one unit, records collected, and the committed records regenerating results/."""
from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from actionpose import report
from actionpose.cli import main
from actionpose.errors import DataError
from actionpose.paths import REPO_ROOT
from actionpose.report import comparisons, stats, tables
from report_fixtures import write_pair, write_run

RESULTS = REPO_ROOT / "results"


def _snapshot(*folders: Path) -> dict:
    return {p: p.read_bytes() for f in folders if f.exists() for p in sorted(f.rglob("*")) if p.is_file()}


def test_figures_are_drawn_from_the_comparisons_defined_once():
    groups = {g.stem: g for g in comparisons.figure_groups()}
    assert groups["two_stream_mask"].experiments == ("two-stream", "two-stream-mask", "two-stream-flow")
    assert groups["actors_c3d_pose"].dataset == "actors"
    named = {c.figure for c in comparisons.COMPARISONS}
    assert named == set(comparisons.FIGURES)


def test_compare_pairs_seeds_from_a_runs_folder(tmp_path):
    write_pair(tmp_path, [0.50, 0.40, 0.60], [0.55, 0.46, 0.64])
    result = report.compare(tmp_path, "c3d", "c3d-pose", dataset="puppet")
    assert list(result.table["seed"]) == [0, 1, 2]
    assert result.table["delta"].to_numpy() == pytest.approx([0.05, 0.06, 0.04])
    assert result.difference["delta_mean"] == pytest.approx(0.05)
    assert result.verdict == "treatment better" and result.claim == "holds"
    assert "c3d-pose − c3d on puppet: 5.0 ± " in str(result)


def test_report_markdown_lists_each_claim_with_its_numbers(tmp_path):
    write_pair(tmp_path, [0.50, 0.40, 0.60], [0.55, 0.46, 0.64])
    runs = report.load_runs(tmp_path)
    assert runs["test_video_se"].to_numpy() == pytest.approx(np.sqrt(runs["test_video_acc"] * (1 - runs["test_video_acc"]) / 40))
    text = tables.report_markdown(runs)
    assert "pose (background weakening) helps C3D slightly" in text
    assert "c3d: 50.0 ± " in text and "| 3 | 7.8 / 7.8 pt | treatment better | holds |" in text


def test_sweep_table_counts_report_runs_at_the_bias_of_their_world():
    rows = []
    for bias, gain in ((np.nan, 0.10), (0.0, 0.02), (0.8, 0.20)):
        for seed in range(2):
            for exp, acc in (("attention", 0.5), ("attention-pose", 0.5 + gain + 0.01 * seed)):
                rows.append({"experiment": exp, "dataset": "puppet", "split": 1, "seed": seed,
                             "context_bias": bias, "world_context_bias": 0.25 if np.isnan(bias) else bias,
                             "test_video_acc": acc})
    table = tables.sweep_table(pd.DataFrame(rows))
    assert list(table["context_bias"]) == [0.0, 0.25, 0.8]
    assert set(table["comparison"]) == {"attention-pose − attention"}
    assert np.allclose(table["delta_mean"], [0.025, 0.105, 0.205])
    # a run whose world is unknown stays out of the sweep
    unknown = pd.DataFrame(rows).assign(world_context_bias=np.nan)
    assert list(tables.sweep_table(unknown)["context_bias"]) == [0.0, 0.8]


def test_sweep_slopes_fit_the_per_seed_deltas_on_the_bias_and_pair_the_interaction():
    # Δ = 0.05 + 0.25 b, seed 1 one point above seed 0 at every b; the report runs sit at 0.25
    rows = []
    for bias in (np.nan, 0.0, 0.5, 0.8):
        b = 0.25 if np.isnan(bias) else bias
        for seed in range(3):
            for exp, acc in (("c3d", 0.4), ("c3d-pose", 0.4 + 0.05 + 0.25 * b + 0.01 * seed)):
                rows.append({"experiment": exp, "dataset": "puppet", "split": 1, "seed": seed,
                             "context_bias": bias, "world_context_bias": b, "test_video_acc": acc})
    runs = pd.DataFrame(rows)
    row = tables.sweep_slopes(runs).iloc[0]
    assert row["comparison"] == "c3d-pose − c3d" and row["biases"] == "0 0.25 0.5 0.8"
    assert row["n_deltas"] == 12 and row["slope"] == pytest.approx(0.25)
    x = np.repeat([0.0, 0.25, 0.5, 0.8], 3)
    y = 0.05 + 0.25 * x + np.tile([0.0, 0.01, 0.02], 4)
    fit = __import__("scipy").stats.linregress(x, y)  # OLS, t over n - 2 dof
    t10 = __import__("scipy").stats.t.ppf(0.975, 10)
    assert row["slope_ci95"] == pytest.approx(t10 * fit.stderr) and row["intercept"] == pytest.approx(fit.intercept)
    # Δ(0.8) − Δ(0) paired by seed: the seed offsets cancel, so the interval is 0 wide
    assert row["interaction_mean"] == pytest.approx(0.2) and row["interaction_ci95"] == pytest.approx(0, abs=1e-12)
    assert (row["low_bias"], row["high_bias"], row["interaction_pairs"]) == (0.0, 0.8, 3)
    line = tables.sweep_markdown(runs)
    assert "c3d-pose − c3d (b = 0, 0.25, 0.5, 0.8): slope of Δ on b 25.0 ± " in line
    assert "Δ(0.8) − Δ(0) = 20.0 ± 0.0 pt (paired by seed, 3 seeds)" in line
    assert "b = 0: decided (interval one side)" in line
    assert tables.sweep_slopes(runs[runs["context_bias"].isna()]).empty  # no sweep runs: no fit
    assert tables.report_markdown(runs).endswith(line)


def test_ols_slope_needs_two_biases_and_three_points_for_an_interval():
    assert np.isnan(stats.ols_slope([0.5, 0.5, 0.5], [1, 2, 3])[0])
    slope, half = stats.ols_slope([0, 1], [0, 2])
    assert slope == pytest.approx(2) and np.isnan(half)


def test_figures_refuses_a_folder_or_preset_that_matches_nothing(tmp_path, capsys):
    write_pair(tmp_path / "runs", [0.5, 0.4], [0.6, 0.5])
    results, figures = tmp_path / "results", tmp_path / "figures"
    results.mkdir()
    (results / "runs.csv").write_text("kept\n")
    for args in (["figures", str(tmp_path / "empty")], ["figures", str(tmp_path / "runs"), "--preset", "cpux"]):
        (tmp_path / "empty").mkdir(exist_ok=True)
        assert main(args + ["--results", str(results), "--out", str(figures)]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "no finished runs" in err and "*/*/summary.json" in err
    assert "preset 'cpux'" in err and "found runs of preset(s) ['smoke']" in err
    assert (results / "runs.csv").read_text() == "kept\n" and not figures.exists()


@pytest.mark.parametrize("name, content, problem", [
    ("metrics.csv", "", "malformed CSV"),
    ("metrics.csv", "epoch,test_video_acc\n1,0.5\n", "1 epoch rows, but summary.json says 2"),
    ("metrics.csv", "epoch,loss\n1,0.5\n2,0.4\n", "missing column(s) ['test_video_acc']"),
    ("summary.json", "", "corrupt JSON"),
    ("summary.json", '{"complete": true, "experiment": "c3d"}', "missing key(s) ['dataset'"),
    ("config.json", "[1, 2]", "expected a JSON object"),
])
def test_a_malformed_record_is_an_error_naming_it_before_anything_is_written(tmp_path, capsys, name,
                                                                              content, problem):
    write_pair(tmp_path / "runs", [0.5, 0.4], [0.6, 0.5])
    broken = tmp_path / "runs" / "c3d-pose" / "puppet-smoke-split1-seed1" / name
    broken.write_text(content)
    results, figures = tmp_path / "results", tmp_path / "figures"
    results.mkdir()
    (results / "report.md").write_text("old report\n")
    before = _snapshot(results)
    assert main(["figures", str(tmp_path / "runs"), "--results", str(results), "--out", str(figures)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"actionpose: error: {broken}: ") and problem in err and "\n" not in err
    assert _snapshot(results) == before and not figures.exists()


def test_the_results_set_is_replaced_as_one_unit(tmp_path, monkeypatch):
    from actionpose.report import publish

    write_pair(tmp_path / "runs", [0.5, 0.4], [0.6, 0.5])
    results, figures = tmp_path / "results", tmp_path / "figures"
    written = report.write_report(tmp_path / "runs", results, figures)
    assert {p.name for p in written} >= {"runs.csv", "report.md", "c3d_pose.png", "c3d_pose.svg"}
    (results / "bench.json").write_text("{}")  # not part of the set: kept
    before = _snapshot(results, figures)

    def fail_after_one_figure(records, out_dir):
        (Path(out_dir) / "c3d_pose.png").write_bytes(b"half")
        raise RuntimeError("killed while drawing")

    monkeypatch.setattr(publish, "render", fail_after_one_figure)
    write_run(tmp_path / "runs", "c3d", 0.9, seed=7)
    with pytest.raises(RuntimeError):
        report.write_report(tmp_path / "runs", results, figures)
    assert _snapshot(results, figures) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figures", "results", "runs"]  # no temp left


def test_a_figures_folder_holding_other_files_is_refused(tmp_path):
    write_pair(tmp_path / "runs", [0.5, 0.4], [0.6, 0.5])
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match=r"holds other files than figures \(notes.txt\)"):
        report.write_report(tmp_path / "runs", tmp_path / "results", tmp_path / "figures")
    assert not (tmp_path / "results").exists()


def test_sub_folders_of_figures_belong_to_other_commands_and_are_carried_over(tmp_path):
    write_pair(tmp_path / "runs", [0.5, 0.4], [0.6, 0.5])
    figures = tmp_path / "figures"
    (figures / "use").mkdir(parents=True)
    (figures / "use" / "predict_frame.png").write_bytes(b"frame")
    (figures / "stale.png").write_bytes(b"old report figure")
    report.write_report(tmp_path / "runs", tmp_path / "results", figures)
    assert (figures / "use" / "predict_frame.png").read_bytes() == b"frame"
    assert not (figures / "stale.png").exists() and (figures / "c3d_pose.png").is_file()


def test_records_collect_copies_finished_runs_and_refuses_to_overwrite_others(tmp_path, capsys):
    runs, records = tmp_path / "runs", tmp_path / "records"
    write_pair(runs, [0.5, 0.4], [0.6, 0.5])
    (runs / "c3d" / "puppet-smoke-split1-seed0" / "last.pt").write_bytes(b"weights")
    assert main(["records", "collect", str(runs), "--to", str(records)]) == 0  # smoke: not unasked
    assert "0 run(s) copied" in capsys.readouterr().err and not records.exists()
    assert main(["records", "collect", str(runs), "--to", str(records), "--preset", "smoke"]) == 0
    record = records / "c3d" / "puppet" / "puppet-smoke-split1-seed0"
    assert sorted(p.name for p in record.iterdir()) == ["config.json", "metrics.csv", "summary.json"]
    from_runs = tables.compare_all(report.load_runs(runs))
    from_records = tables.compare_all(report.load_runs(records))
    pd.testing.assert_frame_equal(from_runs, from_records)
    assert main(["records", "collect", str(runs), "--to", str(records), "--preset", "smoke"]) == 0
    # same: nothing to do
    assert "0 run(s) copied" in capsys.readouterr().err
    (runs / "c3d" / "puppet-smoke-split1-seed0" / "metrics.csv").write_text(
        (record / "metrics.csv").read_text().replace("1.5", "2.5"))
    before = _snapshot(records)
    assert main(["records", "collect", str(runs), "--to", str(records), "--preset", "smoke"]) == 2
    assert "pass --replace" in capsys.readouterr().err and _snapshot(records) == before
    assert main(["records", "collect", str(runs), "--to", str(records), "--replace", "--preset", "smoke"]) == 0
    assert "2.5" in (record / "metrics.csv").read_text()
    broken = runs / "c3d-pose" / "puppet-smoke-split1-seed1" / "predictions.csv"
    broken.write_text("video,label\n")
    assert main(["records", "collect", str(runs), "--to", str(records / "new"), "--preset", "smoke"]) == 2
    assert f"{broken}: missing column(s) ['prediction']" in capsys.readouterr().err
    assert not (records / "new").exists()


def test_committed_records_regenerate_results_byte_for_byte(tmp_path):
    records = RESULTS / "records"
    if not records.is_dir():
        pytest.skip("no committed records")
    results = tmp_path / "results"
    shutil.copytree(records, results / "records")
    assert main(["figures", "--results", str(results), "--out", str(tmp_path / "figures")]) == 0
    from actionpose.report.publish import OPTIONAL_TABLES, STUDY_TABLES, TABLES

    made = sorted(p.name for p in results.iterdir() if p.is_file())
    assert set(TABLES) <= set(made)
    # every table the records make is committed as made, and no committed table is stale
    assert made == sorted(n for n in TABLES + OPTIONAL_TABLES + STUDY_TABLES if (RESULTS / n).is_file())
    for name in made:
        assert filecmp.cmp(results / name, RESULTS / name, shallow=False), name
    for figure in sorted((tmp_path / "figures").iterdir()):
        assert filecmp.cmp(figure, REPO_ROOT / "figures" / figure.name, shallow=False), figure.name


def test_the_report_reads_records_and_never_imports_training_or_the_generator():
    import ast

    for path in sorted((REPO_ROOT / "actionpose" / "report").glob("*.py")):
        tree = ast.parse(path.read_text())
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
        bad = [n for n in names if n.startswith(("actionpose.train", "actionpose.models", "actionpose.data"))]
        assert not bad, f"{path.name} imports {bad}"


def test_backfilled_records_are_rebuilt_exactly_from_the_committed_tables(tmp_path):
    from actionpose.train.backfill import SOURCE, backfill

    records = RESULTS / "records"
    if not records.is_dir():
        pytest.skip("no committed records")
    for name in ("runs.csv", "curves.csv"):
        shutil.copy(RESULTS / name, tmp_path / name)
    written = {f.relative_to(tmp_path / "records") for f in backfill(tmp_path)}
    backfilled = {p.parent.relative_to(records) for p in records.rglob("summary.json")
                  if SOURCE in p.read_text()}
    assert len(written) == len(pd.read_csv(RESULTS / "runs.csv"))
    assert backfilled <= written
    # rows of runs trained since the backfill have full records of their own, not rebuilt ones
    assert all((records / rel / "predictions.csv").is_file() for rel in written - backfilled)
    for rel in backfilled:
        for name in ("metrics.csv", "summary.json"):
            assert filecmp.cmp(tmp_path / "records" / rel / name, records / rel / name,
                               shallow=False), records / rel / name


def test_compare_settings_pairs_the_same_runs_across_two_folders(tmp_path):
    from actionpose.report import compare_settings

    write_pair(tmp_path / "fp32", [0.50, 0.40, 0.60], [0.70, 0.60, 0.80])
    write_pair(tmp_path / "bf16", [0.45, 0.35], [0.70, 0.65])  # seed 2 not trained: left out
    table = compare_settings(tmp_path / "fp32", tmp_path / "bf16").set_index("experiment")
    assert table.loc["c3d", "n_pairs"] == 2 and table.loc["c3d", "delta"] == pytest.approx(-0.05)
    assert table.loc["c3d", "delta_ci95"] == pytest.approx(0.0, abs=1e-9)
    assert table.loc["c3d-pose", "deltas"] == "+0.0 +5.0"
