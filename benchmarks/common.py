"""Timing helpers shared by the benchmark modules."""
from __future__ import annotations

import statistics
import time
from typing import Callable


def median_seconds(fn: Callable[[], object], *, repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measurement(name: str, value: float, unit: str, *, baseline: float | None = None,
                target: str | None = None, ratio: float | None = None, met: bool | None = None,
                **extra) -> dict:
    """One row of the benchmark table."""
    row = {"name": name, "value": value, "unit": unit}
    for key, val in (("baseline", baseline), ("target", target), ("ratio", ratio), ("met", met)):
        if val is not None:
            row[key] = val
    row.update(extra)
    return row
