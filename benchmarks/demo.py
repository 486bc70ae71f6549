"""Benchmark: wall time of ``mlrollout demo`` end to end; prints JSON.

Run from the repository root: ``python benchmarks/demo.py [--runs N] [--scenario S]``. Each
run is a fresh ``mlrollout demo -o json`` in a new state directory (a temporary directory,
removed afterwards); the JSON has every run's wall time and outcome and their median. The
target (issue 16) is under 180 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 180.0


def _run(scenario: str, env: dict[str, str]) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="mlrollout-demo-bench-") as state:
        argv = [sys.executable, "-m", "mlrollout", "demo", "-o", "json"]
        argv += ["--scenario", scenario, "--state-dir", state]
        start = time.perf_counter()
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
    try:
        phases = [r["phase"] for r in json.loads(done.stdout)["releases"]]
    except (ValueError, KeyError, TypeError):
        phases = []
    return {"seconds": round(wall, 1), "exitCode": done.returncode, "phases": phases}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--scenario", default="latency", choices=["latency", "errors", "accuracy", "anomaly"]
    )
    args = parser.parse_args()
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    runs = [_run(args.scenario, env) for _ in range(args.runs)]
    median = statistics.median(float(str(r["seconds"])) for r in runs)
    print(
        json.dumps(
            {
                "scenario": args.scenario,
                "cpus": os.cpu_count(),
                "runs": runs,
                "medianSeconds": median,
                "targetSeconds": TARGET_S,
                "withinTarget": median < TARGET_S,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
