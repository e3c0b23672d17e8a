"""The study's comparisons, defined once: each claim of the report is a treatment against a
baseline on one dataset, and each figure shows the comparisons that name it."""
from __future__ import annotations

from dataclasses import dataclass


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
