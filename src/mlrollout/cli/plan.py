"""``mlrollout plan ROLLOUT.yaml --rps R``: how long each analysis should take, before rolling out.

Part of the ``cli`` layer over ``analysis.planning``. For every analysis step it states, per
metric, the expected time to detect a regression (twice the margin) and to show the canary is
within its margin at that step's canary weight, and warns when that exceeds ``maxDuration``,
when the histogram buckets cannot resolve the latency margin, or when there are too few
canary pods.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer

from mlrollout.analysis import TrafficProfile, compute_plan
from mlrollout.binding import (
    bind_metrics,
    compute_judged_metric,
    compute_sequential_config,
    compute_step_limits,
)
from mlrollout.cli.lint import template_files
from mlrollout.cli.output import OUTPUT, OutputFormat, print_document
from mlrollout.cli.templates import TEMPLATES, default_template_dirs
from mlrollout.errors import SpecError
from mlrollout.model.analysis import MetricKind
from mlrollout.spec import ModelRollout, load_paths, load_rollout
from mlrollout.spec.strategy import RouterKind
from mlrollout.traffic.reachable import compute_unreachable_weights
from mlrollout.traffic.replica_math import compute_replica_plan

__all__ = ["DEFAULT_BUCKETS", "register"]

DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
"""prometheus-client's default histogram buckets: too coarse for a 5% latency margin."""


def _analysis_steps(rollout: ModelRollout) -> list[tuple[int, str, float]]:
    """(step index, its name for people, canary weight in force) of every analysis.

    Canary steps are numbered as in the file (``spec.strategy.canary.steps[i]``, from 0, as
    ``lint`` names them); blue-green analyses are named by their field.
    """
    canary = rollout.spec.strategy.canary
    if canary is None:
        blue_green = rollout.spec.strategy.blue_green
        assert blue_green is not None
        steps = [(0, "prePromotionAnalysis", 100.0)] if blue_green.pre_promotion_analysis else []
        if blue_green.post_promotion_analysis:
            steps.append((1, "postPromotionAnalysis", 100.0))
        return steps
    weight, out = 0.0, []
    for index, step in enumerate(canary.steps):
        if step.set_weight is not None:
            weight = step.set_weight
        elif step.analyze is not None:
            out.append((index, f"step {index} (analyze)", weight))
    return out


def _canary_pods(rollout: ModelRollout, weight: float, replicas: int) -> int:
    canary = rollout.spec.strategy.canary
    if canary is None or canary.traffic.router is not RouterKind.REPLICAS:
        return replicas
    if weight <= 0:
        return 0
    plan = compute_replica_plan(
        target_bp=round(weight * 100), replicas=replicas, mode=canary.capacity
    )
    return plan.canary


def _fmt(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "-"
    return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.0f} s"


def compute_rollout_plan(
    rollout: ModelRollout,
    templates: dict[str, Any],
    *,
    rps: float,
    replicas: int,
    error_rate: float,
    labelled: float,
    bounds: tuple[float, ...],
    pod_latencies: tuple[float, ...] = (),
) -> list[dict[str, Any]]:
    """The plan of every analysis step as plain data."""
    policy = rollout.spec.analysis
    if policy is None:
        raise SpecError("the rollout has no analysis to plan", path="spec.analysis")
    bound = bind_metrics(rollout, templates)
    steps = []
    for index, label, weight in _analysis_steps(rollout):
        if weight <= 0:
            raise SpecError(
                f"{label} analyses at 0% canary traffic: nothing to compare",
                path=f"spec.strategy.canary.steps[{index}]",
            )
        profile = TrafficProfile(
            rps=rps,
            canary_weight=min(weight, 99.0) / 100,
            error_rate=error_rate,
            labelled=labelled,
            canary_pods=_canary_pods(rollout, weight, replicas),
            bounds=bounds,
            pod_latencies_s=pod_latencies,
        )
        specs = [
            compute_judged_metric(
                b,
                baseline_accuracy=1 - profile.miss_rate
                if b.metric.kind is MetricKind.ACCURACY
                else None,
                tail_thresholds=bounds[-3:] if b.metric.kind is MetricKind.LATENCY_TAIL else (),
            )
            for b in bound
        ]
        limits = compute_step_limits(rollout, index)
        max_duration = limits[1] if limits is not None else policy.max_duration
        config = compute_sequential_config(
            policy, offset_s=0.0, min_s=0.0, max_s=max_duration.total_seconds()
        )
        plan = compute_plan(specs, config, profile)
        steps.append(
            {
                "step": index,
                "name": label,
                "maxDurationSeconds": max_duration.total_seconds(),
                "canaryWeight": weight,
                "canaryPods": profile.canary_pods,
                "metrics": [
                    {
                        "name": m.name,
                        "kind": m.kind,
                        "role": "gate" if m.gated else "guard",
                        "rollbackSeconds": _finite(m.rollback_s),
                        "promoteSeconds": _finite(m.promote_s),
                        "canGate": m.can_gate,
                        "recommendedMargin": _finite(m.recommended_margin or math.nan),
                        "podMarginFloor": m.pod_margin_floor,
                    }
                    for m in plan.metrics
                ],
                "warnings": list(plan.warnings),
            }
        )
    return steps


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def register(app: typer.Typer) -> None:
    """Add ``plan``."""

    @app.command("plan")
    def plan(
        file: Path = typer.Argument(..., help="A ModelRollout YAML file."),
        rps: float = typer.Option(
            ..., "--rps", min=0.001, max=1e7, help="Requests per second the Service takes."
        ),
        replicas: int = typer.Option(
            4, "--replicas", min=1, max=10_000, help="Pods of the stable environment."
        ),
        error_rate: float = typer.Option(
            0.01, "--error-rate", min=0.0, max=1.0, help="Baseline error rate."
        ),
        labelled: float = typer.Option(
            0.1, "--labelled", min=0.0, max=1.0, help="Share of requests that get a label."
        ),
        buckets: str | None = typer.Option(
            None,
            "--buckets",
            help="Latency histogram bucket bounds in seconds, "
            "comma-separated (default: prometheus-client's).",
        ),
        pod_latencies: str | None = typer.Option(
            None,
            "--pod-latencies",
            help="Typical latency of each stable pod in seconds, comma-separated (at least "
            "two, from before the rollout): latency margins are checked against what the "
            "canary pods' own offsets can reach.",
        ),
        templates: list[Path] = TEMPLATES,
        output: OutputFormat = OUTPUT,
    ) -> None:
        """Expected time to decision per metric and step, with warnings."""
        dirs = default_template_dirs(templates)
        library = load_paths(template_files(dirs)).templates
        rollout = load_rollout(file, templates=library)
        bounds = _bounds(buckets)
        pods = _pod_latencies(pod_latencies)
        steps = compute_rollout_plan(
            rollout,
            dict(library),
            rps=rps,
            replicas=replicas,
            error_rate=error_rate,
            labelled=labelled,
            bounds=bounds,
            pod_latencies=pods,
        )
        unreachable = [
            u.describe() for u in compute_unreachable_weights(rollout, replicas=replicas)
        ]
        if output.machine:
            document = {"rollout": rollout.name, "rps": rps, "steps": steps}
            print_document({**document, "warnings": unreachable}, output)
            return
        for warning in unreachable:
            typer.echo(f"warning: {warning}")
        for step in steps:
            typer.echo(
                f"{step['name']} at {step['canaryWeight']:g}% ({step['canaryPods']} canary "
                f"pods, maxDuration {_fmt(step['maxDurationSeconds'])}):"
            )
            for m in step["metrics"]:
                rollback = _fmt(m["rollbackSeconds"] or math.inf)
                promote = _fmt(m["promoteSeconds"] or math.inf)
                gate = "can gate" if m["canGate"] else "guard only"
                margin = m["recommendedMargin"]
                if margin is not None:
                    advice = (
                        "margin >= {:.3g} recommended"
                        if m["canGate"]
                        else "gate with margin >= {:.3g}"
                    )
                    gate += f" ({advice.format(margin)})"
                typer.echo(
                    f"  {m['name']:<36} {m['role']:<5} regression shown in ~{rollback:<9} "
                    f"within margin shown in ~{promote:<9} {gate}"
                )
            for warning in step["warnings"]:
                typer.echo(f"  warning: {warning}")


def _seconds_list(text: str, *, path: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise SpecError(f"expected comma-separated seconds, got {text!r}", path=path) from None
    if not all(math.isfinite(v) for v in values):
        raise SpecError(f"expected finite seconds, got {text!r}", path=path)
    return values


def _pod_latencies(text: str | None) -> tuple[float, ...]:
    if text is None:
        return ()
    values = _seconds_list(text, path="--pod-latencies")
    if len(values) < 2 or min(values) <= 0:
        raise SpecError(
            "expected at least 2 positive latencies, one per pod", path="--pod-latencies"
        )
    return values


def _bounds(text: str | None) -> tuple[float, ...]:
    if text is None:
        return DEFAULT_BUCKETS
    values = _seconds_list(text, path="--buckets")
    if len(values) < 3 or list(values) != sorted(set(values)) or values[0] <= 0:
        raise SpecError("expected at least 3 increasing positive bounds", path="--buckets")
    return values
