"""Reading the ClusterReleasePolicies that govern a namespace from the cluster.

Part of the ``kube`` layer: lists the cluster-scoped policies, reads the namespace's labels
and returns the governing ones (``spec.governance.select_policies``). A policy object that
does not validate is a ``SpecError`` naming it: callers fail closed rather than skip it.
"""

from __future__ import annotations

from mlrollout.errors import NotFoundError
from mlrollout.kube.client import KubeClient
from mlrollout.kube.kinds import CLUSTERRELEASEPOLICIES, NAMESPACES
from mlrollout.spec.governance import select_policies
from mlrollout.spec.release_policy import ClusterReleasePolicy, load_release_policy_object

__all__ = ["fetch_governing_policies", "fetch_namespace_labels", "fetch_release_policies"]


def fetch_release_policies(client: KubeClient) -> list[ClusterReleasePolicy]:
    """Every ClusterReleasePolicy in the cluster, validated (none when the CRD is absent)."""
    try:
        objects = client.list(CLUSTERRELEASEPOLICIES)
    except NotFoundError:
        return []
    return [
        load_release_policy_object(
            obj, source=f"ClusterReleasePolicy {obj.get('metadata', {}).get('name', '?')}"
        )
        for obj in objects
    ]


def fetch_namespace_labels(client: KubeClient, namespace: str) -> dict[str, str]:
    """The labels of a namespace (``kubernetes.io/metadata.name`` included, as the server sets)."""
    labels = client.get(NAMESPACES, namespace).get("metadata", {}).get("labels") or {}
    return {"kubernetes.io/metadata.name": namespace, **{str(k): str(v) for k, v in labels.items()}}


def fetch_governing_policies(client: KubeClient, namespace: str) -> list[ClusterReleasePolicy]:
    """The policies whose namespace selector matches ``namespace``, in name order."""
    policies = fetch_release_policies(client)
    if not policies:
        return []
    return select_policies(policies, fetch_namespace_labels(client, namespace))
