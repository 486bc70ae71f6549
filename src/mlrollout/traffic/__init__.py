"""Traffic routers: how a model Service's traffic is split between its two environments.

Layer below ``controller``, above ``kube`` and ``spec``. ``port`` is the four-method
``TrafficRouter`` Protocol; one module per implementation: ``selector``
(``ServiceSelectorRouter``), ``replicas`` (``ReplicasRouter``, with the pure maths in
``replica_math``), ``gateway`` (``GatewayApiRouter``, with the pure route edits in
``httproute``) and ``fake`` (``FakeRouter`` for tests); ``split`` holds the rules they share
and ``factory.build_router`` picks one from a spec.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlrollout.lazy import lazy_exports

if TYPE_CHECKING:
    from mlrollout.traffic.factory import build_environments, build_router
    from mlrollout.traffic.fake import FakeRouter
    from mlrollout.traffic.gateway import GatewayApiRouter
    from mlrollout.traffic.port import TrafficRouter
    from mlrollout.traffic.replica_math import (
        ReplicaPlan,
        compute_canary_bp,
        compute_pods_to_place,
        compute_replica_plan,
    )
    from mlrollout.traffic.replicas import ReplicasRouter
    from mlrollout.traffic.selector import ServiceSelectorRouter

# Each public name and its module, imported on first use: the pure replica maths (used by
# ``lint`` and ``plan``) must not pull in the routers and with them the Kubernetes client.
_LAZY: dict[str, str] = {
    "FakeRouter": "mlrollout.traffic.fake",
    "GatewayApiRouter": "mlrollout.traffic.gateway",
    "ReplicaPlan": "mlrollout.traffic.replica_math",
    "ReplicasRouter": "mlrollout.traffic.replicas",
    "ServiceSelectorRouter": "mlrollout.traffic.selector",
    "TrafficRouter": "mlrollout.traffic.port",
    "build_environments": "mlrollout.traffic.factory",
    "build_router": "mlrollout.traffic.factory",
    "compute_canary_bp": "mlrollout.traffic.replica_math",
    "compute_pods_to_place": "mlrollout.traffic.replica_math",
    "compute_replica_plan": "mlrollout.traffic.replica_math",
}


__getattr__ = lazy_exports(__name__, _LAZY)


__all__ = [
    "FakeRouter",
    "GatewayApiRouter",
    "ReplicaPlan",
    "ReplicasRouter",
    "ServiceSelectorRouter",
    "TrafficRouter",
    "build_environments",
    "build_router",
    "compute_canary_bp",
    "compute_pods_to_place",
    "compute_replica_plan",
]
