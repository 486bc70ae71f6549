"""``mlrollout lint``: validate rollouts and analysis templates, exit 0 or 2.

Part of the ``cli`` layer. Collects every problem across every file (it does not stop at
the first), checks cross-document references against the templates in the given files and
in ``--templates`` directories, and prints text or one JSON document.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from mlrollout.binding import bind_metrics, check_rollout, has_gate
from mlrollout.cli.output import OUTPUT, OutputFormat, print_document
from mlrollout.cli.templates import default_template_dirs
from mlrollout.errors import ExitCode, SpecError
from mlrollout.model.analysis import InconclusivePolicy
from mlrollout.spec import AnalysisTemplate, LoadResult, ModelRollout, check_references, load_paths
from mlrollout.spec.loader import Document
from mlrollout.spec.policy import JudgeKind

__all__ = ["lint_paths", "register", "template_files"]


def template_files(directories: list[Path]) -> list[Path]:
    """YAML files in the template directories (``*.yaml`` and ``*.yml``), sorted."""
    files: list[Path] = []
    for directory in directories:
        if not directory.is_dir():
            raise SpecError(
                "not a directory (expected a folder of AnalysisTemplates)", source=str(directory)
            )
        files += sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    return files


def lint_paths(
    paths: list[Path], template_dirs: list[Path]
) -> tuple[LoadResult, list[SpecError], dict[str, AnalysisTemplate]]:
    """Load ``paths`` and the template directories; return the result, the reference errors
    and every template found."""
    result = load_paths(paths)
    given = {p.resolve() for p in paths}
    extra = [p for p in template_files(template_dirs) if p.resolve() not in given]
    library = load_paths(extra)
    templates = {**library.templates, **result.templates}
    references = check_references(result.rollouts, templates)
    failed = {(e.source, e.document) for e in references}
    for doc in result.rollouts:
        if (doc.source, doc.index) in failed or not isinstance(doc.resource, ModelRollout):
            continue
        try:
            check_rollout(doc.resource, templates)
        except SpecError as exc:
            references.append(
                SpecError(exc.reason, source=doc.source, document=doc.index, path=exc.path)
            )
    return result, references, templates


def _describe(doc: Document) -> str:
    resource = doc.resource
    if isinstance(resource, ModelRollout):
        return f"ModelRollout {resource.namespace}/{resource.name}"
    assert isinstance(resource, AnalysisTemplate)
    return f"AnalysisTemplate {resource.name} ({len(resource.spec.metrics)} metrics)"


def _warnings(doc: Document, *, replicas: int, templates: dict[str, AnalysisTemplate]) -> list[str]:
    from mlrollout.traffic.reachable import compute_unreachable_weights

    resource = doc.resource
    if not isinstance(resource, ModelRollout):
        return []
    out = [u.describe() for u in compute_unreachable_weights(resource, replicas=replicas)]
    if resource.spec.gates.signature is None:
        out.append(
            "spec.gates.signature: not set; images are deployed without signature verification"
        )
    analysis = resource.spec.analysis
    if analysis is None:
        out.append("spec.analysis: not set; traffic moves without any analysis")
    else:
        if analysis.on_inconclusive is InconclusivePolicy.PROMOTE:
            out.append(
                "spec.analysis.onInconclusive: promote releases a candidate the judge could not "
                "clear at maxDuration (never one without usable data: that pauses)"
            )
        out += [
            f"spec.analysis.templates[{i}]: {ref.name} is dryRun; its metrics are measured "
            "and reported but never decide"
            for i, ref in enumerate(analysis.templates)
            if ref.dry_run
        ]
        try:
            bound = bind_metrics(resource, templates)
        except SpecError:
            bound = []  # a missing template is reported as an error already
        if analysis.judge is JudgeKind.SEQUENTIAL and bound and not has_gate(bound):
            out.append(
                "spec.analysis.templates: no metric is a gate (role: gate); the analysis can "
                "roll back but never promotes, and ends at maxDuration by onInconclusive"
            )
    return out


def _location(doc: Document) -> str:
    return doc.source + (f"#{doc.index}" if doc.index is not None else "")


def register(app: typer.Typer) -> None:
    """Add the ``lint`` command."""

    @app.command("lint")
    def lint(
        files: list[Path] = typer.Argument(
            ...,
            help="YAML files with ModelRollouts and "
            "AnalysisTemplates (multi-document files allowed).",
        ),
        templates: list[Path] = typer.Option(
            None,
            "--templates",
            "-t",
            help="Directory of AnalysisTemplates that rollouts may reference "
            "(repeatable; default: ./analyses when it exists, else the shipped library).",
        ),
        replicas: int = typer.Option(
            4,
            "--replicas",
            min=1,
            max=10_000,
            help="Stable pods assumed when checking which weights the replicas router can give.",
        ),
        policy: list[Path] = typer.Option(
            None,
            "--policy",
            help="ClusterReleasePolicy file: report what it would refuse (repeatable).",
        ),
        output: OutputFormat = OUTPUT,
    ) -> None:
        """Validate rollouts and analysis templates; exit 0 when clean, 2 otherwise."""
        dirs = default_template_dirs(templates)
        result, references, library = lint_paths(files, dirs)
        if policy:
            from mlrollout.cli.policy_lint import load_policy_files, policy_refusals

            references += policy_refusals(result, load_policy_files(list(policy)))
        errors = [*result.errors, *references]
        if output.machine:
            report = _json_report(files, result, errors, replicas=replicas, templates=library)
            print_document(report, output)
        else:
            failed = {(e.source, e.document) for e in references}
            for doc in result.documents:
                if (doc.source, doc.index) in failed:
                    continue
                typer.echo(f"{_location(doc)}: ok: {_describe(doc)}")
                for warning in _warnings(doc, replicas=replicas, templates=library):
                    typer.echo(f"{_location(doc)}: warning: {warning}")
            for error in errors:
                typer.echo(str(error), err=True)
        if errors:
            raise typer.Exit(ExitCode.BAD_INPUT)


def _json_report(
    files: list[Path],
    result: LoadResult,
    errors: list[SpecError],
    *,
    replicas: int,
    templates: dict[str, AnalysisTemplate],
) -> dict[str, Any]:
    return {
        "ok": not errors,
        "files": [str(f) for f in files],
        "documents": [
            {
                "source": d.source,
                "document": d.index,
                "kind": d.resource.kind,
                "name": d.resource.metadata.name,
                "warnings": _warnings(d, replicas=replicas, templates=templates),
            }
            for d in result.documents
        ],
        "errors": [
            {
                "source": e.source,
                "document": e.document,
                "path": e.path,
                "reason": e.reason,
                "message": str(e),
            }
            for e in errors
        ],
    }
