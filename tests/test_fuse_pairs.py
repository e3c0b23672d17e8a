"""The study's fused pairs: two ordinary runs found by config, fused into a run-shaped folder that
the records read as experiment ``<pair>`` and the report pairs with its baseline by seed."""
from __future__ import annotations

import json

import numpy as np
import pytest

from actionpose import cli
from actionpose.errors import ConfigError, DataError
from actionpose.fuse import FUSED_PAIRS, fuse_pair, fuse_runs, pair_configs, read_predictions
from actionpose.models.registry import modalities
from actionpose.report.records import collect, load_runs
from actionpose.report.stats import paired_difference
from actionpose.train.experiments import get_experiment, make_config


def test_every_pair_is_an_rgb_run_and_a_pose_run():
    assert FUSED_PAIRS
    for name, pair in FUSED_PAIRS.items():
        assert name == pair.name == f"{pair.a}+{pair.b}"
        a, b = (make_config(get_experiment(e).name, "smoke") for e in (pair.a, pair.b))
        assert a.pose == "none" and set(modalities(b)) & {"joints", "mask"}


def test_pose_quality_goes_to_the_pose_side_only():
    a, b = pair_configs("c3d+stgcn", "smoke", 2, pose_jitter=0.1, lr=0.01)
    assert (a.experiment, b.experiment) == ("c3d", "stgcn") and a.seed == b.seed == 2
    assert a.pose_jitter == 0.0 and b.pose_jitter == 0.1 and a.lr == b.lr == 0.01
    with pytest.raises(ConfigError, match=r"unknown fused pair 'c3d\+nope' \(choose from c3d\+heatmap-volume"):
        pair_configs("c3d+nope")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """c3d and stgcn at the smoke preset, seeds 0 and 1, on a smoke puppet world."""
    from actionpose.data import synthetic

    tmp = tmp_path_factory.mktemp("pairs")
    data = tmp / "puppet-smoke"
    synthetic.generate(data, synthetic.synth_config("smoke"), workers=1)
    runs = tmp / "runs"
    for experiment in ("c3d", "stgcn"):
        for seed in ("0", "1"):
            assert cli.main(["train", experiment, "--preset", "smoke", "--data", str(data), "--seed", seed,
                             "--out", str(runs), "--quiet"]) == 0
    return data, runs


def test_fused_pair_runs_read_as_an_experiment_and_pair_with_the_baseline(trained, capsys, tmp_path):
    data, runs = trained
    for seed in ("0", "1"):
        assert cli.main(["fuse", "--pair", "c3d+stgcn", "--preset", "smoke", "--seed", seed,
                         "--data", str(data), "--runs", str(runs)]) == 0
    assert "-> " + str(runs / "fused" / "c3d+stgcn") in capsys.readouterr().out
    folder = runs / "fused" / "c3d+stgcn" / "puppet-smoke-smoke-split1-seed0"
    a, b = (runs / e / "puppet-smoke-smoke-split1-seed0" for e in ("c3d", "stgcn"))
    want = fuse_runs(a, b)
    fused = read_predictions(folder / "predictions.csv")
    assert fused.videos == want["videos"] and np.allclose(fused.scores, want["scores"], atol=2e-6)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["experiment"] == "c3d+stgcn" and summary["seed"] == 0 and summary["complete"]
    assert summary["final"]["test_video_acc"] == want["summary"]["accuracy_fused"] == fused.accuracy()
    assert summary["fused"]["weights"] == [0.5, 0.5] and summary["fused"]["run_b"] == str(b)
    seconds = [json.loads((r / "summary.json").read_text())["seconds_total"] for r in (a, b)]
    assert summary["seconds_total"] == pytest.approx(sum(seconds))  # the pair's cost: both runs

    rows = load_runs(runs)
    fused_rows = rows[rows["experiment"] == "c3d+stgcn"].sort_values("seed")
    assert list(fused_rows["seed"]) == [0, 1] and set(fused_rows["dataset"]) == {"puppet-smoke"}
    d = paired_difference(rows, "c3d", "c3d+stgcn", "puppet-smoke")
    base = rows[rows["experiment"] == "c3d"].sort_values("seed")["test_video_acc"].to_numpy()
    assert d["n_pairs"] == 2
    assert d["delta_mean"] == pytest.approx(np.mean(fused_rows["test_video_acc"].to_numpy() - base))
    # and the committed records take them as they take runs
    records = tmp_path / "records"
    collect(runs, records)
    record = records / "c3d+stgcn" / "puppet-smoke" / "puppet-smoke-smoke-split1-seed0"
    assert sorted(p.name for p in record.iterdir()) == ["metrics.csv", "predictions.csv", "summary.json"]
    again = load_runs(records)
    assert list(again[again["experiment"] == "c3d+stgcn"].sort_values("seed")["test_video_acc"]) == \
        list(fused_rows["test_video_acc"])


def test_missing_or_other_runs_are_refused_naming_them(trained, capsys):
    data, runs = trained
    with pytest.raises(DataError, match=r"heatmap-volume/puppet-smoke-smoke-split1-seed0: no finished run "
                                        r"of heatmap-volume \(train it: actionpose train heatmap-volume"):
        fuse_pair("c3d+heatmap-volume", "smoke", 0, runs=runs, dataset=str(data))
    with pytest.raises(ConfigError, match=r"c3d/puppet-smoke-smoke-split1-seed0: trained under a "
                                          r"different config than the pair asks for: lr: "):
        fuse_pair("c3d+stgcn", "smoke", 0, runs=runs, dataset=str(data), lr=0.5)
    assert cli.main(["fuse", "--pair", "c3d+stgcn", "--preset", "smoke", "--data", str(data), "--runs",
                     str(runs), "--seed", "7"]) == 2
    err = capsys.readouterr().err
    assert "no finished run of c3d" in err and err.count("\n") == 1
    assert cli.main(["fuse", "only-one"]) == 2
    assert "fuse takes two run folders, or --pair NAME; got 1" in capsys.readouterr().err


def test_train_flag_trains_the_missing_pose_side_under_the_knob(trained, tmp_path):
    data, runs = trained
    folder = fuse_pair("c3d+stgcn", "smoke", 0, runs=runs, out=tmp_path / "fused", train=True,
                       dataset=str(data), pose_miss_rate=0.5)
    assert folder == tmp_path / "fused" / "c3d+stgcn" / "puppet-smoke-smoke-miss0.5-split1-seed0"
    assert (runs / "stgcn" / "puppet-smoke-smoke-miss0.5-split1-seed0" / "summary.json").is_file()
    assert not (runs / "c3d" / "puppet-smoke-smoke-miss0.5-split1-seed0").exists()  # RGB side: clean
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["config"]["pose_miss_rate"] == 0.5
    assert summary["config"]["runs"]["a"]["pose_miss_rate"] == 0.0


def test_list_shows_the_pairs(capsys):
    assert cli.main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for pair in FUSED_PAIRS.values():
        assert any(line.split()[:1] == [pair.name] and pair.description in line for line in lines)
