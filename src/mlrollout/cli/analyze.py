"""``mlrollout analyze``: one-shot analysis of two live variants over a past window.

Part of the ``cli`` layer, for CI and on-call: "is green worse than blue over the last 30
minutes?" without a rollout. Exit 0 pass, 1 fail (a regression shown, naming the metric),
3 inconclusive, 2 bad input.
"""

from __future__ import annotations

import re
import shlex
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError

from mlrollout.binding import bind_arguments, check_judge
from mlrollout.cli.lint import template_files
from mlrollout.cli.output import OutputFormat, print_document
from mlrollout.cli.report import check_report_file, write_report
from mlrollout.cli.templates import default_template_dirs
from mlrollout.controller.oneshot import OneShot, run_one_shot
from mlrollout.errors import ExitCode, SpecError
from mlrollout.metrics import PrometheusProvider, ProviderKind, ProviderSet, VariantScope
from mlrollout.model import parse_duration
from mlrollout.report import render_markdown, write_record
from mlrollout.report.oneshot import AnalysisCollector, quote_selector
from mlrollout.report.record import RunRef
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


def _text(document: dict[str, Any]) -> str:
    lines = [f"{document['result'].upper()}: {document['reason']}"]
    for m in document["metrics"]:
        lines.append(f"  {m['name']:<34} {m['verdict']:<13} {m.get('reason', '')}")
    return "\n".join(lines)


def _collector(
    job: OneShot,
    *,
    template: list[str],
    dirs: list[Path],
    args: list[str],
    since: str,
    interval: str,
) -> AnalysisCollector:
    """The report collector of this run, with the command that reproduces it (the
    Prometheus URL comes from ``MLROLLOUT_PROMETHEUS_URL``, never written into a report)."""
    policy = job.policy
    parts = ["mlrollout analyze", *(f"-T {shlex.quote(t)}" for t in template)]
    parts += [f"--templates {shlex.quote(str(d))}" for d in dirs]
    parts += [f"--arg {shlex.quote(a)}" for a in args]
    parts += [
        f"--baseline {quote_selector(job.baseline.labels)}",
        f"--canary {quote_selector(job.canary.labels)}",
        f"--since {shlex.quote(since)}",
        f"--interval {shlex.quote(interval)}",
        f"--judge {policy.judge.value}",
        f"--alpha {policy.alpha:g}",
        f"--beta {policy.beta:g}",
    ]
    if job.namespace:
        parts.append(f"-n {shlex.quote(job.namespace)}")
    if job.service:
        parts.append(f"--service {shlex.quote(job.service)}")
    run = RunRef(
        namespace=job.namespace,
        service=job.service,
        baseline=dict(job.baseline.labels),
        canary=dict(job.canary.labels),
        start=job.start,
        end=job.end,
    )
    return AnalysisCollector(run=run, judge=policy.judge.value, reproduce=[" ".join(parts)])


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
            None,
            "--templates",
            "-t",
            help="Template directory (default ./analyses, else the shipped library).",
        ),
        output: str = typer.Option("text", "--output", "-o", help="text, json, yaml or md."),
        report: Path | None = typer.Option(
            None, "--report", help="Also write the report to FILE.html or FILE.md."
        ),
        report_dir: Path | None = typer.Option(
            None, "--report-dir", help="Also keep the report record (JSON) in this directory."
        ),
    ) -> None:
        """Compare two live variants over a past window: exit 0 pass, 1 fail, 3 inconclusive."""
        if output not in ("text", "json", "yaml", "md"):
            raise SpecError(f"must be text, json, yaml or md, got {output!r}", path="--output")
        report_format = check_report_file(report)
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
        dirs = default_template_dirs(templates)
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
        collector = _collector(
            job,
            template=template,
            dirs=list(templates or []),
            args=arg or [],
            since=since,
            interval=interval,
        )
        try:
            look = run_one_shot(
                provider, job, observe=lambda lk, at, ws: collector.observe(lk, at=at, windows=ws)
            )
        finally:
            provider.close()
        decision = look.decision.value
        outcome = WORD.get(decision, "inconclusive")
        document = _document(look, job, outcome)
        record = collector.record(now=datetime.now(UTC))
        if report is not None and report_format is not None:
            write_report(record, report, report_format)
        if report_dir is not None:
            write_record(report_dir, record)
        if output in ("json", "yaml"):
            print_document(document, OutputFormat(output))
        else:
            typer.echo(render_markdown(record) if output == "md" else _text(document))
        raise typer.Exit(EXIT.get(decision, ExitCode.INCONCLUSIVE))
