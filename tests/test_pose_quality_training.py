"""The pose-quality knob in training: the pose the model sees is degraded as configured (joints,
confidences, masks), the frames never; test pose is the same for every epoch and run seed,
training pose is drawn anew each epoch; the default changes nothing."""
from __future__ import annotations

import json

import pytest
import torch

from actionpose import cli
from actionpose.data.transforms import ClipTransform, DegradePose
from actionpose.errors import ConfigError
from actionpose.models.registry import heatmap_size
from actionpose.pose.quality import PoseQuality, clip_seed, degrade_pose, person_height
from actionpose.train.engine import build_datasets
from actionpose.train.experiments import TrainConfig, make_config, parse_overrides
from actionpose.train.sampling import SeededItems, item_seed

MASKED = dict(pose_miss_rate=0.5, pose_offset=(0.25, 0.0), pose_mask_change=0.05)
JOINTED = dict(pose_jitter=0.05, pose_miss_rate=0.3)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from actionpose.data import synthetic

    root = tmp_path_factory.mktemp("quality") / "puppet-smoke"
    synthetic.generate(root, synthetic.synth_config("smoke"), workers=1)
    return root


def _datasets(world, experiment, **overrides):
    cfg = make_config(experiment, "smoke", **overrides)
    return build_datasets(cfg, world, heatmap_size=heatmap_size(cfg))


def _same(a, b) -> bool:
    return set(a) == set(b) and all(
        torch.equal(a[k], b[k]) if isinstance(a[k], torch.Tensor) else a[k] == b[k] for k in a)


def test_default_config_adds_no_step_and_changes_no_sample(world):
    cfg = make_config("heatmap-volume", "smoke")
    assert cfg.pose_quality() is None and cfg.run_name() == "puppet-smoke-split1-seed0"
    train, test = _datasets(world, "heatmap-volume")
    assert not any(isinstance(s, DegradePose) for ds in (train, test) for s in ds.transform.steps)
    # a perfect knob given explicitly is no step either
    plain = ClipTransform.standard(train=True, size=(32, 32))
    assert ClipTransform.standard(train=True, size=(32, 32), pose_quality=PoseQuality()) == plain


@pytest.mark.parametrize("experiment, knob", [("c3d-pose", MASKED), ("heatmap-volume", JOINTED),
                                              ("attention-pose", JOINTED)])
def test_test_pose_is_degraded_as_configured_and_frames_are_not(world, experiment, knob):
    _, clean = _datasets(world, experiment)
    _, bad = _datasets(world, experiment, **knob)
    missed_any = False
    for i in range(len(clean)):
        a, b = clean[i], bad[i]
        assert set(a) == set(b)
        if "video" in a:
            assert torch.equal(a["video"], b["video"])  # the frames are never touched
        if "mask" in a:
            frames_kept = b["mask"][0].sum((-1, -2)) > 0
            missed_any |= bool((~frames_kept).any())
            # missed frames are empty; kept ones are shifted right (0.25 x height) and dilated
            kept = frames_kept & (a["mask"][0].sum((-1, -2)) > 0)
            if kept.any():
                assert (b["mask"][0, kept].sum() > a["mask"][0, kept].sum())
                cols = torch.arange(a["mask"].shape[-1], dtype=torch.float32)
                centre = lambda m: float((m.sum(-2) * cols).sum() / m.sum())  # noqa: E731
                assert centre(b["mask"][0, kept]) > centre(a["mask"][0, kept]) + 2
        if "joints" in a:
            missed = b["joint_conf"].sum(-1) == 0
            missed_any |= bool(missed.any())
            assert (b["joints"][missed] == -1).all()
            kept = ~missed & (a["joint_conf"] > 0).all(-1)
            moved = (b["joints"][kept] - a["joints"][kept]).norm(dim=-1)
            height = person_height(a["joints"], a["joint_conf"])
            # jitter 0.05 x height per coordinate: about 0.063 x height per joint on average
            assert 0.03 * height < float(moved.mean()) < 0.1 * height
        if "heatmaps" in a:
            assert not torch.equal(a["heatmaps"], b["heatmaps"])  # made from the degraded joints
    assert missed_any


def test_a_test_sample_is_degrade_pose_of_the_clean_one(world):
    """Exactly :func:`degrade_pose` of the clean sample's mask, seeded by the video and clip,
    measured in the clean joints' height."""
    _, clean = _datasets(world, "c3d-pose")
    _, bad = _datasets(world, "c3d-pose", **MASKED)
    _, joints = _datasets(world, "heatmap-volume")
    quality = PoseQuality(0.0, 0.5, (0.25, 0.0), 0.05)
    for i in range(len(clean)):
        a, b, j = clean[i], bad[i], joints[i]
        mask8 = (a["mask"][0] * 255).round().to(torch.uint8)
        _, _, want = degrade_pose(j["joints"], j["joint_conf"], mask8, quality=quality,
                                  seed=clip_seed(0, a["name"], a["clip"]), missing=-1.0)
        assert torch.equal(b["mask"][0], want.float() / 255)


def test_test_pose_is_fixed_across_epochs_instances_and_run_seeds(world):
    _, first = _datasets(world, "heatmap-volume", **JOINTED)
    _, again = _datasets(world, "heatmap-volume", **JOINTED, seed=3)  # another instance and run seed
    for i in range(len(first)):
        ref = first[i]
        # the engine's loader seeds every item from (run seed, epoch, index): none of it matters here
        for key in ((i, item_seed(0, 0, i)), (i, item_seed(0, 5, i)), (i, item_seed(3, 1, i))):
            assert _same(SeededItems(again)[key], ref)
    # but each test video (and clip) gets its own draw
    joints = [first[i]["joints"] for i in range(len(first))]
    assert not all(torch.equal(joints[0], j) for j in joints[1:])


@pytest.mark.parametrize("experiment, knob", [("c3d-pose", MASKED), ("heatmap-volume", JOINTED)])
def test_training_pose_changes_with_the_epoch_frames_do_not_depend_on_it(world, experiment, knob):
    clean, _ = _datasets(world, experiment)
    bad, _ = _datasets(world, experiment, **knob)
    key = "joints" if "joints" in clean[0] else "mask"
    differs = False
    for i in range(len(bad)):
        draws = []
        for epoch in (0, 1):
            seed = item_seed(0, epoch, i)
            a, b = SeededItems(clean)[(i, seed)], SeededItems(bad)[(i, seed)]
            if "video" in a:  # the same item seed: the same crop, flip and frames as without the knob
                assert torch.equal(a["video"], b["video"])
            assert not torch.equal(a[key], b[key])
            draws.append(b[key] - a[key])
        # the same epoch draws the same again; the next epoch draws anew
        seed = item_seed(0, 0, i)
        assert torch.equal(SeededItems(bad)[(i, seed)][key] - SeededItems(clean)[(i, seed)][key], draws[0])
        differs |= not torch.equal(draws[0], draws[1])
    assert differs


def test_mask_modes_measure_in_the_joints_height(world):
    """The knob's unit is the same for every pose mode: a mask-only run loads the joints (not as
    a modality) to measure the height in, so an offset moves its mask as far as a joint run's
    joints."""
    _, masked = _datasets(world, "c3d-pose", pose_offset=(0.2, 0.0))
    _, jointed = _datasets(world, "heatmap-volume", pose_offset=(0.2, 0.0))
    _, clean_joints = _datasets(world, "heatmap-volume")
    sample = masked[0]
    assert "joints" not in sample  # loaded for the height only
    j = clean_joints[0]
    dx = 0.2 * person_height(j["joints"], j["joint_conf"])
    moved = jointed[0]["joints"] - j["joints"]
    assert torch.allclose(moved, torch.tensor([dx, 0.0]).expand_as(moved), atol=1e-4)
    shift = round(dx)
    _, clean_mask = _datasets(world, "c3d-pose")
    m, m0 = sample["mask"][0], clean_mask[0]["mask"][0]
    assert torch.equal(m[..., shift:], m0[..., :m0.shape[-1] - shift])


def test_smoke_runs_train_on_degraded_pose(world, tmp_path, capsys):
    runs = tmp_path / "runs"
    argv = ["train", "stgcn", "--preset", "smoke", "--data", str(world), "--out", str(runs), "--quiet",
            "pose_jitter=0.1", "pose_miss_rate=0.25", "pose_offset=[0.05,-0.05]"]
    assert cli.main(argv) == 0
    folder = runs / "stgcn" / "puppet-smoke-smoke-jitter0.1-miss0.25-offset0.05_-0.05-split1-seed0"
    config = json.loads((folder / "config.json").read_text())
    assert config["pose_jitter"] == 0.1 and config["pose_offset"] == [0.05, -0.05]
    assert TrainConfig.from_dict(config).pose_quality() == PoseQuality(0.1, 0.25, (0.05, -0.05))
    assert json.loads((folder / "summary.json").read_text())["complete"]
    # a knob that reaches nothing the experiment reads is one line, exit 2
    capsys.readouterr()
    assert cli.main(["train", "c3d", "--preset", "smoke", "--data", str(world), "--out", str(runs),
                     "pose_jitter=0.1"]) == 2
    err = capsys.readouterr().err
    assert "pose_jitter=0.1: experiment 'c3d' (pose='none') reads no joints" in err and err.count("\n") == 1


@pytest.mark.parametrize("experiment, overrides, message", [
    ("c3d-pose", dict(pose_jitter=0.1), "pose_jitter=0.1: experiment 'c3d-pose' (pose='weaken') reads no joints"),
    ("stgcn", dict(pose_mask_change=0.1), "pose_mask_change=0.1: experiment 'stgcn' (pose='joints') reads no mask"),
    ("c3d", dict(pose_offset=(0.1, 0.0)), "pose_offset=(0.1, 0.0): experiment 'c3d' (pose='none') reads no"),
    ("stgcn", dict(pose_jitter=-0.1), "pose_jitter=-0.1: must be >= 0"),
    ("stgcn", dict(pose_miss_rate=1.5), "pose_miss_rate=1.5: must be in [0, 1]"),
    ("stgcn", dict(pose_offset=(0.1,)), "pose_offset=(0.1,): must be [dx, dy], two finite numbers"),
    ("stgcn", dict(pose_offset=(float("nan"), 0.0)), "pose_offset=(nan, 0.0): must be [dx, dy]"),
    ("c3d-pose", dict(pose_mask_change=float("inf")), "pose_mask_change=inf: must be a finite number"),
])
def test_bad_knob_settings_are_one_line(experiment, overrides, message):
    with pytest.raises(ConfigError) as info:
        make_config(experiment, "smoke", **overrides)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_overrides_and_run_names():
    assert parse_overrides(["pose_offset=[0.1,0]", "pose_mask_change=-0.05"]) == {
        "pose_offset": (0.1, 0), "pose_mask_change": -0.05}
    cfg = make_config("c3d-pose", "cpu", pose_miss_rate=0.1, pose_offset=(0.02, -0.01), pose_mask_change=-0.05)
    assert cfg.run_name() == "puppet-cpu-miss0.1-offset0.02_-0.01-mask-0.05-split1-seed0"
    assert make_config("c3d-pose", "cpu", pose_mask_change=0.05).run_name() == "puppet-cpu-mask+0.05-split1-seed0"
    assert cfg.pose_quality() == PoseQuality(0.0, 0.1, (0.02, -0.01), -0.05)
    # a run folder written before the knob existed reads as perfect pose
    old = {k: v for k, v in make_config("c3d-pose", "cpu").to_dict().items() if not k.startswith("pose_")
           or k == "pose"}
    assert TrainConfig.from_dict(old).pose_quality() is None


def test_step_order_is_checked():
    from actionpose.data.transforms import Heatmaps, MasksFromJoints, Resize

    step = DegradePose(PoseQuality(jitter=0.1))
    with pytest.raises(ConfigError, match="DegradePose must come after Resize"):
        ClipTransform(steps=(step, Resize((8, 8))))
    with pytest.raises(ConfigError, match="MasksFromJoints must come before DegradePose"):
        ClipTransform(steps=(Resize((8, 8)), step, MasksFromJoints()))
    with pytest.raises(ConfigError, match="Heatmaps must come after DegradePose"):
        ClipTransform(steps=(Resize((8, 8)), Heatmaps((4, 4)), step))
