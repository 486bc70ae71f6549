"""Second-round statistics: focused promote grid, final fixed-horizon look, long-run variance."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlrollout.analysis import JudgedMetric, SequentialConfig, SequentialJudge
from mlrollout.analysis.eprocess import FOCUS, default_grid, focused_grid
from mlrollout.analysis.gaussian import BATCH, LogRatioEProcess
from mlrollout.analysis.observations import EventCounts, Window
from mlrollout.errors import SpecError
from mlrollout.model.analysis import AnalysisDecision, MetricKind


@pytest.mark.parametrize(
    ("gap", "expected"),
    [(math.log(1.2), tuple(math.log(1.2) * f for f in FOCUS)), (0.0, default_grid().offsets)],
    ids=["errors-20pct", "zero-margin"],
)
def test_promote_grid_sits_on_the_gap(gap: float, expected: tuple[float, ...]) -> None:
    assert focused_grid(gap).offsets == pytest.approx(expected)


@pytest.mark.parametrize(
    ("share", "anytime", "final"),
    [(0.5, 0.025, 0.025), (0.0, 0.05, 0.0)],
    ids=["half", "none"],
)
def test_beta_is_split_between_anytime_and_final_look(
    share: float, anytime: float, final: float
) -> None:
    config = SequentialConfig(beta=0.05, final_look_share=share)
    assert config.beta_anytime == pytest.approx(anytime)
    assert config.beta_final == pytest.approx(final)


def test_final_look_share_out_of_range_is_refused() -> None:
    with pytest.raises(SpecError, match="finalLookShare"):
        SequentialConfig(final_look_share=1.0)


def _errors_judge(share: float) -> SequentialJudge:
    spec = JudgedMetric("errors", MetricKind.ERRORS, margin=0.2)
    return SequentialJudge([spec], SequentialConfig(max_duration_s=600.0, final_look_share=share))


def _feed(judge: SequentialJudge, canary: float, baseline: float) -> AnalysisDecision:
    look = None
    for t in range(40):
        window = Window(15.0, EventCounts(canary, 1000.0), EventCounts(baseline, 19000.0), 0.05)
        look = judge.observe({"errors": window}, elapsed_s=15.0 * (t + 1))
    assert look is not None
    return look.decision


def test_the_final_look_promotes_what_the_anytime_test_could_not_yet_show() -> None:
    # 40 windows of 4 canary vs 76 baseline events per window (κ = 1, ρ = 5%): too few
    # for the anytime test at β/2, enough for one z test of κ ≥ 1.2 at β/2 at the end.
    assert _feed(_errors_judge(0.0), 4.0, 76.0) is AnalysisDecision.PAUSE
    assert _feed(_errors_judge(0.5), 4.0, 76.0) is AnalysisDecision.PROMOTE


def test_the_final_look_does_not_promote_a_regression() -> None:
    assert _feed(_errors_judge(0.5), 5.2, 76.0) is not AnalysisDecision.PROMOTE


def test_block_variance_grows_with_correlated_between_window_noise() -> None:
    rng = np.random.default_rng(1)
    independent = LogRatioEProcess(prior_var=0.3, prior_excess=1e-9)
    correlated = LogRatioEProcess(prior_var=0.3, prior_excess=1e-9)
    noise = 0.0
    for _ in range(BATCH * 12):
        noise = 0.9 * noise + rng.normal(0.0, 0.02 * math.sqrt(1 - 0.81))
        for process, offset in ((independent, rng.normal(0.0, 0.02)), (correlated, noise)):
            process.update(offset, n_canary=5000.0, n_baseline=15000.0)
    # Same marginal spread per window; only the correlated one has a long-run excess.
    assert correlated.excess_var > 5 * independent.excess_var


def test_block_state_round_trips() -> None:
    process = LogRatioEProcess()
    for i in range(BATCH * 3 + 2):
        process.update(math.log(1.0 + 0.02 * (i % 3)), n_canary=50, n_baseline=950)
    restored = LogRatioEProcess()
    restored.load(process.to_dict())
    assert restored.excess_var == process.excess_var


def test_the_long_run_variance_never_falls_below_its_prior() -> None:
    # Identical means in every window: the blocks measure no excess at all, yet the plug-in
    # keeps the assumed pod-noise variance (a low estimate by chance made boundary releases
    # roll back); correlated noise above the prior still raises it.
    process = LogRatioEProcess(prior_var=0.3, prior_excess=1e-3)
    for _ in range(BATCH * 12):
        process.update(0.0, n_canary=5000.0, n_baseline=15000.0)
    assert process.excess_var == pytest.approx(1e-3)


def _gate_and_guard(guard_canary: float) -> list[tuple[AnalysisDecision, str]]:
    """An errors gate that is quickly shown within its margin, beside an errors guard whose
    canary has ``guard_canary`` of 1,000 requests failing (baseline 0.1 %)."""
    gate = JudgedMetric("gate", MetricKind.ERRORS, margin=0.2)
    guard = JudgedMetric("guard", MetricKind.ERRORS, margin=0.2, gated=False)
    judge = SequentialJudge([gate, guard], SequentialConfig(max_duration_s=3600.0))
    looks = []
    for t in range(60):
        windows = {
            "gate": Window(15.0, EventCounts(50.0, 1000.0), EventCounts(950.0, 19000.0), 0.05),
            "guard": Window(
                15.0, EventCounts(guard_canary, 1000.0), EventCounts(19.0, 19000.0), 0.05
            ),
        }
        look = judge.observe(windows, elapsed_s=15.0 * (t + 1))
        looks.append((look.decision, look.reason))
        if look.final:
            break
    return looks


def test_a_guard_leaning_towards_a_regression_holds_promotion() -> None:
    doubled = _gate_and_guard(2.0)
    assert all(decision is not AnalysisDecision.PROMOTE for decision, _ in doubled)
    assert any("held by guards: guard" in reason for _, reason in doubled)
    assert doubled[-1][0] is AnalysisDecision.ROLLBACK
    # the same guard with the baseline's error rate lets the gate promote
    assert _gate_and_guard(1.0)[-1][0] is AnalysisDecision.PROMOTE
