"""Dry-run metrics in the sequential judge: judged and reported, never deciding."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mlrollout.analysis.config import JudgedMetric, SequentialConfig, compute_alpha_budgets
from mlrollout.analysis.kinds import AnalysisDecision, MetricKind, Verdict
from mlrollout.analysis.observations import Window
from mlrollout.analysis.planning import TrafficProfile, compute_plan
from mlrollout.analysis.sequential import SequentialJudge

from .builders import count_window, latency_window

BODY = JudgedMetric("latency", MetricKind.LATENCY_BODY, margin=0.05)
ERRORS = JudgedMetric("errors", MetricKind.ERRORS, margin=0.2)
TRIAL = JudgedMetric("trial-errors", MetricKind.ERRORS, margin=0.2, dry_run=True)


def _run(judge: SequentialJudge, make: object, looks: int = 300) -> object:
    look = None
    for t in range(looks):
        look = judge.observe(make(t), elapsed_s=15.0 * (t + 1))  # type: ignore[operator]
        if look.final:
            break
    return look


def test_a_regressing_dry_run_metric_is_reported_failing_while_the_others_promote() -> None:
    rng = np.random.default_rng(3)
    judge = SequentialJudge([BODY, TRIAL], SequentialConfig())
    look = _run(
        judge,
        lambda t: {
            "latency": latency_window(rng, scale=0.85),
            "trial-errors": count_window(6, 10),  # canary ~12x the baseline's error rate
        },
    )
    assert look.decision is AnalysisDecision.PROMOTE  # type: ignore[attr-defined]
    verdicts = {m.name: m for m in look.metrics}  # type: ignore[attr-defined]
    trial = verdicts["trial-errors"]
    assert trial.verdict is Verdict.FAILED
    assert trial.dry_run
    assert "dry run, not deciding" in trial.reason
    assert trial.e_rollback >= trial.rollback_at == pytest.approx(100.0)  # 1/α on its own
    assert not verdicts["latency"].dry_run
    assert verdicts["latency"].verdict is Verdict.SUCCESSFUL


def test_the_same_metric_deciding_rolls_back() -> None:
    rng = np.random.default_rng(3)
    deciding = replace(TRIAL, dry_run=False)
    judge = SequentialJudge([BODY, deciding], SequentialConfig())
    look = _run(
        judge,
        lambda t: {
            "latency": latency_window(rng, scale=0.85),
            "trial-errors": count_window(6, 10),
        },
    )
    assert look.decision is AnalysisDecision.ROLLBACK  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "window",
    [
        pytest.param(Window.errored(15.0, "HTTP 503"), id="errored"),
        pytest.param(Window.empty(15.0), id="empty"),
    ],
)
def test_a_dry_run_metric_without_data_neither_holds_nor_ends_the_analysis(window: Window) -> None:
    judge = SequentialJudge([ERRORS, TRIAL], SequentialConfig())
    healthy = count_window(5, 100, canary=500, baseline=9500)  # equal error rates
    look = _run(judge, lambda t: {"errors": healthy, "trial-errors": window})
    assert look.decision is AnalysisDecision.PROMOTE  # type: ignore[attr-defined]
    trial = look.metrics[1]  # type: ignore[attr-defined]
    assert trial.dry_run
    # Without data it is never reported healthy.
    assert trial.verdict is (Verdict.ERROR if window.error else Verdict.INCONCLUSIVE)


@pytest.mark.parametrize(
    "specs",
    [
        pytest.param([ERRORS], id="one-critical"),
        pytest.param([ERRORS, replace(BODY, critical=False)], id="critical-and-group"),
    ],
)
def test_a_dry_run_metric_takes_no_alpha_from_the_deciding_ones(
    specs: list[JudgedMetric],
) -> None:
    config = SequentialConfig()
    assert compute_alpha_budgets([*specs, TRIAL], config) == compute_alpha_budgets(specs, config)
    noncritical_trial = replace(TRIAL, critical=False)
    assert compute_alpha_budgets([*specs, noncritical_trial], config) == compute_alpha_budgets(
        specs, config
    )


@pytest.mark.parametrize(
    "deciding",
    [
        pytest.param([ERRORS], id="critical"),
        pytest.param([replace(ERRORS, critical=False)], id="group"),
    ],
)
def test_plan_times_deciding_metrics_as_without_the_dry_run_one(
    deciding: list[JudgedMetric],
) -> None:
    profile = TrafficProfile(rps=200, canary_weight=0.1)
    config = SequentialConfig()
    alone = compute_plan(deciding, config, profile).metrics
    with_trial = compute_plan([*deciding, TRIAL], config, profile).metrics
    assert with_trial[:-1] == alone
    trial = with_trial[-1]
    # On its own at α, as if it were the only critical metric.
    [solo] = compute_plan([replace(TRIAL, dry_run=False)], config, profile).metrics
    assert trial.rollback_s == solo.rollback_s
