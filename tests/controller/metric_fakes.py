"""Fake metric providers for the analyst and loop tests: counts, scalars, outages."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import numpy as np

from mlrollout.analysis.observations import EventCounts, ScalarValue, Window
from mlrollout.errors import ProviderUnavailableError
from mlrollout.metrics.provider import MetricRequest
from mlrollout.spec import AnalysisTemplate, load_paths

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = load_paths(sorted((ROOT / "analyses").glob("*.yaml"))).templates


class CountingProvider:
    """Error counts per window: baseline 1% errors, canary ``1% x ratio``, 50 req/s.

    ``split`` scales the canary's real share of requests against the router weight (1.0: the
    split the weight says; 0.5: half of it, a sample-ratio mismatch).
    """

    def __init__(self, ratio: float, *, seed: int = 7, split: float = 1.0) -> None:
        self.ratio = ratio
        self.split = split
        self.rng = np.random.default_rng(seed)
        self.requests: list[tuple[str, int]] = []

    def fetch_windows(
        self, request: MetricRequest, *, boundaries: Sequence[datetime]
    ) -> list[Window]:
        self.requests.append((request.metric.name, len(boundaries) - 1))
        weight = request.canary_weight or 0.05
        out = []
        for start, end in itertools.pairwise(boundaries):
            seconds = (end - start).total_seconds()
            real = weight * self.split
            n_canary = self.rng.poisson(50 * seconds * real)
            n_base = self.rng.poisson(50 * seconds * (1 - real))
            canary = EventCounts(
                float(self.rng.binomial(n_canary, 0.01 * self.ratio)), float(n_canary)
            )
            base = EventCounts(float(self.rng.binomial(n_base, 0.01)), float(n_base))
            out.append(
                Window(duration_s=seconds, canary=canary, baseline=base, canary_weight=weight)
            )
        return out

    def close(self) -> None:
        pass


class FlakyProvider(CountingProvider):
    """Answers like ``CountingProvider`` except while ``down`` says the backend is out."""

    def __init__(self, ratio: float, down: range) -> None:
        super().__init__(ratio)
        self.down = down
        self.calls = 0

    def fetch_windows(
        self, request: MetricRequest, *, boundaries: Sequence[datetime]
    ) -> list[Window]:
        self.calls += 1
        if self.calls in self.down:
            raise ProviderUnavailableError("prometheus: connection refused")
        return super().fetch_windows(request, boundaries=boundaries)


class SilentProvider(CountingProvider):
    """A provider that is down for good."""

    def fetch_windows(
        self, request: MetricRequest, *, boundaries: Sequence[datetime]
    ) -> list[Window]:
        raise ProviderUnavailableError("prometheus: connection refused")


class ScalarProvider:
    """A threshold metric: the canary's value per window (``bad_after`` windows, then 0.99)."""

    def __init__(self, *, good: float, bad_after: int | None = None) -> None:
        self.good, self.bad_after, self.windows = good, bad_after, 0

    def fetch_windows(
        self, request: MetricRequest, *, boundaries: Sequence[datetime]
    ) -> list[Window]:
        out = []
        for start, end in itertools.pairwise(boundaries):
            self.windows += 1
            bad = self.bad_after is not None and self.windows > self.bad_after
            value = ScalarValue(0.99 if bad else self.good)
            out.append(Window(duration_s=(end - start).total_seconds(), canary=value))
        return out

    def close(self) -> None:
        pass


def threshold_templates() -> dict[str, AnalysisTemplate]:
    gpu = TEMPLATES["gpu-health"]
    memory = [m for m in gpu.spec.metrics if m.name == "gpu-memory"]
    spec = gpu.spec.model_copy(update={"metrics": memory})
    return {**TEMPLATES, "gpu-health": gpu.model_copy(update={"spec": spec})}
