"""The reference model server's Prometheus metrics: the conventions the shipped templates use.

Part of the ``local`` sandbox; ``modelserver`` records into these and serves them on
``/metrics``. Each server has its own ``CollectorRegistry`` (several servers can share a
process). The conventions (copied into ``analyses/README.md``):

``model_request_duration_seconds`` (histogram, label ``environment``)
    Wall time of each ``POST /predict``, errors included. Buckets are *geometric*: from
    10 ms to 1 s each bound is at most 1.025 times the previous one (factor 1.024, rounded
    to 5 significant digits), fine enough to resolve a 5% latency margin
    (STATISTICS.md §5: factor <= 1 + margin/2); 1, 2.5 and 5 ms below and 2.5, 5, 10 s
    above. About 200 buckets.
``model_requests_total`` (counter, labels ``environment``, ``status``)
    ``POST /predict`` answers by HTTP status code as a string (``"200"``, ``"400"``, ``"500"``).
``model_labelled_predictions_total`` (counter, labels ``environment``, ``outcome``)
    Feedback received: ``outcome="correct"`` or ``"incorrect"``.
``model_security_anomalies_total`` (counter, labels ``environment``, ``source``)
    Security anomalies observed, by source (one attacker is one source).

The histogram, the ``200``/``500`` status and both outcome series are created at zero on
start, so queries have data (and increases a starting point) before the first request.
"""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["ServerMetrics", "compute_geometric_buckets"]

FINE_LOW_S = 0.010
FINE_HIGH_S = 1.0
FINE_FACTOR = 1.024


def compute_geometric_buckets(low: float, high: float, factor: float) -> list[float]:
    """Bounds ``low, low*factor, ...`` up to at least ``high``, rounded to 5 significant digits."""
    steps = math.ceil(math.log(high / low) / math.log(factor))
    return [float(f"{low * factor**i:.5g}") for i in range(steps + 1)]


def _latency_buckets() -> list[float]:
    fine = compute_geometric_buckets(FINE_LOW_S, FINE_HIGH_S, FINE_FACTOR)
    return [0.001, 0.0025, 0.005, *fine, 2.5, 5.0, 10.0]


class ServerMetrics:
    """The four metrics of one server, in its own registry, pre-labelled by environment."""

    def __init__(self, environment: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.environment = environment
        self.duration = Histogram(
            "model_request_duration_seconds",
            "Wall time of POST /predict requests.",
            ["environment"],
            buckets=_latency_buckets(),
            registry=self.registry,
        )
        self.requests = self._counter(
            "model_requests",
            "POST /predict answers by HTTP status code.",
            "status",
        )
        self.labelled = self._counter(
            "model_labelled_predictions",
            "Labelled feedback received, by whether the prediction was correct.",
            "outcome",
        )
        self.anomalies = self._counter(
            "model_security_anomalies",
            "Security anomalies observed, by source.",
            "source",
        )
        self.duration.labels(environment)
        for status in ("200", "500"):
            self.requests.labels(environment, status)
        for outcome in ("correct", "incorrect"):
            self.labelled.labels(environment, outcome)

    def _counter(self, name: str, documentation: str, label: str) -> Counter:
        """A counter by environment and ``label``."""
        return Counter(name, documentation, ["environment", label], registry=self.registry)

    def observe_request(self, *, status: int, seconds: float) -> None:
        """Count one answered prediction request and its duration."""
        self.requests.labels(self.environment, str(status)).inc()
        self.duration.labels(self.environment).observe(seconds)

    def observe_feedback(self, *, correct: bool) -> None:
        """Count one labelled example."""
        self.labelled.labels(self.environment, "correct" if correct else "incorrect").inc()

    def observe_anomalies(self, source: str, count: int = 1) -> None:
        """Count ``count`` anomalies from ``source``."""
        self.anomalies.labels(self.environment, source).inc(count)
