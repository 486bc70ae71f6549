"""``mlrollout promote`` on the local platform: the same release, no cluster.

Part of the ``cli`` layer. The platform is chosen by ``--platform local|kubernetes`` or by
the rollout file's annotation ``mlrollout.io/platform`` (the flag wins only when they
agree; a conflict is bad input). On the local platform the rollout lives in the state
directory (``--state-dir``), its environments are model-server processes behind the local
proxy (``--port``), its metrics are scraped from them, and the command drives it with the
same controller loop as on a cluster while it runs — so ``--no-wait`` (nothing would drive
it) and the cluster options (``--context``, ``--lease-namespace``, a ``--kubeconfig``
other than ``$KUBECONFIG``) are refused.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from mlrollout.cli.platforms import PLATFORM_ANNOTATION, Platform
from mlrollout.errors import ExitCode, NotFoundError, SpecError
from mlrollout.spec import AnalysisTemplate, ModelRollout
from mlrollout.spec.environment import EnvironmentSettings

__all__ = ["PLATFORM_ANNOTATION", "LocalRun", "Platform", "choose_platform", "promote_local"]


def choose_platform(flag: Platform | None, rollout: ModelRollout | None) -> Platform:
    """The platform the flag and the file's annotation ask for (kubernetes by default)."""
    text = rollout.metadata.annotations.get(PLATFORM_ANNOTATION) if rollout else None
    annotated = None
    if text is not None:
        try:
            annotated = Platform(text)
        except ValueError:
            raise SpecError(
                f"must be 'local' or 'kubernetes', got {text!r}",
                path=f"metadata.annotations[{PLATFORM_ANNOTATION!r}]",
            ) from None
    if flag is not None and annotated is not None and flag is not annotated:
        raise SpecError(
            f"the file asks for the {annotated.value} platform ({PLATFORM_ANNOTATION}), "
            f"--platform for {flag.value}",
            path="--platform",
        )
    return flag or annotated or Platform.KUBERNETES


def refuse_cluster_options(
    *, kubeconfig: str | None, context: str | None, lease_namespace: str | None, wait: bool
) -> None:
    """Bad input: options the local platform cannot honour."""
    if not wait:
        raise SpecError(
            "the local platform runs only while promote does; --no-wait would leave the "
            "release undriven",
            path="--no-wait",
        )
    for value, option in ((context, "--context"), (lease_namespace, "--lease-namespace")):
        if value is not None:
            raise SpecError("is a cluster option; the local platform has no cluster", path=option)
    if kubeconfig is not None and kubeconfig != EnvironmentSettings.from_environment().kubeconfig:
        raise SpecError(
            "is a cluster option; the local platform has no cluster", path="--kubeconfig"
        )


@dataclass(frozen=True)
class LocalRun:
    """How ``promote`` runs a release on the local platform: where, how long, what."""

    state_dir: Path | None
    port: int
    timeout: timedelta
    full: bool
    release: dict[str, str | None]
    report_dir: Path | None


def promote_local(
    *,
    target: str,
    rollout_obj: dict[str, Any] | None,
    name: str,
    namespace: str | None,
    templates: dict[str, AnalysisTemplate],
    run: LocalRun,
) -> tuple[Any, int, Any]:
    """Apply and drive the rollout locally; (final rollout, exit code, report record)."""
    from mlrollout.cli.liveview import LiveView
    from mlrollout.cli.localrun import apply_local, drive_local, warm_up
    from mlrollout.cli.promote import EXIT_BY_PHASE, with_release
    from mlrollout.controller.local import LocalPlatform
    from mlrollout.controller.localchecks import check_local_rollout
    from mlrollout.local.processes import install_signal_handlers
    from mlrollout.local.statedir import default_state_dir
    from mlrollout.spec import check_references, load_object
    from mlrollout.spec.loader import Document
    from mlrollout.spec.status import Intent, Phase

    if rollout_obj is not None:  # refused before anything starts
        check_local_rollout(load_object(rollout_obj, source=target), source=target)  # type: ignore[arg-type]
    install_signal_handlers()
    root = run.state_dir or default_state_dir()
    base = Path(target).resolve().parent if rollout_obj is not None else Path.cwd()
    with LocalPlatform(root, port=run.port) as platform:
        by_name = rollout_obj is None
        if rollout_obj is None:
            ns = namespace or "default"
            try:
                current = platform.state.read(ns, name).raw
            except NotFoundError:
                raise SpecError(
                    f"no rollout {ns}/{name} in the state directory {str(root)!r}", path="TARGET"
                ) from None
            rollout_obj = {
                "apiVersion": current["apiVersion"],
                "kind": current["kind"],
                "metadata": {"name": name, "namespace": ns},
                "spec": current["spec"],
            }
        obj = with_release(rollout_obj, **run.release)
        rollout = load_object(obj, source=target)
        problems = check_references([Document(target, None, rollout)], templates)
        if problems:  # before anything runs, as on a cluster
            raise problems[0]
        stored = apply_local(platform, obj, source=target)
        if by_name and stored.status.phase is Phase.PAUSED:  # as on a cluster: resume it
            platform.state.request(stored.rollout.namespace, stored.rollout.name, Intent.PROMOTE)
            stored = platform.state.read(stored.rollout.namespace, stored.rollout.name)
        view = LiveView(sys.stderr)
        view.note(f"local platform in {root}: proxy {platform.proxy.url if platform.proxy else ''}")
        if not stored.status.phase.in_flight:
            view.note("warming up: the live environment serves traffic before the release")
        warm_up(platform, stored)
        final, record = drive_local(
            platform,
            stored,
            templates=templates,
            base=base,
            timeout=run.timeout,
            full=run.full,
            on_pass=view.update,
            report_dir=run.report_dir,
        )
        view.finish()
    code = EXIT_BY_PHASE.get(final.status.phase, ExitCode.INCONCLUSIVE)
    return final, code, record
