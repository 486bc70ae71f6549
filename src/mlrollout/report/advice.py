"""What a report says first: the outcome, the data-quality findings, and what to do next.

Part of the ``report`` layer; pure functions of a record (and the rollout's status when
there is one), used by ``collect`` for rollouts and ``oneshot`` records for ``analyze``.
Every sentence names the metric or reason code it is about, so on-call can act on it.
"""

from __future__ import annotations

import shlex

from mlrollout.model.analysis import Verdict
from mlrollout.report.record import Finding, FindingKind, Outcome, ReportRecord, RunKind
from mlrollout.spec.status import Phase, RollbackCause, RolloutStatus

__all__ = ["decide_outcome", "find_quality", "next_steps"]

_OUTCOMES = {
    Phase.SUCCEEDED: Outcome.PROMOTED,
    Phase.ROLLED_BACK: Outcome.ROLLED_BACK,
    Phase.ROLLING_BACK: Outcome.ROLLED_BACK,
    Phase.ABORTED: Outcome.ABORTED,
    Phase.FAILED: Outcome.FAILED,
    Phase.REFUSED: Outcome.REFUSED,
    Phase.PAUSED: Outcome.PAUSED,
}


def decide_outcome(phase: Phase) -> Outcome:
    """A rollout phase as an outcome word (anything not final is in progress)."""
    return _OUTCOMES.get(phase, Outcome.IN_PROGRESS)


def find_quality(record: ReportRecord, status: RolloutStatus | None) -> list[Finding]:
    """Errored and empty windows, metrics without data, a waiting baseline, a refusal."""
    out = []
    for m in record.metrics:
        total = m.windows + m.errored_windows + m.empty_windows
        for count, kind, what in (
            (m.errored_windows, FindingKind.ERRORED_WINDOWS, "failed at the provider"),
            (m.empty_windows, FindingKind.EMPTY_WINDOWS, "returned no data"),
        ):
            if count:
                message = f"{count} of {total} windows {what}"
                out.append(Finding(kind=kind, metric=m.name, message=message))
        if total and not m.windows:
            out.append(
                Finding(
                    kind=FindingKind.NO_DATA,
                    metric=m.name,
                    message="no usable window: this metric was never evidence of health",
                )
            )
    split = record.sample_ratio
    if split is not None and split.mismatch:
        requests = split.canary_requests + split.baseline_requests
        share = split.canary_requests / requests if requests else 0.0
        out.append(
            Finding(
                kind=FindingKind.SAMPLE_RATIO_MISMATCH,
                metric=split.metric,
                message=(
                    f"the canary received {share:.1%} of {requests:.0f} requests where the router "
                    f"weight says {split.expected_share or 0.0:.1%} (e-value {split.e_value:.3g}"
                    " ≥ 1000): the comparison may be biased"
                ),
            )
        )
    if status is not None and status.analysis is not None and status.analysis.waiting_for_baseline:
        out.append(
            Finding(
                kind=FindingKind.WAITING_FOR_BASELINE,
                message="the stable environment's pre-rollout baseline could not be measured",
            )
        )
    gates = record.release.gates if record.release else None
    if gates is not None and not gates.verified:
        out.append(
            Finding(
                kind=FindingKind.GATE_REFUSED,
                message=f"{gates.reason_code or 'REFUSED'}: {gates.message}",
            )
        )
    kept = [f for f in record.findings if f.kind is FindingKind.SUMMARISED]
    return kept + out


def next_steps(record: ReportRecord, status: RolloutStatus | None) -> list[str]:
    """What on-call should do now, most important first."""
    if record.kind is RunKind.ANALYSIS:
        return _analysis_steps(record)
    name = shlex.quote(record.run.name)
    ns = shlex.quote(record.run.namespace)
    outcome = record.decision.outcome
    failing = record.decision.failing
    steps: list[str] = []
    if outcome is Outcome.REFUSED:
        code = record.release.gates.reason_code if record.release and record.release.gates else ""
        steps.append(
            f"Fix the supply-chain finding {code or '(see gates)'} and release again; "
            "nothing was deployed and no traffic moved."
        )
    elif outcome in (Outcome.ROLLED_BACK, Outcome.ABORTED, Outcome.FAILED):
        cause = status.rollback_cause if status is not None else None
        if failing:
            steps.append(
                f"Do not retry this build as is: look at {', '.join(failing)} on the canary "
                "(effect and interval below); fix it and release a new build."
            )
        elif cause is RollbackCause.DEADLINE:
            steps.append(
                "The progress deadline passed (pods not ready or traffic not applied): check "
                f"the candidate environment, then `mlrollout retry {name} -n {ns}`."
            )
        else:
            steps.append(
                f"Nothing in the analysis failed (cause: {cause.value if cause else 'unknown'}); "
                f"when the cause is resolved, `mlrollout retry {name} -n {ns}`."
            )
        steps.append("All traffic is on the stable environment.")
    elif outcome is Outcome.PAUSED:
        pending = [m.name for m in record.metrics if m.verdict is not Verdict.SUCCESSFUL]
        steps.append(
            "Paused without enough evidence"
            + (f" for {', '.join(pending)}" if pending else "")
            + f": `mlrollout promote {name} -n {ns}` to continue, or "
            f"`mlrollout abort {name} -n {ns}` to send all traffic to stable."
        )
    elif outcome is Outcome.PROMOTED:
        steps.append(
            f"Nothing to do. While the old environment is warm, `mlrollout rollback {name} "
            f"-n {ns}` returns traffic to it."
        )
    else:
        steps.append(f"In progress: `mlrollout status {name} -n {ns} --watch` follows it.")
    steps += _quality_steps(record)
    return steps[:16]


def _analysis_steps(record: ReportRecord) -> list[str]:
    outcome = record.decision.outcome
    if outcome is Outcome.FAIL:
        steps = [
            f"The canary regressed on {', '.join(record.decision.failing)}: do not promote it; "
            "look at these metrics first."
        ]
    elif outcome is Outcome.PASS:
        steps = ["The canary is within every metric's margin."]
    else:
        running = [m.name for m in record.metrics if m.verdict is not Verdict.SUCCESSFUL]
        steps = [
            "Not enough evidence yet"
            + (f" for {', '.join(running)}" if running else "")
            + ": analyse a longer period (--since) or at more traffic."
        ]
    return (steps + _quality_steps(record))[:16]


def _quality_steps(record: ReportRecord) -> list[str]:
    steps = []
    if any(f.kind is FindingKind.SAMPLE_RATIO_MISMATCH for f in record.findings):
        steps.append(
            "Requests do not split as the router weights say: check the traffic router and "
            "the canary's pods before trusting the comparison."
        )
    troubled = sorted(
        {
            f.metric
            for f in record.findings
            if f.metric and f.kind in (FindingKind.ERRORED_WINDOWS, FindingKind.NO_DATA)
        }
    )
    if troubled:
        steps.append(
            f"Check the metric provider and queries of {', '.join(troubled)}: "
            "windows failed or returned nothing."
        )
    return steps
