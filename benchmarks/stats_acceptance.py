"""Benchmark: the acceptance numbers of issue #12 (statistics, second round) as one JSON document.

Run: ``python benchmarks/stats_acceptance.py [--scale 1.0] [--workers 2] [--seed 12]
> stats.json``. Every run judges the shipped templates (``analyses/``) bound through
``mlrollout.binding`` exactly as the controller binds them (``simulation_setup``), with the
default policy (α 0.01, β 0.05 of which half is kept for one fixed-horizon look at
maxDuration 60 min). ``--scale`` multiplies every replicate count (1.0 is the full run:
300 replicates for each boundary setting). Sections:

- ``boundary``: latency exactly at the 5% margin, 25% canary, 200 and 2,000 req/s, AR(1) pod
  noise on and fixed pod effects off (the issue's measured setting).
- ``aa_grid`` / ``burst_grid``: A/A and anomaly bursts over rps × canary % × σ_log.
- ``delayed``: latency ×1.2 from minute 10 at 50 req/s / 5% and 200 req/s / 25%.
- ``promote``: A/A promoted within 60 min at 50 req/s / 5% and 200 req/s / 10%.
- ``errors``: errors ×2 at the promote settings (a guard must still roll it back).
- ``ratios``: median time to decision, sequential vs the joint oracle, which watches the
  judge's gates and guards (``--ratio-settings``, ``--ratio-scenarios`` narrow it); each row
  also carries the ratio to the gates-only oracle of earlier rounds (``gates_only``).
- ``tails``: A/A with pod restarts and a heavy-tailed slow path (``aa-restarts-tails``) at
  ``--tails-settings`` (not in the default sections).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from dataclasses import replace
from typing import Any

from mlrollout.bench.benchmark import compute_summary
from mlrollout.bench.scenarios import SCENARIOS
from mlrollout.bench.simulator import SimSettings
from mlrollout.cli.simulate import ParallelCollector
from mlrollout.cli.simulation_setup import compute_setup, load_templates

TEMPLATES = load_templates([])
MIN_DURATION_S: float | None = None  # None: the policy's default soak (binding.compute_soak)


def _run(
    collect: ParallelCollector,
    scenario: str,
    *,
    rps: float,
    weight_pct: float,
    replicates: int,
    sigma: float = 0.5,
    judges: tuple[str, ...] = ("sequential",),
    pod_sd: float = SimSettings.pod_sd,
    oracle_watches_guards: bool = True,
) -> dict[str, dict[str, Any]]:
    settings = replace(
        SimSettings(), rps=rps, canary_weight=weight_pct / 100, sigma=sigma, pod_sd=pod_sd
    )
    setup = compute_setup(TEMPLATES, settings, min_duration_s=MIN_DURATION_S)
    setup = replace(setup, oracle_watches_guards=oracle_watches_guards)
    chosen = SCENARIOS[scenario]
    outcomes = collect(chosen, list(judges), setup, max(replicates, 1))
    out = {}
    for judge, runs in outcomes.items():
        summary = compute_summary(
            runs, scenario=chosen, judge=judge, seed=collect.seed, margins=setup.margins
        )
        summary.update(rps=rps, canary_pct=weight_pct, sigma=sigma, pod_sd=pod_sd)
        out[judge] = summary
    return out


def _settings(text: str) -> list[tuple[float, float, float]]:
    """``rps/canary%[/sigma]`` items, comma-separated (sigma defaults to 0.5)."""
    out = []
    for item in text.split(","):
        parts = [float(v) for v in item.split("/")]
        out.append((parts[0], parts[1], parts[2] if len(parts) > 2 else 0.5))
    return out


def main() -> None:
    """Run every section and print the JSON document."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--sections", default="boundary,aa_grid,burst_grid,delayed,promote,ratios")
    parser.add_argument("--boundary-scale", type=float, default=None)
    parser.add_argument("--boundary-rps", default="200,2000", help="boundary rps values")
    parser.add_argument("--min-duration-s", type=float, default=None)
    parser.add_argument("--grid-rps", default="10,200,2000", help="aa/burst grid rps values")
    parser.add_argument("--grid-canary", default="2,25", help="aa/burst grid canary percents")
    parser.add_argument("--grid-sigma", default="0.5,1.0", help="aa/burst grid sigma_log values")
    parser.add_argument(
        "--tails-settings",
        default="10/2/1.0,50/5/0.5,200/25/0.5",
        help="aa-restarts-tails settings rps/canary%%/sigma_log, comma-separated",
    )
    parser.add_argument(
        "--ratio-settings", default="20/10,50/5,200/25", help="ratios settings rps/canary%%"
    )
    parser.add_argument(
        "--ratio-scenarios",
        default="latency-10pct,latency-20pct,errors-x2",
        help="ratios scenarios, comma-separated",
    )
    args = parser.parse_args()
    global MIN_DURATION_S
    MIN_DURATION_S = args.min_duration_s
    n = lambda count: max(1, round(count * args.scale))  # noqa: E731
    boundary_n = round(300 * (args.boundary_scale or args.scale))
    collect = ParallelCollector(seed=args.seed, workers=args.workers)
    started = time.perf_counter()
    sections = set(args.sections.split(","))
    report: dict[str, Any] = {
        "seed": args.seed,
        "scale": args.scale,
        "min_duration_s": args.min_duration_s,
    }
    if "boundary" in sections:
        report["boundary"] = [
            _run(
                collect, "latency-5pct", rps=rps, weight_pct=25, replicates=boundary_n, pod_sd=0.0
            )["sequential"]
            for rps in (float(v) for v in args.boundary_rps.split(","))
        ]
    grid = list(
        itertools.product(
            *(
                [float(v) for v in text.split(",")]
                for text in (args.grid_rps, args.grid_canary, args.grid_sigma)
            )
        )
    )
    for section, scenario in (("aa_grid", "aa"), ("burst_grid", "anomaly-burst")):
        if section in sections:
            rows = [
                _run(collect, scenario, rps=r, weight_pct=w, sigma=s, replicates=n(40))
                for r, w, s in grid
            ]
            report[section] = [row["sequential"] for row in rows]
    if "delayed" in sections:
        report["delayed"] = [
            _run(collect, "delayed-onset", rps=r, weight_pct=w, replicates=n(100))["sequential"]
            for r, w in ((50, 5), (200, 25))
        ]
    if "promote" in sections:
        report["promote"] = [
            _run(collect, "aa", rps=r, weight_pct=w, replicates=n(150))["sequential"]
            for r, w in ((50, 5), (200, 10))
        ]
    if "errors" in sections:
        report["errors"] = [
            _run(collect, "errors-x2", rps=r, weight_pct=w, replicates=n(100))["sequential"]
            for r, w in ((50, 5), (200, 10))
        ]
    if "tails" in sections:
        report["tails"] = [
            _run(collect, "aa-restarts-tails", rps=r, weight_pct=w, sigma=s, replicates=n(40))[
                "sequential"
            ]
            for r, w, s in _settings(args.tails_settings)
        ]
    if "ratios" in sections:
        rows = []
        for (r, w), scenario in itertools.product(
            [(r, w) for r, w, _ in _settings(args.ratio_settings)], args.ratio_scenarios.split(",")
        ):
            both = _run(
                collect,
                scenario,
                rps=r,
                weight_pct=w,
                replicates=n(100),
                judges=("sequential", "oracle"),
            )
            gates_only = _run(
                collect,
                scenario,
                rps=r,
                weight_pct=w,
                replicates=n(100),
                judges=("oracle",),
                oracle_watches_guards=False,
            )["oracle"]
            seq = both["sequential"]
            ratio = {
                name: seq["median_decision_s"] / oracle["median_decision_s"]
                if seq["median_decision_s"] and oracle["median_decision_s"]
                else None
                for name, oracle in (("joint", both["oracle"]), ("gates_only", gates_only))
            }
            rows.append(
                {
                    "sequential": seq,
                    "oracle": both["oracle"],
                    "oracle_gates_only": gates_only,
                    "ratio_to_oracle": ratio["joint"],
                    "ratio_to_gates_only_oracle": ratio["gates_only"],
                }
            )
        report["ratios"] = rows
    report["elapsed_s"] = time.perf_counter() - started
    print(json.dumps(report, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
