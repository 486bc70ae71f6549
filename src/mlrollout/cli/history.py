"""``mlrollout history`` and ``mlrollout undo``: the recorded revisions, and going back to one.

Part of the ``cli`` layer. ``history`` lists ``status.revisions`` (every release that reached
Succeeded, newest last). ``undo`` writes a revision's release back into the spec through
``controller.undo`` and then sees it through exactly as ``promote`` does (follow the
in-cluster controller when one holds the Lease, else drive it here): the gates run again,
so a release whose key has since been removed from trust is refused (exit 4) and nothing is
deployed. Exit codes as ``promote``; an unknown revision is bad input (exit 2).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
import yaml

from mlrollout.cli.cluster import ClusterOptions, cluster_command, read_rollout
from mlrollout.cli.output import OUTPUT, OutputFormat, print_json
from mlrollout.cli.promote import (
    LEASE_NAMESPACE,
    TIMEOUT,
    WAIT,
    Progress,
    parse_timeout,
    see_release_through,
    template_library,
)
from mlrollout.cli.templates import TEMPLATES
from mlrollout.controller.undo import select_revision, write_undo
from mlrollout.kube import RolloutStore, StoredRollout
from mlrollout.model import format_instant
from mlrollout.spec.status import Revision

__all__ = ["history_document", "register", "render_history"]


class HistoryFormat(StrEnum):
    """``history --output`` values."""

    TEXT = "text"
    JSON = "json"
    YAML = "yaml"


def history_document(stored: StoredRollout) -> dict[str, Any]:
    """The revisions as one document (camelCase, as stored in the status)."""
    status = stored.status
    return {
        "name": stored.rollout.name,
        "namespace": stored.rollout.namespace,
        "revisionHistoryLimit": stored.rollout.spec.revision_history_limit,
        "phase": status.phase.value,
        "revisions": [
            r.model_dump(mode="json", by_alias=True, exclude_none=True) for r in status.revisions
        ],
    }


def _short(image: str) -> str:
    name, _, digest = image.partition("@")
    return f"{name.rsplit('/', 1)[-1]}@{digest[:19]}" if digest else image


def _gates(revision: Revision) -> str:
    verification = revision.verification
    return "verified" if verification.verified else (verification.reason_code or "unverified")


def _note(revision: Revision) -> str:
    notes = []
    if revision.undo_of is not None:
        notes.append(f"undo of {revision.undo_of}")
    if revision.skipped_analysis:
        notes.append("analysis skipped")
    return ", ".join(notes) or "-"


def render_history(stored: StoredRollout) -> str:
    """A table of revisions, oldest first; ``*`` marks the one the spec asks for now."""
    revisions = stored.status.revisions
    where = f"{stored.rollout.namespace}/{stored.rollout.name}"
    if not revisions:
        return f"{where}: no revisions recorded yet (a release is recorded when it succeeds)"
    release = stored.rollout.spec.release
    lines = [
        f"{'REV':<5} {'IMAGE':<46} {'MODEL':<14} {'GATES':<10} {'GEN':<5} "
        f"{'SUCCEEDED':<25} {'DRIVEN BY':<36} NOTE"
    ]
    for r in revisions:
        current = r.image == release.image and r.model_sha256 == release.model.sha256
        lines.append(
            f"{str(r.number) + ('*' if current else ''):<5} {_short(r.image):<46} "
            f"{r.model_sha256[:12]:<14} {_gates(r):<10} {r.generation or '-'!s:<5} "
            f"{format_instant(r.succeeded_at):<25} {r.driven_by or '-':<36} {_note(r)}"
        )
    lines.append(f"{where}: {stored.status.phase.value}; * marks the spec's release")
    return "\n".join(lines)


def _undo_line(stored: StoredRollout, revision: Revision, *, skip: bool) -> str:
    how = "gates, then straight to full weight" if skip else "gates, steps and analysis"
    return (
        f"{stored.rollout.namespace}/{stored.rollout.name}: releasing revision "
        f"{revision.number} ({_short(revision.image)}, model {revision.model_sha256[:12]}) "
        f"as generation {stored.generation}: {how}"
    )


def register(app: typer.Typer) -> None:
    """Add ``history`` and ``undo``."""

    @app.command("history")
    @cluster_command
    def history(
        name: str = typer.Argument(..., help="ModelRollout name."),
        output: HistoryFormat = typer.Option(
            HistoryFormat.TEXT, "--output", "-o", help="text, json or yaml."
        ),
        *,
        cluster: ClusterOptions,
    ) -> None:
        """List the releases that reached Succeeded (newest last; revisionHistoryLimit kept)."""
        with cluster.client() as client:
            stored = read_rollout(RolloutStore(client), cluster.resolved_namespace(), name)
        if output is HistoryFormat.JSON:
            print_json(history_document(stored))
        elif output is HistoryFormat.YAML:
            typer.echo(yaml.safe_dump(history_document(stored), sort_keys=False), nl=False)
        else:
            typer.echo(render_history(stored))

    @app.command("undo")
    @cluster_command
    def undo(
        name: str = typer.Argument(..., help="ModelRollout name."),
        to_revision: int | None = typer.Option(
            None,
            "--to-revision",
            min=1,
            help="Revision to release again (default: the latest one that is not the "
            "spec's current release).",
        ),
        skip_analysis: bool = typer.Option(
            False,
            "--skip-analysis",
            help="After the gates pass and the candidate is ready, go straight to full "
            "weight (no steps, no analysis). The gates are never skipped.",
        ),
        wait: bool = WAIT,
        timeout: str = TIMEOUT,
        templates: list[Path] = TEMPLATES,
        lease_namespace: str | None = LEASE_NAMESPACE,
        output: OutputFormat = OUTPUT,
        *,
        cluster: ClusterOptions,
    ) -> None:
        """Release a recorded revision again; exit 0 promoted, 1 rolled back, 4 refused."""
        limit = parse_timeout(timeout)
        library = template_library(templates)
        with cluster.client() as client:
            current = read_rollout(RolloutStore(client), cluster.resolved_namespace(), name)
            revision = select_revision(current, to_revision)
            stored = write_undo(client, current, revision=revision, skip_analysis=skip_analysis)
            if output is OutputFormat.TEXT:
                typer.echo(_undo_line(stored, revision, skip=skip_analysis))
            see_release_through(
                client,
                cluster,
                stored,
                wait=wait,
                templates=library,
                timeout=limit,
                full=False,
                lease_namespace=lease_namespace,
                progress=Progress(output=output, report_dir=None),
            )
