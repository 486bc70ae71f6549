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

- the router contract suite (``tests/traffic``): it replays this server's in-process write
  history after every step and holds environments never-ready
  (``deployments.set_never_ready``); not moved yet (the audit log, the fault proxy and pods
  the scheduler cannot place now offer the same on the real control plane);
- the CLI's cluster commands and their exit codes (``tests/cli``), the admission webhook
  tests, ClusterReleasePolicies, cluster templates, undo, reports in ConfigMaps, the
  capacity gate's unit cases and the containment of poisoned rollouts
  (``tests/controller/test_manager_containment.py``): not moved yet;
- the end-to-end regression rollouts and the data plane's own tests
  (``tests/e2e/test_rollouts_e2e.py``, ``test_dataplane.py``): not moved yet; they read this
  server's in-process write history (the canary pulled within a second of the decision) and
  its change feed. The shipped examples' e2e (``tests/e2e/test_examples_e2e.py``) runs on the
  real control plane, with ``e2e.clusterplane`` following the real API server;
- its own tests (``tests/kubeapi/test_*.py``).

Moved to the real control plane: the kube layer's verbs, conflicts, watch, status/spec
separation, Leases and every fault-injection test of the client, the Lease and the status
writer (``tests/kube``, through the fault proxy); the GPU environments' readiness, deadline
and scale-down rules (a never-ready environment: pods the scheduler cannot place); the
in-cluster manager's leadership, takeover and Lease loss, and ``promote`` following it
(``tests/controlplane/test_manager.py``, ``test_faults.py``); ``promote`` killed at every
crash point and the unreachable metrics provider (``test_crash_recovery.py``); gates
refusing before any change, rollbacks and whole rollouts with the audit log as history.
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
