"""``mlrollout report NAME|FILE|DIR``: render a report record as HTML, Markdown or JSON.

Part of the ``cli`` layer. A path names a record file or a directory of them (the newest
``report-*.json``, as ``promote --report-dir`` and ``analyze --report-dir`` write them);
anything else is a ModelRollout in the cluster, whose ``status.report`` names the ConfigMap
holding its current run's record. Also the one place that turns ``--report FILE.html|.md``
into a format for ``promote`` and ``analyze`` (any other suffix is bad input, exit 2).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from mlrollout.cli.cluster import ClusterOptions, cluster_command, read_rollout
from mlrollout.errors import NotFoundError, SpecError
from mlrollout.kube import RolloutStore
from mlrollout.kube.kinds import CONFIGMAPS
from mlrollout.report import ReportRecord, decode_config_map, load_record, render_markdown

__all__ = ["ReportFormat", "check_report_file", "register", "render", "write_report"]


class ReportFormat(StrEnum):
    """How a record is rendered."""

    HTML = "html"
    MD = "md"
    JSON = "json"


_SUFFIXES = {".html": ReportFormat.HTML, ".htm": ReportFormat.HTML, ".md": ReportFormat.MD}


def check_report_file(path: Path | None, *, option: str = "--report") -> ReportFormat | None:
    """The format a ``--report`` file asks for by its suffix; bad input when unknown."""
    if path is None:
        return None
    chosen = _SUFFIXES.get(path.suffix.lower())
    if chosen is None:
        raise SpecError(f"must end in .html or .md, got {str(path)!r}", path=option)
    if not path.parent.exists():
        raise SpecError(f"directory {str(path.parent)!r} does not exist", path=option)
    return chosen


def render(record: ReportRecord, form: ReportFormat) -> str:
    """The record in ``form`` (HTML imports matplotlib and Jinja2 only when asked)."""
    if form is ReportFormat.HTML:
        from mlrollout.report.html import render_html

        return render_html(record)
    if form is ReportFormat.MD:
        return render_markdown(record) + "\n"
    return record.to_json() + "\n"


def write_report(record: ReportRecord, path: Path, form: ReportFormat) -> None:
    """Render ``record`` into ``path``."""
    path.write_text(render(record, form), encoding="utf-8")


def _from_cluster(options: ClusterOptions, name: str) -> ReportRecord:
    namespace = options.resolved_namespace()
    with options.client() as client:
        stored = read_rollout(RolloutStore(client), namespace, name)
        reference = stored.status.report
        if reference is None:
            raise SpecError(
                f"ModelRollout {namespace}/{name} has no report yet (status.report is empty)",
                path="NAME",
            )
        try:
            obj = client.get(CONFIGMAPS, reference.config_map, namespace)
        except NotFoundError:
            raise SpecError(
                f"the report ConfigMap {namespace}/{reference.config_map} named by "
                f"{name}'s status.report does not exist",
                path="NAME",
            ) from None
    return decode_config_map(obj)


def register(app: typer.Typer) -> None:
    """Add ``report``."""

    @app.command("report")
    @cluster_command
    def report(
        target: str = typer.Argument(
            ..., help="A ModelRollout name, a record file, or a directory of records."
        ),
        form: ReportFormat | None = typer.Option(
            None, "--format", help="html, md or json (default: from -o's suffix, else md)."
        ),
        out: Path | None = typer.Option(
            None, "--output", "-o", help="Write to this file instead of stdout."
        ),
        *,
        cluster: ClusterOptions,
    ) -> None:
        """Render a run's report record: HTML for people, Markdown for CI, JSON for tools."""
        if form is None:
            suffix = out.suffix.lower() if out is not None else ""
            form = {".json": ReportFormat.JSON, **_SUFFIXES}.get(suffix, ReportFormat.MD)
        if out is not None and not out.parent.exists():
            raise SpecError(f"directory {str(out.parent)!r} does not exist", path="--output")
        path = Path(target)
        if path.exists():
            record = load_record(path)
        elif "/" in target or path.suffix.lower() in (".json", ".html", ".md"):
            # Looks like a path, not a rollout name: a typo must not become a cluster lookup.
            raise SpecError("no such file or directory", source=target)
        else:
            record = _from_cluster(cluster, target)
        text = render(record, form)
        if out is None:
            typer.echo(text, nl=False)
        else:
            out.write_text(text, encoding="utf-8")
