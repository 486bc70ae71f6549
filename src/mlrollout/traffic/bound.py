"""``ServiceRouter``: what every Kubernetes traffic router is bound to.

Part of the ``traffic`` layer. The client, the release's namespace and Service, and its blue
and green environments; ``selector``, ``replicas`` and ``gateway`` add their own settings.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass

from mlrollout.kube import KubeClient
from mlrollout.kube.environments import GpuEnvironments

__all__ = ["ServiceRouter"]


@dataclass(eq=False)
class ServiceRouter:
    """A router of the Service ``service`` in ``namespace`` between two environments."""

    client: KubeClient
    _: KW_ONLY
    namespace: str
    service: str
    environments: GpuEnvironments
