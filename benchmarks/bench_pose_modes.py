"""Cost of each way of feeding pose (issue 18) at cpu-preset sizes, on one thread.

Per model: parameters and the median train step (forward + backward + AdamW step, fp32, batch
8, 8 frames at 64x64 or the joints of such clips); per pose input: the preprocessing time of one
clip (a keypoint volume built from joints; the pose-quality knob applied to joints and mask).
The C3D and mask pose-only rows are the existing modes to compare with. Last, where MediaPipe
and ../shared/jhmdb are present, MediaPipe's pose on the real JHMDB clip measured against its
annotation in the pose-quality knob's units (``pose_error``, ``mask_error``), which places real
pose on the knob's sweep.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmarks.common import measurement, median_seconds

J = 15


def _cases(smoke: bool):
    from actionpose.models.c3d import c3d
    from actionpose.models.guidance import MaskChannel
    from actionpose.models.heatmap_volume import HeatmapVolumeStream
    from actionpose.models.pose_only import pose_only
    from actionpose.models.stgcn import JointStream
    from actionpose.pose.volumes import VolumeConfig

    B, T, S = (2, 4, 32) if smoke else (8, 8, 64)
    frame = (S, S)
    video = lambda: torch.randn(B, 3, T, S, S)  # noqa: E731
    mask = lambda: torch.rand(B, 1, T, S, S).round()  # noqa: E731

    def joints():
        j = torch.rand(B, T, J, 2) * S
        c = torch.rand(B, T, J)
        j[0, 0] = float("nan")  # a frame without a person
        c[0, 0] = 0
        return {"joints": j, "confidence": c}

    c3d_kw = dict(num_classes=21, width=0.25, fc_dim=256, num_frames=T, size=frame, batch_norm=True)
    volume = VolumeConfig(size=(S // 2, S // 2), sigma=0.6)
    return [
        ("c3d (rgb)", lambda: c3d(**c3d_kw), lambda: {"x": video()}),
        ("c3d mask_channel", lambda: MaskChannel(c3d(**c3d_kw, in_channels=4), video_arg="x"),
         lambda: {"x": video(), "mask": mask()}),
        ("pose_only (mask)", lambda: pose_only(num_classes=21, width=0.25, fc_dim=256, num_frames=T,
                                               size=frame), lambda: {"x": mask()}),
        (f"heatmap_volume (joints+limbs, {S // 2} px)",
         lambda: HeatmapVolumeStream(num_classes=21, frame_size=frame, num_frames=T, volume=volume,
                                     width=0.25, fc_dim=256), joints),
        ("stgcn width 0.25", lambda: JointStream(num_classes=21, frame_size=frame, width=0.25), joints),
        ("stgcn width 1", lambda: JointStream(num_classes=21, frame_size=frame, width=1.0), joints),
    ], (B, T, S, volume)


def run(smoke: bool = False) -> list[dict]:
    from actionpose.pose.quality import PoseQuality, degrade_pose
    from actionpose.pose.volumes import keypoint_volume

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        cases, (B, T, S, volume) = _cases(smoke)
        repeats = 1 if smoke else 5
        rows = []
        for name, build, make_inputs in cases:
            model = build()
            params = sum(p.numel() for p in model.parameters())
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
            inputs, labels = make_inputs(), torch.randint(0, 21, (B,))

            def step():
                loss = F.cross_entropy(model(**inputs), labels)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

            seconds = median_seconds(step, repeats=repeats, warmup=1)
            rows.append(measurement(f"pose modes: {name} train step", seconds, "s",
                                    params=params, batch=B, clip=f"{T}x{S}x{S}"))
        j = torch.rand(T, J, 2) * S
        c = torch.rand(T, J)
        rows.append(measurement(
            "pose modes: keypoint volume per clip",
            median_seconds(lambda: keypoint_volume(j, c, frame_size=(S, S), config=volume),
                           repeats=repeats * 4), "s", clip=f"{T} frames -> {volume.channels}x{T}x"
            f"{volume.size[0]}x{volume.size[1]}"))
        m = torch.rand(1, T, S, S).round()
        q = PoseQuality(jitter=0.05, miss_rate=0.1, offset=(0.05, 0.0), mask_change=0.05)
        rows.append(measurement(
            "pose modes: pose-quality knob per clip",
            median_seconds(lambda: degrade_pose(j, c, m, quality=q, seed=0), repeats=repeats * 4),
            "s", clip=f"{T}x{S}x{S}"))
        return rows + ([] if smoke else _real_pose_in_knob_units())
    finally:
        torch.set_num_threads(threads)


def _real_pose_in_knob_units() -> list[dict]:
    try:
        import mediapipe  # noqa: F401
    except ImportError:
        print("# bench_pose_modes: mediapipe not installed; the real-pose rows are skipped")
        return []
    from actionpose.data import jhmdb
    from actionpose.extract.estimators import MediaPipePose, estimate_clip
    from actionpose.paths import shared_jhmdb
    from actionpose.pose.quality import mask_error, pose_error

    root = shared_jhmdb()
    clips = sorted(root.glob(f"{jhmdb.FRAMES_DIR}/*/*")) if root is not None else []
    if not clips:
        print("# bench_pose_modes: ../shared/jhmdb has no clip with frames; real-pose rows skipped")
        return []
    cls, video = clips[0].parent.name, clips[0].name
    estimator = MediaPipePose()
    try:
        joints, conf, masks = estimate_clip(estimator, jhmdb.read_frames(clips[0]))
    finally:
        estimator.close()
    truth = torch.from_numpy(jhmdb.read_joints(jhmdb.joints_path(root, cls, video)).joints_xy())
    err = pose_error(torch.from_numpy(joints), truth, torch.from_numpy(conf))
    true_mask = torch.from_numpy(jhmdb.read_mask(root / jhmdb.MASK_DIR / cls / video / jhmdb.MASK_FILE))
    merr = mask_error(torch.from_numpy(masks), true_mask.permute(2, 0, 1), err["height"])
    where = f"{cls}/{video}, person {err['height']:.0f} px tall"
    return [measurement(f"pose modes: MediaPipe on real JHMDB, {key}", value, unit, clip=where)
            for key, value, unit in (
                ("jitter", err["jitter"], "x height"), ("miss_rate", err["miss_rate"], "frames"),
                ("offset_x", err["offset_x"], "x height"), ("offset_y", err["offset_y"], "x height"),
                ("mask_change", merr["mask_change"], "x height"), ("mask IoU", merr["iou"], ""))]
