"""The pose-quality knob in the runs table: the columns that carry a run's setting, and which runs
a comparison takes at a setting.

A run's setting is read from its config (``config.json``, or the ``config`` entry of a record's
or fused pair's ``summary.json``); a config without the knob's keys (runs trained before it
existed, backfilled records) is clean pose. The offset takes two columns, its x and y.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from actionpose.pose.knob import TABLE_COLUMNS, PoseQuality

COLUMNS = TABLE_COLUMNS


def values(quality: PoseQuality | None) -> dict[str, float]:
    """The columns' values of ``quality`` (None: clean pose)."""
    q = quality or PoseQuality()
    return dict(zip(COLUMNS, map(float, (q.jitter, q.miss_rate, *q.offset, q.mask_change))))


def from_config(config: Mapping[str, Any]) -> dict[str, float]:
    """The columns' values of a run's config (raises ConfigError for a setting out of range)."""
    return values(PoseQuality.from_config(config))


def setting(row: Mapping[str, Any]) -> PoseQuality:
    """The setting of one row of the runs table (clean where the columns are absent)."""
    v = [float(row.get(c, 0.0)) for c in COLUMNS]
    return PoseQuality(v[0], v[1], (v[2], v[3]), v[4])


def selected(runs: pd.DataFrame, quality: PoseQuality | None) -> pd.Series:
    """Which rows of ``runs`` were trained at ``quality`` (None: clean pose). A table without
    the columns holds clean runs only."""
    want = values(quality)
    mask = pd.Series(True, index=runs.index)
    for column, value in want.items():
        if column in runs:
            mask &= runs[column].astype(float).to_numpy() == value
        elif value != 0.0:
            return pd.Series(False, index=runs.index)
    return mask


def without_clean_columns(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` without the columns when every run is clean (the tables of a report that holds
    no degraded-pose run keep their columns)."""
    present = [c for c in COLUMNS if c in df]
    if present and not np.any(df[present].to_numpy(dtype=float)):
        return df.drop(columns=present)
    return df
