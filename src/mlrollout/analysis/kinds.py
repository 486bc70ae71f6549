"""Names shared by the whole analysis layer: metric kinds, verdicts, decisions, policies.

Bottom of ``mlrollout.analysis``. The kinds, verdicts, decisions and policies are the
``model`` layer's (one enum per concept across spec, analysis and controller); only the
e-process ``Direction`` is the analysis layer's own.
"""

from __future__ import annotations

from enum import StrEnum

from mlrollout.model.analysis import AnalysisDecision, InconclusivePolicy, MetricKind, Verdict

__all__ = ["AnalysisDecision", "Direction", "InconclusivePolicy", "MetricKind", "Verdict"]


class Direction(StrEnum):
    """Which side of the reference ratio an e-process collects evidence for."""

    ABOVE = "above"  # rollback: evidence that the canary is worse than the margin
    BELOW = "below"  # promote: evidence that the canary is within the margin
