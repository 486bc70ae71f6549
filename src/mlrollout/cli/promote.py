"""``mlrollout promote``: start or resume a release and see it through.

Part of the ``cli`` layer. Applies the rollout (from a file, or by name with a new image or
model), then sees it through with ``controller.driver.see_through``: it follows the
in-cluster controller when one holds the controller Lease, or drives the rollout itself
holding that Lease. Live progress on a terminal, one JSON
document with ``--output json``; ``--report-dir`` keeps every decision with its evidence and
the run's report record, ``--report FILE.html|.md`` renders that record at the end.
Exit codes: 0 promoted, 1 rolled back, 2 bad input, 3 paused or inconclusive, 4 refused by
a gate, 5 timed out.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import typer

from mlrollout.cli.cluster import ClusterOptions, cluster_command, read_rollout
from mlrollout.cli.lint import template_files
from mlrollout.cli.output import OUTPUT, OutputFormat, print_document
from mlrollout.cli.platforms import PLATFORM_HELP, Platform
from mlrollout.cli.promote_local import (
    LocalRun,
    choose_platform,
    promote_local,
    refuse_cluster_options,
)
from mlrollout.cli.report import ReportFormat, check_report_file, write_report
from mlrollout.cli.status import status_document
from mlrollout.cli.templates import TEMPLATES, default_template_dirs
from mlrollout.controller.driver import apply_rollout, see_through
from mlrollout.core.decision import Decision
from mlrollout.errors import DeadlineError, ExitCode, SpecError
from mlrollout.kube import (
    Intent,
    KubeClient,
    RolloutStore,
    StoredRollout,
)
from mlrollout.model import ImageRef, parse_duration
from mlrollout.report import ReportRecord, collect_rollout, write_record
from mlrollout.spec import (
    AnalysisTemplate,
    ModelRollout,
    check_references,
    load_file,
    load_object,
    load_paths,
)
from mlrollout.spec.loader import Document
from mlrollout.spec.status import Phase

__all__ = [
    "EXIT_BY_PHASE",
    "LEASE_NAMESPACE",
    "TIMEOUT",
    "WAIT",
    "Progress",
    "finish",
    "parse_timeout",
    "register",
    "see_release_through",
    "template_library",
    "with_release",
]

_FILE_SUFFIXES = {".yaml", ".yml", ".json"}
_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")

EXIT_BY_PHASE = {
    Phase.SUCCEEDED: ExitCode.OK,
    Phase.ROLLED_BACK: ExitCode.ROLLED_BACK,
    Phase.ABORTED: ExitCode.ROLLED_BACK,
    Phase.FAILED: ExitCode.ROLLED_BACK,
    Phase.PAUSED: ExitCode.INCONCLUSIVE,
    Phase.REFUSED: ExitCode.REFUSED,
}


def _templates(dirs: list[Path], extra: dict[str, AnalysisTemplate]) -> dict[str, AnalysisTemplate]:
    library = load_paths(template_files(dirs))
    if library.errors:
        raise library.errors[0]
    return {**library.templates, **extra}


WAIT = typer.Option(
    True, "--wait/--no-wait", help="See the release through (default), or only start it."
)
TIMEOUT = typer.Option("2h", "--timeout", help="Give up after this long (exit 5).")
LEASE_NAMESPACE = typer.Option(
    None, "--lease-namespace", help="Namespace of the controller Lease (default: the rollout's)."
)
"""``--wait``, ``--timeout`` and ``--lease-namespace``: shared by the commands that see a
release through (``promote``, ``undo``)."""


def parse_timeout(text: str) -> timedelta:
    """``--timeout``'s duration; a malformed one is bad input naming the flag."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise SpecError(str(exc), path="--timeout") from None


def template_library(
    templates: list[Path] | None, extra: dict[str, AnalysisTemplate] | None = None
) -> dict[str, AnalysisTemplate]:
    """The ``--templates`` directories (default: the shipped library), loaded."""
    return _templates(default_template_dirs(templates), extra or {})


def _load_target(target: str) -> tuple[ModelRollout | None, dict[str, AnalysisTemplate], str]:
    """A file path gives a rollout (and its templates); anything else is a rollout name."""
    path = Path(target)
    if not path.exists():
        if "/" in target or os.sep in target or path.suffix.lower() in _FILE_SUFFIXES:
            # Looks like a path, not a rollout name: a typo must not become a cluster lookup.
            raise SpecError("no such file", source=target)
        if not _NAME.fullmatch(target):
            raise SpecError(
                f"{target!r} is neither a file nor a rollout name (lowercase DNS-1123)",
                path="TARGET",
            )
        return None, {}, target
    documents = load_file(path)
    rollouts = [d for d in documents if isinstance(d.resource, ModelRollout)]
    if len(rollouts) != 1:
        raise SpecError(f"expected exactly one ModelRollout, found {len(rollouts)}", source=target)
    own = {
        d.resource.name: d.resource for d in documents if isinstance(d.resource, AnalysisTemplate)
    }
    rollout = rollouts[0].resource
    assert isinstance(rollout, ModelRollout)
    return rollout, own, rollout.name


def _check_release_options(
    image: str | None, model_uri: str | None, model_sha256: str | None
) -> None:
    """Refuse a bad ``--image``/``--model-*`` before any request to the cluster."""
    if (model_uri is None) != (model_sha256 is None):
        raise SpecError("give --model-uri and --model-sha256 together", path="--model-uri")
    if image is not None:
        try:
            ImageRef.parse(image)
        except ValueError as exc:
            raise SpecError(str(exc), path="--image") from None
    if model_sha256 is not None and not re.fullmatch(r"[0-9a-f]{64}", model_sha256):
        raise SpecError(
            f"must be 64 lowercase hex digits, got {model_sha256!r}", path="--model-sha256"
        )


def with_release(
    obj: dict[str, Any], image: str | None, model_uri: str | None, model_sha256: str | None
) -> dict[str, Any]:
    """``obj`` with the release the options give (validated), or unchanged without any."""
    if image is None and model_uri is None and model_sha256 is None:
        return obj
    _check_release_options(image, model_uri, model_sha256)
    release = dict(obj["spec"]["release"])
    if image is not None:
        release["image"] = image
    if model_uri is not None:
        release["model"] = {"uri": model_uri, "sha256": model_sha256}
    changed = {**obj, "spec": {**obj["spec"], "release": release}}
    # Validated here, before anything is sent: bad input changes nothing in the cluster.
    load_object(changed, source="--image/--model-uri/--model-sha256")
    return changed


class Progress:
    """Live progress lines, the ``--report-dir`` decision log and the run's report record."""

    def __init__(
        self, *, output: OutputFormat, report_dir: Path | None, keep_record: bool = False
    ) -> None:
        self.output = output
        self.report: Path | None = None
        self.report_dir = report_dir
        self.keep_record = keep_record or report_dir is not None
        self.record: ReportRecord | None = None
        self.last = ""
        if report_dir is not None:
            report_dir.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            self.report = report_dir / f"decisions-{stamp}.jsonl"

    def decision(self, stored: StoredRollout, decision: Decision) -> None:
        if self.report is not None:
            record = {
                "time": datetime.now(UTC).isoformat(),
                "phase": stored.status.phase.value,
                "step": stored.status.current_step,
                "reason": decision.reason,
                "actions": [{"type": type(a).__name__, **vars(a)} for a in decision.actions],
                "traffic": stored.status.traffic.model_dump(
                    mode="json", by_alias=True, exclude_none=True
                ),
                "analysis": _look_json(stored),
            }
            with self.report.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, default=str, sort_keys=True) + "\n")
        self.change(stored)

    def collect(self, stored: StoredRollout) -> None:
        """Grow the run's report record (and rewrite it in ``--report-dir``)."""
        if not self.keep_record:
            return
        self.record = collect_rollout(
            self.record,
            rollout=stored.rollout,
            status=stored.status,
            generation=stored.generation,
            uid=str(stored.raw["metadata"].get("uid", "")),
            now=datetime.now(UTC),
        )
        if self.report_dir is not None:
            write_record(self.report_dir, self.record)

    def change(self, stored: StoredRollout) -> None:
        self.collect(stored)
        status = stored.status
        line = f"{status.phase.value}: {status.message}"
        if line != self.last and self.output is OutputFormat.TEXT:
            applied = status.traffic.applied
            weight = f" [{applied.canary_env} {applied.canary_percent:g}%]" if applied else ""
            typer.echo(f"{datetime.now(UTC):%H:%M:%S} {line}{weight}")
        self.last = line


def register(app: typer.Typer) -> None:
    """Add ``promote``."""

    @app.command("promote")
    @cluster_command
    def promote(
        target: str = typer.Argument(
            ..., help="A ModelRollout YAML file, or the name of a rollout in the cluster."
        ),
        image: str | None = typer.Option(
            None, "--image", help="Release this image (repo@sha256:<64 hex>)."
        ),
        model_uri: str | None = typer.Option(None, "--model-uri", help="Model artifact URI."),
        model_sha256: str | None = typer.Option(
            None, "--model-sha256", help="Model artifact SHA-256 (64 hex)."
        ),
        wait: bool = WAIT,
        timeout: str = TIMEOUT,
        full: bool = typer.Option(
            False, "--full", help="Skip the remaining steps and promote fully."
        ),
        report_dir: Path | None = typer.Option(
            None,
            "--report-dir",
            help="Keep every decision (JSON lines) and the run's report record (JSON).",
        ),
        report: Path | None = typer.Option(
            None, "--report", help="Write the run's report to FILE.html or FILE.md at the end."
        ),
        templates: list[Path] = TEMPLATES,
        lease_namespace: str | None = LEASE_NAMESPACE,
        output: OutputFormat = OUTPUT,
        platform: Platform | None = typer.Option(
            None,
            "--platform",
            help=PLATFORM_HELP,
        ),
        state_dir: Path | None = typer.Option(
            None, "--state-dir", help="Local platform: the state directory."
        ),
        port: int = typer.Option(
            0, "--port", min=0, max=65535, help="Local platform: the proxy's port (0: any free)."
        ),
        *,
        cluster: ClusterOptions,
    ) -> None:
        """Start or resume a release; exit 0 promoted, 1 rolled back, 3 paused, 4 refused."""
        limit = parse_timeout(timeout)
        report_format = check_report_file(report)
        _check_release_options(image, model_uri, model_sha256)
        rollout, own, name = _load_target(target)
        library = template_library(templates, own)
        if choose_platform(platform, rollout) is Platform.LOCAL:
            run = LocalRun(
                state_dir=state_dir,
                port=port,
                timeout=limit,
                full=full,
                release={"image": image, "model_uri": model_uri, "model_sha256": model_sha256},
                report_dir=report_dir,
            )
            _promote_locally(
                target,
                rollout,
                name,
                library,
                namespace=cluster.namespace,
                run=run,
                report=(report, report_format),
                output=output,
                cluster=(cluster.kubeconfig, cluster.context, lease_namespace, wait),
            )
            return
        for value, option in ((state_dir, "--state-dir"), (port or None, "--port")):
            if value is not None:
                raise SpecError("is a local platform option (--platform local)", path=option)
        with cluster.client() as client:
            if rollout is not None:
                obj = _checked_object(rollout, target, library, cluster.namespace)
                stored = apply_rollout(client, with_release(obj, image, model_uri, model_sha256))
            else:
                ns = cluster.resolved_namespace()
                current = read_rollout(RolloutStore(client), ns, name).raw
                stored = apply_rollout(
                    client, with_release(current, image, model_uri, model_sha256)
                )
                if stored.status.phase is Phase.PAUSED:
                    RolloutStore(client).request(ns, name, Intent.PROMOTE)
            progress = Progress(
                output=output, report_dir=report_dir, keep_record=report is not None
            )
            see_release_through(
                client,
                cluster,
                stored,
                wait=wait,
                templates=library,
                timeout=limit,
                full=full,
                lease_namespace=lease_namespace,
                progress=progress,
                report=(report, report_format),
            )


def see_release_through(
    client: KubeClient,
    options: ClusterOptions,
    stored: StoredRollout,
    *,
    wait: bool,
    templates: dict[str, AnalysisTemplate],
    timeout: timedelta,
    full: bool,
    lease_namespace: str | None,
    progress: Progress,
    report: tuple[Path | None, ReportFormat | None] = (None, None),
) -> None:
    """The end of ``promote`` and ``undo`` once the release is applied: only start it
    (``--no-wait``, exit 0) or see it through, write the report (``--report``: file and
    format), print the outcome and exit with the code of the phase it settled in."""
    path, form = report
    if not wait:
        _write_report(progress, stored, path, form)
        finish(stored, progress.output, ExitCode.OK)
    try:
        outcome = see_through(
            client,
            stored,
            templates=templates,
            timeout=timeout,
            full=full,
            lease_namespace=lease_namespace or stored.rollout.namespace,
            on_change=progress.change,
            on_pass=progress.decision,
        )
    except DeadlineError:
        # Timed out (exit 5): the report says how far the rollout got.
        if path is not None and form is not None and progress.record:
            write_report(progress.record, path, form)
        raise
    code = EXIT_BY_PHASE.get(outcome.stored.status.phase, ExitCode.INCONCLUSIVE)
    _write_report(progress, outcome.stored, path, form)
    finish(outcome.stored, progress.output, code, driven=outcome.driven)


def _promote_locally(
    target: str,
    rollout: ModelRollout | None,
    name: str,
    library: dict[str, AnalysisTemplate],
    *,
    namespace: str | None,
    run: LocalRun,
    report: tuple[Path | None, ReportFormat | None],
    output: OutputFormat,
    cluster: tuple[str | None, str | None, str | None, bool],
) -> None:
    kubeconfig, context, lease_namespace, wait = cluster
    refuse_cluster_options(
        kubeconfig=kubeconfig, context=context, lease_namespace=lease_namespace, wait=wait
    )
    obj = _checked_object(rollout, target, library, namespace) if rollout is not None else None
    final, code, record = promote_local(
        target=target,
        rollout_obj=obj,
        name=name,
        namespace=namespace,
        templates=library,
        run=run,
    )
    path, form = report
    if path is not None and form is not None and record is not None:
        write_report(record, path, form)
    finish(final, output, code, driven=True, local=True)


def _write_report(
    progress: Progress, stored: StoredRollout, path: Path | None, form: ReportFormat | None
) -> None:
    progress.collect(stored)
    if path is not None and form is not None and progress.record is not None:
        write_report(progress.record, path, form)


def _checked_object(
    rollout: ModelRollout,
    target: str,
    library: dict[str, AnalysisTemplate],
    namespace: str | None,
) -> dict[str, Any]:
    """The rollout file as the object to apply (in ``--namespace`` when given), once every
    template it names is found."""
    problems = check_references([Document(target, None, rollout)], library)
    if problems:
        raise problems[0]
    obj = rollout.model_dump(mode="json", by_alias=True, exclude_none=True)
    obj["metadata"] = {"name": rollout.name, "namespace": namespace or rollout.namespace}
    return obj


def finish(
    stored: StoredRollout,
    output: OutputFormat,
    code: int,
    *,
    driven: bool | None = None,
    local: bool = False,
) -> NoReturn:
    """Print the outcome (a line, or the status document with ``exitCode``) and exit."""
    if output.machine:
        document = status_document(stored)
        document["exitCode"] = code
        if driven is not None:
            document["drivenBy"] = "this process" if driven else "the in-cluster controller"
        print_document(document, output)
    else:
        status = stored.status
        typer.echo(
            f"{stored.rollout.namespace}/{stored.rollout.name}: {status.phase.value}"
            f" — {status.message}"
        )
    if stored.status.phase.retryable:
        # promote does not start a settled release again: that is retry's job.
        name, ns = stored.rollout.name, stored.rollout.namespace
        again = (
            "release a changed image or model, or use a new --state-dir"
            if local
            else f"mlrollout retry {name} -n {ns}"
        )
        typer.echo(
            f"{ns}/{name}: this release ended {stored.status.phase.value}; to run it again "
            f"after fixing the cause: {again}",
            err=True,
        )
    raise typer.Exit(code)


def _look_json(stored: StoredRollout) -> dict[str, Any] | None:
    analysis = stored.status.analysis
    if analysis is None or analysis.look is None:
        return None
    return analysis.look.model_dump(mode="json", by_alias=True)
