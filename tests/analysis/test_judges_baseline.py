"""Kayenta- and Flagger-compatible judges: classification, scoring, limits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlrollout.analysis.flagger import FlaggerConfig, FlaggerJudge, ThresholdCheck
from mlrollout.analysis.kayenta import Classification, KayentaConfig, KayentaJudge, KayentaMetric
from mlrollout.analysis.kinds import AnalysisDecision, MetricKind
from mlrollout.errors import SpecError

LAT = KayentaMetric("lat", MetricKind.LATENCY_BODY, group="latency", allowed_increase=1.05)
ERR = KayentaMetric("err", MetricKind.ERRORS, group="errors", critical=True)


def _judge(metrics: list[KayentaMetric], **config: object) -> KayentaJudge:
    return KayentaJudge(metrics, KayentaConfig(interval_s=60.0, **config))  # type: ignore[arg-type]


def _fill(judge: KayentaJudge, name: str, canary: np.ndarray, baseline: np.ndarray) -> None:
    judge.points[name]["canary"] = list(canary)
    judge.points[name]["baseline"] = list(baseline)


@pytest.mark.parametrize(
    ("shift", "allowed", "expected"),
    [
        (1.5, 1.05, Classification.HIGH),
        (1.5, 2.0, Classification.PASS),
        (1.0, 1.05, Classification.PASS),
    ],
    ids=["high", "filtered-by-mean-ratio", "same"],
)
def test_classification(shift: float, allowed: float, expected: Classification) -> None:
    rng = np.random.default_rng(0)
    metric = KayentaMetric("lat", MetricKind.LATENCY_BODY, allowed_increase=allowed)
    judge = _judge([metric])
    _fill(judge, "lat", shift * rng.lognormal(0, 0.2, 80), rng.lognormal(0, 0.2, 80))
    assert judge.classify(metric)[0] is expected


def test_nan_strategy_and_nodata() -> None:
    remove = KayentaMetric("m", MetricKind.ERRORS)
    judge = _judge([remove])
    _fill(judge, "m", np.array([math.nan, math.nan, 1.0]), np.array([1.0, 2.0, 3.0]))
    assert judge.classify(remove)[0] is Classification.NODATA
    replace = KayentaMetric("m", MetricKind.ERRORS, nan_strategy="replace")
    assert _judge([replace]).classify(replace)[0] is Classification.NODATA  # no points at all
    judge = _judge([replace])
    _fill(judge, "m", np.array([math.nan, math.nan, 1.0]), np.array([1.0, 2.0, 3.0]))
    assert judge.classify(replace)[0] is Classification.PASS


def test_scores_groups_and_critical_metrics() -> None:
    judge = _judge([LAT, ERR], group_weights={"latency": 3.0, "errors": 1.0})
    passing = {"lat": Classification.PASS, "err": Classification.PASS}
    assert judge.compute_score(passing) == 100.0
    assert judge.compute_score({"lat": Classification.HIGH, "err": Classification.PASS}) == 25.0
    assert judge.compute_score({"lat": Classification.PASS, "err": Classification.HIGH}) == 0.0


def test_decides_at_interval_ends_only() -> None:
    rng = np.random.default_rng(1)
    judge = _judge([LAT], intervals=2)
    decisions = []
    for t in range(8):
        base = float(rng.lognormal(0, 0.1))
        look = judge.observe_points({"lat": (2 * base, base)}, elapsed_s=15.0 * (t + 1))
        decisions.append(look.decision)
    assert decisions[:3] == [AnalysisDecision.CONTINUE] * 3
    assert decisions[3] is AnalysisDecision.ROLLBACK  # High at the first interval end: score 0


def test_kayenta_never_promotes_a_metric_without_data() -> None:
    rng = np.random.default_rng(2)
    other = KayentaMetric("lat2", MetricKind.LATENCY_BODY, group="latency", allowed_increase=1.05)
    judge = _judge([LAT, other], intervals=1)
    look = None
    for t in range(4):
        base = float(rng.lognormal(0, 0.1))
        look = judge.observe_points(
            {"lat": (base, base * 1.001), "lat2": (math.nan, math.nan)}, elapsed_s=15.0 * (t + 1)
        )
    assert look is not None
    assert look.decision is AnalysisDecision.PAUSE
    assert "no data on lat2" in look.reason


def test_bad_kayenta_metric_is_spec_error() -> None:
    with pytest.raises(SpecError, match="direction"):
        KayentaMetric("m", MetricKind.ERRORS, direction="sideways")


def test_flagger_counts_failed_checks_and_nodata() -> None:
    judge = FlaggerJudge([ThresholdCheck("p99", maximum=0.5)], FlaggerConfig(failure_limit=2))
    assert judge.observe_values({"p99": 0.4}, elapsed_s=60).decision is AnalysisDecision.CONTINUE
    assert (
        judge.observe_values({"p99": math.nan}, elapsed_s=120).decision is AnalysisDecision.CONTINUE
    )
    assert judge.observe_values({"p99": 0.9}, elapsed_s=180).decision is AnalysisDecision.ROLLBACK


def test_flagger_promotes_after_iterations() -> None:
    judge = FlaggerJudge([ThresholdCheck("rate", minimum=0.99)], FlaggerConfig(iterations=3))
    looks = [judge.observe_values({"rate": 0.995}, elapsed_s=60.0 * i) for i in range(1, 4)]
    assert [look.decision for look in looks] == [
        AnalysisDecision.CONTINUE,
        AnalysisDecision.CONTINUE,
        AnalysisDecision.PROMOTE,
    ]
