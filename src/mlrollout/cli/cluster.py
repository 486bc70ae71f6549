"""Cluster connection options shared by the commands that talk to Kubernetes.

Part of the ``cli`` layer: ``--kubeconfig``, ``--context`` and ``--namespace`` with kubectl's
defaults (``KUBECONFIG``, the current context, the context's namespace or ``default``).
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer

from mlrollout.errors import NotFoundError, SpecError

if TYPE_CHECKING:
    # The Kubernetes client takes most of a second to import: loaded when a command connects.
    from mlrollout.kube import KubeClient, RolloutStore
    from mlrollout.kube.rollouts import StoredRollout

__all__ = [
    "CONTEXT",
    "KUBECONFIG",
    "NAMESPACE",
    "ClusterOptions",
    "cluster_command",
    "read_rollout",
]

KUBECONFIG = typer.Option(
    None,
    "--kubeconfig",
    envvar="KUBECONFIG",
    help="Path to the kubeconfig file (default: $KUBECONFIG or "
    "~/.kube/config; in a Pod, the service account).",
)
CONTEXT = typer.Option(None, "--context", help="kubeconfig context to use.")
NAMESPACE = typer.Option(
    None, "--namespace", "-n", help="Namespace (default: the context's namespace, else 'default')."
)


@dataclass(frozen=True)
class ClusterOptions:
    """Where to connect and which namespace to use."""

    kubeconfig: str | None
    context: str | None
    namespace: str | None

    @contextmanager
    def client(self) -> Iterator[KubeClient]:
        """A connected client, closed afterwards."""
        from mlrollout.kube import connect

        client = connect(kubeconfig=self.kubeconfig, context=self.context)
        try:
            yield client
        finally:
            client.close()

    def resolved_namespace(self) -> str:
        """The namespace to use: the option, the context's, or ``default``."""
        if self.namespace:
            return self.namespace
        return _context_namespace(self.kubeconfig, self.context) or "default"


_CLUSTER_PARAMETERS = tuple(
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=str | None)
    for name, option in (("kubeconfig", KUBECONFIG), ("context", CONTEXT), ("namespace", NAMESPACE))
)


def cluster_command(func: Callable[..., None]) -> Callable[..., None]:
    """Give a command ``--kubeconfig``, ``--context`` and ``--namespace/-n``, its last options.

    ``func`` takes them as one ``cluster: ClusterOptions`` parameter; the command typer sees
    has the three options in its place, after ``func``'s own.
    """
    signature = inspect.signature(func, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "cluster"]
    parameters = [*own, *_CLUSTER_PARAMETERS]

    @functools.wraps(func)
    def command(
        *args: Any, kubeconfig: str | None, context: str | None, namespace: str | None, **kw: Any
    ) -> None:
        func(*args, cluster=ClusterOptions(kubeconfig, context, namespace), **kw)

    command.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
    return command


def _context_namespace(kubeconfig: str | None, context: str | None) -> str | None:
    from mlrollout.spec.environment import EnvironmentSettings

    path = (
        kubeconfig
        or EnvironmentSettings.from_environment().kubeconfig
        or os.path.expanduser("~/.kube/config")
    ).split(os.pathsep)[0]
    try:
        import yaml

        with open(path, encoding="utf-8") as handle:
            config = yaml.safe_load(handle) or {}
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict):
        return None  # not a kubeconfig: connecting reports it, naming the file
    name = context or config.get("current-context")
    for entry in config.get("contexts") or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            value = (entry.get("context") or {}).get("namespace")
            return str(value) if value else None
    return None


def read_rollout(store: RolloutStore, namespace: str, name: str) -> StoredRollout:
    """Read a rollout; a missing one is bad input (exit 2) naming what was looked for."""
    try:
        return store.read(namespace, name)
    except NotFoundError:
        raise SpecError(
            f"no ModelRollout {name!r} in namespace {namespace!r}", path="NAME"
        ) from None
