"""`actionpose predict` / `actionpose.predict`: real videos, frames, exports, bad inputs."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import actionpose
from actionpose.paths import shared_realdata
from use_runs import cli, cli_process, one_line_error, train_runs

REAL = shared_realdata()


def real_video(test):
    """A test on the real videos of ../shared/realdata with MediaPipe (skipped without them)."""
    test = pytest.mark.skipif(REAL is None, reason="../shared/realdata is absent")(test)
    return pytest.mark.shared(pytest.mark.slow(test))
FAST = ("--estimator", "use_runs:NobodyEvenFrames")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_runs(tmp_path_factory.mktemp("use_predict"))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 50-frame 320x240 AVI of moving noise."""
    from actionpose.data.jhmdb import write_video

    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("clip") / "noise.avi"
    frames = rng.integers(0, 255, (50, 240, 320, 3), dtype=np.uint8)
    write_video(path, frames, fps=25.0)
    return path


def _frame_count(path) -> tuple[int, str]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode(errors="replace")
    cap.release()
    return n, fourcc


@real_video
def test_two_people_video_with_mediapipe(trained, tmp_path):
    """The two-person NTU clip: every output written, the annotated video decodes whole."""
    pytest.importorskip("mediapipe")
    video = REAL / "mmaction2_demo_skeleton.mp4"
    out, js, cs = tmp_path / "annotated.mp4", tmp_path / "p.json", tmp_path / "p.csv"
    proc = cli("predict", trained[1]["c3d-pose"], video, "--top-k", "3", "--out", out, "--json", js,
               "--csv", cs, "--max-side", "320")
    assert proc.returncode == 0, proc.stderr
    assert "mmaction2_demo_skeleton" in proc.stdout and "person in 100%" in proc.stdout
    result = json.loads(js.read_text())["videos"][0]
    assert result["frames"] == 72 and len(result["top_k"]) == 3
    assert [w["start"] for w in result["windows"]] == [0, 16, 32, 40]
    assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert _frame_count(out) == (72, "h264")
    table = pd.read_csv(cs)
    assert len(table) == 1 + len(result["windows"]) and table["window"].iloc[0] == "all"


@real_video
def test_video_with_frames_without_a_person(trained, tmp_path):
    """The gym clip has frames where MediaPipe finds nobody: heatmaps are empty there, no crash."""
    pytest.importorskip("mediapipe")
    video = REAL / "mmaction2_test_video_structuralize.mp4"
    # MediaPipe finds nobody in frames 146, 147, 150, 158 and 159 of the first 160 (and in 17 of 300)
    [result] = actionpose.predict(trained[1]["attention-pose"], video, max_side=240, window=64,
                                  max_frames=160)
    assert result["frames"] == 160 and result["warning"] is None
    assert 0.9 < result["person_fraction"] < 1.0
    assert result["windows"][-1]["end"] == 160


def test_python_call_cli_and_export_agree(trained, clip, tmp_path):
    run = trained[1]["attention-pose"]
    results = actionpose.predict(run, clip, estimator=FAST[1], window=20, stride=10)
    [r] = results
    assert r["frames"] == 50 and r["person_fraction"] == pytest.approx(0.5)
    assert [(w["start"], w["end"]) for w in r["windows"]] == [(0, 20), (10, 30), (20, 40), (30, 50)]
    js = tmp_path / "p.json"
    assert cli("predict", run, clip, *FAST, "--window", "20", "--json", js).returncode == 0
    assert json.loads(js.read_text())["videos"][0]["probabilities"] == pytest.approx(r["probabilities"])
    model = tmp_path / "m.onnx"
    assert cli("export", run, "--format", "onnx", "--out", model).returncode == 0
    [e] = actionpose.predict(model, clip, estimator=FAST[1], window=20, stride=10)
    assert e["probabilities"] == pytest.approx(r["probabilities"], rel=1e-3, abs=1e-5)


def test_nobody_in_any_frame(trained, clip, tmp_path):
    """A clip without a person: an empty mask weakens the whole frame, the prediction still comes."""
    from actionpose.extract.estimators import PoseEstimator

    class Nobody(PoseEstimator):
        def __call__(self, frame):
            return self._no_person()

    from actionpose.use.model import load_model
    from actionpose.use.predict import estimate_pose, predict_frames, read_clip
    from actionpose.extract.sources import find_clips

    [src], _ = find_clips(clip)
    frames, fps, warning = read_clip(src)
    assert (frames.shape, fps, warning) == ((50, 240, 320, 3), 25.0, None)
    pose = estimate_pose(frames, Nobody())
    assert pose.person_fraction == 0.0 and not pose.masks.any() and np.isnan(pose.joints).all()
    for exp in ("c3d-pose", "attention-pose"):
        probs, window_probs, spans = predict_frames(load_model(trained[1][exp]), frames, pose)
        assert np.isfinite(window_probs).all() and probs.sum() == pytest.approx(1.0, abs=1e-5)
        assert spans == [(0, 32), (16, 48), (18, 50)]


def test_folder_of_frames_and_folder_of_videos(trained, clip, tmp_path):
    from actionpose.data.jhmdb import read_video

    frames_dir = tmp_path / "frames"
    frames_dir.mkdir()
    import cv2

    for i, f in enumerate(read_video(clip)[:10]):
        cv2.imwrite(str(frames_dir / f"{i + 1:05d}.png"), f[..., ::-1])
    [r] = actionpose.predict(trained[1]["c3d-pose"], frames_dir, estimator=FAST[1])
    assert r["frames"] == 10 and len(r["windows"]) == 1

    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "a.avi").write_bytes(clip.read_bytes())
    (videos / "broken.avi").write_bytes(b"\x00" * 2000)
    proc = cli("predict", trained[1]["c3d-pose"], videos, *FAST, "--json", tmp_path / "v.json")
    assert proc.returncode == 0, proc.stderr
    assert "skipped" in proc.stderr and "broken.avi" in proc.stderr
    data = json.loads((tmp_path / "v.json").read_text())
    assert [v["name"] for v in data["videos"]] == ["a"] and "broken.avi" in data["skipped"][0][0]


def test_bad_inputs_are_one_line_errors_and_leave_nothing(trained, clip, tmp_path):
    run = trained[1]["c3d-pose"]
    outs = ("--out", tmp_path / "a.mp4", "--json", tmp_path / "a.json", "--csv", tmp_path / "a.csv")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).integers(0, 255, 5000, dtype=np.uint8).tobytes())
    # a real process: FFmpeg's own log lines (written by C code) must not precede the error
    one_line_error(cli_process("predict", run, junk, *FAST, *outs), "junk.mp4")
    cut = tmp_path / "cut.avi"
    cut.write_bytes(clip.read_bytes()[:400])
    one_line_error(cli("predict", run, cut, *FAST, *outs), "cut.avi")
    one_line_error(cli("predict", run, tmp_path / "none.mp4", *FAST), "none.mp4", "not found")
    one_line_error(cli("predict", tmp_path / "norun", clip, *FAST), "norun")
    one_line_error(cli("predict", run, clip, *FAST, "--out", tmp_path / "a.avi"), "a.avi", ".mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.avi", "junk.mp4"]


def test_truncated_video_is_predicted_with_a_warning(trained, clip, tmp_path):
    data = clip.read_bytes()
    cut = tmp_path / "half.avi"
    cut.write_bytes(data[: len(data) // 2])
    proc = cli("predict", trained[1]["c3d-pose"], cut, *FAST, "--out", tmp_path / "half.mp4")
    assert proc.returncode == 0, proc.stderr
    assert "half.avi: the header claims 50 frames" in proc.stderr
    n, _ = _frame_count(tmp_path / "half.mp4")
    assert 0 < n < 50


def test_a_window_is_preprocessed_as_the_test_clips(trained):
    """A window over a whole test video, with its mask, gives exactly the Dataset's test item."""
    import torch

    from actionpose.data import jhmdb
    from actionpose.models.registry import heatmap_size
    from actionpose.train.engine import build_datasets
    from actionpose.use.model import load_model
    from actionpose.use.predict import Pose, window_inputs

    root, runs = trained
    loaded = load_model(runs["c3d-pose"])
    _, test = build_datasets(loaded.cfg, root, heatmap_size=heatmap_size(loaded.cfg))
    item = test[0]
    cls, name = test.classes[item["label"]], item["name"]
    frames = jhmdb.read_frames(jhmdb.frames_dir(root, cls, name))
    masks = np.ascontiguousarray(jhmdb.read_mask(jhmdb.mask_path(root, cls, name)).transpose(2, 0, 1))
    T = min(len(frames), len(masks))
    pose = Pose(np.full((T, 15, 2), np.nan, np.float32), np.zeros((T, 15), np.float32), masks[:T])
    got = window_inputs(loaded.spec, frames[:T], pose, (0, T))
    assert torch.equal(got["video"], item["video"]) and torch.equal(got["mask"], item["mask"])
