"""Mann–Whitney U and Hodges–Lehmann interval against scipy and R reference values."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from mlrollout.analysis.mannwhitney import _standardised, compute_mann_whitney

# Values from R 4.x: wilcox.test(x, y, conf.int=TRUE, exact=FALSE, correct=TRUE)
# (statistic W, p-value, estimate, conf.int) — uniroot's tolerance is 1e-4.
R_CASES = [
    (
        [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30],
        [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29],
        (58, 0.1329194582, 0.5600561608, -0.3699773747, 1.182970774),
    ),
    (
        [0.8, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46],
        [1.15, 0.88, 0.90, 0.74, 1.21],
        (35, 0.2446236051, 0.302508339, -0.1500148372, 0.7599427653),
    ),
    (
        [1, 2, 2, 3, 3, 3, 4, 5],
        [2, 3, 3, 4, 4, 5, 6, 6, 7],
        (16.5, 0.06248479567, -1.5, -3.000059507, 3.163635851e-05),
    ),
    (
        [0.12, 0.15, 0.11, 0.19, 0.22, 0.13, 0.17],
        [0.10, 0.09, 0.14, 0.12, 0.08, 0.11, 0.10, 0.13],
        (48.5, 0.02018661819, 0.04001464792, 0.009941223833, 0.08993335441),
    ),
]


@pytest.mark.parametrize(
    ("x", "y", "expected"), R_CASES, ids=["paired", "unequal", "ties", "small"]
)
def test_matches_stored_r_results(
    x: list[float], y: list[float], expected: tuple[float, ...]
) -> None:
    result = compute_mann_whitney(x, y, confidence=0.95)
    statistic, p_value, estimate, lower, upper = expected
    assert result.statistic == statistic
    assert result.p_value == pytest.approx(p_value, rel=1e-8)
    scale = max(map(abs, [*x, *y]))
    tolerance = max(2e-4 * scale, 1.5e-4)  # R's uniroot stops at tol = 1e-4
    for got, want in ((result.lower, lower), (result.upper, upper)):
        assert got == pytest.approx(want, abs=tolerance)
    # The estimate is a root of a step function; on a zero plateau any point is a root, and
    # uniroot lands anywhere on it: R's value must be a root of ours, within uniroot's tol.
    near = abs(result.estimate - estimate) <= tolerance
    shifted = np.asarray(x) - estimate
    assert near or _standardised(shifted, np.asarray(y, dtype=float), correct=False) == 0.0


@pytest.mark.parametrize("seed", range(8))
def test_agrees_with_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = np.round(rng.lognormal(0.1 * seed, 1.0, size=20 + seed), 1)  # rounding makes ties
    y = np.round(rng.lognormal(0.0, 1.0, size=30), 1)
    ours = compute_mann_whitney(x, y)
    theirs = mannwhitneyu(x, y, alternative="two-sided", method="asymptotic", use_continuity=True)
    assert ours.statistic == pytest.approx(float(theirs.statistic))
    assert ours.p_value == pytest.approx(float(theirs.pvalue), rel=1e-9)
    assert ours.lower <= ours.estimate <= ours.upper


def test_shift_estimate_is_near_the_true_shift() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(0, 1, 300)
    result = compute_mann_whitney(y + 0.5, rng.normal(0, 1, 300), confidence=0.98)
    assert result.lower < 0.5 < result.upper


def test_rejects_empty_samples() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        compute_mann_whitney([], [1.0])


@pytest.mark.r
@pytest.mark.skipif(
    shutil.which("Rscript") is None and not os.environ.get("CI"),
    reason="R (r-base-core) is not installed (under CI this test runs and fails instead)",
)
def test_matches_r_live() -> None:
    rng = np.random.default_rng(11)
    x, y = np.round(rng.gamma(2.0, 1.0, 25), 2), np.round(rng.gamma(2.0, 1.2, 31), 2)
    script = (
        f"x <- c({','.join(map(str, x))}); y <- c({','.join(map(str, y))});"
        "r <- suppressWarnings(wilcox.test(x, y, conf.int=TRUE, exact=FALSE, correct=TRUE,"
        "conf.level=0.9)); cat(sprintf('%.12g', c(r$statistic, r$p.value, r$estimate,"
        "r$conf.int)))"
    )
    out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=True)
    statistic, p_value, estimate, lower, upper = map(float, out.stdout.split())
    ours = compute_mann_whitney(x, y, confidence=0.9)
    assert ours.statistic == statistic
    assert ours.p_value == pytest.approx(p_value, rel=1e-8)
    assert ours.estimate == pytest.approx(estimate, abs=1e-3)
    assert ours.lower == pytest.approx(lower, abs=1e-3)
    assert ours.upper == pytest.approx(upper, abs=1e-3)
