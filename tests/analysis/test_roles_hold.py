"""Roles (gate / guard) from templates, and tripwire guards holding promotion."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mlrollout.analysis import JudgedMetric, SequentialConfig, SequentialJudge
from mlrollout.analysis.observations import EventCounts, Window
from mlrollout.model.analysis import AnalysisDecision, MetricKind, MetricRole
from mlrollout.spec.template import MetricSpec

_EVENTS = {"prometheus": {"queries": {"events": "e", "total": "t"}}}
_ANOMALY = {"prometheus": {"queries": {"events": "e"}}}


def _metric(kind: str, provider: dict[str, object], **extra: object) -> MetricSpec:
    return MetricSpec.model_validate({"name": "m", "kind": kind, "provider": provider, **extra})


@pytest.mark.parametrize(
    ("kind", "provider", "role"),
    [
        ("errors", _EVENTS, MetricRole.GATE),
        ("accuracy", _EVENTS, MetricRole.GATE),
        ("anomalies", _ANOMALY, MetricRole.GUARD),
        ("gpu-health", _ANOMALY, MetricRole.GUARD),
    ],
    ids=["errors", "accuracy", "anomalies", "gpu"],
)
def test_default_roles_by_kind(kind: str, provider: dict[str, object], role: MetricRole) -> None:
    assert _metric(kind, provider).effective_role() is role


@pytest.mark.parametrize(
    ("kind", "provider", "extra", "message"),
    [
        ("anomalies", _ANOMALY, {"role": "gate"}, "role 'gate' is not possible"),
        ("errors", _EVENTS, {"holdWindows": 4}, "holdWindows applies"),
        ("errors", _EVENTS, {"alphaWeight": 0}, "alphaWeight"),
    ],
    ids=["tripwire-gate", "hold-on-errors", "zero-alpha-weight"],
)
def test_bad_statistics_settings_are_refused(
    kind: str, provider: dict[str, object], extra: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        _metric(kind, provider, **extra)


def _counts(canary: float, baseline: float, n: float = 1000.0) -> Window:
    return Window(15.0, EventCounts(canary, n * 0.05), EventCounts(baseline, n * 0.95), 0.05)


def _judge() -> SequentialJudge:
    specs = [
        JudgedMetric("errors", MetricKind.ERRORS, margin=0.2),
        JudgedMetric(
            "anomalies",
            MetricKind.ANOMALIES,
            margin=0.0,
            gated=False,
            burst_prior=True,
            hold_windows=4,
        ),
    ]
    return SequentialJudge(specs, SequentialConfig(max_duration_s=10_000.0))


def _run(anomaly_canary: list[float]) -> list[AnalysisDecision]:
    judge = _judge()
    out = []
    for t, canary in enumerate(anomaly_canary):
        look = judge.observe(
            {"errors": _counts(500, 9500, 1e6), "anomalies": _counts(canary, 0.0)},
            elapsed_s=15.0 * (t + 1),
        )
        out.append(look.decision)
    return out


def test_canary_anomalies_in_recent_windows_hold_promotion() -> None:
    # Errors are shown within margin at once (huge counts); the canary's lone anomaly
    # holds promotion for the 4 hold windows, then the release is promoted.
    decisions = _run([1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    assert decisions[:4] == [AnalysisDecision.CONTINUE] * 4
    assert decisions[4] is AnalysisDecision.PROMOTE


def test_without_canary_anomalies_nothing_holds() -> None:
    assert _run([0.0, 0.0])[0] is AnalysisDecision.PROMOTE
