"""The simulator's realism: counter resets, classic buckets, ramped weights, per-request tails."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mlrollout.analysis.kinds import AnalysisDecision, MetricKind
from mlrollout.analysis.observations import Histogram
from mlrollout.bench.comparison import assess_sequential, compute_pre_rollout
from mlrollout.bench.scenarios import SCENARIOS
from mlrollout.bench.simulator import (
    CLASSIC_BOUNDS,
    SimSettings,
    _scraped_increases,
    compute_weights,
    simulate_run,
)
from mlrollout.cli.simulation_setup import compute_setup, load_templates

SHORT = replace(SimSettings(), duration_s=600.0)


def test_a_restart_loses_what_the_pod_served_since_the_last_scrape() -> None:
    settings = replace(SHORT, restarts_per_pod_hour=60.0, error_rate=0.0)
    run = simulate_run(np.random.default_rng(3), SCENARIOS["aa"], settings)
    served = run.oracle["n"]  # every canary request the router sent
    scraped = run.requests["canary"]
    assert np.all(scraped <= served)
    assert scraped.sum() < served.sum()
    # the +Inf bucket, _count and errors all come from the same scraped requests
    assert np.array_equal(run.buckets["canary"][:, -1], scraped)
    assert run.errors["canary"].sum() == 0.0


def test_the_restarts_and_tails_scenario_brings_its_nuisances() -> None:
    scenario = SCENARIOS["aa-restarts-tails"]
    run = simulate_run(np.random.default_rng(3), scenario, replace(SimSettings(), rps=200.0))
    assert run.settings.slow_share == scenario.slow_share
    assert run.settings.restarts_per_pod_hour == scenario.restarts_per_pod_hour
    assert run.requests["canary"].sum() < run.oracle["n"].sum()  # 3 pods, 1 h: some restart


def test_scraped_increases_use_the_controllers_reset_rule() -> None:
    restarted = np.array([[False], [False], [True]])
    # 5 then 3 then a restart after which 4 are served: 8 drops to 4, a reset is seen
    increases = _scraped_increases(np.array([[5.0], [3.0], [4.0]]), restarted, np.zeros(1))
    assert increases[:, 0].tolist() == [5.0, 3.0, 4.0]
    # a counter that grows back beyond its old value hides its reset, as in Prometheus
    hidden = _scraped_increases(np.array([[2.0], [10.0]]), np.array([[False], [True]]), np.zeros(1))
    assert hidden[:, 0].tolist() == [2.0, 8.0]


def test_no_restarts_means_every_request_is_scraped() -> None:
    run = simulate_run(np.random.default_rng(3), SCENARIOS["aa"], SHORT)
    assert np.array_equal(run.requests["canary"], run.oracle["n"])


def test_ramped_weights_route_each_step_at_its_weight() -> None:
    ramp = ((0.0, 0.05), (300.0, 0.25))
    settings = replace(SHORT, rps=400.0, weight_ramp=ramp)
    weights = compute_weights(settings)
    assert weights[[0, 19, 20, 39]].tolist() == [0.05, 0.05, 0.25, 0.25]
    run = simulate_run(np.random.default_rng(4), SCENARIOS["aa"], settings)
    total = run.requests["canary"] + run.requests["baseline"]
    for span, weight in ((slice(0, 20), 0.05), (slice(20, 40), 0.25)):
        share = run.requests["canary"][span].sum() / total[span].sum()
        assert share == pytest.approx(weight, abs=0.01)
    assert run.windows_at(25)[MetricKind.ERRORS].canary_weight == 0.25
    assert run.windows_at(5)[MetricKind.LATENCY_BODY].canary_weight == 0.05


def _bucket_edges(bounds: tuple[float, ...], timeout: float) -> tuple[np.ndarray, np.ndarray]:
    lower = np.array([0.0, *bounds])
    upper = np.array([*bounds, timeout])
    return lower, upper


def test_sum_is_the_sum_of_the_drawn_requests() -> None:
    # Each request lies in its bucket, so _sum lies between the buckets' edges summed;
    # a per-bucket normal approximation of _sum leaves that range.
    settings = replace(SHORT, rps=5.0, slow_share=0.05, slow_index=1.1)
    run = simulate_run(np.random.default_rng(6), SCENARIOS["aa"], settings)
    lower, upper = _bucket_edges(settings.bounds, settings.timeout_s)
    for arm in ("canary", "baseline"):
        cumulative = np.column_stack([run.buckets[arm], run.requests[arm]])
        counts = np.diff(cumulative, axis=1, prepend=0.0)
        assert np.all(run.sums[arm] >= counts @ lower - 1e-9)
        assert np.all(run.sums[arm] <= counts @ upper + 1e-9)


def test_heavy_tails_hit_the_timeout_and_count_as_errors() -> None:
    settings = replace(SHORT, rps=20.0, slow_share=0.3, slow_index=0.3, error_rate=0.0)
    run = simulate_run(np.random.default_rng(7), SCENARIOS["aa"], settings)
    slower = run.requests["baseline"] - run.buckets["baseline"][:, -1]  # above the 5 s bucket
    assert run.errors["baseline"].sum() > 0
    assert np.all(run.errors["baseline"] <= slower)
    assert np.all(run.sums["baseline"] <= settings.timeout_s * run.requests["baseline"])


@pytest.mark.parametrize("bounds", [CLASSIC_BOUNDS, SimSettings().bounds])
def test_pre_rollout_data_follow_the_heavy_tailed_latency(bounds: tuple[float, ...]) -> None:
    settings = replace(SHORT, slow_share=0.05, slow_index=1.2, timeout_s=2.0, bounds=bounds)
    expected = compute_pre_rollout(settings)[MetricKind.LATENCY_BODY]
    assert isinstance(expected, Histogram)
    rng = np.random.default_rng(8)
    size = 400_000
    latency = settings.median_s * np.exp(settings.sigma * rng.standard_normal(size))
    slow = rng.uniform(size=size) < settings.slow_share
    latency[slow] *= 1.0 + rng.pareto(settings.slow_index, size=int(slow.sum()))
    latency = np.minimum(latency, settings.timeout_s)
    drawn = (latency[:, None] <= np.asarray(bounds)[None, :]).mean(axis=0)
    assert drawn == pytest.approx(np.array(expected.counts) / expected.total_count, abs=0.003)
    mean = expected.total_sum / expected.total_count
    assert latency.mean() == pytest.approx(mean, rel=0.01)


def test_the_judge_decides_on_classic_buckets() -> None:
    settings = replace(SHORT, rps=200.0, canary_weight=0.25, bounds=CLASSIC_BOUNDS)
    setup = compute_setup(load_templates([]), settings)
    run = simulate_run(np.random.default_rng(9), SCENARIOS["latency-20pct"], settings)
    outcome = assess_sequential(run, specs=setup.specs, config=setup.sequential)
    assert outcome.decision is AnalysisDecision.ROLLBACK
