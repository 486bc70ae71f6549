"""The vocabulary of analysis shared by every layer: metric kinds, verdicts, decisions.

Bottom layer, beside ``digest`` and ``duration``. The spec validates these spellings, the
analysis layer computes with them, the controller and reports carry them: one enum per
concept, never a string compared in two places.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["AnalysisDecision", "InconclusivePolicy", "MetricKind", "MetricRole", "Verdict"]


class MetricKind(StrEnum):
    """Which statistical test applies to a metric (docs/statistics.md)."""

    ERRORS = "errors"
    ACCURACY = "accuracy"
    LATENCY_TAIL = "latency-tail"
    LATENCY_BODY = "latency-body"
    ANOMALIES = "anomalies"
    GPU_HEALTH = "gpu-health"
    THRESHOLD = "threshold"

    @property
    def tripwire(self) -> bool:
        """Anomalies and GPU faults can roll a release back but need not prove anything."""
        return self in (MetricKind.ANOMALIES, MetricKind.GPU_HEALTH)


class MetricRole(StrEnum):
    """What a metric may do to a release (STATISTICS.md §8).

    A ``gate`` must be shown within its margin before promotion (and can roll back); a
    ``guard`` can only roll back, and a guard over a tripwire kind also holds promotion
    while the canary shows events above its background.
    """

    GATE = "gate"
    GUARD = "guard"


class Verdict(StrEnum):
    """Per-metric phase at one look (Argo Rollouts' analysis phases)."""

    RUNNING = "Running"
    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    INCONCLUSIVE = "Inconclusive"
    ERROR = "Error"


class AnalysisDecision(StrEnum):
    """Overall outcome of one look; ``pause`` only at maxDuration under the pause policy."""

    ROLLBACK = "rollback"
    PROMOTE = "promote"
    CONTINUE = "continue"
    PAUSE = "pause"


class InconclusivePolicy(StrEnum):
    """What to do when maxDuration passes without a decision (``onInconclusive``)."""

    PAUSE = "pause"
    ROLLBACK = "rollback"
    PROMOTE = "promote"
