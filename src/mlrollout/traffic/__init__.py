"""Traffic routers: how a model Service's traffic is split between its two environments.

Layer below ``controller``, above ``kube`` and ``spec``. ``port`` is the four-method
``TrafficRouter`` Protocol; one module per implementation: ``selector``
(``ServiceSelectorRouter``), ``replicas`` (``ReplicasRouter``, with the pure maths in
``replica_math``), ``gateway`` (``GatewayApiRouter``, with the pure route edits in
``httproute``) and ``fake`` (``FakeRouter`` for tests); ``split`` holds the rules they share
and ``factory.build_router`` picks one from a spec.
"""

from __future__ import annotations

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
