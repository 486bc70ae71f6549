"""Benchmark: time of one evidence update for one metric, per kind; prints JSON.

Run: ``python benchmarks/analysis_update.py``. The bar (DESIGN.md §7) is a median below
1 ms. Measures ``update`` plus the e-value read the judge does at every look.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable

import numpy as np

from mlrollout.analysis.config import JudgedMetric
from mlrollout.analysis.evidence import build_evidence
from mlrollout.analysis.kinds import MetricKind
from mlrollout.analysis.observations import EventCounts, Histogram, Window
from mlrollout.bench.simulator import compute_geometric_bounds


def _histogram(rng: np.random.Generator, n: int, bounds: tuple[float, ...]) -> Histogram:
    data = rng.lognormal(np.log(0.05), 0.5, n)
    counts = np.searchsorted(np.sort(data), bounds, side="right").astype(float)
    return Histogram(bounds, tuple(counts.tolist()), float(data.sum()), float(n))


def _time(update: Callable[[], None], repeats: int = 2000) -> dict[str, float]:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        update()
        samples.append((time.perf_counter() - start) * 1e3)
    return {"median_ms": statistics.median(samples), "p99_ms": float(np.quantile(samples, 0.99))}


def main() -> None:
    """Time each kind's update and print one JSON document."""
    rng = np.random.default_rng(0)
    bounds = compute_geometric_bounds()
    latency = Window(15.0, _histogram(rng, 37, bounds), _histogram(rng, 713, bounds), 0.05)
    counts = Window(15.0, EventCounts(1, 37), EventCounts(7, 713), 0.05)
    specs = {
        "errors": (JudgedMetric("e", MetricKind.ERRORS, margin=0.2), counts),
        "latency-body": (JudgedMetric("b", MetricKind.LATENCY_BODY), latency),
        "latency-tail": (
            JudgedMetric("t", MetricKind.LATENCY_TAIL, tail_thresholds=bounds[30:35:2]),
            latency,
        ),
        "anomalies": (
            JudgedMetric("a", MetricKind.ANOMALIES, margin=0.0, burst_prior=True),
            counts,
        ),
    }
    results = {}
    for name, (spec, window) in specs.items():
        evidence = build_evidence(spec)

        def update(evidence: object = evidence, window: Window = window) -> None:
            evidence.update(window)  # type: ignore[attr-defined]
            evidence.summarise(0.01, detail=False)  # type: ignore[attr-defined]

        results[name] = _time(update)
    worst = max(r["median_ms"] for r in results.values())
    print(
        json.dumps(
            {
                "benchmark": "analysis_update",
                "kinds": results,
                "worst_median_ms": worst,
                "bar_ms": 1.0,
                "passes": worst < 1.0,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
