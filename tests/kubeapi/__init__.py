"""A strict test Kubernetes API server for mlrollout's tests, used through the real client.

Modules, bottom up: ``kinds`` (the served resources), ``failures`` (Status errors),
``selectors``, ``patches`` + ``strategic``, ``defaults`` + ``lifecycle`` (write rules),
``history``, ``store``, ``watching``, ``scale``, ``operations`` (verbs), ``discovery``,
``faults``, ``handler`` (HTTP), ``workloads`` + ``deployments`` (the built-in controller),
``crdschema`` + ``httproute`` + ``validity`` (object validation), ``server``, ``kubeconfig``
and ``fixtures`` (pytest). What it does not cover: authentication, RBAC, admission webhooks,
server-side apply, finalizers and graceful deletion, ReplicaSets, a real data plane.

Since the real control plane (``tests/controlplane``, marker ``controlplane``) runs in the
tests, this server is kept only for what the real one cannot show on demand:

- fault injection (409, 429 + Retry-After, 500/503, connection resets, delays, watch drops)
  and what the client, the Lease and the status writer do under each (``tests/kube``
  tests that ask for ``kube_server``, ``tests/traffic`` router failures);
- Deployments made never-ready on request (``deployments.set_never_ready``) for readiness,
  deadline and scale-down rules (``tests/kube/test_environments.py``, the router contract
  suite ``tests/traffic``), and the in-process write history those suites replay;
- the in-cluster manager's failover, ``promote``/CLI runs and the end-to-end rollouts with
  the data plane (``tests/controller/test_manager.py``, ``tests/cli``, ``tests/e2e``): not
  moved yet.

Moved to the real control plane: the kube layer's verbs, conflicts, watch and status/spec
separation, Leases (``tests/kube`` tests that ask for ``ns``); gates refusing before any
change, rollbacks and whole rollouts with the audit log as history
(``tests/controlplane``).
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
