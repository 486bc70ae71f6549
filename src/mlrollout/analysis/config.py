"""Frozen configuration of the analysis layer: one ``JudgedMetric`` per metric, one judge config.

Neighbours: the spec layer (pydantic, outside this package) maps a ModelRollout's analysis
section onto these; ``evidence`` and the judges read them. Margins follow the metric kind:
relative for errors / latency-* / anomalies / gpu-health (0.05 = 5% worse tolerated),
accuracy points for accuracy (0.5 = half a point), a min/max range for threshold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from mlrollout.analysis.kinds import InconclusivePolicy, MetricKind
from mlrollout.errors import SpecError

__all__ = [
    "JudgedMetric",
    "SequentialConfig",
    "compute_alpha_budgets",
    "compute_reference_ratios",
]

_RELATIVE = {
    MetricKind.ERRORS,
    MetricKind.LATENCY_TAIL,
    MetricKind.LATENCY_BODY,
    MetricKind.ANOMALIES,
    MetricKind.GPU_HEALTH,
}


@dataclass(frozen=True)
class JudgedMetric:
    """One analysed metric: its kind, margins, role in the decision and kind-specific inputs.

    ``critical`` metrics each get their own slice of α, in proportion to ``alpha_weight``
    (weighted Bonferroni, fixed before the rollout); the others are combined by ``weight``.
    ``gated`` metrics must show they are within the margin before promotion.
    ``tail_thresholds`` are baseline bucket bounds near the baseline tail quantile, picked
    from pre-rollout data (see ``buckets.compute_tail_thresholds``). ``hold_windows`` > 0
    (tripwire guards) holds promotion while the canary had more events than its exposure
    share of all events in that many recent windows. ``prior_var`` is the latency-body
    test's prior per-request variance (squared coefficient of variation).
    """

    name: str
    kind: MetricKind
    margin: float = 0.05
    promote_margin: float | None = None
    critical: bool = True
    weight: float = 1.0
    alpha_weight: float = 1.0
    gated: bool = True
    baseline_accuracy: float | None = None
    tail_thresholds: tuple[float, ...] = ()
    threshold_min: float | None = None
    threshold_max: float | None = None
    failure_limit: int = 1
    window_cap: float | None = None
    burst_prior: bool = False
    prior_var: float = 0.5
    dry_run: bool = False  # measured, judged and reported; never decides, takes no α
    hold_windows: int = 0

    def __post_init__(self) -> None:
        path = f"analysis.metrics.{self.name}"
        if self.margin < 0 or (self.promote_margin is not None and self.promote_margin < 0):
            raise SpecError("margin must be non-negative", path=path)
        if self.hold_windows < 0 or not 0.0 < self.prior_var < 1e6:
            raise SpecError("holdWindows must be >= 0 and prior variance positive", path=path)
        if self.weight <= 0 or self.alpha_weight <= 0 or self.failure_limit < 1:
            raise SpecError(
                "weight and alphaWeight must be positive and failureLimit at least 1", path=path
            )
        if self.kind is MetricKind.ACCURACY and not (
            self.baseline_accuracy is not None and 0.0 < self.baseline_accuracy < 1.0
        ):
            raise SpecError("accuracy needs baselineAccuracy in (0, 1)", path=path)
        if self.kind is MetricKind.LATENCY_TAIL and not self.tail_thresholds:
            raise SpecError("latency-tail needs at least one tail threshold", path=path)
        if self.kind is MetricKind.THRESHOLD and (
            self.threshold_min is None and self.threshold_max is None
        ):
            raise SpecError("threshold needs min or max", path=path)


def compute_reference_ratios(spec: JudgedMetric) -> tuple[float, float]:
    """(κ0 for rollback, κ1 for promotion) as event-rate ratios for the spec's margins.

    Relative kinds: 1 + margin. Accuracy: misclassification-rate ratio
    (1 − a_b + d/100) / (1 − a_b) for a margin of d points. Threshold: not a ratio (1, 1).
    """
    promote = spec.margin if spec.promote_margin is None else spec.promote_margin
    if spec.kind in _RELATIVE:
        return 1.0 + spec.margin, 1.0 + promote
    if spec.kind is MetricKind.ACCURACY:
        assert spec.baseline_accuracy is not None  # checked in __post_init__
        miss = 1.0 - spec.baseline_accuracy
        return (miss + spec.margin / 100.0) / miss, (miss + promote / 100.0) / miss
    return 1.0, 1.0


@dataclass(frozen=True)
class SequentialConfig:
    """Budgets and timing of the sequential judge (STATISTICS.md §4).

    α bounds false rollback, β false promotion. ``critical_alpha_share`` splits α between
    critical metrics (Bonferroni) and the weighted group when both exist: 0.8, because the
    critical metrics decide most rollbacks and the group (in the shipped templates one
    anomaly counter) needs little α to catch a clear burst; at 0.5 the latency body's slice
    was 0.0015 and a 10 % slow-down at 200 req/s / 25 % took 2.5 times the oracle's time.
    ``error_limit`` consecutive errored windows of a metric make it an Error verdict and end
    the analysis per ``on_error`` (never a promotion). ``final_look_share`` of β is kept for one
    fixed-horizon look at maxDuration (the anytime test runs at the rest): P(false
    promotion) ≤ β(1 − share) + β·share by a union bound; 0 disables the final look.
    """

    alpha: float = 0.01
    beta: float = 0.05
    critical_alpha_share: float = 0.8
    min_soak_s: float = 0.0
    max_duration_s: float = 1800.0
    on_inconclusive: InconclusivePolicy = InconclusivePolicy.PAUSE
    error_limit: int = 4
    on_error: InconclusivePolicy = InconclusivePolicy.ROLLBACK
    final_look_share: float = 0.5

    @property
    def beta_anytime(self) -> float:
        """β of the anytime promote test."""
        return self.beta * (1.0 - self.final_look_share)

    @property
    def beta_final(self) -> float:
        """β of the one fixed-horizon look at maxDuration (0: none)."""
        return self.beta * self.final_look_share

    def __post_init__(self) -> None:
        if not 0.0 <= self.final_look_share < 1.0:
            raise SpecError("finalLookShare must be in [0, 1)", path="analysis")
        for name, value in (("alpha", self.alpha), ("beta", self.beta)):
            if not 0.0 < value < 0.5:
                raise SpecError(f"{name} must be in (0, 0.5)", path=f"analysis.{name}")
        if not 0.0 < self.critical_alpha_share < 1.0:
            raise SpecError("criticalAlphaShare must be in (0, 1)", path="analysis")
        if not (math.isfinite(self.max_duration_s) and self.max_duration_s > 0):
            raise SpecError("maxDuration must be positive", path="analysis.maxDuration")
        if self.on_error is InconclusivePolicy.PROMOTE:
            raise SpecError("onError cannot be promote", path="analysis.onError")


def compute_alpha_budgets(
    specs: Sequence[JudgedMetric], config: SequentialConfig
) -> tuple[dict[str, float], float]:
    """(α_k per critical metric, α_n of the weighted group); Σ α_k + α_n = α.

    α_c = α · ``critical_alpha_share`` when both kinds of metric exist (all of α otherwise),
    split over critical metrics by ``alpha_weight``.
    """
    deciding = [s for s in specs if not s.dry_run]
    critical = [s for s in deciding if s.critical]
    others = len(deciding) - len(critical)
    if not critical:
        return {}, config.alpha
    alpha_c = config.alpha * config.critical_alpha_share if others else config.alpha
    total = sum(s.alpha_weight for s in critical)
    budgets = {s.name: alpha_c * s.alpha_weight / total for s in critical}
    return budgets, config.alpha - alpha_c if others else 0.0
