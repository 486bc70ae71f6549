"""Per-kind evidence: which numbers each kind reads and how margins become ratios."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mlrollout.analysis.config import JudgedMetric, compute_reference_ratios
from mlrollout.analysis.evidence import (
    BodyEvidence,
    CountEvidence,
    TailEvidence,
    ThresholdEvidence,
    build_evidence,
)
from mlrollout.analysis.kinds import MetricKind, Verdict
from mlrollout.analysis.observations import EventCounts, ScalarValue, Window
from mlrollout.errors import SpecError

from .builders import BOUNDS, count_window, histogram, latency_window


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (JudgedMetric("e", MetricKind.ERRORS, margin=0.2), (1.2, 1.2)),
        (
            JudgedMetric("l", MetricKind.LATENCY_BODY, margin=0.05, promote_margin=0.02),
            (1.05, 1.02),
        ),
        (JudgedMetric("a", MetricKind.ACCURACY, margin=0.5, baseline_accuracy=0.9), (1.05, 1.05)),
        (JudgedMetric("x", MetricKind.ANOMALIES, margin=0.0), (1.0, 1.0)),
    ],
    ids=["errors", "latency-promote-margin", "accuracy-points", "anomalies"],
)
def test_margins_become_reference_ratios(spec: JudgedMetric, expected: tuple[float, float]) -> None:
    assert compute_reference_ratios(spec) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": MetricKind.ACCURACY}, "baselineAccuracy"),
        ({"kind": MetricKind.LATENCY_TAIL}, "tail threshold"),
        ({"kind": MetricKind.THRESHOLD}, "min or max"),
        ({"kind": MetricKind.ERRORS, "margin": -0.1}, "non-negative"),
        ({"kind": MetricKind.ERRORS, "weight": 0.0}, "weight"),
    ],
    ids=["accuracy", "tail", "threshold", "margin", "weight"],
)
def test_bad_specs_are_spec_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        JudgedMetric("m", **kwargs)  # type: ignore[arg-type]


def test_build_evidence_picks_the_kind() -> None:
    tail = JudgedMetric("t", MetricKind.LATENCY_TAIL, tail_thresholds=(0.1,))
    assert isinstance(build_evidence(tail), TailEvidence)
    assert isinstance(build_evidence(JudgedMetric("b", MetricKind.LATENCY_BODY)), BodyEvidence)
    assert isinstance(build_evidence(JudgedMetric("g", MetricKind.GPU_HEALTH)), CountEvidence)
    threshold = JudgedMetric("s", MetricKind.THRESHOLD, threshold_min=1.0)
    assert isinstance(build_evidence(threshold), ThresholdEvidence)


def test_counts_use_realised_exposure_share() -> None:
    evidence = CountEvidence(JudgedMetric("e", MetricKind.ERRORS))
    # Canary got 10% of requests although the router said 5%: ρ follows the requests.
    window = Window(15.0, EventCounts(10, 100), EventCounts(90, 900), canary_weight=0.05)
    for _ in range(20):
        evidence.update(window)
    summary = evidence.summarise(0.01)
    assert summary.estimate == pytest.approx(1.0, abs=0.05)
    assert summary.log_e_rollback < 0


def test_anomalies_count_distinct_sources() -> None:
    spec = JudgedMetric("x", MetricKind.ANOMALIES, margin=0.0, burst_prior=True)
    noisy, distinct = CountEvidence(spec), CountEvidence(spec)
    burst = Window(15.0, EventCounts(40, 50, sources=1), EventCounts(0, 950, sources=0), 0.05)
    noisy.update(Window(15.0, EventCounts(40, 50), EventCounts(0, 950), 0.05))
    distinct.update(burst)
    assert distinct.summarise(0.01).log_e_rollback < noisy.summarise(0.01).log_e_rollback


def test_burst_prior_trips_on_three_canary_anomalies() -> None:
    spec = JudgedMetric("x", MetricKind.ANOMALIES, margin=0.0, burst_prior=True)
    evidence = CountEvidence(spec)
    for _ in range(3):
        evidence.update(count_window(1, 0))
    assert math.exp(evidence.summarise(0.01).log_e_rollback) >= 500


def test_tail_rounds_canary_threshold_up_for_rollback_and_down_for_promotion() -> None:
    spec = JudgedMetric("t", MetricKind.LATENCY_TAIL, margin=0.07, tail_thresholds=(0.1,))
    evidence = TailEvidence(spec)
    rng = np.random.default_rng(0)
    evidence.update(latency_window(rng, scale=1.0))
    assert evidence.canary_bounds == [(0.11, 0.105)]  # 0.107 lies between the two bounds


def test_tail_detects_a_tail_regression() -> None:
    spec = JudgedMetric("t", MetricKind.LATENCY_TAIL, margin=0.05, tail_thresholds=(0.1, 0.105))
    evidence = TailEvidence(spec)
    rng = np.random.default_rng(2)
    for _ in range(60):
        evidence.update(latency_window(rng, scale=1.4, n_canary=100))
    assert evidence.summarise(0.01).log_e_rollback > math.log(100)


def test_body_reads_sum_and_count_and_round_trips() -> None:
    evidence = BodyEvidence(JudgedMetric("b", MetricKind.LATENCY_BODY))
    rng = np.random.default_rng(4)
    for _ in range(5):
        evidence.update(latency_window(rng, scale=1.0))
    copy = BodyEvidence(JudgedMetric("b", MetricKind.LATENCY_BODY))
    copy.load(json.loads(json.dumps(evidence.to_dict())))
    assert copy.summarise(0.01) == evidence.summarise(0.01)


def test_threshold_counts_nan_as_failed() -> None:
    spec = JudgedMetric("s", MetricKind.THRESHOLD, threshold_max=1.0, failure_limit=2)
    evidence = ThresholdEvidence(spec)
    evidence.update(Window(15.0, canary=ScalarValue(0.5)))
    assert evidence.summarise(0.01).forced is Verdict.SUCCESSFUL
    evidence.update(Window(15.0, canary=ScalarValue(math.nan)))
    evidence.update(Window(15.0, canary=ScalarValue(2.0)))
    assert evidence.summarise(0.01).forced is Verdict.FAILED


def test_histogram_validation_and_count_above() -> None:
    hist = histogram(np.array([0.01, 0.2, 0.3]), BOUNDS)
    assert hist.count_above(0.2) == 1
    with pytest.raises(SpecError, match="not a bucket bound"):
        hist.count_above(0.15)
    with pytest.raises(SpecError, match="increase"):
        type(hist)((0.2, 0.1), (1.0, 2.0), 1.0, 2.0)
    with pytest.raises(SpecError, match="non-negative"):
        EventCounts(-1, 10)
