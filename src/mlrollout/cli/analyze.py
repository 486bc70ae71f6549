"""``mlrollout analyze``: one-shot analysis of two live variants over a past window.

Part of the ``cli`` layer, for CI and on-call: "is green worse than blue over the last 30
minutes?" without a rollout. Exit 0 pass, 1 fail (a regression shown, naming the metric),
3 inconclusive, 2 bad input.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError

from mlrollout.binding import bind_arguments, check_judge
from mlrollout.cli.lint import template_files
from mlrollout.cli.output import print_json
from mlrollout.controller.oneshot import OneShot, run_one_shot
from mlrollout.errors import ExitCode, SpecError
from mlrollout.metrics import PrometheusProvider, ProviderKind, ProviderSet, VariantScope
from mlrollout.model import parse_duration
from mlrollout.spec import AnalysisTemplate, load_file, load_paths
from mlrollout.spec.policy import (
    AnalysisPolicy,
    JudgeKind,
    KayentaSettings,
    TemplateRef,
    ThresholdSettings,
)

__all__ = ["parse_selector", "register"]

_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
EXIT = {"promote": ExitCode.OK, "rollback": ExitCode.ROLLED_BACK}
WORD = {"promote": "pass", "rollback": "fail"}
_FLAGS = {"alpha": "--alpha", "beta": "--beta", "interval": "--interval", "maxDuration": "--since"}


def parse_selector(text: str, *, option: str) -> dict[str, str]:
    """``label=value[,label=value]`` to a dict (values are escaped when queries are built)."""
    labels: dict[str, str] = {}
    for part in [p for p in text.split(",") if p.strip()]:
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not _LABEL.fullmatch(name):
            raise SpecError(f"expected label=value[,label=value], got {text!r}", path=option)
        labels[name] = value.strip()
    if not labels:
        raise SpecError("expected at least one label=value", path=option)
    return labels


def _templates(names: list[str], dirs: list[Path]) -> list[AnalysisTemplate]:
    library = load_paths(template_files(dirs)).templates if dirs else {}
    chosen = []
    for name in names:
        path = Path(name)
        if path.suffix in (".yaml", ".yml") or path.exists():
            found = [
                d.resource for d in load_file(path) if isinstance(d.resource, AnalysisTemplate)
            ]
            if not found:
                raise SpecError("no AnalysisTemplate in the file", source=name)
            chosen += found
        elif name in library:
            chosen.append(library[name])
        else:
            known = ", ".join(sorted(library)) or "none"
            raise SpecError(f"unknown template {name!r} (known: {known})", path="--template")
    return chosen


def _policy(
    templates: list[AnalysisTemplate],
    *,
    judge: str,
    alpha: float,
    beta: float,
    window: timedelta,
    period: timedelta,
    dry_run: frozenset[str] = frozenset(),
) -> AnalysisPolicy:
    """The analysis policy of a one-shot run, refused before anything is fetched."""
    try:
        kind = JudgeKind(judge)
    except ValueError:
        known = ", ".join(k.value for k in JudgeKind)
        raise SpecError(f"must be one of {known}, got {judge!r}", path="--judge") from None
    checks = max(1, min(int(period / window), 1000))
    try:
        return AnalysisPolicy(
            templates=[TemplateRef(name=t.name, dry_run=t.name in dry_run) for t in templates],
            judge=kind,
            alpha=alpha,
            beta=beta,
            interval=window,
            max_duration=period,
            kayenta=KayentaSettings(interval=period, intervals=1),
            threshold=ThresholdSettings(interval=window, checks=checks),
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "interval"
        flag = _FLAGS.get(field, "--template")
        raise SpecError(error["msg"].removeprefix("Value error, "), path=flag) from None


def _document(look: Any, job: OneShot, outcome: str) -> dict[str, Any]:
    data: dict[str, Any] = look.to_dict()
    return {
        "result": outcome,
        "decision": look.decision.value,
        "reason": look.reason,
        "baseline": dict(job.baseline.labels),
        "canary": dict(job.canary.labels),
        "start": job.start.isoformat(),
        "end": job.end.isoformat(),
        "judge": job.policy.judge.value,
        "metrics": data.get("metrics", []),
    }


def _markdown(document: dict[str, Any]) -> str:
    lines = [
        f"## Analysis: **{document['result']}**",
        "",
        f"{document['canary']} against {document['baseline']}, {document['start']} to "
        f"{document['end']} ({document['judge']} judge).",
        "",
        document["reason"],
        "",
        "| metric | verdict | estimate | interval | reason |",
        "|---|---|---|---|---|",
    ]
    for m in document["metrics"]:
        interval = (
            f"[{m['lower']:.3g}, {m['upper']:.3g}]"
            if m.get("lower") is not None and m.get("upper") is not None
            else ""
        )
        estimate = f"{m['estimate']:.3g}" if m.get("estimate") is not None else ""
        lines.append(
            f"| {m['name']} | {m['verdict']} | {estimate} | {interval} | {m.get('reason', '')} |"
        )
    return "\n".join(lines)


def _text(document: dict[str, Any]) -> str:
    lines = [f"{document['result'].upper()}: {document['reason']}"]
    for m in document["metrics"]:
        lines.append(f"  {m['name']:<34} {m['verdict']:<13} {m.get('reason', '')}")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    """Add ``analyze``."""

    @app.command("analyze")
    def analyze(
        template: list[str] = typer.Option(
            ...,
            "--template",
            "-T",
            help="Template name (from --templates) or YAML file; repeatable.",
        ),
        baseline: str = typer.Option(
            ..., "--baseline", help="Baseline selector, e.g. environment=blue."
        ),
        canary: str = typer.Option(
            ..., "--canary", help="Canary selector, e.g. environment=green."
        ),
        since: str = typer.Option("30m", "--since", help="How far back the analysis starts."),
        interval: str = typer.Option(
            "30s", "--interval", help="Window length (the judge looks once per window)."
        ),
        prometheus: str | None = typer.Option(
            None, "--prometheus", envvar="MLROLLOUT_PROMETHEUS_URL", help="Prometheus base URL."
        ),
        judge: str = typer.Option(
            "sequential", "--judge", help="sequential, kayenta or threshold."
        ),
        alpha: float = typer.Option(0.01, "--alpha", help="Bound on a false 'fail'."),
        beta: float = typer.Option(0.05, "--beta", help="Bound on a false 'pass'."),
        arg: list[str] = typer.Option(None, "--arg", help="Template argument NAME=VALUE."),
        dry_run: list[str] = typer.Option(
            None,
            "--dry-run",
            help="Name of a chosen template whose metrics are judged and reported but never "
            "decide (sequential judge); repeatable.",
        ),
        namespace: str = typer.Option(
            "", "--namespace", "-n", help="Value of {{namespace}} in queries."
        ),
        service: str = typer.Option("", "--service", help="Value of {{service}} in queries."),
        templates: list[Path] = typer.Option(
            None, "--templates", "-t", help="Template directory (default ./analyses)."
        ),
        output: str = typer.Option("text", "--output", "-o", help="text, json or md."),
    ) -> None:
        """Compare two live variants over a past window: exit 0 pass, 1 fail, 3 inconclusive."""
        if output not in ("text", "json", "md"):
            raise SpecError(f"must be text, json or md, got {output!r}", path="--output")
        if not prometheus:
            raise SpecError(
                "no Prometheus: pass --prometheus URL or set MLROLLOUT_PROMETHEUS_URL",
                path="--prometheus",
            )
        for name, value in (("--since", since), ("--interval", interval)):
            try:
                parse_duration(value)
            except ValueError as exc:
                raise SpecError(str(exc), path=name) from None
        dirs = (
            list(templates)
            if templates
            else ([Path("analyses")] if Path("analyses").is_dir() else [])
        )
        args = parse_selector(",".join(arg), option="--arg") if arg else {}
        chosen = _templates(template, dirs)
        dry = frozenset(dry_run or ())
        if unknown := sorted(dry - {t.name for t in chosen}):
            known = ", ".join(t.name for t in chosen)
            raise SpecError(f"{unknown[0]!r} is not a chosen template ({known})", path="--dry-run")
        if dry and (judge != "sequential" or len(dry) == len(chosen)):
            raise SpecError(
                "needs --judge sequential and at least one deciding template", path="--dry-run"
            )
        metrics = bind_arguments(chosen, args, dry_run=dry)
        period, window = parse_duration(since), parse_duration(interval)
        policy = _policy(
            chosen, judge=judge, alpha=alpha, beta=beta, window=window, period=period, dry_run=dry
        )
        check_judge(policy, metrics, path="--judge")
        end = datetime.now(UTC)
        job = OneShot(
            metrics=metrics,
            baseline=VariantScope("baseline", parse_selector(baseline, option="--baseline")),
            canary=VariantScope("canary", parse_selector(canary, option="--canary")),
            start=end - period,
            end=end,
            policy=policy,
            namespace=namespace,
            service=service,
        )
        # A web provider answers only "the last window", never a past period: only
        # Prometheus can answer analyze.
        environ = {"MLROLLOUT_PROMETHEUS_URL": prometheus}
        provider = ProviderSet(
            {ProviderKind.PROMETHEUS: lambda: PrometheusProvider.from_config(None, environ=environ)}
        )
        for m in metrics:
            provider.check(m.template, m.metric, path="--template")
        try:
            look = run_one_shot(provider, job)
        finally:
            provider.close()
        decision = look.decision.value
        outcome = WORD.get(decision, "inconclusive")
        document = _document(look, job, outcome)
        if output == "json":
            print_json(document)
        else:
            typer.echo(_markdown(document) if output == "md" else _text(document))
        raise typer.Exit(EXIT.get(decision, ExitCode.INCONCLUSIVE))
