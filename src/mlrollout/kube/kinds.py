"""The Kubernetes resources mlrollout reads and writes, and how the client names them.

Part of the ``kube`` layer: a table, so the client has one generic code path per verb
instead of a method per resource.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ANALYSISTEMPLATES",
    "CLUSTERANALYSISTEMPLATES",
    "CLUSTERRELEASEPOLICIES",
    "CONFIGMAPS",
    "DEPLOYMENTS",
    "EVENTS",
    "HTTPROUTES",
    "LEASES",
    "MODELROLLOUTS",
    "NAMESPACES",
    "NETWORKPOLICIES",
    "NODES",
    "PODS",
    "SERVICES",
    "Kind",
]


@dataclass(frozen=True)
class Kind:
    """A resource: typed-API class and method stem, or a custom object's group/version/plural."""

    kind: str
    api_version: str
    plural: str
    api: str | None = None  # typed API class, e.g. "AppsV1Api"; None for custom objects
    stem: str | None = None  # method stem, e.g. "deployment"
    namespaced: bool = True

    @property
    def group(self) -> str:
        """The API group ('' for core)."""
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        """The API version within the group."""
        return self.api_version.rpartition("/")[2]

    @property
    def custom(self) -> bool:
        """Whether the resource goes through ``CustomObjectsApi``."""
        return self.api is None


DEPLOYMENTS = Kind("Deployment", "apps/v1", "deployments", "AppsV1Api", "deployment")
SERVICES = Kind("Service", "v1", "services", "CoreV1Api", "service")
PODS = Kind("Pod", "v1", "pods", "CoreV1Api", "pod")
NODES = Kind("Node", "v1", "nodes", "CoreV1Api", "node", namespaced=False)
EVENTS = Kind("Event", "v1", "events", "CoreV1Api", "event")
CONFIGMAPS = Kind("ConfigMap", "v1", "configmaps", "CoreV1Api", "config_map")
LEASES = Kind("Lease", "coordination.k8s.io/v1", "leases", "CoordinationV1Api", "lease")
HTTPROUTES = Kind("HTTPRoute", "gateway.networking.k8s.io/v1", "httproutes")
MODELROLLOUTS = Kind("ModelRollout", "mlrollout.io/v1alpha1", "modelrollouts")
ANALYSISTEMPLATES = Kind("AnalysisTemplate", "mlrollout.io/v1alpha1", "analysistemplates")
CLUSTERANALYSISTEMPLATES = Kind(
    "ClusterAnalysisTemplate",
    "mlrollout.io/v1alpha1",
    "clusteranalysistemplates",
    namespaced=False,
)
NAMESPACES = Kind("Namespace", "v1", "namespaces", "CoreV1Api", "namespace", namespaced=False)
CLUSTERRELEASEPOLICIES = Kind(
    "ClusterReleasePolicy", "mlrollout.io/v1alpha1", "clusterreleasepolicies", namespaced=False
)
NETWORKPOLICIES = Kind(
    "NetworkPolicy", "networking.k8s.io/v1", "networkpolicies", "NetworkingV1Api", "network_policy"
)
