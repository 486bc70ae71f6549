"""The analyst: turns a rollout's templates into judged evidence, window by window.

Part of the ``controller`` runtime, between the ``metrics`` providers (numbers) and the
judges of ``analysis`` (statistics), bound by ``binding`` exactly as ``analyze``, ``plan``
and ``simulate`` bind them. It measures the stable environment's pre-rollout baseline
(accuracy, tail thresholds) once per build, fetches every elapsed window of both variants
on shared boundaries, feeds the policy's judge, checks the traffic split (sample-ratio
mismatch, on an errors metric's request counts) and keeps everything in the typed
``status.analysis`` record, so a restarted controller resumes the same evidence. The
sequential judge's evidence is carried across the steps of one build, never across builds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from mlrollout.analysis import JudgedMetric, Look
from mlrollout.analysis.judge import Judge
from mlrollout.binding import (
    BoundMetric,
    bind_metrics,
    build_judge,
    compute_judged_metric,
    compute_step_limits,
    compute_window,
    judge_carries_evidence,
)
from mlrollout.binding.baselines import compute_baseline_record, needs_baseline
from mlrollout.binding.records import compute_look_record, fold_sample_ratio
from mlrollout.core.observation import AnalysisLook
from mlrollout.kube.rollouts import StoredRollout
from mlrollout.metrics.provider import MetricProvider, MetricRequest, VariantScope, record_windows
from mlrollout.model.analysis import AnalysisDecision, MetricKind
from mlrollout.spec import AnalysisTemplate
from mlrollout.spec.analysis import AnalysisRecord, BaselineRecord, SampleRatioRecord
from mlrollout.spec.policy import AnalysisPolicy
from mlrollout.spec.status import TOTAL_BASIS_POINTS

__all__ = ["MetricsAnalyst"]

PRE_ROLLOUT = timedelta(minutes=30)
SCRAPE_LAG = timedelta(seconds=15)
MAX_WINDOWS_PER_LOOK = 120


class MetricsAnalyst:
    """The ``Analyst`` port over a metrics provider and the policy's judge."""

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
        limits = compute_step_limits(rollout, step)
        if policy is None or limits is None or status.release is None:
            return None
        bound = bind_metrics(rollout, self.templates)
        now = self.now()
        record = _record_for(stored, policy, step, now)
        entering = record.step_started_at == record.fetched_until and record.look is None
        judged = self._judged(bound, stored, record)
        if judged is None:
            overdue = now - record.step_started_at >= limits[1]
            waiting = record.model_copy(update={"waiting_for_baseline": True})
            reason = "waiting for pre-rollout baseline data (accuracy labels or latency buckets)"
            if overdue:
                reason = f"no baseline data within maxDuration {limits[1]}: {reason}"
            return AnalysisLook(
                AnalysisDecision.CONTINUE, reason, step, waiting, baseline_overdue=overdue
            )
        record = record.model_copy(
            update={"baseline": {**record.baseline, **judged[1]}, "waiting_for_baseline": False}
        )
        judge = build_judge(
            policy,
            bound,
            judged[0],
            offset_s=record.offset_seconds,
            min_s=limits[0].total_seconds(),
            max_s=limits[1].total_seconds(),
        )
        if record.state is not None:
            judge.load(record.state)
            if entering:
                judge.reopen()
        look, fetched_until, split = self._fold(
            judge, bound, stored, record, compute_window(policy)
        )
        record = record.model_copy(
            update={"state": judge.to_dict(), "fetched_until": fetched_until, "sample_ratio": split}
        )
        if look is None:  # no window completed since the last look
            reason = (
                "waiting for the first window"
                if record.look is None
                else f"{record.look.reason} (next look when the next window completes)"
            )
            return AnalysisLook(AnalysisDecision.CONTINUE, reason, step, record)
        record = record.model_copy(
            update={"look": compute_look_record(look), "elapsed_seconds": look.elapsed_s}
        )
        return AnalysisLook(look.decision, look.reason, step, record)

    def _fold(
        self,
        judge: Judge,
        bound: Sequence[BoundMetric],
        stored: StoredRollout,
        record: AnalysisRecord,
        window: timedelta,
    ) -> tuple[Look | None, datetime, SampleRatioRecord | None]:
        start = record.fetched_until
        count = min(int((self.now() - self.scrape_lag - start) / window), MAX_WINDOWS_PER_LOOK)
        if count <= 0:
            return None, start, record.sample_ratio
        boundaries = [start + window * i for i in range(count + 1)]
        per_metric = {
            b.key: record_windows(self.provider, self._request(b, stored), boundaries=boundaries)
            for b in bound
        }
        look = None
        for i in range(count):
            windows = {key: series[i] for key, series in per_metric.items()}
            elapsed = (
                record.offset_seconds + (boundaries[i + 1] - record.step_started_at).total_seconds()
            )
            look = judge.observe(windows, elapsed_s=elapsed)
        split = record.sample_ratio
        requests = next((b.key for b in bound if b.metric.kind is MetricKind.ERRORS), None)
        if requests is not None:
            split = fold_sample_ratio(split, requests, per_metric[requests])
        return look, boundaries[-1], split

    def _request(self, bound: BoundMetric, stored: StoredRollout) -> MetricRequest:
        rollout, status = stored.rollout, stored.status
        label = rollout.spec.metrics.selector_label if rollout.spec.metrics else "environment"
        stable, candidate = status.active_env or "blue", status.candidate_env or "green"
        applied = status.traffic.applied
        return MetricRequest(
            template=bound.template,
            metric=bound.metric,
            canary=VariantScope(candidate, {label: candidate}),
            baseline=VariantScope(stable, {label: stable}),
            namespace=rollout.namespace,
            service=rollout.spec.service,
            args=dict(bound.args),
            canary_weight=applied.canary_bp / TOTAL_BASIS_POINTS if applied is not None else None,
        )

    def _judged(
        self, bound: Sequence[BoundMetric], stored: StoredRollout, record: AnalysisRecord
    ) -> tuple[list[JudgedMetric], dict[str, BaselineRecord]] | None:
        """Every metric's judged form and the baselines measured now; None while one lacks it."""
        measured: dict[str, BaselineRecord] = {}
        specs = []
        for b in bound:
            baseline = record.baseline.get(b.key)
            if baseline is None:
                baseline = self._measure_baseline(b, stored, record.started_at)
                if baseline is None:
                    return None
                measured[b.key] = baseline
            specs.append(
                compute_judged_metric(
                    b,
                    baseline_accuracy=baseline.accuracy,
                    tail_thresholds=tuple(baseline.tail_thresholds),
                    latency_cv2=baseline.latency_cv2,
                )
            )
        return specs, measured

    def _measure_baseline(
        self, bound: BoundMetric, stored: StoredRollout, started: datetime
    ) -> BaselineRecord | None:
        """Accuracy and tail thresholds of the stable environment before the rollout."""
        kind = bound.metric.kind
        if not needs_baseline(kind):
            return BaselineRecord()
        stable = self._request(bound, stored).baseline
        request = MetricRequest(
            template=bound.template,
            metric=bound.metric,
            canary=stable,
            baseline=stable,
            namespace=stored.rollout.namespace,
            service=stored.rollout.spec.service,
            args=dict(bound.args),
            canary_weight=0.5,
        )
        [window] = record_windows(
            self.provider, request, boundaries=[started - PRE_ROLLOUT, started]
        )
        measurement = window.baseline if window.usable else None
        return compute_baseline_record(kind, measurement, quantile=bound.metric.quantile or 0.99)


def _record_for(
    stored: StoredRollout, policy: AnalysisPolicy, step: int, now: datetime
) -> AnalysisRecord:
    """The persisted record for this build and step; a new build starts from nothing."""
    status = stored.status
    release = status.release
    build = f"{stored.generation}/{release.image}/{release.model_sha256}" if release else ""
    started = status.step_started_at or now
    previous = status.analysis
    if previous is None or previous.build != build or previous.judge is not policy.judge:
        return AnalysisRecord(
            build=build,
            judge=policy.judge,
            started_at=started,
            step=step,
            step_started_at=started,
            fetched_until=started,
        )
    if previous.step != step:
        return previous.enter_step(step, started, carry=judge_carries_evidence(policy))
    return previous
