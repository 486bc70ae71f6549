"""Benchmark: per-metric calibration of the rollback e-values at the null boundary, as JSON.

Run: ``python benchmarks/rollback_calibration.py [--scenario latency-5pct] [--rps 200]
[--canary 25] [--replicates 150] [--seed 12] > calibration.json``. For each replicate of a
scenario whose truth is at (or inside) the margins, every latency metric of the shipped
templates, bound through ``mlrollout.binding`` as the controller binds it, is fed the whole
maxDuration without stopping, and the supremum over time of its rollback log e-value is
kept. An e-process satisfies Ville's inequality, P(sup E ≥ x) ≤ 1/x; the report gives, per
metric, the fraction of replicates with sup E ≥ 10 and ≥ 100 (bounds 10 % and 1 %), the
fraction at the metric's own rollback threshold 1/α_k (what would be a false rollback), and
the replicates that reached it. Fixed pod effects are off and AR(1) pod noise on (the
boundary setting of ``stats_acceptance``), unless ``--pod-sd`` is given.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import replace
from typing import Any

import numpy as np

from mlrollout.analysis.config import compute_alpha_budgets
from mlrollout.analysis.evidence import build_evidence
from mlrollout.analysis.kinds import MetricKind
from mlrollout.bench.scenarios import SCENARIOS
from mlrollout.bench.simulator import SimSettings, simulate_run
from mlrollout.cli.simulation_setup import compute_setup, load_templates

KINDS = (MetricKind.LATENCY_BODY, MetricKind.LATENCY_TAIL)


def main() -> None:
    """Run the replicates and print the JSON document."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", default="latency-5pct")
    parser.add_argument("--rps", type=float, default=200.0)
    parser.add_argument("--canary", type=float, default=25.0, help="canary weight, percent")
    parser.add_argument("--replicates", type=int, default=150)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--pod-sd", type=float, default=0.0)
    args = parser.parse_args()
    settings = replace(
        SimSettings(), rps=args.rps, canary_weight=args.canary / 100, pod_sd=args.pod_sd
    )
    setup = compute_setup(load_templates([]), settings)
    alphas, _ = compute_alpha_budgets(setup.specs, setup.sequential)
    specs = [s for s in setup.specs if s.kind in KINDS and s.critical]
    scenario = SCENARIOS[args.scenario]
    started = time.perf_counter()
    sups: dict[str, list[float]] = {s.name: [] for s in specs}
    for replicate in range(args.replicates):
        rng = np.random.default_rng(np.random.SeedSequence([args.seed, replicate]))
        run = simulate_run(rng, scenario, settings)
        evidence = {s.name: build_evidence(s) for s in specs}
        best = dict.fromkeys(evidence, -math.inf)
        for t in range(settings.windows):
            by_kind = run.windows_at(t)
            for spec in specs:
                if evidence[spec.name].update(by_kind[spec.kind]):
                    log_e = evidence[spec.name].summarise(setup.sequential.alpha, detail=False)
                    best[spec.name] = max(best[spec.name], log_e.log_e_rollback)
        for name, value in best.items():
            sups[name].append(value)
    metrics: dict[str, Any] = {}
    for name, values in sups.items():
        sup = np.asarray(values)
        threshold = math.log(1.0 / alphas[name])
        metrics[name] = {
            "alpha": alphas[name],
            "sup_log_e_quantiles": dict(
                zip(
                    ("p50", "p90", "p99", "max"),
                    np.quantile(sup, [0.5, 0.9, 0.99, 1.0]).tolist(),
                    strict=True,
                )
            ),
            "frac_sup_e_ge_10": float(np.mean(sup >= math.log(10.0))),
            "frac_sup_e_ge_100": float(np.mean(sup >= math.log(100.0))),
            "frac_at_rollback_threshold": float(np.mean(sup >= threshold)),
            "replicates_at_rollback_threshold": np.flatnonzero(sup >= threshold).tolist(),
        }
    report = {
        "scenario": args.scenario,
        "rps": args.rps,
        "canary_pct": args.canary,
        "pod_sd": args.pod_sd,
        "replicates": args.replicates,
        "seed": args.seed,
        "metrics": metrics,
        "elapsed_s": time.perf_counter() - started,
    }
    print(json.dumps(report, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
