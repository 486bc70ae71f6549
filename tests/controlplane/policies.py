"""ClusterReleasePolicies a test puts on the shared control plane.

Part of the ``controlplane`` test package. Policies are cluster-scoped, and every test's
namespace lives in one cluster: ``own_policy`` names a policy after the test's namespace
and selects only namespaces of that test (by name), so tests never govern each other;
``ReleasePolicies`` deletes what a test created.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import kubernetes

from .fixtures import TestBed

__all__ = ["GOVERNED", "ReleasePolicies", "label", "own_policy", "release_policies"]

GOVERNED = {"mlrollout.io/governed": "true"}
CRP = ("mlrollout.io", "v1alpha1", "clusterreleasepolicies")


def own_policy(cp: TestBed, *, namespaces: list[str] | None = None, **spec: Any) -> dict[str, Any]:
    """Policy ``production-<namespace>`` trusting the Secret ``cosign-pub``, governing those
    of ``namespaces`` (default: the test's) that are labelled ``GOVERNED``."""
    selector = {
        "matchLabels": GOVERNED,
        "matchExpressions": [
            {
                "key": "kubernetes.io/metadata.name",
                "operator": "In",
                "values": namespaces or [cp.namespace],
            }
        ],
    }
    return {
        "apiVersion": "mlrollout.io/v1alpha1",
        "kind": "ClusterReleasePolicy",
        "metadata": {"name": f"production-{cp.namespace}"},
        "spec": {
            "namespaceSelector": selector,
            "signature": {"publicKeys": [{"secret": "cosign-pub"}]},
            **spec,
        },
    }


@dataclass
class ReleasePolicies:
    """Creates ClusterReleasePolicies as cluster admin, remembering them for deletion."""

    api: kubernetes.client.ApiClient
    names: list[str] = field(default_factory=list)

    def create(self, body: dict[str, Any]) -> None:
        """Create ``body``."""
        kubernetes.client.CustomObjectsApi(self.api).create_cluster_custom_object(*CRP, body)
        self.names.append(body["metadata"]["name"])

    def delete_all(self) -> None:
        """Delete every policy created here."""
        custom = kubernetes.client.CustomObjectsApi(self.api)
        for name in self.names:
            custom.delete_cluster_custom_object(*CRP, name)
        self.names.clear()


@contextmanager
def release_policies(api: kubernetes.client.ApiClient) -> Iterator[ReleasePolicies]:
    """``ReleasePolicies`` whose policies are deleted on exit."""
    policies = ReleasePolicies(api)
    try:
        yield policies
    finally:
        policies.delete_all()


def label(cp: TestBed, namespace: str, labels: dict[str, str]) -> None:
    """Add ``labels`` to ``namespace``."""
    if labels:
        kubernetes.client.CoreV1Api(cp.api).patch_namespace(
            namespace, {"metadata": {"labels": labels}}
        )
