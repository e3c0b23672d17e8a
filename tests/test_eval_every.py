"""``eval_every``: the test (and validation) split evaluated every k epochs and at the final one,
without changing training or the final metrics; every reader of metrics.csv takes the empty
test cells of the skipped epochs."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from actionpose.errors import ConfigError, DataError
from actionpose.train import engine
from actionpose.train.experiments import make_config, parse_overrides
from actionpose.train.runs import METRIC_COLUMNS, VAL_COLUMNS, run_dir

EPOCHS = 5
TRAIN_COLUMNS = ["epoch", "train_loss", "train_acc", "lr", "skipped_steps"]
TEST_COLUMNS = [c for c in METRIC_COLUMNS if c.startswith("test_")]


@pytest.fixture(scope="module")
def smoke_data(tmp_path_factory):
    from actionpose.data import synthetic

    root = tmp_path_factory.mktemp("data") / "puppet-smoke"
    synthetic.generate(root, synthetic.synth_config("smoke"), workers=1)
    return root


def _fit(root, out, every: int, **overrides):
    torch.set_num_threads(1)
    cfg = make_config("c3d", "smoke", epochs=EPOCHS, seed=0, eval_every=every, deterministic=True,
                      amp="off", **{"workers": 0, **overrides})
    summary = engine.fit(cfg, out, data_root=root, progress=False, cache_dir=out / "cache")
    return cfg, summary, run_dir(cfg, out)


@pytest.fixture(scope="module")
def pair(smoke_data, tmp_path_factory):
    """c3d at the smoke preset, 5 epochs, with a validation split: eval_every 1 and 3."""
    runs = {}
    for every in (1, 3):
        out = tmp_path_factory.mktemp(f"every{every}")
        runs[every] = (out, *_fit(smoke_data, out, every, val_fraction=0.3))
    return runs


def test_which_epochs_evaluate():
    assert [e + 1 for e in range(5) if engine.evaluates(e, 5, 1)] == [1, 2, 3, 4, 5]
    assert [e + 1 for e in range(5) if engine.evaluates(e, 5, 3)] == [3, 5]
    assert [e + 1 for e in range(6) if engine.evaluates(e, 6, 3)] == [3, 6]
    assert [e + 1 for e in range(4) if engine.evaluates(e, 4, 9)] == [4]  # the final epoch always


def test_eval_every_is_an_integer_of_at_least_one():
    assert make_config("c3d", "smoke").eval_every == 1 and make_config("c3d", "cpu").eval_every == 1
    assert parse_overrides(["eval_every=4"]) == {"eval_every": 4}
    for bad in (0, -2):
        with pytest.raises(ConfigError, match="eval_every"):
            make_config("c3d", "smoke", eval_every=bad)
    with pytest.raises(ConfigError, match="eval_every"):
        parse_overrides(["eval_every=2.5"])


def test_training_and_final_metrics_do_not_depend_on_eval_every(pair):
    (_, _, every1, folder1), (_, _, every3, folder3) = pair[1], pair[3]
    m1, m3 = pd.read_csv(folder1 / "metrics.csv"), pd.read_csv(folder3 / "metrics.csv")
    assert list(m3.columns) == METRIC_COLUMNS + VAL_COLUMNS and len(m3) == EPOCHS
    # training: the same losses, accuracies and learning rates in every epoch, exactly
    pd.testing.assert_frame_equal(m1[TRAIN_COLUMNS], m3[TRAIN_COLUMNS], check_exact=True)
    assert m1["train_loss"].nunique() == EPOCHS  # it did train: the losses move
    assert m1[["test_video_acc", "val_video_acc"]].notna().all().all()  # every epoch evaluated
    # evaluated at epochs 3 and 5 only, with the numbers of the run that evaluated every epoch
    evaluated = m3["test_video_acc"].notna()
    assert list(m3.loc[evaluated, "epoch"]) == [3, 5]
    for columns in (TEST_COLUMNS, VAL_COLUMNS):
        assert m3.loc[~evaluated, columns].isna().all().all()
        pd.testing.assert_frame_equal(m1.loc[evaluated, columns], m3.loc[evaluated, columns],
                                      check_exact=True)
    assert every1["final"] == every3["final"]
    for name in ("predictions.csv", "val_predictions.csv", "confusion.csv"):
        assert (folder1 / name).read_bytes() == (folder3 / name).read_bytes(), name
    w1 = torch.load(folder1 / "last.pt", weights_only=True)["model"]
    w3 = torch.load(folder3 / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(w1[k], w3[k]) for k in w1)


def test_with_workers_and_a_resume_too(smoke_data, tmp_path):
    """With DataLoader workers the main process's RNG drives dropout alone (evaluation must not
    draw from it); a run stopped at a skipped epoch and resumed trains the same numbers too."""
    def run(every: int, out, stop: int | None = None):
        cfg = make_config("c3d", "smoke", epochs=EPOCHS, seed=0, eval_every=every,
                          deterministic=True, amp="off", workers=1)
        torch.set_num_threads(1)
        kw = dict(data_root=smoke_data, progress=False, cache_dir=tmp_path / "cache")
        if stop is not None:
            assert engine.fit(cfg, out, stop_after_epochs=stop, **kw) == {"complete": False, "epoch": stop}
        summary = engine.fit(cfg, out, resume=stop is not None, **kw)
        return summary, pd.read_csv(run_dir(cfg, out) / "metrics.csv")

    every1, m1 = run(1, tmp_path / "every1")
    every3, m3 = run(3, tmp_path / "every3", stop=4)
    pd.testing.assert_frame_equal(m1[TRAIN_COLUMNS], m3[TRAIN_COLUMNS], check_exact=True)
    assert every1["final"] == every3["final"]
    assert list(m3.loc[m3["test_video_acc"].notna(), "epoch"]) == [3, 5]


def test_records_figures_tables_and_backfill_take_the_empty_cells(pair, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from actionpose.report import records
    from actionpose.report.figures import curve_bands
    from actionpose.report.publish import write_report
    from actionpose.train.backfill import backfill

    out3 = pair[3][0]
    loaded = records.load(out3)
    assert loaded.runs["test_video_acc"].iloc[0] == pair[1][2]["final"]["test_video_acc"]
    curves = loaded.curves
    assert curves["test_video_acc"].isna().sum() == 3 and len(curves) == EPOCHS
    fig, ax = plt.subplots()
    curve_bands(ax, curves, "test_video_acc")
    (line,) = ax.get_lines()
    assert list(line.get_xdata()) == [3, 5] and np.isfinite(line.get_ydata()).all()
    plt.close(fig)
    # with a run that evaluated every epoch beside it: only the epochs both evaluated
    mixed = pd.concat([records.load(pair[1][0]).curves, curves], ignore_index=True)
    fig, ax = plt.subplots()
    curve_bands(ax, mixed, "test_video_acc")
    assert list(ax.get_lines()[0].get_xdata()) == [3, 5]
    plt.close(fig)

    results, figures = tmp_path / "results", tmp_path / "figures"
    write_report(out3, results, figures)
    table = pd.read_csv(results / "curves.csv")
    assert table["test_video_acc"].isna().sum() == 3
    written = backfill(results, tmp_path / "records")
    (folder,) = written
    rebuilt = pd.read_csv(folder / "metrics.csv")
    assert list(rebuilt.loc[rebuilt["test_video_acc"].notna(), "epoch"]) == [3, 5]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["final"]["test_video_acc"] == pair[3][2]["final"]["test_video_acc"]
    assert summary["num_test_videos"] == pair[3][2]["num_test_videos"]


def test_a_record_whose_final_epoch_is_not_evaluated_is_refused(pair, tmp_path):
    from actionpose.report import records

    out3, _, _, folder3 = pair[3]
    broken = tmp_path / "c3d" / folder3.name
    broken.mkdir(parents=True)
    for name in ("config.json", "summary.json"):
        (broken / name).write_bytes((folder3 / name).read_bytes())
    metrics = pd.read_csv(folder3 / "metrics.csv")
    metrics.loc[metrics.index[-1], TEST_COLUMNS] = np.nan
    metrics.to_csv(broken / "metrics.csv", index=False)
    with pytest.raises(DataError, match="final epoch"):
        records.read_record(broken)


def test_the_reproduction_check_compares_the_epochs_both_evaluated(pair, tmp_path):
    from actionpose.report.records import collect
    from actionpose.train import reproduction as R

    out1, out3, folder3 = pair[1][0], pair[3][0], pair[3][3]
    recs = tmp_path / "records"
    collect(out1, recs)  # the every-epoch run as the committed record
    table = R.check_against_records([folder3], recs)
    assert list(table["status"]) == ["identical"], table.to_dict("records")
    # a training number that differs is still found
    changed = tmp_path / "changed" / "c3d" / folder3.name
    changed.mkdir(parents=True)
    for p in folder3.iterdir():
        if p.is_file():
            (changed / p.name).write_bytes(p.read_bytes())
    metrics = pd.read_csv(changed / "metrics.csv")
    metrics.loc[1, "train_loss"] += 1e-9
    metrics.to_csv(changed / "metrics.csv", index=False)
    table = R.check_against_records([changed], recs)
    assert list(table["status"]) == ["differs"] and "train_loss" in table["detail"].iloc[0]


def test_the_eval_share_benchmark_runs_at_the_smoke_preset(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--smoke", "--only", "eval_share",
                           "--out", str(out)], cwd=repo, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    rows = json.loads(out.read_text())["rows"]
    shares = [r for r in rows if r["unit"] == "%"]
    assert [r["name"].split(": ")[1].split(" (")[0] for r in shares] == [
        "c3d", "attention", "two-stream", "pose-only"]
    for r in shares:
        train, test, epochs = r["train_epoch_cpu_s"], r["eval_cpu_s"], r["epochs"]
        assert 0 < r["value"] < 100 and r["ratio"] == pytest.approx(test / train, rel=0.05)
        # every-epoch run time over the time with evaluation at epochs k, 2k, ... and the last
        for k in (2, 3, 4):
            evaluated = len({e for e in range(k, epochs + 1, k)} | {epochs})
            assert r[f"speedup_eval_every_{k}"] == pytest.approx(
                epochs * (train + test) / (epochs * train + evaluated * test), rel=0.01)
    (fit,) = [r for r in rows if "eval_every=4 vs 1" in r["name"]]
    assert fit["final_metrics_equal"] and fit["ratio"] == pytest.approx(fit["baseline"] / fit["value"])


def test_workers_do_not_change_the_training_numbers(smoke_data, tmp_path):
    """Items read in the main process (workers=0) restore the global generators, so dropout
    draws the same masks as with a loader worker: the two runs train the same numbers."""
    metrics = {}
    for workers in (0, 1):
        cfg = make_config("c3d", "smoke", epochs=2, seed=0, deterministic=True, amp="off",
                          workers=workers)
        torch.set_num_threads(1)
        out = tmp_path / f"w{workers}"
        engine.fit(cfg, out, data_root=smoke_data, progress=False, cache_dir=tmp_path / "cache")
        metrics[workers] = pd.read_csv(run_dir(cfg, out) / "metrics.csv")
    assert make_config("c3d", "smoke").dropout > 0  # else the test could not fail
    cols = [c for c in metrics[0].columns if c != "seconds"]
    pd.testing.assert_frame_equal(metrics[0][cols], metrics[1][cols], check_exact=True)
