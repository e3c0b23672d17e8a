"""Estimated pose on an embedded world (issue 18, item 3): `pose extract` over a JHMDB-format
tree keeps its classes, splits and frames; the ``actors-estimated`` world is built once and
measured against the annotated masks; the study pairs its modes with the no-pose baseline's runs
on the frames' own world and with the same mode on the annotated pose."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from actionpose.data import jhmdb
from actionpose.data.estimated import ESTIMATED, MARKER, frames_dataset, mask_agreement, pose_source
from actionpose.data.roots import resolve_data_root
from actionpose.errors import DataError
from actionpose.extract import estimated as build_estimated
from actionpose.extract import pipeline as P
from actionpose.extract.sources import find_clips

STILL = "tests.fake_estimators:Still"
CLIPS = {"run": ["r0", "r1", "r2"], "jump": ["j0", "j1", "j2"]}
CODES = {"r0": (1, 1, 2), "r1": (1, 2, 1), "r2": (2, 1, 1), "j0": (1, 1, 2), "j1": (2, 2, 1), "j2": (1, 1, 1)}


def _tree(root, frames=4, size=(24, 32)):
    """A JHMDB-format world: frames, annotated masks (a box), official splits, a generation record."""
    rng = np.random.default_rng(0)
    H, W = size
    for cls, videos in CLIPS.items():
        for v in videos:
            mask = np.zeros((H, W, frames), np.uint8)
            mask[4:20, 10:20] = 1
            jhmdb.write_clip(root, cls, v, frames=rng.integers(0, 256, (frames, H, W, 3), dtype=np.uint8), mask=mask)
    jhmdb.write_splits(root, [(v, c, CODES[v]) for c, vs in CLIPS.items() for v in vs])
    (root / "synth_info.json").write_text(json.dumps({"config": {"context_bias": 0.25}}))
    return root


def test_a_jhmdb_tree_is_one_clip_per_frame_folder_with_its_class(tmp_path):
    root = _tree(tmp_path / "world")
    clips, skipped = find_clips(root)
    assert sorted((c.cls, c.video, c.kind) for c in clips) == sorted(
        (c, v, "frames") for c, vs in CLIPS.items() for v in vs)
    assert skipped == []
    (root / jhmdb.FRAMES_DIR / "notes.txt").write_text("x")
    (root / jhmdb.FRAMES_DIR / "run" / "empty").mkdir()
    _, skipped = find_clips(root)
    assert {p.rsplit("/", 1)[1]: r for p, r in skipped} == {"notes.txt": "not a class folder",
                                                            "empty": "not a folder of frames"}


def test_extracting_a_tree_keeps_its_splits_and_frames(tmp_path):
    root = _tree(tmp_path / "world")
    out = tmp_path / "est"
    summary = P.extract(root, out, estimator=STILL, progress=False)
    assert summary["clips"] == 6 and not summary["warnings"]  # no hashed-split warning
    for k in (1, 2, 3):
        assert ({(e.cls, e.video, e.subset) for e in jhmdb.read_split(out, k)}
                == {(e.cls, e.video, e.subset) for e in jhmdb.read_split(root, k)})
    for cls, videos in CLIPS.items():
        for v in videos:  # lossless: a no-pose model sees the same pixels on both trees
            assert np.array_equal(jhmdb.read_frames(jhmdb.frames_dir(out, cls, v)),
                                  jhmdb.read_frames(jhmdb.frames_dir(root, cls, v)))


def _masks(root, cls, video, mask):
    jhmdb.write_mask(jhmdb.mask_path(root, cls, video), mask)


def test_mask_agreement_in_the_knobs_units(tmp_path):
    H, W, T = 40, 40, 4
    true = np.zeros((H, W, T), np.uint8)
    true[10:30, 15:25] = 1  # a 20-pixel-high person in every frame
    est = true.copy()
    est[..., 0] = 0  # missed in one frame of four
    _masks(tmp_path / "a", "c", "v", true)
    _masks(tmp_path / "b", "c", "v", est)
    got = mask_agreement(tmp_path / "a", tmp_path / "b", [("c", "v")])
    assert got["miss_rate"] == pytest.approx(0.25) and got["iou"] == pytest.approx(0.75)
    assert got["estimated_person_fraction"] == pytest.approx(0.75) and got["frames"] == 4
    grown = np.zeros_like(true)
    grown[9:31, 14:26] = 1  # one pixel wider all round: shift 1 px / height 20
    _masks(tmp_path / "b", "c", "v", grown)
    got = mask_agreement(tmp_path / "a", tmp_path / "b", [("c", "v")])
    assert got["miss_rate"] == 0 and got["mask_change"] == pytest.approx(1 / 20, rel=0.15)
    _masks(tmp_path / "b", "c", "v", true[:, :, :3])
    with pytest.raises(DataError, match="differs from the annotated"):
        mask_agreement(tmp_path / "a", tmp_path / "b", [("c", "v")])


def test_build_once_with_its_agreement_and_the_frames_world_record(tmp_path, monkeypatch):
    root = _tree(tmp_path / "world")
    out = tmp_path / "world-estimated"
    assert build_estimated.build(root, out, estimator=STILL, workers=1, progress=False) == out
    marker = json.loads((out / MARKER).read_text())
    assert marker["clips"] == 6 and marker["estimator"] == STILL
    assert set(marker["vs_annotated"]) >= {"iou", "miss_rate", "mask_change"}
    assert 0 < marker["vs_annotated"]["iou"] < 1  # a drawn skeleton is not the annotated box
    assert (out / "synth_info.json").read_bytes() == (root / "synth_info.json").read_bytes()
    assert pose_source(out) == {"pose_source": marker} and pose_source(root) == {}  # what a run's summary keeps

    def fail(*a, **k):
        raise AssertionError("built twice")
    monkeypatch.setattr(P, "extract", fail)
    assert build_estimated.build(root, out, estimator=STILL) == out


def test_a_clip_that_cannot_be_estimated_leaves_the_world_unbuilt(tmp_path):
    root = _tree(tmp_path / "world")
    frame = jhmdb.list_frame_files(jhmdb.frames_dir(root, "run", "r1"))[0]
    frame.write_bytes(b"not a png")
    out = tmp_path / "est"
    with pytest.raises(DataError, match=r"pose estimated for 5 of 6 clips"):
        build_estimated.build(root, out, estimator=STILL, workers=1, progress=False)
    assert not (out / MARKER).exists()


def test_the_dataset_is_built_by_the_engines_hook_and_an_error_without_it(tmp_path):
    from actionpose.train.experiments import make_config

    cfg = make_config("c3d-pose", "smoke", dataset="actors-estimated")
    (tmp_path / "actors-smoke").mkdir()
    (tmp_path / "actors-smoke" / "synth_info.json").write_text("{}")  # the frames' world exists
    with pytest.raises(DataError, match="not estimated yet.*--data actors-estimated"):
        resolve_data_root(cfg, data_dir=tmp_path)
    calls = []

    def estimate(source, root):
        calls.append((source.name, root.name))
        return root
    assert resolve_data_root(cfg, data_dir=tmp_path, estimate=estimate).name == "actors-estimated-smoke"
    assert calls == [("actors-smoke", "actors-estimated-smoke")]
    assert frames_dataset("actors-estimated") == "actors" and frames_dataset("puppet") == "puppet"
    assert set(ESTIMATED) <= set(__import__("actionpose.train.experiments", fromlist=["x"]).DATASETS)


def test_the_rgb_side_of_a_pair_and_the_baseline_train_on_the_frames_world():
    from actionpose.fuse import pair_configs
    from actionpose.report.comparisons import study_points
    from actionpose.train.seeds import Claim

    a, b = pair_configs("c3d+pose-only", "cpu", 0, dataset="actors-estimated")
    assert (a.dataset, b.dataset) == ("actors", "actors-estimated")
    points = study_points("estimated")
    assert points and all(p.dataset == "actors-estimated" and p.baseline_dataset == "actors" for p in points)
    cfgs = Claim.study(next(p for p in points if p.treatment == "c3d-pose")).configs("cpu", 0)
    assert [(c.experiment, c.dataset) for c in cfgs] == [("c3d", "actors"), ("c3d-pose", "actors-estimated")]


def _runs(rows):
    return pd.DataFrame([{"split": 1, "preset": "cpu", "context_bias": np.nan, **r} for r in rows])


def test_study_pairs_estimated_pose_with_the_baseline_and_the_annotated_mode():
    from actionpose.report.stats import paired_difference
    from actionpose.report.tables import study_markdown, study_table

    acc = {("c3d", "actors"): [0.20, 0.22, 0.18], ("c3d-pose", "actors"): [0.30, 0.31, 0.27],
           ("c3d-pose", "actors-estimated"): [0.26, 0.25, 0.25],
           ("c3d", "actors-estimated"): [0.9, 0.9, 0.9]}  # never read: the baseline's runs are on actors
    runs = _runs([{"experiment": e, "dataset": d, "seed": s, "test_video_acc": a, "seconds": 60.0}
                  for (e, d), accs in acc.items() for s, a in enumerate(accs)])
    d = paired_difference(runs, "c3d", "c3d-pose", "actors-estimated", baseline_dataset="actors")
    assert d["delta_mean"] == pytest.approx(np.mean([0.06, 0.03, 0.07])) and d["n_pairs"] == 3
    table = study_table(runs.drop(index=runs.index[runs["experiment"].eq("c3d") & runs["dataset"].eq("actors-estimated")]))
    row = table[table["key"] == "c3d-pose/actors-estimated"].iloc[0]
    assert row["delta_mean"] == pytest.approx(np.mean([0.06, 0.03, 0.07]))
    assert row["vs_annotated_mean"] == pytest.approx(np.mean([-0.04, -0.06, -0.02]))
    assert row["annotated_mean"] == pytest.approx(np.mean([0.30, 0.31, 0.27])) and row["vs_annotated_pairs"] == 3
    clean = table[table["key"] == "c3d-pose/actors"].iloc[0]
    assert clean["vs_annotated_pairs"] == 0 and np.isnan(clean["vs_annotated_mean"])
    assert "estimated (-4.0 ± " in study_markdown(table)

