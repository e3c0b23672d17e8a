"""The study's comparisons, defined once: each claim of the report is a treatment against a
baseline on one dataset, and each figure shows the comparisons that name it; issue 18's study
(:data:`STUDY`) compares every way of feeding pose with its no-pose baseline, against context
bias and pose quality."""
from __future__ import annotations

from dataclasses import dataclass

from actionpose.pose.knob import PoseQuality, frames_dataset


@dataclass(frozen=True)
class Comparison:
    """One claim of the report: ``treatment`` vs ``baseline`` on ``dataset``."""

    key: str
    title: str
    baseline: str
    treatment: str
    dataset: str
    claim: str
    figure: str  # stem of the figure that shows it (see FIGURES)
    expect: str = "better"  # what the claim predicts for the treatment (see stats.EXPECTATIONS)

    @property
    def baseline_dataset(self) -> str:
        """Where the baseline's runs are (a claim of the report: its one dataset)."""
        return self.dataset


# figure stem -> title
FIGURES = {
    "c3d_pose": "C3D with and without pose",
    "attention_pose": "Attention pooling with and without pose",
    "two_stream_init": "Temporal stream: first-layer initialisation",
    "two_stream_mask": "Two-stream with and without the puppet mask",
    "actors_c3d_pose": "Real actors: C3D with and without pose",
    "actors_two_stream_mask": "Real actors: two-stream with and without the puppet mask",
}

COMPARISONS: list[Comparison] = [
    Comparison("c3d-pose", "C3D: background weakening", "c3d", "c3d-pose", "puppet",
               "pose (background weakening) helps C3D slightly", "c3d_pose"),
    Comparison("attention-pose", "Attention pooling: heatmaps into top-down attention",
               "attention", "attention-pose", "puppet",
               "pose (heatmaps) helps attention pooling slightly", "attention_pose"),
    Comparison("attention-pose-reg", "Attention pooling: pose-regularised attention",
               "attention", "attention-pose-reg", "puppet",
               "(Girdhar & Ramanan, beyond the report) pose as an auxiliary target helps",
               "attention_pose"),
    Comparison("init-replicate", "Temporal stream: replicate vs random first layer",
               "two-stream-init-none", "two-stream-init-replicate", "puppet",
               "replicating the ImageNet first layer F times beats a random first layer",
               "two_stream_init"),
    Comparison("init-replicate_scaled", "Temporal stream: replicate/F vs random first layer",
               "two-stream-init-none", "two-stream-init-replicate_scaled", "puppet",
               "(I3D inflation, beyond the report)", "two_stream_init"),
    Comparison("init-average", "Temporal stream: average vs random first layer",
               "two-stream-init-none", "two-stream-init-average", "puppet",
               "(TSN cross-modality init, beyond the report)", "two_stream_init"),
    Comparison("two-stream-mask", "Two-stream: puppet-mask background weakening",
               "two-stream", "two-stream-mask", "puppet",
               "weakening the background does not work well in two-stream", "two_stream_mask",
               "not better"),
    Comparison("two-stream-flow", "Two-stream: stacked RGB vs optical flow temporal stream",
               "two-stream-flow", "two-stream", "puppet",
               "stacked RGB replaces optical flow without losing accuracy", "two_stream_mask",
               "not worse"),
    Comparison("c3d-pose-actors", "C3D: background weakening (real actors)", "c3d", "c3d-pose",
               "actors", "pose (background weakening) helps C3D slightly", "actors_c3d_pose"),
    Comparison("two-stream-mask-actors", "Two-stream: puppet mask (real actors)", "two-stream",
               "two-stream-mask", "actors",
               "weakening the background does not work well in two-stream",
               "actors_two_stream_mask", "not better"),
]


@dataclass(frozen=True)
class FigureGroup:
    """The experiments one comparison figure shows, the first being the reference of its Δs."""

    stem: str
    title: str
    experiments: tuple[str, ...]
    dataset: str


def figure_groups() -> list[FigureGroup]:
    """One group per figure, its experiments in the order its comparisons first name them."""
    groups = []
    for stem, title in FIGURES.items():
        comps = [c for c in COMPARISONS if c.figure == stem]
        names = dict.fromkeys(n for c in comps for n in (c.baseline, c.treatment))
        groups.append(FigureGroup(stem, title, tuple(names), comps[0].dataset))
    return groups


# ---------------------------------------------------------------------------------------------
# issue 18's study: how to feed pose, against its no-pose baseline, under misleading context and
# imperfect pose (trained by `actionpose seeds --claim study[:KEY|:GROUP]`, same stopping rule)


@dataclass(frozen=True)
class StudyComparison:
    """One point of the study: ``treatment`` vs ``baseline`` on ``dataset``, at ``context_bias``
    (None: the preset's own world) with the treatment's pose at ``quality`` (None: clean pose;
    the baseline reads no pose and is always its clean run). ``treatment`` is an experiment or a
    fused pair ``"a+b"`` (``actionpose.fuse.FUSED_PAIRS``: a is the baseline, b a pose-only
    stream, trained as its own run and reported alone, see :attr:`stream`)."""

    key: str
    group: str  # see STUDY_GROUPS
    baseline: str
    treatment: str
    dataset: str
    context_bias: float | None = None
    quality: PoseQuality | None = None
    expect: str = "better"  # does feeding pose this way help (stats.EXPECTATIONS)

    @property
    def baseline_dataset(self) -> str:
        """Where the no-pose baseline's runs are: the dataset whose frames ``dataset`` shows (a
        world with estimated pose shares its world's frames, so the baseline's runs serve both)."""
        return frames_dataset(self.dataset)

    @property
    def stream(self) -> str | None:
        """A fused pair's pose-only stream (its own runs, whose accuracy the study shows alone)."""
        return self.treatment.partition("+")[2] or None

    @property
    def title(self) -> str:
        where = [self.dataset] + ([f"context bias {self.context_bias:g}"] if self.context_bias is not None else [])
        where += [f"pose {self.quality.label}"] if self.quality is not None else []
        return f"{self.treatment} vs {self.baseline} ({', '.join(where)})"


STUDY_GROUPS = {
    "modes": "every way of feeding pose vs its no-pose baseline, clean pose, the preset's own world",
    "quality": "the pose-reading modes at worse pose (the treatment's pose only; frames untouched)",
    "bias": "the C3D-based modes on puppet worlds of other context biases (clean pose)",
    "estimated": "the modes on the real-actor composite with MediaPipe's pose in place of the annotated "
                 "masks (paired also with the same mode on the annotated masks), and the joint streams, "
                 "which the composite's annotation (masks only) cannot feed",
}
# mode (treatment) -> its no-pose baseline; "a+b": late fusion of C3D with a pose-only stream
STUDY_MODES = {"c3d-pose": "c3d", "c3d-mask-channel": "c3d", "c3d+pose-only": "c3d",
               "c3d+heatmap-volume": "c3d", "c3d+stgcn": "c3d",
               "attention-pose": "attention", "attention-pose-reg": "attention",
               "two-stream-mask": "two-stream"}
# the real-actor composite has masks but joints for one clip only: no joint-reading mode there
STUDY_ACTORS = ("c3d-pose", "c3d-mask-channel", "c3d+pose-only", "two-stream-mask")
# estimated pose has joints too: the joint streams on real motion (no annotated joints to pair with)
STUDY_ESTIMATED = (*STUDY_ACTORS, "c3d+heatmap-volume", "c3d+stgcn")
# the knob: jitter moves joints (the joint streams), missed frames reach joints and masks
STUDY_QUALITY = [
    *[(mode, PoseQuality(jitter=j)) for mode in ("c3d+heatmap-volume", "c3d+stgcn") for j in (0.05, 0.1, 0.2)],
    *[(mode, PoseQuality(miss_rate=m)) for mode in ("c3d-pose", "c3d-mask-channel", "c3d+pose-only",
                                                  "c3d+heatmap-volume", "c3d+stgcn") for m in (0.2, 0.5)],
]
STUDY_BIASES = (0.0, 0.5, 0.8)  # with the preset's own world (b = 0.25 at cpu) the modes' clean row
STUDY_BIAS_MODES = ("c3d-pose", "c3d-mask-channel", "c3d+pose-only", "c3d+heatmap-volume", "c3d+stgcn")

STUDY: list[StudyComparison] = [
    *[StudyComparison(mode, "modes", base, mode, "puppet") for mode, base in STUDY_MODES.items()],
    *[StudyComparison(f"{mode}/actors", "modes", STUDY_MODES[mode], mode, "actors") for mode in STUDY_ACTORS],
    *[StudyComparison(f"{mode}/actors-estimated", "estimated", STUDY_MODES[mode], mode, "actors-estimated")
      for mode in STUDY_ESTIMATED],
    *[StudyComparison(f"{mode}/{q.label}", "quality", STUDY_MODES[mode], mode, "puppet", quality=q)
      for mode, q in STUDY_QUALITY],
    *[StudyComparison(f"{mode}/bias{b:g}", "bias", STUDY_MODES[mode], mode, "puppet", context_bias=b)
      for mode in STUDY_BIAS_MODES for b in STUDY_BIASES],
]


def study_points(name: str) -> list[StudyComparison]:
    """The study's comparisons named by ``name``: all of them (empty name), a group, or a key."""
    if not name:
        return list(STUDY)
    if name in STUDY_GROUPS:
        return [c for c in STUDY if c.group == name]
    return [c for c in STUDY if c.key == name]


def shown_by_report(point: StudyComparison) -> bool:
    """Whether the report's own tables already show ``point`` (a report comparison on clean
    pose, at its world or, through the context-bias sweep, at another bias)."""
    return point.quality is None and any(
        (c.baseline, c.treatment, c.dataset) == (point.baseline, point.treatment, point.dataset)
        for c in COMPARISONS)
