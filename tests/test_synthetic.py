"""The embedded dataset generator (`actionpose data synth`): format round trip, determinism
whatever the number of workers, joints on the rendered body, real actors, and model-free sanity
checks (pose is informative; the context bias misleads)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from actionpose.cli import main as cli_main
from actionpose.data import jhmdb, synthetic
from actionpose.errors import ConfigError, DataError
from tests.conftest import REAL_CLIP

TINY = dict(num_classes=3, clips_per_class=4, size=(40, 48), frames=(6, 8))


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth") / "smoke"
    info = synthetic.generate(root, synthetic.synth_config("smoke"), workers=1)
    return root, info


def test_writes_jhmdb_format_that_reads_back(smoke):
    root, info = smoke
    config = synthetic.synth_config("smoke")
    H, W = config.size
    assert info == json.loads((root / synthetic.INFO_FILE).read_text())
    assert info["classes"] == config.classes == jhmdb.modality_classes(root)
    assert info["num_clips"] == config.num_classes * config.clips_per_class
    frames_total = 0
    partitions = []
    for k in (1, 2, 3):
        entries = jhmdb.read_split(root, k)
        assert len(entries) == info["num_clips"]
        for cls in info["classes"]:
            subsets = [e.subset for e in entries if e.cls == cls]
            assert subsets.count("test") == round(0.3 * config.clips_per_class)
        partitions.append({e.video for e in entries if e.subset == "test"})
        # the lists format says the same as the official one
        assert sorted((e.video, e.cls, e.subset) for e in entries) == sorted(
            (e.video, e.cls, e.subset) for e in _read_lists(root, k, info["classes"]))
    assert partitions[0] != partitions[1] and partitions[1] != partitions[2]
    for e in jhmdb.read_split(root, 1):
        frames = jhmdb.read_frames(jhmdb.frames_dir(root, e.cls, e.video))
        T = frames.shape[0]
        assert frames.shape == (T, H, W, 3) and frames.dtype == np.uint8
        assert config.frames[0] <= T <= config.frames[1]
        joints = jhmdb.read_joints(jhmdb.joints_path(root, e.cls, e.video))
        assert joints.pos_img.shape == (2, 15, T) and joints.pos_world.shape == (2, 15, T)
        assert joints.scale.shape == (T,) and joints.viewpoint.split("-")[0] in ("front", "side")
        mask = jhmdb.read_mask(jhmdb.mask_path(root, e.cls, e.video))
        assert mask.shape == (H, W, T) and set(np.unique(mask)) <= {0, 1}
        assert (mask.reshape(-1, T).sum(0) > 20).all(), "every frame shows the actor"
        frames_total += T
    assert frames_total == info["num_frames"]


def _read_lists(root: Path, k: int, classes: list[str]):
    """Split k from the JHMDB_{train,test}k.txt files only (the official files hidden)."""
    out = []
    for subset in ("train", "test"):
        for line in (root / "splits" / f"JHMDB_{subset}{k}.txt").read_text().split("\n"):
            if line.strip():
                video, idx = line.split()
                out.append(jhmdb.SplitEntry(video, classes[int(idx) - 1], subset))
    return out


def test_joints_lie_on_the_rendered_body(smoke):
    root, _ = smoke
    hits = swapped = total = 0
    for e in jhmdb.read_split(root, 1):
        xy = jhmdb.read_joints(jhmdb.joints_path(root, e.cls, e.video)).joints_xy()  # 0-based
        mask = jhmdb.read_mask(jhmdb.mask_path(root, e.cls, e.video))
        H, W, T = mask.shape
        col, row = np.rint(xy[..., 0]).astype(int), np.rint(xy[..., 1]).astype(int)
        t = np.broadcast_to(np.arange(T)[:, None], col.shape)
        inside = (col >= 0) & (col < W) & (row >= 0) & (row < H)
        hits += int(mask[row[inside], col[inside], t[inside]].sum())
        total += int(inside.sum())
        ok = inside & (row < W) & (col < H)
        swapped += int(mask[np.clip(col, 0, H - 1), np.clip(row, 0, W - 1), t][ok].sum())
    assert total > 0.9 * 15 * sum(1 for _ in jhmdb.read_split(root, 1))  # most joints in frame
    assert hits == total, f"{total - hits} of {total} in-frame joints are off the body mask"
    assert swapped < 0.5 * total  # x = column: the transposed reading misses the body


def test_same_content_whatever_the_number_of_workers(tmp_path):
    config = synthetic.synth_config("smoke", seed=3, **TINY)
    a = synthetic.generate(tmp_path / "a", config, workers=1)
    b = synthetic.generate(tmp_path / "b", config, workers=2)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) > 3 * 12
    for rel in files_a:
        if rel.name == synthetic.INFO_FILE:
            continue
        da, db = (tmp_path / "a" / rel).read_bytes(), (tmp_path / "b" / rel).read_bytes()
        assert da == db, f"{rel} differs between 1 and 2 workers"
    for key in ("seconds", "workers", "created"):
        a.pop(key), b.pop(key)
    assert a == b
    other = synthetic.generate(tmp_path / "c", synthetic.synth_config("smoke", seed=4, **TINY), workers=1)
    first = sorted((tmp_path / "a").rglob("00001.png"))[0].relative_to(tmp_path / "a")
    assert (tmp_path / "a" / first).read_bytes() != (tmp_path / "c" / first).read_bytes()
    assert other["num_clips"] == a["num_clips"]


def test_context_bias_follows_split_one(tmp_path):
    for bias in (1.0, 0.0):
        info = synthetic.generate(tmp_path / f"b{bias}", synthetic.synth_config(
            "smoke", context_bias=bias, num_classes=4, clips_per_class=10, size=(32, 32),
            frames=(4, 4)), workers=1)
        if bias == 1.0:
            assert info["split1_train_home_fraction"] == 1.0
            assert info["split1_test_home_fraction"] < 0.6
        else:
            assert info["split1_train_home_fraction"] < 0.6


def _nearest_centroid_accuracy(x: np.ndarray, y: np.ndarray, train: np.ndarray) -> tuple[float, float]:
    mu, sd = x[train].mean(0), x[train].std(0) + 1e-6
    z = (x - mu) / sd
    centroids = np.stack([z[train & (y == c)].mean(0) for c in range(y.max() + 1)])
    pred = np.argmin(((z[:, None] - centroids[None]) ** 2).sum(-1), axis=1)
    return float((pred[train] == y[train]).mean()), float((pred[~train] == y[~train]).mean())


def _pose_descriptor(xy: np.ndarray, steps: int = 6) -> np.ndarray:
    rel = xy - xy[:, 1:2]  # relative to the belly
    rel = rel / (np.linalg.norm(xy[:, 0] - xy[:, 1], axis=-1).mean() + 1e-6)
    rel[..., 0] *= np.sign(rel[:, 11:13, 0].mean() + 1e-9)  # undo mirroring: hands lead +x
    idx = np.linspace(0, len(xy) - 1, steps).round().astype(int)
    return np.concatenate([rel[idx].ravel(), 2 * np.diff(rel[idx], axis=0).ravel()])


def test_pose_is_informative_and_context_misleads(tmp_path):
    root = tmp_path / "sanity"
    config = synthetic.synth_config("smoke", num_classes=6, clips_per_class=20, size=(48, 64),
                                    frames=(12, 16), context_bias=1.0)
    synthetic.generate(root, config, workers=2)
    entries = jhmdb.read_split(root, 1)
    classes = sorted({e.cls for e in entries})
    y = np.array([classes.index(e.cls) for e in entries])
    train = np.array([e.subset == "train" for e in entries])
    pose, background = [], []
    for e in entries:
        pose.append(_pose_descriptor(jhmdb.read_joints(jhmdb.joints_path(root, e.cls, e.video)).joints_xy()))
        frames = jhmdb.read_frames(jhmdb.frames_dir(root, e.cls, e.video))
        mask = jhmdb.read_mask(jhmdb.mask_path(root, e.cls, e.video)).transpose(2, 0, 1).astype(bool)
        background.append(frames[~mask].mean(0))
    chance = 1 / len(classes)
    _, pose_test = _nearest_centroid_accuracy(np.stack(pose), y, train)
    bg_train, bg_test = _nearest_centroid_accuracy(np.stack(background), y, train)
    assert pose_test > 3 * chance, f"joints alone: {pose_test:.2f} test accuracy"
    assert bg_train > 0.8, f"background alone, biased training split: {bg_train:.2f}"
    assert bg_test < 0.5 * bg_train, f"background alone on test: {bg_test:.2f} vs train {bg_train:.2f}"


def test_real_actors_keep_the_source_labels_and_splits(jhmdb_root, tmp_path):
    config = synthetic.synth_config("smoke", actor_classes=2, actor_clips_per_class=3)
    info = synthetic.generate(tmp_path / "actors", config, workers=2, actors=jhmdb_root)
    source_classes = sorted(p.name for p in (jhmdb_root / "puppet_mask").iterdir())
    assert info["classes"] == source_classes[:2] and info["num_clips"] == 6
    H, W = config.size
    for k in (1, 2, 3):
        source = {e.video: (e.cls, e.subset) for e in jhmdb.read_split(jhmdb_root, k)}
        for e in jhmdb.read_split(tmp_path / "actors", k):
            assert source[e.video] == (e.cls, e.subset)
    for e in jhmdb.read_split(tmp_path / "actors", 1):
        frames = jhmdb.read_frames(jhmdb.frames_dir(tmp_path / "actors", e.cls, e.video))
        mask = jhmdb.read_mask(jhmdb.mask_path(tmp_path / "actors", e.cls, e.video))
        src = jhmdb.read_mask(jhmdb.mask_path(jhmdb_root, e.cls, e.video))
        assert frames.shape == (src.shape[2], H, W, 3) and mask.shape == (H, W, src.shape[2])
        # the silhouette is the source's, resized: same area fraction within a few percent
        assert abs(mask.mean() - src.mean()) < 0.2 * src.mean() + 0.002


def test_real_actor_joints_are_rescaled_onto_the_mask(jhmdb_root):
    cls, video = REAL_CLIP
    config = synthetic.synth_config("smoke")
    job = next(j for j in synthetic.plan_actors(synthetic.synth_config("smoke", actor_classes=2, actor_clips_per_class=1000), jhmdb_root)
               if j.video == video)
    clip = synthetic.render_actor_clip(config, job)
    xy = np.transpose(clip["pos_img"], (2, 1, 0)) - 1.0  # (T, 15, 2) 0-based
    import cv2

    mask = clip["mask"]
    H, W, T = mask.shape
    grown = np.stack([cv2.dilate(mask[:, :, t], np.ones((5, 5), np.uint8)) for t in range(T)])
    col = np.clip(np.rint(xy[..., 0]).astype(int), 0, W - 1)
    row = np.clip(np.rint(xy[..., 1]).astype(int), 0, H - 1)
    on_body = grown[np.arange(T)[:, None], row, col].mean()
    assert on_body > 0.8, f"only {on_body:.0%} of the rescaled real joints fall on the mask"


def test_bad_inputs_give_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown synthetic preset"):
        synthetic.synth_config("huge")
    with pytest.raises(ConfigError, match="num_classes"):
        synthetic.synth_config("smoke", num_classes=22)
    with pytest.raises(ConfigError, match="unknown synthetic config field"):
        synthetic.synth_config("smoke", colour=3)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="not empty"):
        synthetic.generate(busy, synthetic.synth_config("smoke", **TINY))
    with pytest.raises(DataError, match="not a generated dataset"):
        synthetic.generate(busy, synthetic.synth_config("smoke", **TINY), overwrite=True)
    assert (busy / "notes.txt").read_text() == "mine"
    with pytest.raises(DataError, match="puppet_mask"):
        synthetic.generate(tmp_path / "x", synthetic.synth_config("smoke"), actors=tmp_path)


def test_cli_writes_and_refuses_to_clobber(tmp_path, capsys):
    out = str(tmp_path / "cli")
    args = ["data", "synth", out, "--preset", "smoke", "--classes", "2", "--clips-per-class", "3",
            "--size", "32x40", "--workers", "1", "--seed", "5", "--context-bias", "0.7"]
    assert cli_main(args) == 0
    info = json.loads((Path(out) / synthetic.INFO_FILE).read_text())
    assert info["num_clips"] == 6 and info["seed"] == 5 and info["size"] == [32, 40]
    assert info["config"]["context_bias"] == 0.7
    assert "wrote 6 clips" in capsys.readouterr().out
    assert cli_main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert cli_main(args + ["--overwrite"]) == 0


@pytest.mark.skipif(importlib.util.find_spec("actionpose.data.dataset") is None,
                    reason="the torch Dataset is not written yet")
def test_torch_dataset_reads_the_generated_tree(smoke):
    from actionpose.data.dataset import JHMDB

    root, info = smoke
    ds = JHMDB(root, split=1, subset="train", modalities=("frames", "joints", "mask"),
               num_frames=4, size=(32, 32))
    assert ds.classes == info["classes"] and len(ds) > 0
    item = ds[0]
    assert tuple(item["video"].shape) == (3, 4, 32, 32)
    assert tuple(item["joints"].shape) == (4, 15, 2) and tuple(item["mask"].shape) == (1, 4, 32, 32)
