"""``mlrollout simulate``: run the analysis benchmark (judges × scenarios) and print results.

Part of the ``cli`` layer: parses options, validates them into ``SpecError``s naming the
option and allowed values, spreads replicates over worker processes, and renders JSON, text
or a Markdown table. The sequential judge runs the metrics of the shipped templates bound by
``simulation_setup`` through ``mlrollout.binding`` (what the controller gates); the
simulator, baselines and suite live in ``mlrollout.bench``; this module only drives them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer

from mlrollout.bench.benchmark import BenchmarkSetup, compute_summary, run_replicates
from mlrollout.bench.comparison import JUDGES, Outcome
from mlrollout.bench.scenarios import SCENARIOS, Scenario, decide_scenario
from mlrollout.bench.simulator import SimSettings
from mlrollout.bench.suite import compute_suite, render_markdown
from mlrollout.cli.output import OUTPUT, OutputFormat, Progress, print_document
from mlrollout.cli.simulation_setup import MarginOverrides, compute_setup, load_templates
from mlrollout.errors import SpecError
from mlrollout.model import parse_duration

__all__ = ["ParallelCollector", "register"]


def _check_choice(option: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise SpecError(f"unknown value {value!r}; allowed: {', '.join(allowed)}", path=option)
    return value


def _check_range(option: str, value: float, *, low: float, high: float) -> float:
    if not (math.isfinite(value) and low <= value <= high):
        raise SpecError(f"{value} is out of range; expected {low}..{high}", path=option)
    return value


Job = tuple[Scenario, tuple[str, ...], BenchmarkSetup, int, range]


def _chunk(args: Job) -> dict[str, list[Outcome]]:
    scenario, judges, setup, seed, replicates = args
    return run_replicates(scenario, judges, setup=setup, seed=seed, replicates=replicates)


class ParallelCollector:
    """Runs replicates in ``workers`` processes; the same seed gives the same outcomes.

    Replicates run in up to ``PROGRESS_CHUNKS`` chunks of consecutive indices (outcomes are
    reassembled in index order, so chunking never changes them); with ``progress`` each
    finished chunk is reported on stderr.
    """

    PROGRESS_CHUNKS = 10

    def __init__(self, *, seed: int, workers: int, progress: bool = False) -> None:
        self.seed = seed
        self.workers = workers
        self.progress = progress

    def __call__(
        self, scenario: Scenario, judges: Sequence[str], setup: BenchmarkSetup, replicates: int
    ) -> dict[str, list[Outcome]]:
        parts = max(1, min(max(self.workers, self.PROGRESS_CHUNKS), replicates))
        bounds = [replicates * i // parts for i in range(parts + 1)]
        jobs = [
            (scenario, tuple(judges), setup, self.seed, range(a, b))
            for a, b in itertools.pairwise(bounds)
        ]
        progress = (
            Progress(f"simulate {scenario.name}", total=replicates) if self.progress else None
        )
        results: list[dict[str, list[Outcome]]] = [{} for _ in jobs]
        done = 0
        for index, result in self._run(jobs):
            results[index] = result
            done += len(jobs[index][4])
            if progress is not None:
                progress.update(done)
        return {j: [o for part in results for o in part[j]] for j in judges}

    def _run(self, jobs: list[Job]) -> Iterator[tuple[int, dict[str, list[Outcome]]]]:
        if self.workers == 1:
            for index, job in enumerate(jobs):
                yield index, _chunk(job)
            return
        with ProcessPoolExecutor(max_workers=min(self.workers, len(jobs))) as pool:
            futures = {pool.submit(_chunk, job): index for index, job in enumerate(jobs)}
            for future in as_completed(futures):
                yield futures[future], future.result()


def _render_text(summary: dict[str, Any]) -> None:
    typer.echo(
        f"{summary['scenario']} / {summary['judge']} ({summary['replicates']} replicates, "
        f"truth {summary['truth']})"
    )
    for name in ("rollback", "promote", "inconclusive"):
        low, high = summary[f"{name}_rate_ci"]
        typer.echo(f"  {name:<13} {summary[f'{name}_rate']:.4f}  [{low:.4f}, {high:.4f}]")
    for key in ("median_decision_s", "p90_decision_s", "median_blast_radius_requests"):
        typer.echo(f"  {key:<29} {summary[key]}")


def _render_listing(output: OutputFormat) -> None:
    listing = {s.name: s.description for s in SCENARIOS.values()}
    if output.machine:
        print_document({"scenarios": listing}, output)
        return
    for name, text in listing.items():
        typer.echo(f"{name:<15} {text}")


def _emit(document: dict[str, Any], output: OutputFormat, *, render: Callable[[], None]) -> None:
    if output.machine:
        print_document(document, output)
    else:
        render()


def _seconds(option: str, text: str, *, low: float, high: float) -> float:
    try:
        seconds = parse_duration(text).total_seconds()
    except ValueError as exc:
        raise SpecError(str(exc), path=option) from exc
    return _check_range(option, seconds, low=low, high=high)


def _settings(*, rps: float, canary_weight: float, duration: str) -> SimSettings:
    """Simulated traffic from the options (weight in percent, duration like ``60m``)."""
    _check_range("--rps", rps, low=0.01, high=1e6)
    _check_range("--canary-weight", canary_weight, low=0.01, high=99.99)
    try:
        seconds = parse_duration(duration).total_seconds()
    except ValueError as exc:
        raise SpecError(str(exc), path="--duration") from exc
    _check_range("--duration", seconds, low=60.0, high=7 * 86400.0)
    return replace(SimSettings(), rps=rps, canary_weight=canary_weight / 100, duration_s=seconds)


def _checked_margins(margins: MarginOverrides) -> MarginOverrides:
    for option, value in (
        ("--margin-latency", margins.latency),
        ("--margin-errors", margins.errors),
        ("--margin-anomalies", margins.anomalies),
    ):
        if value is not None:
            _check_range(option, value, low=0.0, high=10.0)
    if margins.accuracy_points is not None:
        _check_range("--margin-accuracy", margins.accuracy_points, low=0.0, high=50.0)
    return margins


def register(app: typer.Typer) -> None:
    """Add the ``simulate`` command to ``app``."""

    @app.command("simulate")
    def simulate(
        scenario: str = typer.Option("aa", "--scenario", help="Scenario name (see --list)."),
        judge: str = typer.Option(
            "sequential", "--judge", help="Judge: sequential, kayenta, threshold or oracle."
        ),
        replicates: int = typer.Option(200, "--replicates", help="Simulated rollouts to run."),
        seed: int = typer.Option(0, "--seed", help="Seed; same seed, same numbers."),
        rps: float = typer.Option(50.0, "--rps", help="Requests per second to the service."),
        canary_weight: float = typer.Option(
            5.0, "--canary-weight", help="Canary traffic weight in percent (5 = 5%, not 0.05)."
        ),
        duration: str = typer.Option("60m", "--duration", help="maxDuration of the analysis."),
        min_duration: str | None = typer.Option(
            None,
            "--min-duration",
            help="minDuration: soak before any promotion (policy; default min(15m, half of"
            " --duration)).",
        ),
        templates: list[Path] = typer.Option(
            None,
            "--templates",
            "-t",
            help="AnalysisTemplate directory judged as the controller judges it "
            "(default ./analyses, the shipped templates).",
        ),
        margin_latency: float | None = typer.Option(
            None,
            "--margin-latency",
            help="Replace the templates' latency margins (0.05 = 5% worse tolerated).",
        ),
        margin_errors: float | None = typer.Option(
            None, "--margin-errors", help="Replace the error-rate margin (0.2 = 20%)."
        ),
        margin_accuracy: float | None = typer.Option(
            None, "--margin-accuracy", help="Replace the accuracy margin in points."
        ),
        margin_anomalies: float | None = typer.Option(
            None, "--margin-anomalies", help="Replace the anomaly-rate margins."
        ),
        suite: str | None = typer.Option(
            None, "--suite", help="Run every judge on every scenario: 'standard'."
        ),
        markdown: Path | None = typer.Option(
            None, "--markdown", help="With --suite: also write a Markdown table to this file."
        ),
        calibration_replicates: int = typer.Option(
            100, "--calibration-replicates", help="A/A replicates per calibration step."
        ),
        workers: int = typer.Option(1, "--workers", help="Worker processes."),
        list_scenarios: bool = typer.Option(False, "--list", help="List the scenarios and exit."),
        quiet: bool = typer.Option(
            False, "--quiet", "-q", help="No progress on stderr (one line per tenth of the run)."
        ),
        output: OutputFormat = OUTPUT,
    ) -> None:
        """Simulate rollouts with known ground truth and report each judge's error rates."""
        if list_scenarios:
            _render_listing(output)
            return
        _check_range("--replicates", replicates, low=1, high=1_000_000)
        _check_range("--workers", workers, low=1, high=64)
        _check_range("--seed", seed, low=0, high=2**63 - 1)
        _check_range("--calibration-replicates", calibration_replicates, low=1, high=1_000_000)
        if suite is not None:
            _check_choice("--suite", suite, ["standard"])
        if markdown is not None and not markdown.parent.is_dir():
            raise SpecError(f"no such directory: {markdown.parent}", path="--markdown")
        overrides = MarginOverrides(
            latency=margin_latency,
            errors=margin_errors,
            accuracy_points=margin_accuracy,
            anomalies=margin_anomalies,
        )
        setup = compute_setup(
            load_templates(templates or []),
            _settings(rps=rps, canary_weight=canary_weight, duration=duration),
            overrides=_checked_margins(overrides),
            min_duration_s=None
            if min_duration is None
            else _seconds("--min-duration", min_duration, low=0.0, high=7 * 86400.0),
        )
        collect = ParallelCollector(seed=seed, workers=workers, progress=not quiet)
        if suite is not None:
            document = compute_suite(
                collect,
                setup,
                replicates=replicates,
                seed=seed,
                calibration_replicates=calibration_replicates,
            )
            if markdown is not None:
                try:
                    markdown.write_text(render_markdown(document), encoding="utf-8")
                except OSError as exc:
                    raise SpecError(f"cannot write: {exc.strerror}", path="--markdown") from None
            _emit(document, output, render=lambda: typer.echo(render_markdown(document)))
            return
        chosen = decide_scenario(scenario)
        _check_choice("--judge", judge, JUDGES)
        outcomes = collect(chosen, [judge], setup, replicates)[judge]
        summary = compute_summary(
            outcomes, scenario=chosen, judge=judge, seed=seed, margins=setup.margins
        )
        _emit(summary, output, render=lambda: _render_text(summary))
