"""The latency-body test filters the long-run pod noise as an AR(1) (``gaussian``).

Windows used to count as independent, each carrying the whole long-run excess variance; a
sum of a few AR(1) windows varies much less than that, so early looks were needlessly
conservative. The filter's information must exceed the independent count early, converge to
it in the long run, and keep the test valid when the noise is what it assumes.
"""

from __future__ import annotations

import math

import numpy as np

from mlrollout.analysis.gaussian import PHI, PRIOR_EXCESS, LogRatioEProcess
from mlrollout.analysis.kinds import Direction

_N_CANARY, _N_BASELINE, _TAU2 = 750.0, 2250.0, 0.25
_SAMPLING = _TAU2 * (1.0 / _N_CANARY + 1.0 / _N_BASELINE)


def _fed(windows: int, values: np.ndarray | None = None) -> LogRatioEProcess:
    process = LogRatioEProcess(prior_var=_TAU2, prior_windows=1e9)  # τ² known exactly
    for t in range(windows):
        y = 0.0 if values is None else float(values[t])
        process.update(y, n_canary=_N_CANARY, n_baseline=_N_BASELINE)
    return process


def test_information_exceeds_independent_windows_early_and_meets_them_in_the_long_run() -> None:
    independent = 1.0 / (_SAMPLING + PRIOR_EXCESS)  # per window, the long-run rate
    early, late = _fed(8), _fed(480)
    assert early.s0 > 1.2 * 8 * independent
    assert late.s0 / (480 * independent) == np.clip(late.s0 / (480 * independent), 1.0, 1.02)


def test_information_is_the_inverse_variance_of_the_weighted_mean() -> None:
    # GLS: S0 = 1ᵀ Σ⁻¹ 1 for the AR(1)-plus-white-noise covariance of the first n windows.
    n = 12
    marginal = PRIOR_EXCESS * (1.0 - PHI) / (1.0 + PHI)
    lags = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
    covariance = marginal * PHI**lags + _SAMPLING * np.eye(n)
    ones = np.ones(n)
    assert math.isclose(_fed(n).s0, float(ones @ np.linalg.solve(covariance, ones)), rel_tol=1e-6)


def test_null_paths_with_the_assumed_noise_rarely_cross_ten() -> None:
    # Ville: P(sup E ≥ 10) ≤ 10 % for an e-process; measured 3.4 % over 1,000 paths of 240.
    rng = np.random.default_rng(7)
    marginal = PRIOR_EXCESS * (1.0 - PHI) / (1.0 + PHI)
    paths, windows, crossed = 80, 100, 0
    for _ in range(paths):
        noise = np.empty(windows)
        noise[0] = rng.normal(0.0, math.sqrt(marginal))
        shocks = rng.normal(0.0, math.sqrt(marginal * (1 - PHI**2)), windows)
        for t in range(1, windows):
            noise[t] = PHI * noise[t - 1] + shocks[t]
        values = noise + rng.normal(0.0, math.sqrt(_SAMPLING), windows)
        process = LogRatioEProcess(prior_var=_TAU2, prior_windows=1e9)
        for t in range(windows):
            process.update(float(values[t]), n_canary=_N_CANARY, n_baseline=_N_BASELINE)
            if process.compute_log_e(mu_ref=0.0, direction=Direction.ABOVE) >= math.log(10):
                crossed += 1
                break
    assert crossed <= 14  # 8 expected at most; P(more than 14 | 10 %) < 2 %


def test_the_filter_state_survives_a_restart() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(0.05, 0.03, 30)
    whole = _fed(30, values)
    first = _fed(12, values)
    resumed = LogRatioEProcess(prior_var=_TAU2, prior_windows=1e9)
    resumed.load(first.to_dict())
    for y in values[12:]:
        resumed.update(float(y), n_canary=_N_CANARY, n_baseline=_N_BASELINE)
    assert math.isclose(resumed.s0, whole.s0)
    assert math.isclose(resumed.s1, whole.s1)
