"""Who drives a rollout: the live holder of the ``mlrollout-controller`` Lease, if any.

Part of the ``cli`` layer, used by the intent commands to say whether anything will act on
the intent they record. The in-cluster controller holds the Lease in its
``--lease-namespace`` (default ``default``); a ``promote`` that drives a rollout itself holds
the same Lease in the rollout's namespace (``--lease-namespace`` of ``promote``). A holder
counts while its last renewal is younger than the Lease duration.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from mlrollout.errors import NotFoundError

if TYPE_CHECKING:
    from mlrollout.kube import KubeClient

__all__ = ["LEASE_NAME", "find_driver"]

LEASE_NAME = "mlrollout-controller"  # controller.driver.CONTROLLER_LEASE: same Lease


def find_driver(client: KubeClient, *, namespaces: Iterable[str], now: datetime) -> str | None:
    """The identity holding a live driver Lease in any of ``namespaces``; None when none does."""
    from mlrollout.kube.kinds import LEASES

    for namespace in dict.fromkeys(namespaces):
        try:
            lease = client.get(LEASES, LEASE_NAME, namespace)
        except NotFoundError:
            continue
        spec = lease.get("spec") or {}
        holder, renewed = spec.get("holderIdentity"), spec.get("renewTime")
        if not holder or not renewed:
            continue
        renewed_at = datetime.fromisoformat(str(renewed).replace("Z", "+00:00"))
        duration = timedelta(seconds=int(spec.get("leaseDurationSeconds") or 15))
        if now - renewed_at < duration:
            return f"{holder} (Lease {namespace}/{LEASE_NAME})"
    return None
