"""Benchmark: start-up time of the CLI as a ratio to ``python -c pass``; prints JSON.

Run from the repository root: ``python benchmarks/startup.py [--runs N]``. Each command runs
N times (default 7) in a fresh interpreter; the median wall time of each is divided by the
median of ``python -c pass``. Targets (issue 17): ``--version`` and ``--help`` within 20x,
``lint examples/canary.yaml`` within 40x.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "mlrollout"]
COMMANDS = {
    "--version": [*CLI, "--version"],
    "--help": [*CLI, "--help"],
    "lint examples/canary.yaml": [*CLI, "lint", "examples/canary.yaml"],
    "status --help": [*CLI, "status", "--help"],
}
TARGETS = {"--version": 20.0, "--help": 20.0, "lint examples/canary.yaml": 40.0}


def _median_seconds(argv: list[str], runs: int, env: dict[str, str]) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    runs = max(5, parser.parse_args().runs)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "100"}
    base = _median_seconds([sys.executable, "-c", "pass"], runs, env)
    results = {}
    for name, argv in COMMANDS.items():
        seconds = _median_seconds(argv, runs, env)
        ratio = seconds / base
        target = TARGETS.get(name)
        results[name] = {
            "median_s": round(seconds, 4),
            "ratio": round(ratio, 1),
            "target": target,
            "within_target": None if target is None else ratio <= target,
        }
    print(
        json.dumps({"runs": runs, "python_c_pass_s": round(base, 4), "commands": results}, indent=2)
    )


if __name__ == "__main__":
    main()
