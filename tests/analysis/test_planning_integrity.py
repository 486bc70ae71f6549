"""Planning, bucket resolution, tail thresholds, sample-ratio mismatch, pod-effect floor."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mlrollout.analysis.buckets import assess_bucket_resolution, compute_tail_thresholds
from mlrollout.analysis.config import JudgedMetric, SequentialConfig
from mlrollout.analysis.integrity import SampleRatioCheck, compute_pod_margin_floor
from mlrollout.analysis.kinds import MetricKind
from mlrollout.analysis.observations import compute_counter_increase
from mlrollout.analysis.planning import TrafficProfile, compute_plan
from mlrollout.analysis.points import compute_histogram_quantile
from mlrollout.bench.simulator import compute_geometric_bounds
from mlrollout.errors import SpecError

from .builders import histogram

CLASSIC = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def test_classic_buckets_cannot_resolve_five_percent_but_geometric_can() -> None:
    assert not assess_bucket_resolution(CLASSIC, margin=0.05, near=0.16).resolves
    assert assess_bucket_resolution(compute_geometric_bounds(), margin=0.05, near=0.16).resolves


def test_tail_thresholds_sit_around_the_quantile() -> None:
    rng = np.random.default_rng(0)
    data = rng.lognormal(np.log(0.05), 0.5, 200_000)
    bounds = compute_geometric_bounds()
    picks = compute_tail_thresholds(histogram(data, bounds), quantile=0.99)
    assert len(picks) == 3
    assert picks[0] < float(np.quantile(data, 0.99)) * 1.06
    assert picks[-1] > 0.15


def test_histogram_quantile_interpolates() -> None:
    hist = histogram(np.array([0.03, 0.07, 0.08, 0.3]), (0.05, 0.1, 0.5))
    assert compute_histogram_quantile(hist, 0.5) == pytest.approx(0.05 + 0.05 * 1 / 2)


def test_counter_increase_handles_resets() -> None:
    assert compute_counter_increase([10, 15, 3, 8]) == 5 + 3 + 5


def test_sample_ratio_mismatch_is_flagged_only_when_present() -> None:
    good, bad = SampleRatioCheck(), SampleRatioCheck()
    rng = np.random.default_rng(1)
    for _ in range(200):
        n = rng.poisson(750)
        good.update(
            canary_requests=(c := rng.binomial(n, 0.05)), baseline_requests=n - c, weight=0.05
        )
        bad.update(
            canary_requests=(d := rng.binomial(n, 0.06)), baseline_requests=n - d, weight=0.05
        )
    assert not good.mismatch
    assert bad.mismatch
    restored = SampleRatioCheck()
    restored.load(json.loads(json.dumps(bad.to_dict())))
    assert restored.e_value == pytest.approx(bad.e_value)


def test_pod_margin_floor() -> None:
    floor = compute_pod_margin_floor([0.050, 0.052, 0.049, 0.051, 0.048], canary_pods=1)
    assert 0.06 < floor < 0.09  # 2.33 x sd(log) ≈ 2.33 x 0.032
    assert compute_pod_margin_floor([0.05, 0.052, 0.049], canary_pods=4) < floor
    with pytest.raises(SpecError, match="two positive"):
        compute_pod_margin_floor([0.05], canary_pods=1)


def test_plan_times_and_warnings() -> None:
    specs = [
        JudgedMetric("latency", MetricKind.LATENCY_BODY, margin=0.05),
        JudgedMetric("errors", MetricKind.ERRORS, margin=0.2),
    ]
    config = SequentialConfig(max_duration_s=1800)
    fast = compute_plan(specs, config, TrafficProfile(rps=500, canary_weight=0.2))
    slow = compute_plan(
        specs, config, TrafficProfile(rps=5, canary_weight=0.05, canary_pods=1, bounds=CLASSIC)
    )
    assert fast.metrics[0].rollback_s < slow.metrics[0].rollback_s
    assert math.isfinite(fast.metrics[1].promote_s)
    text = " ".join(slow.warnings)
    assert "beyond maxDuration" in text
    assert "buckets near" in text
    assert "canary pod" in text
    assert not any("canary pod" in w for w in fast.warnings)
