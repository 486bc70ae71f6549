"""Change detection after promotion evidence: the start-time mixture and the default soak."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest
from tests.analysis.builders import count_window, latency_window

from mlrollout.analysis import JudgedMetric
from mlrollout.analysis.detector import ChangeDetector, compute_start_log_weight
from mlrollout.analysis.dispersion import PRIOR_PSI, CountDispersion
from mlrollout.analysis.eprocess import WhichArmEProcess, default_grid
from mlrollout.analysis.evidence import BodyEvidence, CountEvidence
from mlrollout.analysis.kinds import Direction
from mlrollout.binding import compute_soak
from mlrollout.model.analysis import MetricKind
from mlrollout.spec.policy import AnalysisPolicy, JudgeKind, TemplateRef


def test_start_weights_sum_to_at_most_one() -> None:
    # ¾ on the first window; Σ_{j≥1} 1/(8j(1+ln j)²) ≤ ¼ (integral bound), checked far out
    # and with the remaining tail bounded by ∫_J^∞ dx/(8x(1+ln x)²) = 1/(8(1+ln J)).
    last = 200_000
    head = sum(math.exp(compute_start_log_weight(k)) for k in range(1, last + 2))
    tail = 1.0 / (8.0 * (1.0 + math.log(last)))
    assert head + tail <= 1.0
    assert compute_start_log_weight(1) == pytest.approx(math.log(0.75))


def _late_regression(*, detect: bool) -> int:
    """Windows until rollback (e ≥ 1000) for κ = 3 after 200 healthy windows at 5%."""
    process = WhichArmEProcess(
        kappa_ref=1.2, direction=Direction.ABOVE, grid=default_grid(), detect=detect
    )
    for _ in range(200):
        process.update(canary_events=5.0, total_events=100.0, canary_share=0.05)
    for window in range(1, 400):
        process.update(canary_events=13.6, total_events=100.0, canary_share=0.05)
        if process.log_e >= math.log(1000.0):
            return window
    return 10_000


def test_a_regression_after_long_health_is_caught_by_a_later_start() -> None:
    fresh, cumulative = _late_regression(detect=True), _late_regression(detect=False)
    assert fresh <= 10
    assert cumulative > 3 * fresh


def test_no_change_leaves_the_detector_below_one_on_average() -> None:
    rng = np.random.default_rng(3)
    finals = []
    for _ in range(200):
        process = WhichArmEProcess(
            kappa_ref=1.0, direction=Direction.ABOVE, grid=default_grid(), detect=True
        )
        for _ in range(100):
            process.update(
                canary_events=float(rng.binomial(40, 0.05)), total_events=40.0, canary_share=0.05
            )
        finals.append(math.exp(process.log_e))
    # an e-process under the null: mean at most 1 (sampling slack for 200 runs)
    assert float(np.mean(finals)) < 1.3


def test_detector_state_round_trips() -> None:
    spec = JudgedMetric("errors", MetricKind.ERRORS, margin=0.2)
    evidence = CountEvidence(spec)
    for c in (1.0, 4.0, 9.0):
        evidence.update(count_window(c, 50.0))
    restored = CountEvidence(spec)
    restored.load(evidence.to_dict())
    assert restored.summarise(0.01).log_e_rollback == evidence.summarise(0.01).log_e_rollback
    detector = ChangeDetector(3)
    detector.load(None)  # state saved before detection existed: starts afresh
    assert detector.windows == 0


def test_latency_body_rolls_back_a_slow_down_that_starts_late() -> None:
    rng = np.random.default_rng(7)
    spec = JudgedMetric("body", MetricKind.LATENCY_BODY, margin=0.05, prior_var=0.28)
    evidence = BodyEvidence(spec)
    for _ in range(120):
        evidence.update(latency_window(rng, scale=1.0, n_canary=200))
    assert evidence.summarise(0.01).log_e_rollback < math.log(100.0)
    detected = None
    for window in range(1, 60):
        evidence.update(latency_window(rng, scale=1.3, n_canary=200))
        if evidence.summarise(0.01).log_e_rollback >= math.log(1000.0):
            detected = window
            break
    assert detected is not None
    assert detected < 30


def _policy(**extra: object) -> AnalysisPolicy:
    return AnalysisPolicy(templates=[TemplateRef(name="latency")], **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("policy", "step_min", "longest", "soak"),
    [
        (_policy(), None, timedelta(hours=1), timedelta(minutes=15)),
        (_policy(), None, timedelta(minutes=10), timedelta(minutes=5)),
        (_policy(min_duration=timedelta(0)), None, timedelta(hours=1), timedelta(0)),
        (_policy(), timedelta(minutes=2), timedelta(hours=1), timedelta(minutes=2)),
        (_policy(), timedelta(minutes=20), timedelta(minutes=10), timedelta(minutes=10)),
        (_policy(judge=JudgeKind.KAYENTA), None, timedelta(hours=1), timedelta(0)),
    ],
    ids=["default", "half-of-short-step", "policy-zero", "step-own", "clamped", "kayenta"],
)
def test_soak_defaults_for_the_sequential_judge_only(
    policy: AnalysisPolicy, step_min: timedelta | None, longest: timedelta, soak: timedelta
) -> None:
    assert compute_soak(policy, step_min, longest) == soak


def _tail_dispersion(pod_sd: float) -> float:
    rng = np.random.default_rng(5)
    dispersion = CountDispersion()
    shift = 0.0
    for _ in range(240):
        shift = 0.7 * shift + rng.normal(0.0, pod_sd)
        theta = 0.25 * math.exp(shift) / (0.25 * math.exp(shift) + 0.75)
        events = float(rng.poisson(300))
        canary = float(rng.binomial(int(events), theta))
        dispersion.update(canary_events=canary, total_events=events)
    return dispersion.factor(total_events=300.0, canary_share=0.25)


def test_tail_dispersion_grows_with_correlated_noise_and_stays_small_without() -> None:
    # binomial counts: the floor (the data may raise the assumed dispersion, never lower it)
    assert _tail_dispersion(0.0) == pytest.approx(1.0 + 300.0 * 0.25 * 0.75 * PRIOR_PSI)
    assert _tail_dispersion(0.1) > 2.0 * _tail_dispersion(0.0)


def test_dispersion_tempers_each_window() -> None:
    plain = WhichArmEProcess(kappa_ref=1.0, direction=Direction.ABOVE, grid=default_grid())
    tempered = WhichArmEProcess(kappa_ref=1.0, direction=Direction.ABOVE, grid=default_grid())
    plain.update(canary_events=30.0, total_events=100.0, canary_share=0.25)
    tempered.update(canary_events=30.0, total_events=100.0, canary_share=0.25, dispersion=2.0)
    assert tempered.log_lr == pytest.approx(plain.log_lr / 2.0)
