"""Flagger/Argo-compatible threshold judge: per check interval, each metric within its range.

A check fails when any metric is outside ``[min, max]`` or has no data (Flagger counts no
data as a failure); ``failure_limit`` failed checks roll back; ``iterations`` passed checks
promote. No baseline, no uncertainty: kept for users migrating with these semantics.
Neighbours: ``evidence.ThresholdEvidence`` evaluates one range; the benchmark feeds it
``histogram_quantile`` and rate points per interval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlrollout.analysis.kinds import AnalysisDecision, Verdict
from mlrollout.analysis.observations import ScalarValue, Window, WindowStatus
from mlrollout.analysis.verdicts import Look, MetricVerdict
from mlrollout.errors import SpecError

__all__ = ["FlaggerConfig", "FlaggerJudge", "ThresholdCheck"]


@dataclass(frozen=True)
class ThresholdCheck:
    """The accepted range of one metric's per-interval value."""

    name: str
    minimum: float | None = None
    maximum: float | None = None

    def __post_init__(self) -> None:
        if self.minimum is None and self.maximum is None:
            raise SpecError("thresholdRange needs min or max", path=self.name)

    def assess(self, value: float) -> bool:
        """True when ``value`` is a number inside the range."""
        return (
            math.isfinite(value)
            and (self.minimum is None or value >= self.minimum)
            and (self.maximum is None or value <= self.maximum)
        )


@dataclass(frozen=True)
class FlaggerConfig:
    """Failed-check limit, checks to promote, and the overall time limit."""

    failure_limit: int = 5
    iterations: int = 30
    max_duration_s: float = 3600.0


class FlaggerJudge:
    """Counts failed and passed checks; one ``observe`` per check interval."""

    def __init__(self, ranges: Sequence[ThresholdCheck], config: FlaggerConfig) -> None:
        if not ranges:
            raise SpecError("the threshold judge needs at least one metric", path="analysis")
        self.ranges = list(ranges)
        self.config = config
        self.failed = 0
        self.passed = 0
        self.outcome: Look | None = None

    def observe(self, windows: Mapping[str, Window], *, elapsed_s: float) -> Look:
        """Evaluate one check on the canary's value in each metric's window.

        A window the provider said it cannot describe (empty, with a reason: a web endpoint
        answers only the latest window) is no check at all, neither passed nor failed; a
        window that was asked and had no number is a failed check, as in Flagger.
        """
        if self.outcome is not None:
            return self.outcome
        unanswered = [
            c.name
            for c in self.ranges
            if (w := windows.get(c.name)) is not None
            and w.status is WindowStatus.EMPTY
            and w.error is not None
        ]
        if unanswered:
            reason = f"no check: the provider could not describe this window ({unanswered[0]})"
            return Look(AnalysisDecision.CONTINUE, reason, elapsed_s)
        values = {}
        for check in self.ranges:
            window = windows.get(check.name)
            ok = window is not None and window.status is WindowStatus.OK
            canary = window.canary if window is not None and ok else None
            values[check.name] = canary.value if isinstance(canary, ScalarValue) else math.nan
        return self.observe_values(values, elapsed_s=elapsed_s)

    def observe_values(self, values: Mapping[str, float], *, elapsed_s: float) -> Look:
        """Evaluate one check: ``values`` maps metric name to the canary's value (NaN = none)."""
        if self.outcome is not None:
            return self.outcome
        verdicts = []
        for rng in self.ranges:
            value = values.get(rng.name, math.nan)
            ok = rng.assess(value)
            verdicts.append(
                MetricVerdict(
                    name=rng.name,
                    kind="threshold",
                    verdict=Verdict.SUCCESSFUL if ok else Verdict.FAILED,
                    reason=f"{rng.name}: {value:.4g} within [{rng.minimum}, {rng.maximum}]: {ok}",
                    estimate=value if math.isfinite(value) else None,
                )
            )
        check_ok = all(v.verdict is Verdict.SUCCESSFUL for v in verdicts)
        self.passed += int(check_ok)
        self.failed += int(not check_ok)
        look = Look(self._decide(elapsed_s), self._reason(), elapsed_s, tuple(verdicts))
        if look.final:
            self.outcome = look
        return look

    def _decide(self, elapsed_s: float) -> AnalysisDecision:
        cfg = self.config
        if self.failed >= cfg.failure_limit:
            return AnalysisDecision.ROLLBACK
        if self.passed >= cfg.iterations:
            return AnalysisDecision.PROMOTE
        if elapsed_s >= cfg.max_duration_s:
            return AnalysisDecision.PAUSE
        return AnalysisDecision.CONTINUE

    def _reason(self) -> str:
        return (
            f"{self.failed} failed checks (limit {self.config.failure_limit}), "
            f"{self.passed} passed (promote at {self.config.iterations})"
        )

    def reopen(self) -> None:
        """Forget a final look, so the next step decides afresh on the evidence carried."""
        self.outcome = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able state."""
        return {"failed": self.failed, "passed": self.passed}

    def load(self, state: Mapping[str, Any]) -> None:
        """Restore state written by :meth:`to_dict`."""
        self.failed, self.passed = int(state["failed"]), int(state["passed"])
