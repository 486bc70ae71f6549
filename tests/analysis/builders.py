"""Shared builders for the analysis tests: windows of counts and histograms."""

from __future__ import annotations

import numpy as np

from mlrollout.analysis.observations import EventCounts, Histogram, Window

BOUNDS = (0.05, 0.1, 0.105, 0.11, 0.1155, 0.2, 0.5)


def count_window(
    canary_events: float, baseline_events: float, *, canary: float = 50, baseline: float = 950
) -> Window:
    """Event counts among request exposures (5% canary by default)."""
    return Window(
        15.0,
        canary=EventCounts(canary_events, canary),
        baseline=EventCounts(baseline_events, baseline),
        canary_weight=canary / (canary + baseline),
    )


def histogram(latencies: np.ndarray, bounds: tuple[float, ...] = BOUNDS) -> Histogram:
    """A cumulative histogram of raw latencies."""
    counts = tuple(float((latencies <= b).sum()) for b in bounds)
    return Histogram(bounds, counts, float(latencies.sum()), float(latencies.size))


def latency_window(rng: np.random.Generator, *, scale: float, n_canary: int = 60) -> Window:
    """Lognormal latencies (median 50 ms) with the canary scaled by ``scale``."""
    base = rng.lognormal(np.log(0.05), 0.5, 1000)
    canary = scale * rng.lognormal(np.log(0.05), 0.5, n_canary)
    return Window(15.0, canary=histogram(canary), baseline=histogram(base), canary_weight=0.05)
