"""Names shared by the whole analysis layer: metric kinds, verdicts, decisions, policies.

Bottom of ``mlrollout.analysis``: every other analysis module imports these enums; the
spec layer maps its strings onto them (the string values are the spec's spelling).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Decision", "Direction", "InconclusivePolicy", "MetricKind", "Verdict"]


class MetricKind(StrEnum):
    """Which statistical test applies to a metric (STATISTICS.md §3)."""

    ERRORS = "errors"
    ACCURACY = "accuracy"
    LATENCY_TAIL = "latency-tail"
    LATENCY_BODY = "latency-body"
    ANOMALIES = "anomalies"
    GPU_HEALTH = "gpu-health"
    THRESHOLD = "threshold"


class Verdict(StrEnum):
    """Per-metric phase at one look (Argo Rollouts' analysis phases)."""

    RUNNING = "Running"
    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    INCONCLUSIVE = "Inconclusive"
    ERROR = "Error"


class Decision(StrEnum):
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


class Direction(StrEnum):
    """Which side of the reference ratio an e-process collects evidence for."""

    ABOVE = "above"  # rollback: evidence that the canary is worse than the margin
    BELOW = "below"  # promote: evidence that the canary is within the margin
