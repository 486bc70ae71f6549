"""``status.analysis``: the typed record of a rollout's analysis, as stored and as shown.

Part of the ``spec`` layer, beside ``status``. The controller's analyst writes it after every
look; ``status``, ``promote --output json``, telemetry and reports read it by field, never
by guessing at keys. ``state`` is the judge's own resumable evidence (read back only by the
judge that wrote it); everything a person or a tool reads is in ``look``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, Field, StringConstraints

from mlrollout.model.analysis import AnalysisDecision, Verdict
from mlrollout.spec.base import FreeForm, SpecModel
from mlrollout.spec.policy import JudgeKind

__all__ = [
    "AnalysisRecord",
    "BaselineRecord",
    "LookRecord",
    "MetricVerdictRecord",
    "SampleRatioRecord",
]

Text = Annotated[str, StringConstraints(max_length=4096)]


class BaselineRecord(SpecModel):
    """What the stable environment measured before the rollout (per metric, when needed)."""

    accuracy: float | None = None
    tail_thresholds: list[float] = Field(default_factory=list, max_length=64)
    latency_cv2: float | None = None


class MetricVerdictRecord(SpecModel):
    """One metric at the latest look: verdict, effect and interval, evidence and thresholds.

    Values that are infinite or undefined are absent (``None``).
    """

    name: Text
    kind: Annotated[str, StringConstraints(max_length=32)]
    verdict: Verdict
    reason: Text
    estimate: float | None = None
    lower: float | None = None
    upper: float | None = None
    unit: Annotated[str, StringConstraints(max_length=64)] = ""
    e_rollback: float | None = None
    e_promote: float | None = None
    rollback_at: float | None = None
    promote_at: float | None = None
    events: float = 0.0
    windows: int = 0
    errored_windows: int = 0
    empty_windows: int = 0
    dry_run: bool = False


class LookRecord(SpecModel):
    """The judge's latest look: its decision, why, and every metric's verdict."""

    decision: AnalysisDecision
    reason: Text
    elapsed_seconds: float
    metrics: list[MetricVerdictRecord] = Field(default_factory=list, max_length=64)


class SampleRatioRecord(SpecModel):
    """Sample-ratio mismatch: do requests split between the variants as the router says?

    Counted on one errors metric's request counts, tested per window against the router's
    canary share (``analysis.integrity``); ``expected_share`` is the request-weighted mean of
    that share. A finding for reports, never evidence of health.
    """

    metric: Text
    canary_requests: float = 0.0
    baseline_requests: float = 0.0
    expected_share: float | None = None
    e_value: float = 1.0
    mismatch: bool = False
    state: FreeForm | None = None


class AnalysisRecord(SpecModel):
    """The analysis of one build (generation, image, model) across its analysis steps.

    Times in seconds count analysis time from the build's first analysis step:
    ``offset_seconds`` is where the current step started, ``elapsed_seconds`` how far the
    judge has looked.
    ``waiting_for_baseline`` is set while the stable environment's pre-rollout baseline
    (accuracy labels, latency buckets) could not be measured yet.
    """

    build: Annotated[str, StringConstraints(max_length=1024)]
    judge: JudgeKind = JudgeKind.SEQUENTIAL
    started_at: AwareDatetime
    step: int
    step_started_at: AwareDatetime
    offset_seconds: float = 0.0
    elapsed_seconds: float = 0.0
    fetched_until: AwareDatetime
    baseline: dict[Text, BaselineRecord] = Field(default_factory=dict)
    state: FreeForm | None = None
    look: LookRecord | None = None
    waiting_for_baseline: bool = False
    sample_ratio: SampleRatioRecord | None = None

    def enter_step(self, step: int, started: datetime, *, carry: bool) -> AnalysisRecord:
        """The record at the start of ``step``: the build's evidence kept when ``carry``."""
        return self.model_copy(
            update={
                "step": step,
                "step_started_at": started,
                "offset_seconds": self.elapsed_seconds if carry else 0.0,
                "fetched_until": started,
                "state": self.state if carry else None,
                "look": None,
                "waiting_for_baseline": False,
            }
        )
