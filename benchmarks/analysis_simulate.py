"""Benchmark: the acceptance numbers of the analysis layer, as one JSON document.

Run: ``python benchmarks/analysis_simulate.py [--replicates N] [--aa-replicates N]
[--workers W]``. Sequential judge on A/A (default 2,000 replicates), within-margin and the
regression scenarios, with the oracle and the Kayenta-style judge on the same replicates for
the time ratios. The shipped templates (``analyses/``) bound as the controller binds them;
α=0.01, β=0.05, 50 req/s, 5% canary, maxDuration 60 minutes.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from mlrollout.bench.benchmark import BenchmarkSetup, compute_summary
from mlrollout.bench.scenarios import SCENARIOS
from mlrollout.bench.simulator import SimSettings
from mlrollout.cli.simulate import ParallelCollector
from mlrollout.cli.simulation_setup import compute_setup, load_templates

REGRESSIONS = ("latency-10pct", "latency-20pct", "errors-x2", "anomaly-burst")


def _summaries(
    collect: ParallelCollector,
    name: str,
    *,
    judges: list[str],
    replicates: int,
    seed: int,
    setup: BenchmarkSetup | None = None,
) -> dict[str, dict[str, Any]]:
    scenario = SCENARIOS[name]
    setup = setup or compute_setup(load_templates([]), SimSettings())
    outcomes = collect(scenario, judges, setup, replicates)
    return {
        j: compute_summary(o, scenario=scenario, judge=j, seed=seed, margins=setup.margins)
        for j, o in outcomes.items()
    }


def main() -> None:
    """Run the acceptance scenarios and print the measured numbers."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--aa-replicates", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    collect = ParallelCollector(seed=args.seed, workers=args.workers)
    started = time.perf_counter()
    report: dict[str, Any] = {"seed": args.seed}
    report["aa"] = _summaries(
        collect, "aa", judges=["sequential"], replicates=args.aa_replicates, seed=args.seed
    )
    for name in ("within-margin", "latency-10pct"):
        report[name] = _summaries(
            collect, name, judges=["sequential"], replicates=args.replicates, seed=args.seed
        )
    for name in REGRESSIONS:
        runs = _summaries(
            collect,
            name,
            judges=["sequential", "oracle", "kayenta"],
            replicates=args.replicates,
            seed=args.seed,
        )
        seq = runs["sequential"]["median_decision_s"]
        oracle, kayenta = runs["oracle"]["median_decision_s"], runs["kayenta"]["median_decision_s"]
        runs["ratios"] = {
            "sequential_to_oracle": seq / oracle if seq and oracle else None,
            "sequential_to_kayenta": seq / kayenta if seq and kayenta else None,
        }
        report[name] = runs
    report["elapsed_s"] = time.perf_counter() - started
    print(json.dumps(report, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
