"""README's "Your own data", end to end in smoke mode: class folders of real videos and their split
files -> `pose extract --splits` -> `data check` -> a trained pair -> their comparison (and the
poses exported for pyskl)."""
from __future__ import annotations

from pathlib import Path

import pytest

from actionpose.cli import main
from actionpose.data import jhmdb
from actionpose.data.interchange import load_annotations
from actionpose.extract.sources import resize

VIDEOS = {"drink": "mmaction2_ntu_S001C001P001R001A001_rgb.avi", "gym": "mmaction2_demo_skeleton.mp4"}
CLIPS_PER_CLASS, FRAMES = 4, 8


def _collection(folder: Path, realdata_root, size: tuple[int, int]):
    """Two classes of four short clips cut from ../shared/realdata, with HMDB51-style split files
    (one test clip per class and split, a different one each split)."""
    videos, splits = folder / "videos", folder / "splits"
    splits.mkdir(parents=True)
    for cls, name in VIDEOS.items():
        frames = resize(jhmdb.read_video(Path(realdata_root) / name, max_frames=CLIPS_PER_CLASS * FRAMES), size)
        for i in range(CLIPS_PER_CLASS):
            jhmdb.write_video(videos / cls / f"{cls}_{i}.avi", frames[i * FRAMES:(i + 1) * FRAMES])
        for k in (1, 2, 3):
            lines = [f"{cls}_{i}.avi {2 if i == k else 1}\n" for i in range(CLIPS_PER_CLASS)]
            (splits / f"{cls}_test_split{k}.txt").write_text("".join(lines))
    return videos, splits


def test_your_own_data_in_four_commands(tmp_path, realdata_root, capsys):
    from actionpose import report

    videos, splits = _collection(tmp_path, realdata_root, (60, 80))
    tree, runs = tmp_path / "mydata", tmp_path / "runs"
    assert main(["pose", "extract", str(videos), "--splits", str(splits), "--out", str(tree),
                 "--estimator", "tests.fake_estimators:Still"]) == 0
    assert main(["data", "check", str(tree)]) == 0
    for experiment in ("c3d", "c3d-pose"):
        assert main(["train", experiment, "--preset", "smoke", "--data", str(tree), "--out", str(runs), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "8 clip(s) extracted" in out and out.count("test video acc") == 2
    paired = report.compare(runs, "c3d", "c3d-pose", dataset=tree.name)
    assert len(paired.table) == 1 and "c3d-pose" in str(paired)
    # the same poses for pyskl / MMAction2
    assert main(["data", "export-pyskl", str(tree), "--out", str(tmp_path / "mydata_2d.pkl")]) == 0
    annotations = load_annotations(tmp_path / "mydata_2d.pkl")
    assert len(annotations["annotations"]) == 8 and sorted(annotations["split"]["test1"]) == ["drink_1", "gym_1"]


def test_mediapipe_extracts_the_collection_with_its_splits(tmp_path, realdata_root):
    pytest.importorskip("mediapipe", reason="needs the pose extra: pip install actionpose[pose]")
    from actionpose.extract.pipeline import extract

    videos, splits = _collection(tmp_path, realdata_root, (240, 320))  # JHMDB's frame size
    summary = extract(videos, tmp_path / "mydata", splits=splits, max_frames=3, progress=False)
    assert summary["extracted"] == 2 * CLIPS_PER_CLASS and summary["warnings"] == []
    assert summary["person_fraction"] >= 0.8  # one person in view in both source videos
    test1 = sorted(e.video for e in jhmdb.read_split(tmp_path / "mydata", 1) if e.subset == "test")
    assert test1 == ["drink_1", "gym_1"]
