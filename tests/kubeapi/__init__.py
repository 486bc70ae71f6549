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
for what the real one cannot show on demand. Outside ``tests/kubeapi`` nothing uses it any
more (``support.kube_fixtures`` and the test-server branch of ``tests/kube/conftest.py``
remain, for a test that asks for ``kube`` without a namespace):

- its own tests (``tests/kubeapi/test_*.py``).

Moved to the real control plane: the kube layer's verbs, conflicts, watch, status/spec
separation, Leases and every fault-injection test of the client, the Lease and the status
writer (``tests/kube``, through the fault proxy); the GPU environments' readiness, deadline
and scale-down rules (a never-ready environment: pods the scheduler cannot place); the
in-cluster manager's leadership, takeover and Lease loss, and ``promote`` following it
(``tests/controlplane/test_manager.py``, ``test_faults.py``), and its containment of
poisoned rollouts (``test_manager_containment.py``); the CLI's ``status``, ``status
--watch``, ``list`` and intent commands, ``history``, ``undo`` and ``promote`` with their
exit codes (``tests/cli``); ``promote`` killed at every crash point and the unreachable
metrics provider (``test_crash_recovery.py``); gates refusing before any change, rollbacks
and whole rollouts with the audit log as history; the router contract suite
(``tests/traffic``: every router as the controller's ServiceAccount, its writes checked on
the audit log, a never-ready environment rolled to pods the scheduler cannot place,
409/429/500 through the fault proxy); ClusterReleasePolicies refusing with ``POLICY`` and
nothing deployed (``tests/controller/test_release_policy.py``), AnalysisTemplates in the
cluster, undo and history, the nearest reachable weight (``tests/controller``); report
records in ConfigMaps (``tests/report/test_cluster_reports.py``); the capacity gate's fetch
(``tests/gates/test_capacity.py``, its unit cases need no server); every example manifest
dry-run applied by kubectl with strict field validation (``tests/deploy/test_manifests.py``);
the capacity snapshot's list counts (``tests/gates/test_capacity_snapshot.py``), the fenced
report and Event writes and the report ConfigMap's resourceVersion rewrites
(``tests/controller/test_fenced_writes.py``, ``test_report_writes.py``), ``api_wait_seconds``
and ``KubeClient.fenced`` (``tests/kube``); the admission server's policy source and the
``mlrollout admission`` process
(``tests/admission/test_server.py``, ``test_cli_admission.py``: reviews posted directly,
malformed and oversized bodies included; the API server calling the webhook is
``tests/controlplane/test_admission.py``); every end-to-end test (``tests/e2e``: the shipped
examples, the regression rollouts with the canary pulled within a second of the decision on
the audit log, and the data plane's routing, with ``e2e.clusterplane`` following the real
API server).
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
