"""The sequential judge: decisions, budgets, errored/empty windows, maxDuration, resume."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from mlrollout.analysis.config import JudgedMetric, SequentialConfig
from mlrollout.analysis.kinds import AnalysisDecision, InconclusivePolicy, MetricKind, Verdict
from mlrollout.analysis.observations import ScalarValue, Window
from mlrollout.analysis.sequential import SequentialJudge
from mlrollout.errors import SpecError

from .builders import count_window, latency_window

ERRORS = JudgedMetric("errors", MetricKind.ERRORS, margin=0.2)
BODY = JudgedMetric("latency", MetricKind.LATENCY_BODY, margin=0.05)


def _feed(judge: SequentialJudge, make: object, looks: int) -> list[object]:
    history = []
    for t in range(looks):
        look = judge.observe(make(t), elapsed_s=15.0 * (t + 1))  # type: ignore[operator]
        history.append(look)
        if look.final:
            break
    return history


def test_clear_error_regression_rolls_back_with_reason_and_interval() -> None:
    judge = SequentialJudge([ERRORS], SequentialConfig())
    looks = _feed(judge, lambda t: {"errors": count_window(5, 10)}, 100)
    final = looks[-1]
    assert final.decision is AnalysisDecision.ROLLBACK
    verdict = final.metrics[0]
    assert verdict.verdict is Verdict.FAILED
    assert verdict.e_rollback >= 100
    assert verdict.lower is not None
    assert verdict.lower > 1.2
    assert "regression" in verdict.reason


def test_latency_body_improvement_promotes() -> None:
    rng = np.random.default_rng(0)
    judge = SequentialJudge([BODY], SequentialConfig())
    final = _feed(judge, lambda t: {"latency": latency_window(rng, scale=0.85)}, 200)[-1]
    assert final.decision is AnalysisDecision.PROMOTE
    assert final.metrics[0].estimate is not None
    assert final.metrics[0].estimate < 1.0
    assert final.metrics[0].e_promote >= 20


def test_latency_body_regression_rolls_back() -> None:
    rng = np.random.default_rng(1)
    judge = SequentialJudge([BODY], SequentialConfig())
    final = _feed(judge, lambda t: {"latency": latency_window(rng, scale=1.3)}, 200)[-1]
    assert final.decision is AnalysisDecision.ROLLBACK


def test_empty_windows_never_promote_and_pause_at_max_duration() -> None:
    judge = SequentialJudge([ERRORS], SequentialConfig(max_duration_s=150))
    looks = _feed(judge, lambda t: {"errors": Window.empty(15.0)}, 20)
    assert [look.decision for look in looks[:-1]] == [AnalysisDecision.CONTINUE] * 9
    assert looks[-1].decision is AnalysisDecision.PAUSE
    assert looks[-1].metrics[0].verdict is Verdict.INCONCLUSIVE
    assert looks[-1].metrics[0].empty_windows == 10


@pytest.mark.parametrize(
    ("policy", "decision"),
    [
        (InconclusivePolicy.ROLLBACK, AnalysisDecision.ROLLBACK),
        (InconclusivePolicy.PROMOTE, AnalysisDecision.PROMOTE),
    ],
    ids=["rollback", "promote"],
)
def test_inconclusive_policy_applies_at_max_duration(
    policy: InconclusivePolicy, decision: AnalysisDecision
) -> None:
    judge = SequentialJudge([ERRORS], SequentialConfig(max_duration_s=30, on_inconclusive=policy))
    looks = _feed(judge, lambda t: {"errors": count_window(0, 1)}, 5)
    assert looks[-1].decision is decision


def test_inconclusive_promote_never_promotes_without_usable_data() -> None:
    config = SequentialConfig(max_duration_s=60, on_inconclusive=InconclusivePolicy.PROMOTE)
    judge = SequentialJudge([ERRORS], config)
    looks = _feed(judge, lambda t: {"errors": Window.empty(15.0)}, 10)
    assert looks[-1].final
    assert looks[-1].decision is AnalysisDecision.PAUSE
    assert "no usable data on errors" in looks[-1].reason


def test_empty_windows_do_not_reset_an_error_streak() -> None:
    judge = SequentialJudge([ERRORS], SequentialConfig(error_limit=3))
    windows = [Window.errored(15.0, "HTTP 503"), Window.empty(15.0)] * 5
    looks = _feed(judge, lambda t: {"errors": windows[t]}, 10)
    assert looks[-1].decision is AnalysisDecision.ROLLBACK
    assert looks[-1].metrics[0].verdict is Verdict.ERROR
    assert len(looks) == 5  # the third errored window, with empty ones between


def test_a_usable_window_ends_an_error_streak() -> None:
    judge = SequentialJudge([ERRORS], SequentialConfig(error_limit=3))
    windows = [Window.errored(15.0, "HTTP 503"), Window.errored(15.0, "x"), count_window(0, 50)]
    looks = _feed(judge, lambda t: {"errors": windows[t % 3]}, 9)
    assert all(look.decision is not AnalysisDecision.ROLLBACK for look in looks)


def test_errored_windows_end_in_error_verdict_and_rollback() -> None:
    judge = SequentialJudge([ERRORS], SequentialConfig(error_limit=3))
    looks = _feed(judge, lambda t: {"errors": Window.errored(15.0, "HTTP 503")}, 10)
    assert len(looks) == 3
    assert looks[-1].decision is AnalysisDecision.ROLLBACK
    assert looks[-1].metrics[0].verdict is Verdict.ERROR


def test_threshold_failure_rolls_back_outside_the_budget() -> None:
    spec = JudgedMetric("slo", MetricKind.THRESHOLD, threshold_max=0.5, failure_limit=2)
    judge = SequentialJudge([spec], SequentialConfig())
    looks = _feed(
        judge,
        lambda t: {"slo": Window(15.0, canary=ScalarValue(0.9), baseline=ScalarValue(0.1))},
        5,
    )
    assert len(looks) == 2
    assert looks[-1].decision is AnalysisDecision.ROLLBACK


def test_min_soak_holds_promotion_back() -> None:
    rng = np.random.default_rng(0)
    judge = SequentialJudge([BODY], SequentialConfig(min_soak_s=600))
    looks = _feed(judge, lambda t: {"latency": latency_window(rng, scale=0.85)}, 200)
    assert looks[-1].decision is AnalysisDecision.PROMOTE
    assert looks[-1].elapsed_s == 600


def test_alpha_is_split_between_critical_metrics_and_group() -> None:
    specs = [
        ERRORS,
        BODY,
        JudgedMetric("acc", MetricKind.ACCURACY, baseline_accuracy=0.9, critical=False),
    ]
    judge = SequentialJudge(specs, SequentialConfig(alpha=0.01, critical_alpha_share=0.5))
    assert judge.alpha_critical == pytest.approx({"errors": 0.0025, "latency": 0.0025})
    assert judge.alpha_group == pytest.approx(0.005)


def test_alpha_weights_split_the_critical_budget() -> None:
    specs = [replace(ERRORS, alpha_weight=3.0), BODY]
    judge = SequentialJudge(specs, SequentialConfig(alpha=0.01))
    assert judge.alpha_critical == pytest.approx({"errors": 0.0075, "latency": 0.0025})
    assert judge.alpha_group == 0.0


def test_state_round_trips_and_resumes_identically() -> None:
    def make(t: int) -> dict[str, Window]:
        rng = np.random.default_rng(t)
        return {
            "errors": count_window(int(t % 3 == 0), 8),
            "latency": latency_window(rng, scale=1.0),
        }

    config = SequentialConfig()
    original = SequentialJudge([ERRORS, BODY], config)
    _feed(original, make, 10)
    saved = json.loads(json.dumps(original.to_dict()))
    resumed = SequentialJudge.from_dict([ERRORS, BODY], config, saved)
    a = original.observe(make(10), elapsed_s=165.0)
    b = resumed.observe(make(10), elapsed_s=165.0)
    assert a.to_dict() == b.to_dict()


def test_unknown_metric_window_is_a_spec_error() -> None:
    judge = SequentialJudge([ERRORS], SequentialConfig())
    with pytest.raises(SpecError, match="unknown metrics"):
        judge.observe({"nope": Window.empty(15.0)}, elapsed_s=15.0)


def test_final_look_is_sticky() -> None:
    judge = SequentialJudge([ERRORS], SequentialConfig())
    final = _feed(judge, lambda t: {"errors": count_window(5, 10)}, 100)[-1]
    again = judge.observe({"errors": count_window(0, 100)}, elapsed_s=1e6)
    assert again is final
