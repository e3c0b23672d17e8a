"""The study notebooks' one call per comparison (actionpose.notebook.pair_runs): the committed
records first, training (faked here) only where they do not hold the pair."""
from __future__ import annotations

import pytest

import actionpose.train.runs as train_runs
from actionpose import report
from actionpose.notebook import pair_runs
from actionpose.pose.quality import PoseQuality
from report_fixtures import write_degraded, write_run

BASE, TREAT = [0.50, 0.40, 0.60, 0.45], [0.55, 0.46, 0.64, 0.50]


@pytest.fixture
def records(tmp_path):
    """Records of c3d and c3d-pose at the cpu preset, 4 seeds, beside runs that must be left out:
    a sweep point, degraded pose, another preset, another dataset and a baseline seed without its
    treatment."""
    root = tmp_path / "records"
    for seed, (a, b) in enumerate(zip(BASE, TREAT)):
        write_run(root, "c3d", a, seed=seed, preset="cpu", records=True)
        write_run(root, "c3d-pose", b, seed=seed, preset="cpu", records=True)
    write_run(root, "c3d", 0.9, seed=0, preset="cpu", context_bias=0.8, records=True)
    write_run(root, "c3d-pose", 0.1, seed=0, preset="cpu", context_bias=0.8, records=True)
    for seed in range(2):  # the same split and seed as clean runs
        write_degraded(root, "c3d-pose", 0.1, PoseQuality(miss_rate=0.5), seed=seed, preset="cpu",
                       records=True)
    write_run(root, "c3d", 0.9, seed=0, preset="smoke", records=True)
    write_run(root, "c3d", 0.9, seed=0, preset="cpu", dataset="actors", records=True)
    write_run(root, "c3d", 0.9, seed=7, preset="cpu", records=True)
    return root


@pytest.fixture
def trained(monkeypatch):
    """ensure_run replaced by a fake that writes a finished run folder (accuracy 0.3 + seed / 10)
    and lists the configs it was asked for."""
    calls = []

    def fake(cfg, out, progress=False):
        calls.append((cfg.experiment, cfg.preset, cfg.seed))
        if not (train_runs.run_dir(cfg, out) / "summary.json").is_file():
            write_run(out, cfg.experiment, 0.3 + cfg.seed / 10, seed=cfg.seed, preset=cfg.preset,
                      dataset=cfg.dataset)
        return {}

    monkeypatch.setattr(train_runs, "ensure_run", fake)
    return calls


def test_records_that_hold_the_pair_are_read_with_every_seed_and_nothing_is_trained(tmp_path, records, trained):
    pair = pair_runs("c3d", "c3d-pose", "puppet", "cpu", records=records, runs=tmp_path / "runs")
    assert trained == [] and pair.source == "records"
    assert pair.seeds() == [0, 1, 2, 3]  # every paired seed the records hold; seed 7 is unpaired
    assert sorted(pair.runs["experiment"]) == ["c3d"] * 4 + ["c3d-pose"] * 4
    assert pair.runs["context_bias"].isna().all() and set(pair.runs["preset"]) == {"cpu"}
    assert len(pair.curves) == 8 * 2  # two epochs per run, of these runs only
    (paired,) = pair.paired
    assert paired.table["delta"].to_numpy() == pytest.approx([0.05, 0.06, 0.04, 0.05])
    expected = report.compare(pair.runs, "c3d", "c3d-pose", dataset="puppet", preset="cpu")
    assert paired.difference == expected.difference and paired.claim == expected.claim
    row = pair.differences().iloc[0]
    assert row["n_pairs"] == 4 and row["deltas (pt)"] == "+5.0 +6.0 +4.0 +5.0"
    assert pair.summary().loc[("c3d", "puppet"), ("test_video_acc", "count")] == 4
    assert "from the committed records" in str(pair)


def test_seeds_asked_for_are_read_from_the_records_when_they_hold_them(tmp_path, records, trained):
    pair = pair_runs("c3d", "c3d-pose", "puppet", "cpu", seeds=[1, 3], records=records, runs=tmp_path / "runs")
    assert trained == [] and pair.seeds() == [1, 3]


def test_a_preset_or_seeds_the_records_lack_are_trained_into_the_runs_folder(tmp_path, records, trained):
    runs = tmp_path / "runs"
    pair = pair_runs("c3d", "c3d-pose", "puppet", "smoke", records=records, runs=runs)
    assert pair.source == "runs" and pair.folder == runs
    assert trained == [("c3d", "smoke", 0), ("c3d-pose", "smoke", 0)]  # the preset's default: 1 seed
    assert pair.paired[0].difference["n_pairs"] == 1
    trained.clear()
    pair = pair_runs("c3d", "c3d-pose", "puppet", "cpu", seeds=6, records=records, runs=runs)
    assert pair.source == "runs" and pair.seeds() == list(range(6)) and len(trained) == 12


def test_several_treatments_share_the_baseline(tmp_path, records, trained):
    for seed in (0, 1):
        write_run(records, "c3d-mask-channel", 0.7, seed=seed, preset="cpu", records=True)
    pair = pair_runs("c3d", ["c3d-pose", "c3d-mask-channel"], "puppet", "cpu", records=records,
                     runs=tmp_path / "runs")
    assert trained == [] and [p.difference["n_pairs"] for p in pair.paired] == [4, 2]
    assert list(pair.differences()["treatment"]) == ["c3d-pose", "c3d-mask-channel"]
    assert pair.seeds("c3d") == [0, 1, 2, 3] and pair.seeds("c3d-mask-channel") == [0, 1]


def _predictions(folder, right: list[bool]):
    rows = [f"v{i},jump,{'jump' if ok else 'sit'}\n" for i, ok in enumerate(right)]
    (folder / "predictions.csv").write_text("video,label,prediction\n" + "".join(rows))


def test_predictions_views_use_the_seeds_that_kept_them_and_say_so_when_none_did(tmp_path, records, trained, capsys):
    pair = pair_runs("c3d", "c3d-pose", "puppet", "cpu", records=records, runs=tmp_path / "runs")
    assert pair.per_class() is None and pair.wins() is None and pair.show_wins() == []
    out = capsys.readouterr().out
    assert "no seed of c3d and c3d-pose on puppet kept its predictions.csv" in out
    assert "Traceback" not in out
    run = "puppet-cpu-split1-seed2"
    _predictions(records / "c3d" / "puppet" / run, [True, False, False])
    _predictions(records / "c3d-pose" / "puppet" / run, [True, True, False])
    _predictions(records / "c3d-pose" / "puppet" / "puppet-cpu-split1-seed0", [True, True, True])
    table = pair.per_class()
    assert table.loc["jump", "c3d"] == pytest.approx(1 / 3) and table.loc["jump", "delta"] == pytest.approx(1 / 3)
    assert "pooled over seed(s) [2]" in capsys.readouterr().out
    wins = pair.wins()
    assert list(wins["video"]) == ["v1"]
    assert pair.wins(seed=0) is None and "kept for seeds [2]" in capsys.readouterr().out


def test_weights_of_a_record_come_only_from_a_local_run_that_ends_where_it_does(tmp_path, records, trained, capsys):
    runs = tmp_path / "runs"
    pair = pair_runs("c3d", "c3d-pose", "puppet", "cpu", records=records, runs=runs)
    assert pair.weights("c3d") is None and "keeps no weights" in capsys.readouterr().out
    other = write_run(runs, "c3d", 0.99, seed=0, preset="cpu")
    (other / "last.pt").write_bytes(b"")
    assert pair.weights("c3d") is None, "a local run that ends elsewhere is another run"
    same = write_run(runs, "c3d-pose", TREAT[1], seed=1, preset="cpu")
    (same / "last.pt").write_bytes(b"")
    assert pair.weights("c3d-pose", seed=1) == same
    assert pair.weights("c3d-pose") is None  # seed 0: no local run
