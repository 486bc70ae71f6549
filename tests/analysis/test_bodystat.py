"""The latency-body statistic: winsorized mean log latency from buckets (``bodystat``)."""

from __future__ import annotations

import json
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mlrollout.analysis.bodystat import MIN_REQUESTS, choose_log_clip
from mlrollout.analysis.config import JudgedMetric
from mlrollout.analysis.evidence import BodyEvidence
from mlrollout.analysis.kinds import MetricKind
from mlrollout.analysis.observations import Histogram, Window

from .builders import histogram

# geometric buckets (×1.025) over the body of a 50 ms log-normal, coarse outside
FINE = tuple(round(0.01 * 1.025**k, 6) for k in range(round(math.log(40) / math.log(1.025)) + 1))
CLIP_BOUNDS = (0.001, *FINE, 1.0, 10.0)


def _lognormal(rng: np.random.Generator, n: int, *, scale: float = 1.0) -> np.ndarray:
    return scale * rng.lognormal(math.log(0.05), 0.5, n)


def _slow_path(rng: np.random.Generator, latencies: np.ndarray, share: float) -> np.ndarray:
    """A share of requests × (1 + Pareto(1.5)), capped at a 10 s client timeout."""
    slow = rng.uniform(size=latencies.size) < share
    factor = np.where(slow, 1.0 + rng.pareto(1.5, latencies.size), 1.0)
    return np.minimum(latencies * factor, 10.0)


def test_clip_is_median_plus_minus_three_sd_on_bucket_bounds() -> None:
    rng = np.random.default_rng(1)
    pooled = histogram(_lognormal(rng, 20_000), CLIP_BOUNDS)
    clip = choose_log_clip(pooled, pooled)
    assert clip is not None
    assert clip.lo in CLIP_BOUNDS
    assert clip.hi in CLIP_BOUNDS
    assert math.log(clip.lo) <= math.log(0.05) - 1.5 <= math.log(clip.lo) + 0.03
    assert math.log(clip.hi) - 0.03 <= math.log(0.05) + 1.5 <= math.log(clip.hi)


def test_no_clip_from_too_few_requests_or_different_buckets() -> None:
    rng = np.random.default_rng(2)
    few = histogram(_lognormal(rng, MIN_REQUESTS // 2 - 1), CLIP_BOUNDS)
    assert choose_log_clip(few, few) is None
    many = histogram(_lognormal(rng, 200), CLIP_BOUNDS)
    other = histogram(_lognormal(rng, 200), CLIP_BOUNDS[1:])
    assert choose_log_clip(many, other) is None


def test_mean_log_latency_and_a_scale_shift() -> None:
    rng = np.random.default_rng(3)
    base = _lognormal(rng, 200_000)
    clip = choose_log_clip(histogram(base, CLIP_BOUNDS), histogram(base, CLIP_BOUNDS))
    assert clip is not None
    mean, var, n = clip.summarise(histogram(base, CLIP_BOUNDS))
    assert n == base.size
    assert abs(mean - math.log(0.05)) < 0.005
    assert abs(var - 0.25) < 0.01  # σ_log² (clipping at ±3σ removes ~1 %)
    shifted, _, _ = clip.summarise(histogram(_lognormal(rng, 200_000, scale=1.1), CLIP_BOUNDS))
    assert abs((shifted - mean) - math.log(1.1)) < 0.006


def _fast_histogram(latencies: np.ndarray) -> Histogram:
    counts = np.searchsorted(np.sort(latencies), CLIP_BOUNDS, side="right").astype(float)
    return Histogram(CLIP_BOUNDS, tuple(counts), float(latencies.sum()), float(latencies.size))


_BASE = _fast_histogram(_lognormal(np.random.default_rng(0), 1000))
_CLIP = choose_log_clip(_BASE, _BASE)


@settings(max_examples=100, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 400),
    enormous=st.floats(1.0, 1e12, allow_nan=False),
)
def test_one_enormous_request_moves_an_arm_mean_by_at_most_width_over_n(
    seed: int, n: int, enormous: float
) -> None:
    clip = _CLIP
    assert clip is not None
    assert math.isfinite(clip.width)
    canary = _lognormal(np.random.default_rng(seed), n)
    before, _, _ = clip.summarise(_fast_histogram(canary))
    after, _, _ = clip.summarise(_fast_histogram(np.append(canary, enormous)))
    assert abs(after - before) <= clip.width / (n + 1) + 1e-12
    # the same request replacing one of the canary's: at most width / n
    replaced = canary.copy()
    replaced[0] = enormous
    moved, _, _ = clip.summarise(_fast_histogram(replaced))
    assert abs(moved - before) <= clip.width / n + 1e-12


def _window(rng: np.random.Generator, *, scale: float, share: float) -> Window:
    base = _slow_path(rng, _lognormal(rng, 760), share)
    canary = _slow_path(rng, _lognormal(rng, 40, scale=scale), share)
    return Window(
        15.0,
        canary=_fast_histogram(canary),
        baseline=_fast_histogram(base),
        canary_weight=0.05,
    )


def test_heavy_tails_on_both_arms_do_not_roll_back() -> None:
    """A/A with 0.5 % Pareto(1.5) slow requests on both arms, 40 canary requests a window
    (50 req/s, 5 %), an hour of windows: the rollback e-value of no run reaches 1/α (with
    the log ratio of ``_sum/_count`` means, 3 of these 10 runs reached it)."""
    spec = JudgedMetric("b", MetricKind.LATENCY_BODY, margin=0.05, prior_var=0.28)
    highest = []
    for seed in range(10):
        rng = np.random.default_rng(seed)
        evidence = BodyEvidence(spec)
        peak = -math.inf
        for _ in range(240):
            evidence.update(_window(rng, scale=1.0, share=0.005))
            peak = max(peak, evidence.summarise(0.01, detail=False).log_e_rollback)
        highest.append(peak)
    assert max(highest) < math.log(100)


def test_a_twenty_percent_slow_down_is_still_rolled_back_under_heavy_tails() -> None:
    spec = JudgedMetric("b", MetricKind.LATENCY_BODY, margin=0.05, prior_var=0.28)
    rng = np.random.default_rng(7)
    evidence = BodyEvidence(spec)
    for _ in range(240):
        evidence.update(_window(rng, scale=1.2, share=0.005))
        if evidence.summarise(0.01, detail=False).log_e_rollback >= math.log(100):
            break
    summary = evidence.summarise(0.01)
    assert summary.log_e_rollback >= math.log(100)
    assert summary.estimate is not None
    assert 1.1 < summary.estimate < 1.3


def test_clip_survives_a_round_trip_and_a_changed_layout_is_skipped() -> None:
    spec = JudgedMetric("b", MetricKind.LATENCY_BODY)
    rng = np.random.default_rng(5)
    evidence = BodyEvidence(spec)
    for _ in range(4):
        assert evidence.update(_window(rng, scale=1.0, share=0.0))
    copy = BodyEvidence(spec)
    copy.load(json.loads(json.dumps(evidence.to_dict())))
    assert copy.clip == evidence.clip
    window = _window(rng, scale=1.0, share=0.0)
    assert copy.update(window) == evidence.update(window)
    assert copy.summarise(0.01) == evidence.summarise(0.01)
    canary = window.canary
    assert isinstance(canary, Histogram)
    relaid = Histogram(canary.bounds[1:], canary.counts[1:], canary.total_sum, canary.total_count)
    assert not evidence.update(Window(15.0, canary=relaid, baseline=relaid))
