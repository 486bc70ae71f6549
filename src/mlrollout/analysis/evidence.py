"""Per-kind evidence (STATISTICS.md §3): turns windows into e-values, estimates and intervals.

Neighbours: consumes ``observations`` windows and ``config`` specs; builds on ``eprocess``,
``confseq`` and ``gaussian``; the judges in ``sequential`` read the ``EvidenceSummary``.
Every class updates one window at a time and round-trips its state through plain dicts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from scipy.stats import norm

from mlrollout.analysis.bodystat import LogClip, choose_log_clip
from mlrollout.analysis.config import JudgedMetric, compute_reference_ratios
from mlrollout.analysis.confseq import KappaConfidenceSequence
from mlrollout.analysis.detector import ChangeDetector
from mlrollout.analysis.dispersion import CountDispersion
from mlrollout.analysis.eprocess import FOCUS, WhichArmEProcess, default_grid, focused_grid
from mlrollout.analysis.gaussian import ROLLBACK_ETAS, LogRatioEProcess
from mlrollout.analysis.kinds import Direction, MetricKind, Verdict
from mlrollout.analysis.observations import EventCounts, Histogram, ScalarValue, Window

__all__ = [
    "BodyEvidence",
    "CountEvidence",
    "EvidenceSummary",
    "MetricEvidence",
    "TailEvidence",
    "ThresholdEvidence",
    "build_evidence",
]


@dataclass(frozen=True)
class EvidenceSummary:
    """What one metric's evidence says at a look.

    ``forced`` is a deterministic verdict outside the α budget (threshold checks).
    ``holding`` says a tripwire guard saw canary events above background recently.
    ``estimate``/``lower``/``upper`` are in ``unit`` (a ratio; 1 = no difference).
    """

    log_e_rollback: float
    log_e_promote: float
    estimate: float | None
    lower: float
    upper: float
    unit: str
    events: float
    forced: Verdict | None = None
    holding: bool = False


class MetricEvidence(Protocol):
    """The incremental evidence of one metric."""

    def update(self, window: Window) -> bool:
        """Fold in a usable window; False when it carried nothing for this test."""
        ...

    def summarise(self, alpha: float, *, detail: bool = True) -> EvidenceSummary:
        """E-values so far; with ``detail`` also the estimate and (1−α) confidence sequence."""
        ...

    def passes_final(self, beta: float) -> bool:
        """The one fixed-horizon look at maxDuration: within the margin at level β?"""
        ...

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able state."""
        ...

    def load(self, state: dict[str, Any]) -> None:
        """Restore state written by ``to_dict``."""
        ...


_OPEN = (0.0, math.inf)
_OPEN_LOG = (-math.inf, math.inf)


def _share(canary: float, baseline: float, *, fallback: float | None) -> float | None:
    total = canary + baseline
    if total > 0:
        return canary / total
    return fallback


class CountEvidence:
    """Errors, accuracy, anomalies and GPU health: the which-arm test on event counts."""

    def __init__(self, spec: JudgedMetric) -> None:
        kappa0, kappa1 = compute_reference_ratios(spec)
        grid = default_grid(burst=spec.burst_prior)
        self.rollback = WhichArmEProcess(
            kappa_ref=kappa0, direction=Direction.ABOVE, grid=grid, cap=spec.window_cap, detect=True
        )
        self.promote = WhichArmEProcess(
            kappa_ref=kappa1,
            direction=Direction.BELOW,
            grid=focused_grid(abs(math.log(kappa1))),
            cap=spec.window_cap,
        )
        self.kappa1 = kappa1
        self.final = [0.0, 0.0, 0.0]  # Σ canary events, Σ their mean and variance at κ1
        self.interval = KappaConfidenceSequence()
        self.use_sources = spec.kind in (MetricKind.ANOMALIES, MetricKind.GPU_HEALTH)
        self.hold_windows = spec.hold_windows
        self.recent: list[tuple[float, float]] = []  # (canary events, expected at κ = 1)

    def _events(self, counts: EventCounts) -> float:
        if self.use_sources and counts.sources is not None:
            return counts.sources
        return counts.events

    def update(self, window: Window) -> bool:
        canary, baseline = window.canary, window.baseline
        if not (isinstance(canary, EventCounts) and isinstance(baseline, EventCounts)):
            return False
        rho = _share(canary.exposure, baseline.exposure, fallback=window.canary_weight)
        if rho is None or not 0.0 < rho < 1.0:
            return False
        c = self._events(canary)
        m = c + self._events(baseline)
        for process in (self.rollback, self.promote, self.interval):
            process.update(canary_events=c, total_events=m, canary_share=rho)
        if self.hold_windows:
            self.recent = [*self.recent, (c, m * rho)][-self.hold_windows :]
        theta = rho * self.kappa1 / (rho * self.kappa1 + 1.0 - rho)
        total, mean, var = self.final
        self.final = [total + c, mean + m * theta, var + m * theta * (1.0 - theta)]
        return True

    def passes_final(self, beta: float) -> bool:
        """Score test of H: κ ≥ κ1 on all events (conditional binomial, normal approximation).

        Given the events, canary events are independent Bernoulli(θ(κ, ρ_j)); at κ1 their
        sum has the mean and variance accumulated here; a sum far below rejects κ ≥ κ1.
        """
        canary, mean, var = self.final[0], self.final[1], self.final[2]
        if var <= 0:
            return False
        z = (canary - mean + 0.5) / math.sqrt(var)
        return bool(z <= float(norm.ppf(beta)))

    @property
    def holding(self) -> bool:
        """More canary events than its exposure share of all events in the recent windows."""
        if not self.recent:
            return False
        return sum(c for c, _ in self.recent) > sum(e for _, e in self.recent)

    def summarise(self, alpha: float, *, detail: bool = True) -> EvidenceSummary:
        lower, upper = self.interval.compute_interval(alpha) if detail else _OPEN
        return EvidenceSummary(
            log_e_rollback=self.rollback.log_e,
            log_e_promote=self.promote.log_e,
            estimate=self.interval.compute_estimate(),
            lower=lower,
            upper=upper,
            unit="event-rate ratio canary/baseline",
            events=self.rollback.events,
            holding=self.holding,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rollback": self.rollback.to_dict(),
            "promote": self.promote.to_dict(),
            "interval": self.interval.to_dict(),
            "recent": [list(pair) for pair in self.recent],
            "final": list(self.final),
        }

    def load(self, state: dict[str, Any]) -> None:
        self.rollback.load(state["rollback"])
        self.promote.load(state["promote"])
        self.interval.load(state["interval"])
        self.recent = [(float(c), float(e)) for c, e in state.get("recent", [])]
        self.final = [float(v) for v in state.get("final", [0.0, 0.0, 0.0])]


def _round_bound(bounds: tuple[float, ...], target: float, *, up: bool) -> float | None:
    tolerance = 1e-9 * max(abs(target), 1.0)
    if up:
        above = [b for b in bounds if b >= target - tolerance]
        return above[0] if above else None
    below = [b for b in bounds if b <= target + tolerance]
    return below[-1] if below else None


class TailEvidence:
    """Latency tail by asymmetric thresholds: baseline slow if > b, canary if > (1+δ)·b.

    The canary bound is rounded up to a bucket bound for rollback and down for promotion
    (both conservative); the e-values of the thresholds are averaged. Every window's
    likelihood ratios are tempered by the dispersion of the first threshold's exceedance
    counts between blocks of windows (correlated pod noise, see ``dispersion``).
    """

    def __init__(self, spec: JudgedMetric) -> None:
        self.spec = spec
        self.factor_rollback, self.factor_promote = compute_reference_ratios(spec)
        count = len(spec.tail_thresholds)
        self.rollback = [self._process(Direction.ABOVE) for _ in range(count)]
        self.promote = [self._process(Direction.BELOW) for _ in range(count)]
        self.interval = KappaConfidenceSequence()
        self.canary_bounds: list[tuple[float | None, float | None]] = []
        self.dispersion = CountDispersion()

    def _process(self, direction: Direction) -> WhichArmEProcess:
        return WhichArmEProcess(
            kappa_ref=1.0,
            direction=direction,
            grid=default_grid(),
            cap=self.spec.window_cap,
            detect=direction is Direction.ABOVE,
        )

    def _resolve_bounds(self, bounds: tuple[float, ...]) -> None:
        for b in self.spec.tail_thresholds:
            up = _round_bound(bounds, b * self.factor_rollback, up=True)
            down = _round_bound(bounds, b * self.factor_promote, up=False)
            self.canary_bounds.append((up, down))

    def update(self, window: Window) -> bool:
        canary, baseline = window.canary, window.baseline
        if not (isinstance(canary, Histogram) and isinstance(baseline, Histogram)):
            return False
        rho = _share(canary.total_count, baseline.total_count, fallback=None)
        if rho is None or not 0.0 < rho < 1.0:
            return False
        if not self.canary_bounds:
            self._resolve_bounds(canary.bounds)
        pairs = zip(self.spec.tail_thresholds, self.canary_bounds, strict=True)
        for index, (b, (up, down)) in enumerate(pairs):
            slow_base = baseline.count_above(b)
            for bound, process in ((up, self.rollback[index]), (down, self.promote[index])):
                if bound is not None:
                    c = canary.count_above(bound)
                    d = self.dispersion.factor(total_events=c + slow_base, canary_share=rho)
                    process.update(
                        canary_events=c, total_events=c + slow_base, canary_share=rho, dispersion=d
                    )
        first, (first_up, _) = self.spec.tail_thresholds[0], self.canary_bounds[0]
        if first_up is not None:  # the interval reports the first threshold's exceedance ratio
            c, slow = canary.count_above(first_up), baseline.count_above(first)
            self.interval.update(canary_events=c, total_events=c + slow, canary_share=rho)
            self.dispersion.update(canary_events=c, total_events=c + slow)
        return True

    def passes_final(self, beta: float) -> bool:
        """No fixed-horizon look for the tail: it is a guard by default (anytime test only)."""
        return False

    @staticmethod
    def _average(processes: list[WhichArmEProcess], usable: list[bool]) -> float:
        values = [p.log_e for p, ok in zip(processes, usable, strict=True) if ok]
        if not values:
            return 0.0
        return float(np.logaddexp.reduce(values)) - math.log(len(values))

    def summarise(self, alpha: float, *, detail: bool = True) -> EvidenceSummary:
        lower, upper = self.interval.compute_interval(alpha) if detail else _OPEN
        ups = [up is not None for up, _ in self.canary_bounds] or [True] * len(self.rollback)
        downs = [d is not None for _, d in self.canary_bounds] or [True] * len(self.promote)
        return EvidenceSummary(
            log_e_rollback=self._average(self.rollback, ups),
            log_e_promote=self._average(self.promote, downs),
            estimate=self.interval.compute_estimate(),
            lower=lower,
            upper=upper,
            unit="exceedance ratio canary>(1+margin)b / baseline>b",
            events=self.rollback[0].events,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rollback": [p.to_dict() for p in self.rollback],
            "promote": [p.to_dict() for p in self.promote],
            "interval": self.interval.to_dict(),
            "canary_bounds": [list(pair) for pair in self.canary_bounds],
            "dispersion": self.dispersion.to_dict(),
        }

    def load(self, state: dict[str, Any]) -> None:
        for process, saved in zip(self.rollback, state["rollback"], strict=True):
            process.load(saved)
        for process, saved in zip(self.promote, state["promote"], strict=True):
            process.load(saved)
        self.interval.load(state["interval"])
        self.canary_bounds = [(pair[0], pair[1]) for pair in state["canary_bounds"]]
        self.dispersion.load(state.get("dispersion"))


class BodyEvidence:
    """Latency body: per-window difference of winsorized mean log latency (``bodystat``).

    Each arm's window mean is read from its buckets with every request clipped to a range
    fixed by the first window, so one very slow request moves it by a bounded amount (the
    mean of ``_sum/_count`` let a single slow-path request roll back A/A releases). Windows
    are the units of the asymptotic test in ``gaussian``. The rollback e-value is the
    start-time mixture of ``detector``: the cumulative test (weight ¾) plus tests started at
    every later window, so a slow-down that starts late is not diluted by the healthy
    windows before it.
    """

    def __init__(self, spec: JudgedMetric) -> None:
        kappa0, kappa1 = compute_reference_ratios(spec)
        self.mu_rollback, self.mu_promote = math.log(kappa0), math.log(kappa1)
        # The prior is measured as the squared coefficient of variation of latency; for
        # log-normal latency the variance of log latency is log(1 + CV²).
        self.process = LogRatioEProcess(prior_var=math.log1p(spec.prior_var))
        self.clip: LogClip | None = None
        self.requests = 0.0
        gap = abs(self.mu_promote)
        self.promote_etas = np.asarray([gap * f for f in FOCUS]) if gap >= 1e-3 else None
        self.detector = ChangeDetector(ROLLBACK_ETAS.size)

    def update(self, window: Window) -> bool:
        canary, baseline = window.canary, window.baseline
        if not (isinstance(canary, Histogram) and isinstance(baseline, Histogram)):
            return False
        if canary.total_count <= 0 or baseline.total_count <= 0:
            return False
        if self.clip is None:
            self.clip = choose_log_clip(canary, baseline)
        clip = self.clip
        if clip is None or canary.bounds != clip.bounds or baseline.bounds != clip.bounds:
            return False
        canary_mean, _, n_canary = clip.summarise(canary)
        baseline_mean, _, n_baseline = clip.summarise(baseline)
        folded = self.process.update(
            canary_mean - baseline_mean, n_canary=n_canary, n_baseline=n_baseline
        )
        if folded is None:
            return False
        g, nu, f = folded
        self.detector.update(
            ROLLBACK_ETAS * g * (nu - self.mu_rollback * g) / f
            - ROLLBACK_ETAS**2 * g * g / (2.0 * f)
        )
        self.requests += canary.total_count + baseline.total_count
        return True

    def summarise(self, alpha: float, *, detail: bool = True) -> EvidenceSummary:
        lower, upper = self.process.compute_interval(alpha) if detail else _OPEN_LOG
        estimate = self.process.compute_estimate()
        first = self.process.compute_log_e(mu_ref=self.mu_rollback, direction=Direction.ABOVE)
        weights = np.full(ROLLBACK_ETAS.size, -math.log(ROLLBACK_ETAS.size))
        return EvidenceSummary(
            log_e_rollback=self.detector.combine(first, weights),
            log_e_promote=self.process.compute_log_e(
                mu_ref=self.mu_promote, direction=Direction.BELOW, etas=self.promote_etas
            ),
            estimate=None if estimate is None else math.exp(estimate),
            lower=math.exp(lower),
            upper=math.exp(upper),
            unit="geometric-mean latency ratio canary/baseline (winsorized)",
            events=self.requests,
        )

    def passes_final(self, beta: float) -> bool:
        """z test of H: mean log ratio ≥ log(1 + promote margin) on the windows so far."""
        return self.process.compute_final_z(mu_ref=self.mu_promote) <= float(norm.ppf(beta))

    def to_dict(self) -> dict[str, Any]:
        clip = self.clip
        return {
            "process": self.process.to_dict(),
            "requests": self.requests,
            "detector": self.detector.to_dict(),
            "clip": None if clip is None else [list(clip.bounds), clip.lo, clip.hi],
        }

    def load(self, state: dict[str, Any]) -> None:
        self.process.load(state["process"])
        self.requests = float(state["requests"])
        self.detector.load(state.get("detector"))
        clip = state.get("clip")
        self.clip = (
            None
            if clip is None
            else LogClip(bounds=tuple(float(b) for b in clip[0]), lo=clip[1], hi=clip[2])
        )


class ThresholdEvidence:
    """Flagger-style SLO check on the canary's value: deterministic, outside the α budget."""

    def __init__(self, spec: JudgedMetric) -> None:
        self.spec = spec
        self.passed = 0
        self.failed = 0
        self.last: float | None = None

    def update(self, window: Window) -> bool:
        canary = window.canary
        if not isinstance(canary, ScalarValue):
            return False
        value = canary.value
        low, high = self.spec.threshold_min, self.spec.threshold_max
        ok = (
            math.isfinite(value)
            and (low is None or value >= low)
            and (high is None or value <= high)
        )
        self.passed += int(ok)
        self.failed += int(not ok)  # NaN (no data) counts as a failed check, as in Flagger
        self.last = value
        return True

    def summarise(self, alpha: float, *, detail: bool = True) -> EvidenceSummary:
        forced: Verdict | None = None
        if self.failed >= self.spec.failure_limit:
            forced = Verdict.FAILED
        elif self.passed > 0:
            forced = Verdict.SUCCESSFUL
        return EvidenceSummary(
            log_e_rollback=0.0,
            log_e_promote=0.0,
            estimate=self.last,
            lower=math.nan,
            upper=math.nan,
            unit=f"value ({self.passed} passed, {self.failed} failed checks)",
            events=float(self.passed + self.failed),
            forced=forced,
        )

    def passes_final(self, beta: float) -> bool:
        """Threshold checks are guards: no statistical promotion test."""
        return False

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "failed": self.failed, "last": self.last}

    def load(self, state: dict[str, Any]) -> None:
        self.passed, self.failed = int(state["passed"]), int(state["failed"])
        self.last = state["last"]


def build_evidence(spec: JudgedMetric) -> MetricEvidence:
    """The evidence object for a spec's kind."""
    if spec.kind is MetricKind.LATENCY_TAIL:
        return TailEvidence(spec)
    if spec.kind is MetricKind.LATENCY_BODY:
        return BodyEvidence(spec)
    if spec.kind is MetricKind.THRESHOLD:
        return ThresholdEvidence(spec)
    return CountEvidence(spec)
