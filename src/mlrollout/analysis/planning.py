"""Planning (the pure part of ``mlrollout plan``): expected time to decision and warnings.

For each metric, the expected time for the sequential judge to roll back a regression of
twice the margin (or ×2 for a zero margin) and to promote a canary with no difference, from
the Kullback–Leibler drift of its test per second at the configured request rate and
weight: t ≈ (log(1/α_k) + log G) / drift, G the mixture size. Warnings: a time beyond
maxDuration, buckets that cannot resolve a latency margin, fewer than 3 canary pods, a
latency margin the canary pods' own offsets could reach (STATISTICS §5: the floor from the
spread between baseline pods, when their latencies are given). Roles:
a metric can be a gate at this traffic when showing it within its margin fits maxDuration;
otherwise the plan recommends the smallest margin that would (or keeping it a guard).
Neighbours: ``config`` and ``sequential`` (budgets), ``buckets``; the lead's ``plan`` CLI.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from scipy.stats import norm

from mlrollout.analysis.buckets import assess_bucket_resolution
from mlrollout.analysis.config import (
    JudgedMetric,
    SequentialConfig,
    compute_alpha_budgets,
    compute_reference_ratios,
)
from mlrollout.analysis.eprocess import compute_theta
from mlrollout.analysis.integrity import compute_pod_margin_floor
from mlrollout.analysis.kinds import MetricKind

__all__ = ["MetricPlan", "Plan", "TrafficProfile", "compute_plan"]

_MIXTURE_COST = math.log(10)  # log of the mixture grid size


@dataclass(frozen=True)
class TrafficProfile:
    """What the service looks like before the rollout (from pre-rollout data)."""

    rps: float
    canary_weight: float  # 0..1
    error_rate: float = 0.01
    miss_rate: float = 0.10
    labelled: float = 0.10
    anomalies_per_s: float = 0.01
    gpu_events_per_s: float = 0.001
    latency_sigma: float = 0.5
    tail_quantile: float = 0.99
    canary_pods: int = 3
    bounds: tuple[float, ...] | None = None
    median_latency_s: float = 0.05
    pod_latencies_s: tuple[float, ...] = ()
    """Typical latency of each baseline pod before the rollout (empty: not measured)."""


@dataclass(frozen=True)
class MetricPlan:
    """Expected seconds to roll back a clear regression and to promote no difference.

    ``can_gate``: showing the metric within its margin fits maxDuration at this traffic;
    ``recommended_margin``: the smallest margin (the metric's unit) for which it would, at
    least the pod floor below, or None when the metric can gate as it is (above the floor)
    or never can (tripwires, thresholds).
    ``pod_margin_floor``: for latency metrics with measured baseline pods, the relative
    margin the canary pods' persistent offsets alone reach (``compute_pod_margin_floor``);
    a margin below it can roll back a release only because its pods landed slow.
    """

    name: str
    kind: str
    rollback_s: float
    promote_s: float
    warnings: tuple[str, ...]
    gated: bool = True
    can_gate: bool = False
    recommended_margin: float | None = None
    pod_margin_floor: float | None = None


@dataclass(frozen=True)
class Plan:
    """Per-metric plans plus rollout-wide warnings."""

    metrics: tuple[MetricPlan, ...]
    warnings: tuple[str, ...]


def _bernoulli_kl(p: float, q: float) -> float:
    return p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))


def _which_arm_drift(*, event_rate: float, w: float, kappa_true: float, kappa_ref: float) -> float:
    """KL per second of the which-arm test when events arrive at ``event_rate`` (baseline)."""
    if event_rate <= 0 or kappa_true == kappa_ref:
        return 0.0
    events = event_rate * (w * kappa_true + 1 - w)
    return events * _bernoulli_kl(compute_theta(kappa_true, w), compute_theta(kappa_ref, w))


def _count_rate(spec: JudgedMetric, p: TrafficProfile) -> float:
    if spec.kind is MetricKind.ERRORS:
        return p.rps * p.error_rate
    if spec.kind is MetricKind.ACCURACY:
        return p.rps * p.labelled * p.miss_rate
    if spec.kind is MetricKind.ANOMALIES:
        return p.anomalies_per_s
    return p.gpu_events_per_s


def _regressed(kappa0: float) -> float:
    return max(1 + 2 * (kappa0 - 1), 2.0) if kappa0 <= 1 else 1 + 2 * (kappa0 - 1)


def _drifts(spec: JudgedMetric, p: TrafficProfile) -> tuple[float, float]:
    """(rollback drift, promote drift) per second."""
    kappa0, kappa1 = compute_reference_ratios(spec)
    w = p.canary_weight
    if spec.kind is MetricKind.LATENCY_BODY:
        # the body statistic is a mean of (winsorized) log latency: variance σ_log² a request
        info = 1 / (p.latency_sigma**2 * (1 / (p.rps * w) + 1 / (p.rps * (1 - w))))
        gap_rollback = math.log(_regressed(kappa0)) - math.log(kappa0)
        return info * gap_rollback**2 / 2, info * math.log(kappa1) ** 2 / 2
    if spec.kind is MetricKind.LATENCY_TAIL:
        z = float(norm.ppf(p.tail_quantile))
        tail = 1 - p.tail_quantile

        def ratio(scale: float, factor: float) -> float:
            return float(norm.sf(z + (math.log(factor) - math.log(scale)) / p.latency_sigma)) / tail

        rate = p.rps * tail
        up = _which_arm_drift(
            event_rate=rate, w=w, kappa_true=ratio(_regressed(kappa0), kappa0), kappa_ref=1.0
        )
        down = _which_arm_drift(event_rate=rate, w=w, kappa_true=ratio(1.0, kappa1), kappa_ref=1.0)
        return up, down
    rate = _count_rate(spec, p)
    up = _which_arm_drift(event_rate=rate, w=w, kappa_true=_regressed(kappa0), kappa_ref=kappa0)
    down = _which_arm_drift(event_rate=rate, w=w, kappa_true=1.0, kappa_ref=kappa1)
    return up, down


def _seconds(threshold: float, drift: float) -> float:
    return (threshold + _MIXTURE_COST) / drift if drift > 0 else math.inf


def _promote_seconds(spec: JudgedMetric, p: TrafficProfile, config: SequentialConfig) -> float:
    return _seconds(math.log(1 / config.beta_anytime), _drifts(spec, p)[1])


def _recommend_margin(spec: JudgedMetric, p: TrafficProfile, config: SequentialConfig) -> float:
    """Smallest margin (up to 16× the current one) whose promote time fits maxDuration."""
    low, high = spec.margin, max(spec.margin, 0.01) * 16
    widened = replace(spec, margin=high, promote_margin=None)
    if _promote_seconds(widened, p, config) > config.max_duration_s:
        return math.inf
    for _ in range(30):
        middle = (low + high) / 2
        trial = replace(spec, margin=middle, promote_margin=None)
        if _promote_seconds(trial, p, config) <= config.max_duration_s:
            high = middle
        else:
            low = middle
    return high


def _plan_metric(
    spec: JudgedMetric, p: TrafficProfile, *, alpha_k: float, config: SequentialConfig
) -> MetricPlan:
    warnings: list[str] = []
    if spec.kind is MetricKind.THRESHOLD:
        return MetricPlan(spec.name, spec.kind.value, math.nan, math.nan, (), gated=False)
    up, down = _drifts(spec, p)
    rollback_s = _seconds(math.log(1 / alpha_k), up)
    limit = config.max_duration_s
    gate_possible = not spec.kind.tripwire
    promote_s = _seconds(math.log(1 / config.beta_anytime), down) if gate_possible else math.nan
    can_gate = gate_possible and promote_s <= limit
    recommended, advice = None, ""
    if gate_possible and not can_gate:
        recommended = _recommend_margin(spec, p, config)
        advice = (
            f"a margin of {recommended:.3g} would fit"
            if math.isfinite(recommended)
            else "no margin up to 16x would fit"
        )

    if rollback_s > limit:
        warnings.append(
            f"{spec.name}: a regression of twice the margin takes ~{rollback_s:.0f}s "
            f"to show, beyond maxDuration {limit:.0f}s"
        )
    if spec.gated and promote_s > limit:
        warnings.append(
            f"{spec.name}: showing it is within the margin takes ~{promote_s:.0f}s, "
            f"beyond maxDuration {limit:.0f}s; expect Inconclusive ({advice}, or make it "
            "role: guard)"
        )
    if not gate_possible:
        promote_s = math.nan
    latency = (MetricKind.LATENCY_TAIL, MetricKind.LATENCY_BODY)
    if spec.kind in latency and p.bounds is not None:
        near = p.median_latency_s * math.exp(p.latency_sigma * float(norm.ppf(p.tail_quantile)))
        check = assess_bucket_resolution(p.bounds, margin=spec.margin, near=near)
        if not check.resolves:
            warnings.append(f"{spec.name}: {check.message}")
    floor = None
    if spec.kind in latency and p.pod_latencies_s:
        floor = compute_pod_margin_floor(p.pod_latencies_s, canary_pods=p.canary_pods)
        if spec.margin < floor:
            warnings.append(
                f"{spec.name}: margin {spec.margin:.3g} is below {floor:.3g}, what "
                f"{p.canary_pods} canary pod(s) can differ by from the spread between "
                "baseline pods alone; widen the margin or run more canary pods"
            )
            recommended = max(recommended or 0.0, floor)
    return MetricPlan(
        spec.name,
        spec.kind.value,
        rollback_s,
        promote_s,
        tuple(warnings),
        gated=spec.gated,
        can_gate=can_gate,
        recommended_margin=recommended,
        pod_margin_floor=floor,
    )


NO_GATE_WARNING = (
    "no metric is a gate (role: gate): the analysis can roll back but never promotes; "
    "it ends at maxDuration by onInconclusive"
)


def compute_plan(
    specs: Sequence[JudgedMetric], config: SequentialConfig, profile: TrafficProfile
) -> Plan:
    """Expected times and warnings for a rollout's metrics at ``profile``'s traffic."""
    budgets, alpha_n = compute_alpha_budgets(specs, config)
    total_weight = sum(s.weight for s in specs if not s.critical and not s.dry_run) or 1.0
    plans = []
    for spec in specs:
        # A group member alone reaches 1/α_n only when weight-share × e ≥ 1/α_n; a dry-run
        # metric is judged on its own at α.
        alpha_k = budgets.get(spec.name, alpha_n * spec.weight / total_weight)
        alpha_k = config.alpha if spec.dry_run else alpha_k
        plans.append(_plan_metric(spec, profile, alpha_k=alpha_k, config=config))
    warnings = [w for plan in plans for w in plan.warnings]
    if specs and not any(s.gated and not s.dry_run for s in specs):
        warnings.append(NO_GATE_WARNING)
    if profile.canary_pods < 3:
        warnings.append(
            f"only {profile.canary_pods} canary pod(s): a persistent pod difference "
            "can look like a regression; use >= 3 pods, or margins wider than the "
            "spread between baseline pods"
        )
    return Plan(tuple(plans), tuple(warnings))
