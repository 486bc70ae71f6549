"""The judge registry: which judges exist, what each can judge, and how each is built.

Part of ``binding``. Every judge a spec can name runs in ``promote``, the in-cluster
controller and ``analyze``; a combination a judge cannot serve (a threshold judge over a
latency metric, a Kayenta schedule longer than an analysis step) is a ``SpecError`` naming
the field, raised by ``lint`` and before any measurement. The sequential judge carries its
evidence across the steps of one build; the Kayenta- and Flagger-compatible judges start
afresh at each analysis step, as their originals run one analysis per stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from mlrollout.analysis.config import JudgedMetric, SequentialConfig
from mlrollout.analysis.flagger import FlaggerConfig, FlaggerJudge, ThresholdCheck
from mlrollout.binding.metrics import BoundMetric
from mlrollout.errors import SpecError
from mlrollout.model import format_duration
from mlrollout.model.analysis import InconclusivePolicy, MetricKind
from mlrollout.spec.policy import AnalysisPolicy, JudgeKind

if TYPE_CHECKING:
    from mlrollout.analysis.judge import Judge

__all__ = [
    "build_judge",
    "check_judge",
    "compute_sequential_config",
    "compute_window",
    "judge_carries_evidence",
]


def judge_carries_evidence(policy: AnalysisPolicy) -> bool:
    """True when evidence is carried across the steps of one build."""
    return policy.judge is JudgeKind.SEQUENTIAL


def compute_window(policy: AnalysisPolicy) -> timedelta:
    """Length of one measurement window: a threshold check interval, else ``interval``."""
    if policy.judge is JudgeKind.THRESHOLD:
        return policy.threshold.interval
    return policy.interval


def check_judge(
    policy: AnalysisPolicy,
    bound: Sequence[BoundMetric],
    *,
    max_durations: Sequence[tuple[str, timedelta]] = (),
    path: str = "spec.analysis.judge",
) -> None:
    """Refuse what the policy's judge cannot judge; ``max_durations`` are (field, limit)."""
    if not bound:
        raise SpecError("the referenced templates have no metrics", path=path)
    kind = policy.judge
    if kind is JudgeKind.THRESHOLD:
        for b in bound:
            if b.metric.kind is not MetricKind.THRESHOLD:
                raise SpecError(
                    f"judge 'threshold' checks only metrics of kind 'threshold'; {b.key} is "
                    f"'{b.metric.kind}' (use judge 'sequential' for it)",
                    path=path,
                )
    if kind is JudgeKind.KAYENTA:
        for b in bound:
            if b.metric.kind is MetricKind.THRESHOLD:
                raise SpecError(
                    f"judge 'kayenta' compares canary and baseline; {b.key} is a 'threshold' "
                    "check (use judge 'threshold' or 'sequential')",
                    path=path,
                )
        schedule = policy.kayenta.interval * policy.kayenta.intervals
        for field, limit in max_durations:
            if limit < schedule:
                raise SpecError(
                    f"maxDuration {format_duration(limit)} is shorter than the Kayenta "
                    f"schedule (interval × intervals = {format_duration(schedule)}); "
                    "the judge could never decide",
                    path=field,
                )


def compute_sequential_config(
    policy: AnalysisPolicy, *, offset_s: float, min_s: float, max_s: float
) -> SequentialConfig:
    """Sequential judge configuration for one analysis step (times from the first step)."""
    return SequentialConfig(
        alpha=policy.alpha,
        beta=policy.beta,
        min_soak_s=offset_s + min_s,
        max_duration_s=offset_s + max_s,
        on_inconclusive=policy.on_inconclusive,
        error_limit=policy.consecutive_error_limit,
        on_error=InconclusivePolicy(policy.on_error_limit.value),
    )


def build_judge(
    policy: AnalysisPolicy,
    bound: Sequence[BoundMetric],
    judged: Sequence[JudgedMetric],
    *,
    offset_s: float,
    min_s: float,
    max_s: float,
) -> Judge:
    """The policy's judge over ``bound`` metrics (``judged`` is their sequential form)."""
    # The statistical judges load numpy and scipy: imported here, when a judge is built,
    # so that ``lint`` and ``plan`` (which only check a policy) start quickly.
    from mlrollout.analysis.kayenta import KayentaConfig, KayentaJudge, KayentaMetric
    from mlrollout.analysis.sequential import SequentialJudge

    check_judge(policy, bound)
    if policy.judge is JudgeKind.KAYENTA:
        settings = policy.kayenta
        metrics = [
            KayentaMetric(
                name=b.key,
                kind=b.metric.kind,
                critical=b.metric.critical,
                allowed_increase=1.0 + b.relative_margin,
            )
            for b in bound
        ]
        config = KayentaConfig(
            confidence=settings.confidence,
            interval_s=settings.interval.total_seconds(),
            intervals=settings.intervals,
            pass_score=settings.pass_score,
            marginal_score=settings.marginal_score,
        )
        return KayentaJudge(metrics, config)
    if policy.judge is JudgeKind.THRESHOLD:
        checks = [
            ThresholdCheck(b.key, r.min, r.max) for b in bound if (r := b.metric.range) is not None
        ]
        threshold = policy.threshold
        return FlaggerJudge(
            checks,
            FlaggerConfig(
                failure_limit=threshold.failure_limit,
                iterations=threshold.checks,
                max_duration_s=max_s,
            ),
        )
    sequential = compute_sequential_config(policy, offset_s=offset_s, min_s=min_s, max_s=max_s)
    return SequentialJudge(judged, sequential)
