"""What a judge returns at each look: per-metric verdicts and the overall decision.

Neighbours: produced by ``sequential``, ``kayenta`` and ``flagger``; rendered by the
``report`` layer and persisted by the controller (``to_dict`` gives plain JSON values).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from mlrollout.analysis.kinds import AnalysisDecision, Verdict

__all__ = ["Look", "MetricVerdict"]


def _finite_or_none(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class MetricVerdict:
    """One metric at one look: verdict, effect with its interval, e-values and a reason.

    ``e_rollback``/``e_promote`` are compared with ``rollback_at``/``promote_at`` (1/α_k,
    1/β); they are 1 before any data. ``lower``/``upper`` form the confidence sequence.
    """

    name: str
    kind: str
    verdict: Verdict
    reason: str
    estimate: float | None = None
    lower: float | None = None
    upper: float | None = None
    unit: str = ""
    e_rollback: float = 1.0
    e_promote: float = 1.0
    rollback_at: float = math.inf
    promote_at: float = math.inf
    events: float = 0.0
    windows: int = 0
    errored_windows: int = 0
    empty_windows: int = 0
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (infinities and NaN become None)."""
        data = asdict(self)
        for key in (
            "estimate",
            "lower",
            "upper",
            "e_rollback",
            "e_promote",
            "rollback_at",
            "promote_at",
        ):
            data[key] = _finite_or_none(data[key])
        data["verdict"] = self.verdict.value
        return data


@dataclass(frozen=True)
class Look:
    """The outcome of one look: decision, reason and every metric's verdict."""

    decision: AnalysisDecision
    reason: str
    elapsed_s: float
    metrics: tuple[MetricVerdict, ...] = field(default_factory=tuple)

    @property
    def final(self) -> bool:
        """True when the analysis has ended (anything but continue)."""
        return self.decision is not AnalysisDecision.CONTINUE

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form."""
        return {
            "decision": self.decision.value,
            "reason": self.reason,
            "elapsed_s": self.elapsed_s,
            "metrics": [m.to_dict() for m in self.metrics],
        }
