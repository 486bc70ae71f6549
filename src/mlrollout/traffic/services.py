"""The Service a Service-based router works through: its selector, and the pod template
labels of the environments it must select.

Part of the ``traffic`` layer, shared by ``ServiceSelectorRouter`` (the selector names one
environment) and ``ReplicasRouter`` (the selector matches both). A missing Service is a
``RouterError`` naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlrollout.errors import NotFoundError, RouterError
from mlrollout.kube import KubeClient
from mlrollout.kube.kinds import SERVICES

__all__ = ["fetch_service_selector", "pod_template_labels"]


def fetch_service_selector(client: KubeClient, namespace: str, service: str) -> dict[str, str]:
    """The Service's ``spec.selector`` (empty when it has none)."""
    try:
        found = client.get(SERVICES, service, namespace)
    except NotFoundError as exc:
        raise RouterError(f"Service {namespace}/{service} not found") from exc
    return dict((found.get("spec") or {}).get("selector") or {})


def pod_template_labels(deployment: Mapping[str, Any]) -> dict[str, str]:
    """The labels of a Deployment's pod template."""
    template = (deployment.get("spec") or {}).get("template") or {}
    return dict((template.get("metadata") or {}).get("labels") or {})
