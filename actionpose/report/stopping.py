"""When a claim has seeds enough: the stopping rule of the report.

Seeds are added to a claim's pair (baseline and treatment, same seed) until, first of three,
its paired 95% interval lies wholly on one side of the claim's threshold (0 or ±MARGIN, see
:func:`stats.claim_threshold`), or the interval's half-width is at most ``HALF_WIDTH``, or it
has ``MAX_SEEDS`` seeds. The state is a function of the pairs alone, so every table derives it
from the records and says which rule ended the claim (or how far it is from ending).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from actionpose.report.stats import MARGIN, claim_threshold

HALF_WIDTH = 0.05  # an interval this narrow ends the claim whatever side it lies on
MAX_SEEDS = 10

DECIDED_SIDE = "decided (interval one side)"
DECIDED_WIDTH = "decided (half-width <= 5)"
STOPPED = f"stopped ({MAX_SEEDS} seeds)"


@dataclass(frozen=True)
class Stopping:
    """A claim's seeds: how many it has, its state, and the seeds the rule expects it to need
    (``needed``: where the half-width rule or the seed cap ends it; ``for_half_width``: seeds
    for a ±HALF_WIDTH interval at the current SD, uncapped; both NaN below two seeds)."""

    seeds: int
    state: str
    needed: float
    for_half_width: float

    @property
    def open(self) -> bool:
        return self.state.startswith("open")


def _t(n: int) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.975, n - 1))


def seeds_for_half_width(sd: float, target: float = HALF_WIDTH, limit: int = 10_000) -> int:
    """The fewest seeds (>= 2) whose Student-t 95% half-width t(n-1)·sd/√n is <= ``target``:
    n ≈ (t·sd/target)², solved with t at that n."""
    if sd <= 0:
        return 2
    n = max(2, math.ceil((1.96 * sd / target) ** 2))
    while n > 2 and _t(n - 1) * sd / math.sqrt(n - 1) <= target:
        n -= 1
    while _t(n) * sd / math.sqrt(n) > target and n < limit:
        n += 1
    return n


def stopping(row: dict, expect: str, margin: float = MARGIN) -> Stopping:
    """The stopping state of a paired difference (``n_pairs``, ``delta_mean``, ``delta_ci95``
    as :func:`stats.paired_difference` gives them) for a claim predicting ``expect``."""
    threshold = claim_threshold(expect, margin)
    n, mean, half = int(row["n_pairs"]), row["delta_mean"], row["delta_ci95"]
    if n < 2 or math.isnan(half):
        return Stopping(n, f"open ({n} seed{'s' * (n != 1)}; at least 2 needed)", 2.0, float("nan"))
    sd = half * math.sqrt(n) / _t(n)
    for_width = seeds_for_half_width(sd)
    needed = float(min(max(for_width, n), MAX_SEEDS))
    if mean - half > threshold or mean + half < threshold:
        return Stopping(n, DECIDED_SIDE, float(n), float(for_width))
    if half <= HALF_WIDTH:
        return Stopping(n, DECIDED_WIDTH, float(n), float(for_width))
    if n >= MAX_SEEDS:
        return Stopping(n, STOPPED, float(n), float(for_width))
    return Stopping(n, f"open ({n} seeds; about {needed:.0f} needed)", needed, float(for_width))
