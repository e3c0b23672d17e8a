"""actionpose fuse: late fusion of two runs; tuned weights never see the test split."""
import json

import numpy as np
import pytest

from actionpose import cli
from actionpose.errors import ConfigError, DataError
from actionpose.fuse import fuse_runs, read_predictions, tune_weights

CLASSES = ["clap", "jump", "run"]


def _write(path, videos, labels, scores, classes=CLASSES):
    lines = ["video,label,prediction," + ",".join(f"score_{c}" for c in classes)]
    for v, l, s in zip(videos, labels, scores):
        lines.append(f"{v},{classes[l]},{classes[int(np.argmax(s))]}," + ",".join(f"{x:.6f}" for x in s))
    path.write_text("\n".join(lines) + "\n")


def _run(folder, test, val=None, complete=True):
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps({"complete": complete}))
    _write(folder / "predictions.csv", *test)
    if val is not None:
        _write(folder / "val_predictions.csv", *val)
    return folder


def _one_hot_ish(labels, right, rng):
    """Scores that are right (peak at the label) where ``right`` is True, else peak elsewhere."""
    s = rng.uniform(0.0, 0.2, (len(labels), 3))
    for i, (l, ok) in enumerate(zip(labels, right)):
        s[i, l if ok else (l + 1) % 3] += 0.7
    return s / s.sum(1, keepdims=True)


@pytest.fixture
def pair(tmp_path):
    rng = np.random.default_rng(0)
    test_v, val_v = [f"t{i}" for i in range(12)], [f"v{i}" for i in range(9)]
    test_l, val_l = [i % 3 for i in range(12)], [i % 3 for i in range(9)]
    # on validation, A is always right and B always wrong: tuning must give A all the weight
    val_a = (val_v, val_l, _one_hot_ish(val_l, [True] * 9, rng))
    val_b = (val_v, val_l, _one_hot_ish(val_l, [False] * 9, rng))
    test_a = (test_v, test_l, _one_hot_ish(test_l, [i % 2 == 0 for i in range(12)], rng))
    test_b = (test_v, test_l, _one_hot_ish(test_l, [i % 2 == 1 for i in range(12)], rng))
    return (_run(tmp_path / "a", test_a, val_a), _run(tmp_path / "b", test_b, val_b),
            test_a, test_b)


def test_equal_weights_fuse_the_scores(pair):
    a, b, test_a, test_b = pair
    result = fuse_runs(a, b)
    assert result["summary"]["weights"] == [0.5, 0.5]
    assert np.allclose(result["scores"], 0.5 * read_predictions(a / "predictions.csv").scores
                       + 0.5 * read_predictions(b / "predictions.csv").scores)
    s = result["summary"]
    assert s["accuracy_a"] == pytest.approx(0.5) and s["accuracy_b"] == pytest.approx(0.5)


def test_given_weights(pair):
    a, b, *_ = pair
    s = fuse_runs(a, b, weights="3,1")["summary"]
    assert s["weights"] == [0.75, 0.25] and s["weights_from"] == "given"


def test_tuned_weights_never_see_the_test_split(pair, tmp_path):
    a, b, test_a, test_b = pair
    tuned = fuse_runs(a, b, weights="tuned")["summary"]
    # A is right on validation, B wrong: A gets the larger weight (the smallest one that wins:
    # ties go to the weights nearest equal)
    assert tuned["weights"][0] > 0.5 and tuned["weights_from"] == "tuned on validation"
    # a test split on which B is right everywhere and A wrong everywhere (best test weights: 0, 1)
    # leaves the tuned weights exactly as they were: the test predictions cannot move them
    rng = np.random.default_rng(1)
    v, l = test_a[0], test_a[1]
    _write(a / "predictions.csv", v, l, _one_hot_ish(l, [False] * len(v), rng))
    _write(b / "predictions.csv", v, l, _one_hot_ish(l, [True] * len(v), rng))
    again = fuse_runs(a, b, weights="tuned")["summary"]
    assert again["weights"] == tuned["weights"]
    assert again["accuracy_fused"] == 0.0  # what the validation-chosen weights give on this test
    # and tune_weights takes validation predictions only
    assert tune_weights(read_predictions(a / "val_predictions.csv"),
                        read_predictions(b / "val_predictions.csv")) == tuple(tuned["weights"])


def test_tuning_without_validation_predictions_is_refused(pair):
    a, b, *_ = pair
    (b / "val_predictions.csv").unlink()
    with pytest.raises(DataError, match=r"b/val_predictions.csv: missing: tuned weights need .*validation split"):
        fuse_runs(a, b, weights="tuned")
    assert fuse_runs(a, b)["summary"]["weights"] == [0.5, 0.5]  # equal weights need none


def test_validation_overlapping_test_is_refused(pair):
    a, b, test_a, _ = pair
    rng = np.random.default_rng(2)
    for run in (a, b):
        _write(run / "val_predictions.csv", test_a[0][:3], test_a[1][:3],
               _one_hot_ish(test_a[1][:3], [True] * 3, rng))
    with pytest.raises(ConfigError, match="share videos with the test split"):
        fuse_runs(a, b, weights="tuned")


def test_videos_are_aligned_by_name_and_classes_by_name(pair, tmp_path):
    a, _, test_a, test_b = pair
    order = list(range(len(test_b[0])))[::-1]
    perm = [2, 0, 1]
    shuffled = ([test_b[0][i] for i in order], [perm.index(test_b[1][i]) for i in order],
                np.array([test_b[2][i][perm] for i in order]))
    c = tmp_path / "c"
    c.mkdir()
    _write(c / "predictions.csv", *shuffled, classes=[CLASSES[k] for k in perm])
    assert np.allclose(fuse_runs(a, c)["scores"], fuse_runs(a, tmp_path / "b")["scores"], atol=1e-6)


def test_mismatched_runs_are_refused(pair, tmp_path):
    a, _, test_a, test_b = pair
    d = tmp_path / "d"
    d.mkdir()
    _write(d / "predictions.csv", test_b[0][:-1] + ["other"], test_b[1], test_b[2])
    with pytest.raises(ConfigError, match=r"a/predictions.csv and .*d/predictions.csv have different videos"):
        fuse_runs(a, d)
    _write(d / "predictions.csv", test_b[0], test_b[1], test_b[2], classes=["clap", "jump", "swim"])
    with pytest.raises(ConfigError, match="different classes .*only in the first: run; only in the second: swim"):
        fuse_runs(a, d)
    _write(d / "predictions.csv", test_b[0], [(x + 1) % 3 for x in test_b[1]], test_b[2])
    with pytest.raises(ConfigError, match="disagree on the label of video 't0'"):
        fuse_runs(a, d)


@pytest.mark.parametrize("content, match", [
    ("", "empty"), ("a,b\n", "expected columns"), ("video,label,prediction\nx,clap,clap\n", "no score_"),
    ("video,label,prediction,score_clap\nx,jump,clap,1\n", "label 'jump'"),
    ("video,label,prediction,score_clap\nx,clap,clap,abc\n", "line 2: a score is not a number"),
    ("video,label,prediction,score_clap\nx,clap,clap,nan\n", "not finite"),
    ("video,label,prediction,score_clap\nx,clap,clap,1\nx,clap,clap,1\n", "listed twice"),
    ("video,label,prediction,score_clap\nx,clap,clap\n", "3 fields"),
])
def test_bad_predictions_files_name_the_file(tmp_path, content, match):
    path = tmp_path / "predictions.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=match) as info:
        read_predictions(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_unfinished_run_is_refused(pair, tmp_path):
    a, _, test_a, _ = pair
    e = _run(tmp_path / "e", test_a, complete=False)
    with pytest.raises(DataError, match="has not finished"):
        fuse_runs(a, e)


def test_cli_writes_fused_predictions_and_summary(pair, tmp_path, capsys):
    a, b, *_ = pair
    out = tmp_path / "out" / "fused.csv"
    out.parent.mkdir()
    assert cli.main(["fuse", str(a), str(b), "--weights", "tuned", "--out", str(out)]) == 0
    fused = read_predictions(out)
    assert fused.videos == tuple(f"t{i}" for i in range(12))
    summary = json.loads((out.parent / "fused.csv.json").read_text())
    assert summary["weights"][0] > 0.5 and summary["accuracy_fused"] == fused.accuracy()
    assert f"accuracy {100 * fused.accuracy():.1f}% (A 50.0%, B 50.0%)" in capsys.readouterr().out
    assert sorted(p.name for p in out.parent.iterdir()) == ["fused.csv", "fused.csv.json"]


@pytest.mark.parametrize("argv, match", [
    (["--weights", "1,2,3"], "--weights must be"), (["--weights=-1,2"], ">= 0"),
    (["--weights", "0,0"], "not both 0"),
])
def test_cli_errors_are_one_line_exit_2(pair, tmp_path, capsys, argv, match):
    a, b, *_ = pair
    assert cli.main(["fuse", str(a), str(b), "--out", str(tmp_path / "f.csv"), *argv]) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1 and not (tmp_path / "f.csv").exists()


def test_cli_missing_run(tmp_path, capsys):
    assert cli.main(["fuse", str(tmp_path / "nope"), str(tmp_path / "nope2"),
                     "--out", str(tmp_path / "f.csv")]) == 2
    assert "nope: not a run folder" in capsys.readouterr().err


def test_fuse_two_real_smoke_runs(tmp_path, capsys):
    """Two runs trained by the engine (c3d and c3d-pose, smoke preset) fuse as they are; with a
    validation split (val_fraction) their weights are tuned on it."""
    from actionpose.data import synthetic

    data = tmp_path / "puppet-smoke"
    synthetic.generate(data, synthetic.synth_config("smoke"), workers=1)
    runs = tmp_path / "runs"
    folders = []
    for experiment in ("c3d", "c3d-pose"):
        assert cli.main(["train", experiment, "--preset", "smoke", "--data", str(data), "--out",
                         str(runs), "--quiet"]) == 0
        folders.append(next((runs / experiment).iterdir()))
    capsys.readouterr()
    out = tmp_path / "fused.csv"
    assert cli.main(["fuse", *map(str, folders), "--out", str(out)]) == 0
    a, b = (read_predictions(f / "predictions.csv") for f in folders)
    fused = read_predictions(out)
    assert fused.videos == a.videos and np.allclose(fused.scores, (a.scores + b.scores) / 2, atol=2e-6)
    summary = json.loads((tmp_path / "fused.csv.json").read_text())
    assert summary["accuracy_a"] == a.accuracy() and summary["accuracy_fused"] == fused.accuracy()
    # a run trained without a validation split cannot be tuned: one line, exit 2, nothing written
    assert cli.main(["fuse", *map(str, folders), "--weights", "tuned", "--out", str(tmp_path / "t.csv")]) == 2
    err = capsys.readouterr().err
    assert "val_predictions.csv: missing: tuned weights need" in err and err.count("\n") == 1
    assert not (tmp_path / "t.csv").exists()

    val_runs = tmp_path / "val_runs"
    for experiment in ("c3d", "c3d-pose"):
        assert cli.main(["train", experiment, "--preset", "smoke", "--data", str(data), "--out",
                         str(val_runs), "--quiet", "val_fraction=0.3"]) == 0
    folders = [next((val_runs / e).iterdir()) for e in ("c3d", "c3d-pose")]
    assert cli.main(["fuse", *map(str, folders), "--weights", "tuned", "--out", str(out)]) == 0
    summary = json.loads((tmp_path / "fused.csv.json").read_text())
    val_a, val_b = (read_predictions(f / "val_predictions.csv") for f in folders)
    assert summary["weights_from"] == "tuned on validation"
    assert tuple(summary["weights"]) == tune_weights(val_a, val_b)
    assert not set(val_a.videos) & set(read_predictions(folders[0] / "predictions.csv").videos)
