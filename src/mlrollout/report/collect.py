"""Building a rollout's report record from its status, one look at a time.

Part of the ``report`` layer. ``collect_rollout`` is pure: given the previous record (or
none) and the rollout as read now, it returns the record grown by what is new — the latest
look becomes one point of each metric's evidence series, a new traffic weight one point of
the traffic series — so the status keeps only the latest look and the record (stored in a
ConfigMap or a directory by its callers) keeps the history, bounded and thinned when full.
``advise`` fills in the decision, findings and next steps (rules in ``advice``).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from mlrollout.report.advice import decide_outcome, find_quality, next_steps
from mlrollout.report.record import (
    MAX_SERIES,
    DecisionRecord,
    EvidencePoint,
    GateRecord,
    MetricReport,
    ReleaseRecord,
    ReportRecord,
    RunKind,
    RunRef,
    SampleRatio,
    StepRecord,
    TimelineEntry,
    TrafficPoint,
)
from mlrollout.spec import ModelRollout, RolloutStatus
from mlrollout.spec.analysis import AnalysisRecord, MetricVerdictRecord
from mlrollout.spec.status import TOTAL_BASIS_POINTS
from mlrollout.spec.strategy import Step

T = TypeVar("T")

__all__ = ["advise", "append_thinned", "collect_rollout", "compute_build"]


def compute_build(rollout: ModelRollout, status: RolloutStatus, generation: int) -> str:
    """The build a record belongs to: generation, image and model digest (as the analyst's)."""
    release = status.release
    if release is None:
        spec = rollout.spec.release
        return f"{generation}/{spec.image}/{spec.model.sha256}"
    return f"{generation}/{release.image}/{release.model_sha256}"


def append_thinned(series: Sequence[T], item: T, *, limit: int = MAX_SERIES) -> list[T]:
    """``series`` plus ``item``; when full, every other old point goes (the last stays)."""
    points = list(series)
    if len(points) >= limit:
        kept = points[::2]
        if kept[-1] is not points[-1]:
            kept.append(points[-1])
        points = kept
    points.append(item)
    return points


def collect_rollout(
    previous: ReportRecord | None,
    *,
    rollout: ModelRollout,
    status: RolloutStatus,
    generation: int,
    uid: str = "",
    now: datetime,
) -> ReportRecord:
    """The record of the rollout's current build, grown by what ``status`` adds."""
    build = compute_build(rollout, status, generation)
    if previous is not None and previous.build != build:
        previous = None
    analysis = status.analysis if status.analysis and status.analysis.build == build else None
    metrics = _metrics(previous.metrics if previous else [], analysis)
    traffic = list(previous.traffic) if previous else []
    applied = status.traffic.applied
    if applied is not None and (not traffic or traffic[-1].canary_bp != applied.canary_bp):
        traffic = append_thinned(traffic, TrafficPoint(at=now, canary_bp=applied.canary_bp))
    record = ReportRecord(
        kind=RunKind.ROLLOUT,
        generated_at=now,
        run=RunRef(
            namespace=rollout.namespace,
            name=rollout.name,
            generation=generation,
            uid=uid,
            service=rollout.spec.service,
        ),
        release=_release(rollout, status),
        judge=rollout.spec.analysis.judge.value if rollout.spec.analysis else "",
        build=build,
        strategy="canary" if rollout.spec.strategy.canary else "blueGreen",
        steps=_steps(rollout, status),
        current_step=status.current_step,
        timeline=[
            TimelineEntry(
                time=h.time, phase=h.phase.value, action=h.action, reason=h.reason, step=h.step
            )
            for h in status.history[-256:]
        ],
        traffic=traffic,
        metrics=metrics,
        sample_ratio=_sample_ratio(analysis, previous),
        decision=DecisionRecord(outcome=decide_outcome(status.phase), reason=""),
        reproduce=reproduce_commands(rollout, status),
    )
    return advise(record, status)


def advise(record: ReportRecord, status: RolloutStatus | None) -> ReportRecord:
    """The record with its decision, next steps and findings filled in."""
    findings = find_quality(record, status)
    current = status.analysis if status is not None else None
    look = current.look if current is not None and current.build == record.build else None
    failing = [m.name for m in record.metrics if m.verdict.value == "Failed"]
    decision = record.decision.model_copy(
        update={
            "reason": status.message if status is not None else record.decision.reason,
            "phase": status.phase.value if status is not None else record.decision.phase,
            "analysis": look.decision if look else record.decision.analysis,
            "analysis_reason": look.reason if look else record.decision.analysis_reason,
            "failing": failing,
        }
    )
    with_decision = record.model_copy(update={"decision": decision, "findings": findings})
    steps = next_steps(with_decision, status)
    return with_decision.model_copy(
        update={"decision": decision.model_copy(update={"next_steps": steps})}
    )


def _sample_ratio(
    analysis: AnalysisRecord | None, previous: ReportRecord | None
) -> SampleRatio | None:
    split = analysis.sample_ratio if analysis is not None else None
    if split is None:
        return previous.sample_ratio if previous is not None else None
    return SampleRatio.model_validate(split.model_dump(exclude={"state"}))


def _release(rollout: ModelRollout, status: RolloutStatus) -> ReleaseRecord:
    release = status.release
    verification = status.verification
    gates = None
    if verification is not None and (verification.verified or verification.reason_code):
        gates = GateRecord(
            verified=verification.verified,
            reason_code=verification.reason_code,
            message=verification.message or "",
            checked_at=verification.checked_at,
        )
    if release is None:
        spec = rollout.spec.release
        return ReleaseRecord(
            image=spec.image, model_uri=spec.model.uri, model_sha256=spec.model.sha256, gates=gates
        )
    return ReleaseRecord(
        image=release.image,
        model_uri=release.model_uri,
        model_sha256=release.model_sha256,
        gates=gates,
    )


def _steps(rollout: ModelRollout, status: RolloutStatus) -> list[StepRecord]:
    started: dict[int, datetime] = {}
    for entry in status.history:
        if entry.step is not None and entry.step not in started:
            started[entry.step] = entry.time
    if status.current_step is not None and status.step_started_at is not None:
        started.setdefault(status.current_step, status.step_started_at)
    canary = rollout.spec.strategy.canary
    if canary is None:
        return [
            StepRecord(index=0, action="preview", started_at=started.get(0)),
            StepRecord(
                index=1, action="promote", weight_bp=TOTAL_BASIS_POINTS, started_at=started.get(1)
            ),
        ]
    return [
        StepRecord(index=i, started_at=started.get(i), **_step_fields(step))
        for i, step in enumerate(canary.steps)
    ]


def _step_fields(step: Step) -> dict[str, Any]:
    """A canary step's action with its weight or its duration, as the report shows them."""
    if step.set_weight is not None:
        return {"action": "setWeight", "weight_bp": step.weight_bp}
    if step.analyze is not None:
        limit = step.analyze.max_duration
        return {"action": "analyze", "duration": _duration(limit) if limit else ""}
    wait = step.pause.duration if step.pause else None
    return {"action": "pause", "duration": _duration(wait) if wait else "until promoted"}


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _metrics(
    previous: Sequence[MetricReport], analysis: AnalysisRecord | None
) -> list[MetricReport]:
    """Each metric's latest verdict and its series grown by the latest look (when new)."""
    look = analysis.look if analysis is not None else None
    if analysis is None or look is None:
        return list(previous)
    at = analysis.step_started_at + timedelta(
        seconds=max(look.elapsed_seconds - analysis.offset_seconds, 0.0)
    )
    by_name = {m.name: m for m in previous}
    out = []
    for m in look.metrics:
        before = by_name.get(m.name)
        series = list(before.series) if before else []
        point = _point(m, at=at, elapsed=look.elapsed_seconds, step=analysis.step)
        if not series or series[-1].at < point.at:
            series = append_thinned(series, point)
        out.append(metric_report(m, series=series, previous=before))
    return out


def _point(
    m: MetricVerdictRecord, *, at: datetime, elapsed: float, step: int | None
) -> EvidencePoint:
    return EvidencePoint(
        at=at,
        elapsed=elapsed,
        step=step,
        estimate=m.estimate,
        lower=m.lower,
        upper=m.upper,
        e_rollback=m.e_rollback,
        e_promote=m.e_promote,
    )


def metric_report(
    m: MetricVerdictRecord, *, series: list[EvidencePoint], previous: MetricReport | None = None
) -> MetricReport:
    """A metric's report from its latest verdict record and its evidence series."""
    data = m.model_dump()
    return MetricReport(
        **data,
        series=series,
        distribution=previous.distribution if previous is not None else None,
    )


def reproduce_commands(rollout: ModelRollout, status: RolloutStatus) -> list[str]:
    """The commands that show this run again: ``status`` and the same analysis, one-shot."""
    ns, name = shlex.quote(rollout.namespace), shlex.quote(rollout.name)
    commands = [f"mlrollout status {name} -n {ns}"]
    policy = rollout.spec.analysis
    if policy is None:
        return commands
    label = rollout.spec.metrics.selector_label if rollout.spec.metrics else "environment"
    stable, candidate = status.active_env or "blue", status.candidate_env or "green"
    elapsed = status.analysis.elapsed_seconds if status.analysis else 0.0
    minutes = max(int(elapsed // 60) + 1, 5)
    parts = ["mlrollout analyze"]
    for ref in policy.templates:
        parts.append(f"-T {shlex.quote(ref.name)}")
        parts += [f"--arg {shlex.quote(f'{k}={v}')}" for k, v in sorted(ref.args.items())]
    parts += [
        f"--baseline {shlex.quote(f'{label}={stable}')}",
        f"--canary {shlex.quote(f'{label}={candidate}')}",
        f"--since {minutes}m",
        f"--interval {int(policy.interval.total_seconds())}s",
        f"--judge {policy.judge.value}",
        f"--alpha {policy.alpha:g}",
        f"--beta {policy.beta:g}",
        f"-n {ns}",
        f"--service {shlex.quote(rollout.spec.service)}",
    ]
    commands.append(" ".join(parts))
    if status.phase.retryable:
        commands.append(f"mlrollout retry {name} -n {ns}")
    return commands
