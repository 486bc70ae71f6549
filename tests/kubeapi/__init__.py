"""A strict test Kubernetes API server for mlrollout's tests, used through the real client.

Modules, bottom up: ``kinds`` (the served resources), ``failures`` (Status errors),
``selectors``, ``patches`` + ``strategic``, ``defaults`` + ``lifecycle`` (write rules),
``history``, ``store``, ``watching``, ``scale``, ``operations`` (verbs), ``discovery``,
``faults``, ``handler`` (HTTP), ``workloads`` + ``deployments`` (the built-in controller),
``crdschema`` + ``httproute`` + ``validity`` (object validation), ``server``, ``kubeconfig``
and ``fixtures`` (pytest). What it does not cover: authentication, RBAC, admission webhooks,
server-side apply, finalizers and graceful deletion, ReplicaSets, a real data plane.
"""

from __future__ import annotations

from .faults import Fault, FaultPlan
from .history import WriteHistory, WriteRecord
from .kubeconfig import make_api_client, write_kubeconfig
from .server import KubeApiServer
from .validity import assert_valid_history

__all__ = [
    "Fault",
    "FaultPlan",
    "KubeApiServer",
    "WriteHistory",
    "WriteRecord",
    "assert_valid_history",
    "make_api_client",
    "write_kubeconfig",
]
