"""The analyst: turns a rollout's templates into judged evidence, window by window.

Part of the ``controller`` layer, between the ``metrics`` providers (numbers) and the
``analysis`` judges (statistics). It maps spec metrics onto the analysis layer's
``JudgedMetric`` (margins, criticality, the baseline accuracy and tail thresholds measured on
pre-rollout data), fetches every elapsed window of both variants on shared boundaries, feeds
the judge and keeps its state in ``status.analysis`` so a restarted controller resumes the
same evidence. Evidence is carried across the steps of one build and never across builds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mlrollout.analysis import (
    Histogram,
    InconclusivePolicy,
    JudgedMetric,
    Look,
    MetricKind,
    SequentialConfig,
    SequentialJudge,
    compute_tail_thresholds,
)
from mlrollout.analysis.observations import EventCounts
from mlrollout.core.decision import parse_stamp, stamp
from mlrollout.core.observation import AnalysisLook
from mlrollout.errors import SpecError
from mlrollout.kube.rollouts import StoredRollout
from mlrollout.metrics.provider import MetricProvider, MetricRequest, VariantScope, record_windows
from mlrollout.spec import AnalysisTemplate, ModelRollout
from mlrollout.spec.policy import AnalysisPolicy
from mlrollout.spec.template import MetricKind as SpecKind
from mlrollout.spec.template import MetricSpec

__all__ = ["BoundMetric", "MetricsAnalyst", "bind_metrics", "compute_judged_metric"]

PRE_ROLLOUT = timedelta(minutes=30)
SCRAPE_LAG = timedelta(seconds=15)
MAX_WINDOWS_PER_LOOK = 120


@dataclass(frozen=True)
class BoundMetric:
    """A template metric with the arguments its rollout gives it."""

    template: str
    metric: MetricSpec
    args: Mapping[str, str]

    @property
    def key(self) -> str:
        """Unique name across templates (``template/metric``)."""
        return f"{self.template}/{self.metric.name}"


def bind_metrics(
    rollout: ModelRollout, templates: Mapping[str, AnalysisTemplate]
) -> list[BoundMetric]:
    """Every metric of every referenced template, with argument defaults applied."""
    policy = rollout.spec.analysis
    if policy is None:
        return []
    bound = []
    for i, ref in enumerate(policy.templates):
        template = templates.get(ref.name)
        if template is None:
            raise SpecError(
                f"analysis template {ref.name!r} not found",
                path=f"spec.analysis.templates[{i}].name",
            )
        defaults = {a.name: a.value for a in template.spec.args if a.value is not None}
        args = {**defaults, **ref.args}
        bound += [BoundMetric(template.name, m, args) for m in template.spec.metrics]
    return bound


def compute_judged_metric(
    bound: BoundMetric, *, baseline_accuracy: float | None, tail_thresholds: tuple[float, ...]
) -> JudgedMetric:
    """The analysis layer's view of one metric."""
    metric = bound.metric
    margin = metric.effective_margin()
    promote = None
    if metric.promote_margin is not None and margin is not None:
        promote = float(getattr(metric.promote_margin, margin[0]))
    rng = metric.range
    tripwire = metric.kind in (SpecKind.ANOMALIES, SpecKind.GPU_HEALTH)
    return JudgedMetric(
        name=bound.key,
        kind=MetricKind(metric.kind.value),
        margin=margin[1] if margin is not None else 0.0,
        promote_margin=promote,
        critical=metric.critical,
        weight=metric.weight,
        baseline_accuracy=baseline_accuracy,
        tail_thresholds=tail_thresholds,
        threshold_min=rng.min if rng is not None else None,
        threshold_max=rng.max if rng is not None else None,
        burst_prior=tripwire,
        # Anomalies and GPU faults are tripwires: they can roll a release back but need
        # not prove anything for it to be promoted (equal background rates never could).
        gated=not tripwire,
    )


def compute_judge_config(
    policy: AnalysisPolicy, *, offset_s: float, min_s: float, max_s: float
) -> SequentialConfig:
    """Judge configuration for one analysis step (times counted from the first step)."""
    return SequentialConfig(
        alpha=policy.alpha,
        beta=policy.beta,
        min_soak_s=offset_s + min_s,
        max_duration_s=offset_s + max_s,
        on_inconclusive=InconclusivePolicy(policy.on_inconclusive.value),
        error_limit=policy.consecutive_error_limit,
        on_error=InconclusivePolicy(policy.on_error_limit.value),
    )


class MetricsAnalyst:
    """The ``Analyst`` port over a metrics provider and the sequential judge."""

    def __init__(
        self,
        provider: MetricProvider,
        templates: Mapping[str, AnalysisTemplate],
        *,
        now: Callable[[], datetime],
        scrape_lag: timedelta = SCRAPE_LAG,
    ) -> None:
        self.provider = provider
        self.templates = templates
        self.now = now
        self.scrape_lag = scrape_lag

    def look(self, stored: StoredRollout, *, now_s: float) -> AnalysisLook | None:
        """Fold every elapsed window into the judge and return its latest look."""
        rollout, status = stored.rollout, stored.status
        policy = rollout.spec.analysis
        step = status.current_step or 0
        limits = _step_limits(rollout, step)
        if policy is None or limits is None or status.release is None:
            return None
        bound = bind_metrics(rollout, self.templates)
        record = _fresh_record(status.analysis, stored)
        step_started = parse_stamp(status.step_started_at) or self.now()
        if record.get("step") != step:
            record = _enter_step(record, step, step_started)
        specs = self._specs(bound, stored, record)
        if specs is None:
            return _without_baseline(policy, limits[1], self.now() - step_started, step, record)
        config = compute_judge_config(
            policy,
            offset_s=float(record["offset_s"]),
            min_s=limits[0].total_seconds(),
            max_s=limits[1].total_seconds(),
        )
        judge = _judge(specs, config, record.get("judge"))
        look = self._fold(judge, bound, stored, record, policy.interval)
        record["judge"] = judge.to_dict()
        if look is None:
            return AnalysisLook("continue", "waiting for the first window", step, record)
        record["look"] = look.to_dict()
        return AnalysisLook(look.decision.value, look.reason, step, record)

    def _fold(
        self,
        judge: SequentialJudge,
        bound: Sequence[BoundMetric],
        stored: StoredRollout,
        record: dict[str, Any],
        interval: timedelta,
    ) -> Look | None:
        start = parse_stamp(record["fetched_until"])
        assert start is not None
        end = self.now() - self.scrape_lag
        count = min(int((end - start) / interval), MAX_WINDOWS_PER_LOOK)
        if count <= 0:
            return None
        boundaries = [start + interval * i for i in range(count + 1)]
        per_metric = {
            b.key: record_windows(self.provider, self._request(b, stored), boundaries=boundaries)
            for b in bound
        }
        look = None
        step_started = parse_stamp(record["step_started"])
        assert step_started is not None
        for i in range(count):
            windows = {key: windows[i] for key, windows in per_metric.items()}
            elapsed = float(record["offset_s"]) + (boundaries[i + 1] - step_started).total_seconds()
            look = judge.observe(windows, elapsed_s=elapsed)
        record["fetched_until"] = stamp(boundaries[-1])
        return look

    def _request(
        self, bound: BoundMetric, stored: StoredRollout, *, weight: float | None = None
    ) -> MetricRequest:
        rollout, status = stored.rollout, stored.status
        label = rollout.spec.metrics.selector_label if rollout.spec.metrics else "environment"
        stable, candidate = status.active_env or "blue", status.candidate_env or "green"
        applied = status.traffic.applied
        share = applied.canary_weight / 100 if applied is not None else weight
        return MetricRequest(
            template=bound.template,
            metric=bound.metric,
            canary=VariantScope(candidate, {label: candidate}),
            baseline=VariantScope(stable, {label: stable}),
            namespace=rollout.namespace,
            service=rollout.spec.service,
            args=dict(bound.args),
            canary_weight=share,
        )

    def _specs(
        self, bound: Sequence[BoundMetric], stored: StoredRollout, record: dict[str, Any]
    ) -> list[JudgedMetric] | None:
        baseline = record.setdefault("baseline", {})
        specs = []
        for b in bound:
            if b.key not in baseline:
                measured = self._measure_baseline(b, stored, record)
                if measured is None:
                    return None
                baseline[b.key] = measured
            accuracy = baseline[b.key].get("accuracy")
            tails = tuple(baseline[b.key].get("tail_thresholds", ()))
            specs.append(
                compute_judged_metric(b, baseline_accuracy=accuracy, tail_thresholds=tails)
            )
        return specs

    def _measure_baseline(
        self, bound: BoundMetric, stored: StoredRollout, record: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Accuracy and tail thresholds of the stable environment before the rollout."""
        kind = bound.metric.kind
        if kind not in (SpecKind.ACCURACY, SpecKind.LATENCY_TAIL):
            return {}
        started = parse_stamp(record["analysis_started"])
        assert started is not None
        stable = stored.status.active_env or "blue"
        request = self._request(bound, stored)
        request = MetricRequest(
            template=request.template,
            metric=request.metric,
            canary=request.baseline,
            baseline=VariantScope(stable, request.baseline.labels),
            namespace=request.namespace,
            service=request.service,
            args=request.args,
            canary_weight=0.5,
        )
        [window] = record_windows(
            self.provider, request, boundaries=[started - PRE_ROLLOUT, started]
        )
        measurement = window.baseline if window.usable else None
        if kind is SpecKind.ACCURACY:
            if not isinstance(measurement, EventCounts) or measurement.exposure <= 0:
                return None
            return {"accuracy": min(max(1 - measurement.events / measurement.exposure, 0.01), 0.99)}
        if not isinstance(measurement, Histogram) or measurement.total_count <= 0:
            return None
        quantile = bound.metric.quantile or 0.99
        return {"tail_thresholds": list(compute_tail_thresholds(measurement, quantile=quantile))}


def _without_baseline(
    policy: AnalysisPolicy, limit: timedelta, elapsed: timedelta, step: int, record: dict[str, Any]
) -> AnalysisLook:
    """No baseline measurement yet: wait, but never past maxDuration, and never promote."""
    reason = "waiting for pre-rollout baseline data (accuracy labels or latency buckets)"
    if elapsed < limit:
        return AnalysisLook("continue", reason, step, record)
    decision = "rollback" if policy.on_inconclusive.value == "rollback" else "pause"
    return AnalysisLook(
        decision, f"no baseline data within maxDuration {limit}: {reason}", step, record
    )


def _step_limits(rollout: ModelRollout, step: int) -> tuple[timedelta, timedelta] | None:
    """(min, max) duration of the analysis at ``step``; None when it is not an analysis."""
    policy = rollout.spec.analysis
    if policy is None:
        return None
    strategy = rollout.spec.strategy
    if strategy.canary is not None:
        steps = strategy.canary.steps
        if step >= len(steps) or steps[step].analyze is None:
            return None
        analyze = steps[step].analyze
        assert analyze is not None
        return (
            analyze.min_duration or policy.min_duration,
            analyze.max_duration or policy.max_duration,
        )
    blue_green = strategy.blue_green
    assert blue_green is not None
    phase = blue_green.pre_promotion_analysis if step == 0 else blue_green.post_promotion_analysis
    if phase is None:
        return None
    return phase.min_duration or policy.min_duration, phase.max_duration or policy.max_duration


def _fresh_record(previous: Mapping[str, Any] | None, stored: StoredRollout) -> dict[str, Any]:
    """The persisted record for this build; a new build starts from nothing."""
    release = stored.status.release
    assert release is not None
    build = f"{stored.generation}/{release.image}/{release.model_sha256}"
    if previous and previous.get("build") == build:
        return dict(previous)
    return {"build": build}


def _enter_step(record: dict[str, Any], step: int, started: datetime) -> dict[str, Any]:
    """Start a step's analysis, carrying the build's evidence and elapsed time."""
    out = dict(record)
    out.setdefault("analysis_started", stamp(started))
    judge = out.get("judge")
    out["offset_s"] = float(judge["elapsed_s"]) if judge else 0.0
    out["step"] = step
    out["step_started"] = stamp(started)
    out["fetched_until"] = stamp(started)
    if judge:
        out["judge"] = {**judge, "outcome": None}
    out.pop("look", None)
    return out


def _judge(
    specs: Sequence[JudgedMetric], config: SequentialConfig, state: Mapping[str, Any] | None
) -> SequentialJudge:
    if state is None:
        return SequentialJudge(specs, config)
    return SequentialJudge.from_dict(specs, config, state)
