"""The shipped RBAC manifests (``examples/deploy/rbac.yaml``), retargeted to one test.

Part of the ``controlplane`` test package. The manifests name the namespaces
``mlrollout-system`` (the controller's) and ``ml-prod`` (an ML namespace); a test maps both
onto its own namespace and suffixes the cluster-scoped names so tests do not share roles.
The rules themselves are applied exactly as shipped, or with one rule removed
(``RuleRef``) to show that the controller needs it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import yaml

__all__ = ["RBAC_PATH", "RuleRef", "apply_rbac", "load_rbac", "shipped_rules"]

RBAC_PATH = Path(__file__).resolve().parents[2] / "examples" / "deploy" / "rbac.yaml"
_NAMESPACES = ("mlrollout-system", "ml-prod")
_CLUSTER_KINDS = ("ClusterRole", "ClusterRoleBinding")


@dataclass(frozen=True)
class RuleRef:
    """Rule ``index`` of the role ``role`` (kind/name) in the shipped manifests."""

    role: str
    index: int

    def __str__(self) -> str:
        return f"{self.role}#{self.index}"


def load_rbac() -> list[dict[str, Any]]:
    """The shipped manifests as dicts."""
    return [d for d in yaml.safe_load_all(RBAC_PATH.read_text()) if d]


def shipped_rules() -> list[tuple[RuleRef, dict[str, Any]]]:
    """Every rule of every role in the shipped manifests."""
    out = []
    for doc in load_rbac():
        if doc["kind"] in ("Role", "ClusterRole"):
            role = f"{doc['kind']}/{doc['metadata']['name']}"
            out += [(RuleRef(role, i), rule) for i, rule in enumerate(doc["rules"])]
    return out


def _retarget(doc: dict[str, Any], *, namespace: str, suffix: str) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    meta = doc["metadata"]
    if doc["kind"] in _CLUSTER_KINDS:
        meta["name"] = f"{meta['name']}-{suffix}"
    elif meta.get("namespace") in _NAMESPACES:
        meta["namespace"] = namespace
    if doc["kind"] in ("RoleBinding", "ClusterRoleBinding"):
        if doc["roleRef"]["kind"] == "ClusterRole":
            doc["roleRef"]["name"] = f"{doc['roleRef']['name']}-{suffix}"
        for subject in doc["subjects"]:
            subject["namespace"] = namespace
    return doc


def apply_rbac(
    api_client: kubernetes.client.ApiClient, *, namespace: str, without: RuleRef | None = None
) -> list[dict[str, Any]]:
    """Create the shipped objects for ``namespace`` (minus the rule ``without``)."""
    rbac = kubernetes.client.RbacAuthorizationV1Api(api_client)
    core = kubernetes.client.CoreV1Api(api_client)
    created = []
    for original in load_rbac():
        doc = _retarget(original, namespace=namespace, suffix=namespace)
        role = f"{original['kind']}/{original['metadata']['name']}"
        if without is not None and role == without.role:
            del doc["rules"][without.index]
        kind, ns = doc["kind"], doc["metadata"].get("namespace")
        if kind == "ServiceAccount":
            core.create_namespaced_service_account(ns, doc)
        elif kind == "ClusterRole":
            rbac.create_cluster_role(doc)
        elif kind == "ClusterRoleBinding":
            rbac.create_cluster_role_binding(doc)
        elif kind == "Role":
            rbac.create_namespaced_role(ns, doc)
        elif kind == "RoleBinding":
            rbac.create_namespaced_role_binding(ns, doc)
        else:
            raise AssertionError(f"{RBAC_PATH}: unexpected kind {kind}")
        created.append(doc)
    return created


def delete_cluster_objects(api_client: kubernetes.client.ApiClient, *, namespace: str) -> None:
    """Delete the cluster-scoped objects ``apply_rbac`` made for ``namespace``."""
    rbac = kubernetes.client.RbacAuthorizationV1Api(api_client)
    for doc in load_rbac():
        name = f"{doc['metadata']['name']}-{namespace}"
        try:
            if doc["kind"] == "ClusterRole":
                rbac.delete_cluster_role(name)
            elif doc["kind"] == "ClusterRoleBinding":
                rbac.delete_cluster_role_binding(name)
        except kubernetes.client.ApiException as exc:
            if exc.status != 404:
                raise
