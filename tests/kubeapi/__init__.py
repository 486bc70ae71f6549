"""A strict test Kubernetes API server for mlrollout's tests, used through the real client.

Modules, bottom up: ``kinds`` (the served resources), ``failures`` (Status errors),
``selectors``, ``patches`` + ``strategic``, ``defaults`` + ``lifecycle`` (write rules),
``history``, ``store``, ``watching``, ``scale``, ``operations`` (verbs), ``discovery``,
``faults``, ``handler`` (HTTP), ``workloads`` + ``deployments`` (the built-in controller),
``crdschema`` + ``httproute`` + ``validity`` (object validation), ``server``, ``kubeconfig``
and ``fixtures`` (pytest). What it does not cover: authentication, RBAC, admission webhooks,
server-side apply, finalizers and graceful deletion, ReplicaSets, a real data plane.

Since the real control plane (``tests/controlplane``, marker ``controlplane``) runs in the
tests, with a fault proxy in front of it (``controlplane.faults``), this server is kept only
for what the real one cannot show on demand, or has not been moved yet:

- the admission webhook tests, ClusterReleasePolicies, cluster templates, undo, reports in
  ConfigMaps and the capacity gate's unit cases: not moved yet;
- its own tests (``tests/kubeapi/test_*.py``).

Moved to the real control plane: the kube layer's verbs, conflicts, watch, status/spec
separation, Leases and every fault-injection test of the client, the Lease and the status
writer (``tests/kube``, through the fault proxy); the GPU environments' readiness, deadline
and scale-down rules (a never-ready environment: pods the scheduler cannot place); the
in-cluster manager's leadership, takeover and Lease loss, and ``promote`` following it
(``tests/controlplane/test_manager.py``, ``test_faults.py``), and its containment of
poisoned rollouts (``test_manager_containment.py``); the CLI's ``status``, ``list`` and
intent commands, ``history``, ``undo`` and ``promote`` with their exit codes
(``tests/cli``); ``promote`` killed at every
crash point and the unreachable metrics provider (``test_crash_recovery.py``); gates
refusing before any change, rollbacks and whole rollouts with the audit log as history; the
router contract suite (``tests/traffic``: every router as the controller's ServiceAccount,
its writes checked on the audit log, a never-ready environment rolled to pods the scheduler
cannot place, 409/429/500 through the fault proxy); every end-to-end test
(``tests/e2e``: the shipped examples, the regression rollouts with the canary pulled within a
second of the decision on the audit log, and the data plane's routing, with
``e2e.clusterplane`` following the real API server).
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
