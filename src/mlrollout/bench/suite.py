"""The standard suite: every judge on every scenario, plus the calibrated comparison.

Calibration tunes each baseline judge's one knob (Kayenta's confidence, Flagger's limit
looseness) by bisection until its A/A false-rollback rate is at most α, then reruns it on
every scenario as ``kayenta-calibrated`` / ``threshold-calibrated``. Replicates are
collected through an injected ``collect`` function so the CLI can spread them over
processes while this module stays pure. Neighbours: ``benchmark``; ``simulate`` CLI.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from mlrollout.analysis.kinds import AnalysisDecision
from mlrollout.bench.benchmark import BenchmarkSetup, compute_summary
from mlrollout.bench.comparison import JUDGES, Outcome
from mlrollout.bench.scenarios import SCENARIOS, Scenario

__all__ = ["Collect", "compute_calibration", "compute_suite", "render_markdown"]

Collect = Callable[[Scenario, Sequence[str], BenchmarkSetup, int], dict[str, list[Outcome]]]


def _aa_rollback(collect: Collect, judge: str, setup: BenchmarkSetup, replicates: int) -> float:
    outcomes = collect(SCENARIOS["aa"], [judge], setup, replicates)[judge]
    return sum(o.decision is AnalysisDecision.ROLLBACK for o in outcomes) / len(outcomes)


def _bisect(
    rate: Callable[[float], float], *, low: float, high: float, target: float, steps: int
) -> float:
    """Smallest knob value in [low, high] with rate <= target (rate decreasing in the knob)."""
    for _ in range(steps):
        middle = (low + high) / 2
        if rate(middle) <= target:
            high = middle
        else:
            low = middle
    return high


def compute_calibration(
    collect: Collect, setup: BenchmarkSetup, *, replicates: int, steps: int = 5
) -> BenchmarkSetup:
    """The setup with baseline knobs tuned to A/A false rollback <= α."""

    # Kayenta: bisect on -log10(1 - confidence) between 80% and 99.999%.
    def kayenta_rate(level: float) -> float:
        tuned = replace(setup, kayenta_confidence=1 - 10**-level)
        return _aa_rollback(collect, "kayenta", tuned, replicates)

    def threshold_rate(looseness: float) -> float:
        tuned = replace(setup, threshold_looseness=looseness)
        return _aa_rollback(collect, "threshold", tuned, replicates)

    level = _bisect(kayenta_rate, low=0.7, high=5.0, target=setup.sequential.alpha, steps=steps)
    looseness = _bisect(
        threshold_rate, low=0.5, high=8.0, target=setup.sequential.alpha, steps=steps
    )
    return replace(setup, kayenta_confidence=1 - 10**-level, threshold_looseness=looseness)


def compute_suite(
    collect: Collect,
    setup: BenchmarkSetup,
    *,
    replicates: int,
    seed: int,
    calibration_replicates: int,
) -> dict[str, Any]:
    """Summaries for every scenario and judge, the calibrated knobs and the time ratios."""
    calibrated = compute_calibration(collect, setup, replicates=calibration_replicates)
    rows: list[dict[str, Any]] = []
    for scenario in SCENARIOS.values():
        plain = collect(scenario, JUDGES, setup, replicates)
        tuned = collect(scenario, ["kayenta", "threshold"], calibrated, replicates)
        results = {**plain, **{f"{j}-calibrated": o for j, o in tuned.items()}}
        summaries = {
            j: compute_summary(o, scenario=scenario, judge=j, seed=seed, margins=setup.margins)
            for j, o in results.items()
        }
        _add_ratios(summaries)
        rows.extend(summaries.values())
    return {
        "suite": "standard",
        "replicates": replicates,
        "seed": seed,
        "calibration": {
            "replicates": calibration_replicates,
            "kayenta_confidence": calibrated.kayenta_confidence,
            "threshold_looseness": calibrated.threshold_looseness,
        },
        "results": rows,
    }


def _add_ratios(summaries: dict[str, dict[str, Any]]) -> None:
    oracle = summaries["oracle"]["median_decision_s"]
    kayenta = summaries["kayenta"]["median_decision_s"]
    for summary in summaries.values():
        median = summary["median_decision_s"]
        summary["ratio_to_oracle"] = median / oracle if median and oracle else None
        summary["ratio_to_kayenta"] = median / kayenta if median and kayenta else None


def render_markdown(suite: dict[str, Any]) -> str:
    """A Markdown table of the suite (one row per scenario and judge)."""
    head = (
        "| scenario | truth | judge | rollback | promote | inconclusive | median s | p90 s "
        "| x oracle | x kayenta |"
    )
    lines = [
        f"Standard suite: {suite['replicates']} replicates, seed {suite['seed']}; calibrated "
        f"Kayenta confidence {suite['calibration']['kayenta_confidence']:.5f}, Flagger "
        f"looseness {suite['calibration']['threshold_looseness']:.2f}.",
        "",
        head,
        "|" + "---|" * 10,
    ]
    for r in suite["results"]:
        cells = [r["scenario"], r["truth"], r["judge"]]
        cells += [f"{r[k + '_rate']:.3f}" for k in ("rollback", "promote", "inconclusive")]
        cells += [_cell(r["median_decision_s"], "{:.0f}"), _cell(r["p90_decision_s"], "{:.0f}")]
        cells += [_cell(r["ratio_to_oracle"], "{:.2f}"), _cell(r["ratio_to_kayenta"], "{:.2f}")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(value: float | None, form: str) -> str:
    return "–" if value is None else form.format(value)
