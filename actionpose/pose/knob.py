"""One setting of the pose-quality knob, without torch: what a run's config, a record and a
study point name (:mod:`actionpose.pose.quality` applies it to tensors and re-exports it).

The four parts are in units of the person's height (see :mod:`actionpose.pose.quality`); in a
training config they are the flat fields :data:`CONFIG_KEYS` (``pose_offset`` a pair), absent
or zero meaning the pose as it is.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from actionpose.errors import ConfigError

# TrainConfig's fields for the knob, in the order of PoseQuality's
CONFIG_KEYS = ("pose_jitter", "pose_miss_rate", "pose_offset", "pose_mask_change")
# the setting as columns of the results tables (the offset split into x and y)
TABLE_COLUMNS = ("pose_jitter", "pose_miss_rate", "pose_offset_x", "pose_offset_y", "pose_mask_change")
# the knob's real counterpart: a dataset whose pose an estimator read off the frames of another
# (:mod:`actionpose.data.estimated`) -> that dataset, whose frames, labels and splits it shares
ESTIMATED = {"actors-estimated": "actors"}


def frames_dataset(dataset: str) -> str:
    """The dataset whose frames ``dataset`` shows (itself unless its pose is estimated): a model
    that reads no pose trains there, and its runs serve both."""
    return ESTIMATED.get(dataset, dataset)


def _number(name: str, value, *, low: float | None = None, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"pose quality {name} must be a finite number, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(f"pose quality {name} must be in [{low}, {high}], got {value!r}")
    return float(value)


@dataclass(frozen=True)
class PoseQuality:
    """One setting of the knob: joint jitter, missed-frame rate, whole-body offset (dx, dy) and
    mask dilation (> 0) or erosion (< 0). The default changes nothing."""

    jitter: float = 0.0
    miss_rate: float = 0.0
    offset: tuple[float, float] = (0.0, 0.0)
    mask_change: float = 0.0

    def __post_init__(self):
        _number("jitter", self.jitter, low=0.0)
        _number("miss_rate", self.miss_rate, low=0.0, high=1.0)
        try:
            dx, dy = self.offset
        except (TypeError, ValueError):
            raise ConfigError(f"pose quality offset must be (dx, dy), got {self.offset!r}") from None
        object.__setattr__(self, "offset", (_number("offset", dx), _number("offset", dy)))
        _number("mask_change", self.mask_change)

    @property
    def is_perfect(self) -> bool:
        return self == PoseQuality()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "PoseQuality":
        """The setting a training config (or a record's config) names; absent keys are clean
        (runs trained before the knob existed)."""
        offset = config.get("pose_offset")
        return cls(config.get("pose_jitter") or 0.0, config.get("pose_miss_rate") or 0.0,
                   (0.0, 0.0) if offset is None else tuple(offset), config.get("pose_mask_change") or 0.0)

    def config(self) -> dict[str, Any]:
        """As training config overrides (:data:`CONFIG_KEYS`)."""
        return dict(zip(CONFIG_KEYS, (self.jitter, self.miss_rate, self.offset, self.mask_change)))

    def parts(self) -> list[str]:
        """The settings that differ from perfect pose as run-name parts, e.g. ``jitter0.05``,
        ``miss0.2``, ``offset0.02_-0.01``, ``mask+0.05``."""
        dx, dy = self.offset
        parts = [f"jitter{self.jitter:g}" if self.jitter else "",
                 f"miss{self.miss_rate:g}" if self.miss_rate else "",
                 f"offset{dx:g}_{dy:g}" if dx or dy else "",
                 f"mask{self.mask_change:+g}" if self.mask_change else ""]
        return [p for p in parts if p]

    @property
    def label(self) -> str:
        """``clean`` or the run-name parts joined by ``-`` (e.g. ``jitter0.05-miss0.2``)."""
        return "-".join(self.parts()) or "clean"


__all__ = ["CONFIG_KEYS", "ESTIMATED", "PoseQuality", "frames_dataset"]
