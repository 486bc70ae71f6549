"""``mlrollout status`` and ``mlrollout list``: what a rollout is doing, for people and CI.

Part of the ``cli`` layer. Text output is made for on-call: phase, step, traffic, release,
the gates' verdict, the analysis verdicts with their reasons, and the last decisions.
``--output json`` prints the status object as stored, plus name and namespace. ``--platform
local`` reads a rollout of the local platform from its state directory instead of a cluster.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mlrollout.cli.cluster import ClusterOptions, cluster_command, read_rollout
from mlrollout.cli.output import OUTPUT, OutputFormat, print_document
from mlrollout.cli.platforms import Platform
from mlrollout.errors import SpecError
from mlrollout.model import format_instant

if TYPE_CHECKING:
    from mlrollout.kube.rollouts import StoredRollout
    from mlrollout.spec import RolloutStatus

__all__ = ["register", "render_status", "status_document"]


def status_document(stored: StoredRollout) -> dict[str, Any]:
    """The JSON document of ``status --output json``."""
    rollout = stored.rollout
    return {
        "name": rollout.name,
        "namespace": rollout.namespace,
        "generation": stored.generation,
        "release": rollout.spec.release.model_dump(mode="json", by_alias=True),
        "status": stored.status.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


def _traffic(status: RolloutStatus) -> str:
    applied = status.traffic.applied
    if applied is None:
        return "unknown"
    text = (
        f"{applied.stable_env} {applied.stable_percent:g}% / "
        f"{applied.canary_env} {applied.canary_percent:g}%"
    )
    target, nearest = status.traffic.target, status.traffic.nearest
    if target is not None and nearest is not None:
        text += (
            f" (step asks {target.canary_percent:g}%; "
            f"the pods give {nearest.canary_percent:g}%, "
            "which counts as reached)"
        )
    return text


def _steps(stored: StoredRollout) -> str:
    strategy = stored.rollout.spec.strategy
    step = stored.status.current_step
    if strategy.canary is not None:
        total = len(strategy.canary.steps)
        return f"{min(step, total) if step is not None else '-'}/{total}"
    return {None: "-", 0: "preview", 1: "post-promotion"}.get(step, str(step))


def _metric_lines(status: RolloutStatus) -> list[str]:
    look = status.analysis.look if status.analysis is not None else None
    lines = []
    for metric in look.metrics if look is not None else []:
        interval = ""
        if metric.lower is not None and metric.upper is not None:
            interval = f" [{metric.lower:.3g}, {metric.upper:.3g}]"
        name = f"{metric.name} (dry run)" if metric.dry_run else metric.name
        lines.append(f"  {name:<22} {metric.verdict.value:<12}{interval}  {metric.reason}")
    return lines


def render_status(stored: StoredRollout, *, history: int = 5) -> str:
    """The text of ``status``."""
    status, rollout = stored.status, stored.rollout
    model = rollout.spec.release.model
    lines = [
        f"{rollout.namespace}/{rollout.name}: {status.phase.value}",
        f"  step      {_steps(stored)}",
        f"  traffic   {_traffic(status)}",
        f"  active    {status.active_env or '-'}   candidate {status.candidate_env or '-'}",
        f"  image     {rollout.spec.release.image}",
        f"  model     {model.uri} (sha256 {model.sha256[:12]}…)",
    ]
    if status.verification is not None:
        verdict = (
            "verified"
            if status.verification.verified
            else (f"refused: {status.verification.reason_code}")
        )
        lines.append(f"  gates     {verdict}")
    if status.message:
        lines.append(f"  reason    {status.message}")
    metric_lines = _metric_lines(status)
    if metric_lines:
        lines += ["", "analysis:", *metric_lines]
    if status.history:
        lines += ["", "recent decisions:"]
        lines += [
            f"  {format_instant(h.time)}  {h.phase.value:<12} {h.action:<12} {h.reason}"
            for h in status.history[-history:]
        ]
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    """Add ``status`` and ``list``."""

    @app.command("status")
    @cluster_command
    def status(
        name: str = typer.Argument(..., help="ModelRollout name."),
        watch: bool = typer.Option(
            False, "--watch", "-w", help="Keep printing as the rollout changes, until it ends."
        ),
        output: OutputFormat = OUTPUT,
        platform: Platform = typer.Option(
            Platform.KUBERNETES, "--platform", help="kubernetes, or local (from --state-dir)."
        ),
        state_dir: Path | None = typer.Option(
            None, "--state-dir", help="The local platform's state directory."
        ),
        *,
        cluster: ClusterOptions,
    ) -> None:
        """Show a rollout's phase, traffic, gates, analysis verdicts and recent decisions."""
        if platform is Platform.LOCAL:
            _local_status(
                name, cluster.namespace or "default", state_dir, watch=watch, output=output
            )
            return
        if state_dir is not None:
            raise SpecError("is a local platform option (--platform local)", path="--state-dir")
        from mlrollout.clock import SystemClock
        from mlrollout.controller.driver import follow
        from mlrollout.kube import RolloutStore

        ns = cluster.resolved_namespace()
        with cluster.client() as client:
            stored = read_rollout(RolloutStore(client), ns, name)  # exit 2 when there is none
            if not watch:
                _print(stored, output)
                return
            follow(
                client,
                namespace=ns,
                name=name,
                clock=SystemClock(),
                timeout=None,
                on_change=lambda current: _print(current, output),
                until=lambda current: current.status.phase.terminal,
            )

    def _local_status(
        name: str, namespace: str, state_dir: Path | None, *, watch: bool, output: OutputFormat
    ) -> None:
        import time

        from mlrollout.errors import NotFoundError
        from mlrollout.local.statedir import StateDir, default_state_dir

        root = state_dir or default_state_dir()
        if not (root / "rollouts").is_dir():
            raise SpecError(f"{str(root)!r} is not a local state directory", path="--state-dir")
        state = StateDir(root)
        try:
            stored = state.read(namespace, name)
        except NotFoundError as exc:
            raise SpecError(str(exc), path="NAME") from None
        _print(stored, output)
        while watch and not stored.status.phase.terminal:
            time.sleep(1)
            current = state.read(namespace, name)
            if current.resource_version != stored.resource_version:
                stored = current
                _print(stored, output)

    @app.command("list")
    @cluster_command
    def list_rollouts(
        all_namespaces: bool = typer.Option(
            False, "--all-namespaces", "-A", help="List rollouts in every namespace."
        ),
        output: OutputFormat = OUTPUT,
        *,
        cluster: ClusterOptions,
    ) -> None:
        """List rollouts with their phase, weight and active environment."""
        from mlrollout.kube import RolloutStore

        with cluster.client() as client:
            ns = None if all_namespaces else cluster.resolved_namespace()
            rollouts = RolloutStore(client).list(ns)
        if output.machine:
            print_document([status_document(s) for s in rollouts], output)
            return
        typer.echo(
            f"{'NAMESPACE':<16} {'NAME':<28} {'PHASE':<12} {'STEP':<8} {'TRAFFIC':<28} ACTIVE"
        )
        for s in rollouts:
            typer.echo(
                f"{s.rollout.namespace:<16} {s.rollout.name:<28} "
                f"{s.status.phase.value:<12} {_steps(s):<8} {_traffic(s.status):<28} "
                f"{s.status.active_env or '-'}"
            )


def _print(stored: StoredRollout, output: OutputFormat) -> None:
    if output.machine:
        print_document(status_document(stored), output)
    else:
        typer.echo(render_status(stored))
