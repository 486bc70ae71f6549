"""Report records for tests: a rollout folded look by look through ``collect_rollout``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from mlrollout.model.analysis import AnalysisDecision, Verdict
from mlrollout.report import ReportRecord, collect_rollout
from mlrollout.spec import ModelRollout, load_file
from mlrollout.spec.analysis import AnalysisRecord, LookRecord, MetricVerdictRecord
from mlrollout.spec.status import (
    HistoryEntry,
    Phase,
    RollbackCause,
    RolloutStatus,
    StatusRelease,
    TrafficSplit,
    TrafficStatus,
    VerificationStatus,
)

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
KINDS = ["latency-tail", "latency-body", "errors", "accuracy", "anomalies", "gpu-health"]


def weight_of(step: int, steps: int) -> int:
    """The canary weight set at ``step`` of ``steps`` (rising to 100 at the last pair)."""
    return 100 * (step // 2 + 1) // ((steps + 1) // 2)


def example_rollout(*, steps: int = 10) -> ModelRollout:
    """``examples/canary.yaml`` with ``steps`` steps (setWeight and analyze in turn)."""
    [doc] = [d for d in load_file(ROOT / "examples" / "canary.yaml") if d.resource]
    rollout = doc.resource
    assert isinstance(rollout, ModelRollout)
    data = rollout.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["spec"]["strategy"]["canary"]["steps"] = [
        {"setWeight": weight_of(i, steps)} if i % 2 == 0 else {"analyze": {"maxDuration": "30m"}}
        for i in range(steps)
    ]
    return ModelRollout.model_validate(data)


def _metric(name: str, kind: str, look: int, *, failing: bool, final: bool) -> MetricVerdictRecord:
    drift = 0.02 * look if failing else 0.0
    width = 0.5 / (1 + look) ** 0.5
    fail = failing and final
    return MetricVerdictRecord(
        name=name,
        kind=kind,
        verdict=Verdict.FAILED if fail else Verdict.RUNNING,
        reason="canary p99 above baseline beyond the margin" if fail else "gathering evidence",
        estimate=1.0 + drift,
        lower=1.0 + drift - width,
        upper=1.0 + drift + width,
        unit="exceedance ratio canary>(1+margin)b / baseline>b",
        e_rollback=1.3**look if failing else 1.0 + 0.01 * look,
        e_promote=1.0 + 0.05 * look,
        rollback_at=400.0,
        promote_at=20.0,
        events=100.0 * look,
        windows=look,
        errored_windows=1 if name.endswith("errors") and look > 3 else 0,
    )


def rolled_back_record(
    *, steps: int = 10, metrics: int = 6, looks: int = 40, names: list[str] | None = None
) -> ReportRecord:
    """The record of a rollout rolled back at its last analysis step (first metric failing)."""
    rollout = example_rollout(steps=steps)
    names = names or [f"tmpl-{i}/{KINDS[i % len(KINDS)]}" for i in range(metrics)]
    record: ReportRecord | None = None
    history: list[HistoryEntry] = []
    step = 1
    for n in range(1, looks + 1):
        now = START + timedelta(minutes=n)
        step = min(1 + 2 * ((n - 1) * (steps // 2) // looks), steps - 1)
        final = n == looks
        if n == 1 or history[-1].step != step:
            history.append(
                HistoryEntry(
                    time=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    phase=Phase.PROGRESSING,
                    action="setWeight",
                    reason=f"step {step}",
                    step=step,
                )
            )
        look = LookRecord(
            decision=AnalysisDecision.ROLLBACK if final else AnalysisDecision.CONTINUE,
            reason="tmpl-0 regressed" if final else "continue",
            elapsed_seconds=60.0 * n,
            metrics=[
                _metric(name, KINDS[i % len(KINDS)], n, failing=i == 0, final=final)
                for i, name in enumerate(names)
            ],
        )
        analysis = AnalysisRecord(
            build=f"1/{rollout.spec.release.image}/{rollout.spec.release.model.sha256}",
            started_at=START,
            step=step,
            step_started_at=START,
            elapsed_seconds=60.0 * n,
            fetched_until=now,
            look=look,
        )
        if final:
            history.append(
                HistoryEntry(
                    time=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    phase=Phase.ROLLED_BACK,
                    action="rollback",
                    reason=f"analysis: {names[0]} regressed",
                    step=step,
                )
            )
        status = RolloutStatus(
            phase=Phase.ROLLED_BACK if final else Phase.PROGRESSING,
            observed_generation=1,
            release=StatusRelease(
                image=rollout.spec.release.image,
                model_uri=rollout.spec.release.model.uri,
                model_sha256=rollout.spec.release.model.sha256,
            ),
            current_step=step,
            step_started_at=history[-1].time,
            traffic=TrafficStatus(
                applied=TrafficSplit(
                    stable_env="blue",
                    canary_env="green",
                    canaryWeight=0.0 if final else float(weight_of(step - 1, steps)),
                )
            ),
            active_env="blue",
            candidate_env="green",
            verification=VerificationStatus(
                image=rollout.spec.release.image,
                verified=True,
                reason_code="VERIFIED",
                message="signature and attestations verified",
                checked_at=START.strftime("%Y-%m-%dT%H:%M:%SZ"),
            ),
            rollback_cause=RollbackCause.ANALYSIS if final else None,
            analysis=analysis,
            history=history,
            message=f"rolled back: {names[0]} regressed" if final else "analysing",
        )
        record = collect_rollout(
            record, rollout=rollout, status=status, generation=1, uid="u-1", now=now
        )
    assert record is not None
    return record
