"""pyskl / MMAction2 annotation pickles: export a tree's joints, import them back, and never run
code from a pickle."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from actionpose.cli import main
from actionpose.data import jhmdb
from actionpose.data.interchange import export_pyskl, import_pyskl, load_annotations
from actionpose.errors import DataError


@pytest.fixture()
def tree(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "tree"
    assignments = []
    for ci, cls in enumerate(("jump", "run")):
        for vi in range(2):
            video, T = f"{cls}{vi}", 3 + vi
            pos = rng.uniform(1, 40, (2, 15, T))
            conf = rng.uniform(0.2, 1.0, (15, T)).astype(np.float32)
            pos[:, :, 0], conf[:, 0] = np.nan, 0  # no person in the first frame
            jhmdb.write_clip(root, cls, video, pos_img=pos, confidence=conf,
                             mask=np.zeros((24, 32, T), np.uint8))
            assignments.append((video, cls, (1 + vi, 2 - vi, 1)))
    jhmdb.write_splits(root, assignments, formats=("official",))
    return root


def test_export_writes_pyskls_format(tree, tmp_path):
    out = tmp_path / "ann.pkl"
    export_pyskl(tree, out)
    data = pickle.loads(out.read_bytes())
    assert set(data) == {"split", "annotations"}
    assert data["split"] == {"train1": ["jump0", "run0"], "test1": ["jump1", "run1"],
                             "train2": ["jump1", "run1"], "test2": ["jump0", "run0"],
                             "train3": ["jump0", "jump1", "run0", "run1"]}
    ann = {a["frame_dir"]: a for a in data["annotations"]}
    a = ann["run1"]
    assert a["label"] == 1 and a["img_shape"] == (24, 32) and a["total_frames"] == 4
    assert a["keypoint"].shape == (1, 4, 15, 2) and a["keypoint"].dtype == np.float32
    assert a["keypoint_score"].shape == (1, 4, 15) and a["keypoint_score"].dtype == np.float32
    joints = jhmdb.read_joints(jhmdb.joints_path(tree, "run", "run1"))
    np.testing.assert_allclose(a["keypoint"][0, 1:], joints.joints_xy()[1:], rtol=1e-6)
    np.testing.assert_allclose(a["keypoint_score"][0], joints.joint_confidence(), rtol=1e-6)
    assert (a["keypoint"][0, 0] == 0).all() and (a["keypoint_score"][0, 0] == 0).all()


def test_import_gives_back_the_joints_and_splits(tree, tmp_path, capsys):
    pkl = tmp_path / "ann.pkl"
    assert main(["data", "export-pyskl", str(tree), "--out", str(pkl)]) == 0
    back = tmp_path / "back"
    assert main(["data", "import-pyskl", str(pkl), "--out", str(back), "--classes", "jump,run"]) == 0
    assert "4 clip(s)" in capsys.readouterr().out
    for k in (1, 2, 3):
        key = lambda e: (e.cls, e.video, e.subset)  # noqa: E731
        assert sorted(map(key, jhmdb.read_split(back, k))) == sorted(map(key, jhmdb.read_split(tree, k)))
    a = jhmdb.read_joints(jhmdb.joints_path(tree, "jump", "jump1"))
    b = jhmdb.read_joints(jhmdb.joints_path(back, "jump", "jump1"))
    np.testing.assert_allclose(b.pos_img, a.pos_img, rtol=1e-5)  # NaN where no person, in both
    np.testing.assert_allclose(b.joint_confidence(), a.joint_confidence(), rtol=1e-6)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_malicious_pickle_is_refused_and_never_runs(tmp_path, capsys):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"split": {}, "annotations": [_Exploit(marker)]}))
    with pytest.raises(DataError, match=r"refused to load (posix|os|nt)\.system"):
        load_annotations(evil)
    rc = main(["data", "import-pyskl", str(evil), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and str(evil) in err and "refused to load" in err
    assert not marker.exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("content, problem", [
    (b"not a pickle", "not a readable pickle"),
    (pickle.dumps([1, 2]), "expected a dict with 'split' and 'annotations'"),
    (pickle.dumps({"split": {}, "annotations": [{"frame_dir": "a", "label": 0, "total_frames": 2,
                                                  "keypoint": np.zeros((1, 3, 15, 2), np.float32)}]}),
     r"annotations\[0\] \(a\): keypoint must be \(M, 2, 15, 2\)"),
    (pickle.dumps({"split": {}, "annotations": [{"frame_dir": "a", "label": 0, "total_frames": 2}]}),
     "annotations\\[0\\] has no 'keypoint'"),
    (pickle.dumps({"split": {"xsub_train": ["a"]}, "annotations": []}), "expected names train1..3"),
])
def test_malformed_annotation_files_are_named(tmp_path, content, problem):
    path = tmp_path / "ann.pkl"
    path.write_bytes(content)
    with pytest.raises(DataError, match=problem) as info:
        import_pyskl(path, tmp_path / "out")
    assert str(info.value).startswith(str(path))
