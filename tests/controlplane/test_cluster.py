"""The control plane itself: the pinned version, kwok GPU nodes, the real scheduler, Pod
Security admission and the audit log."""

from __future__ import annotations

import kubernetes
import pytest

from mlrollout.errors import ForbiddenError
from mlrollout.kube.kinds import MODELROLLOUTS, NODES, PODS
from support.cluster import rollout_from, template

from .fixtures import TestBed
from .workloads import POOL_LABEL, build_model

pytestmark = pytest.mark.controlplane


def test_runs_the_pinned_kubernetes_release(cp: TestBed) -> None:
    version = kubernetes.client.VersionApi(cp.api).get_code()
    assert version.git_version == "v1.36.3"


def test_scheduler_places_gpu_pods_on_kwok_nodes_within_their_gpus(cp: TestBed) -> None:
    build_model(cp.admin, cp.namespace, nodes=2, gpus_per_node=2, blue=4)
    pods = cp.admin.list(PODS, cp.namespace)
    nodes = {n["metadata"]["name"]: n for n in cp.admin.list(NODES)}
    per_node: dict[str, int] = {}
    for pod in pods:
        node = nodes[pod["spec"]["nodeName"]]
        assert node["metadata"]["labels"][POOL_LABEL] == cp.namespace
        assert pod["status"]["phase"] == "Running"
        per_node[node["metadata"]["name"]] = per_node.get(node["metadata"]["name"], 0) + 1
    # 1 GPU per pod, 2 GPUs per node: the scheduler spreads the 4 pods 2 + 2.
    assert sorted(per_node.values()) == [2, 2]
    node = nodes[pods[0]["spec"]["nodeName"]]
    assert node["status"]["allocatable"]["nvidia.com/gpu"] == "2"
    assert any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])


@pytest.mark.parametrize(
    ("change", "admitted"),
    [
        pytest.param({}, True, id="example-environment"),
        pytest.param(
            {"privileged": True, "allowPrivilegeEscalation": True}, False, id="privileged"
        ),
        pytest.param({"allowPrivilegeEscalation": True}, False, id="privilege-escalation"),
        pytest.param({"capabilities": {"drop": []}}, False, id="capabilities-kept"),
    ],
)
def test_restricted_namespace_admits_only_restricted_pods(
    cp: TestBed, change: dict[str, object], admitted: bool
) -> None:
    pod = template("blue", "registry.test/ml/fraud-scorer@sha256:" + "0" * 64)
    pod["spec"]["containers"][0]["securityContext"].update(change)
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe"}, **pod}
    body["metadata"] = {"name": "probe", "labels": pod["metadata"]["labels"]}
    if admitted:
        cp.admin.create(PODS, body, cp.namespace)
        return
    with pytest.raises(ForbiddenError, match="violates PodSecurity"):
        cp.admin.create(PODS, body, cp.namespace)


def test_audit_log_records_writes_with_the_stored_object(cp: TestBed) -> None:
    build_model(cp.admin, cp.namespace, nodes=1, gpus_per_node=4, blue=1)
    writes = cp.audit.writes(namespace=cp.namespace, resource="deployments", user="admin")
    assert [w.name for w in writes] == ["fraud-scorer-blue", "fraud-scorer-green"]
    assert writes[0].stored is not None
    assert writes[0].stored["spec"]["replicas"] == 1
    # The pods are created by the ReplicaSet controller, under its own ServiceAccount.
    pods = cp.audit.writes(
        namespace=cp.namespace,
        resource="pods",
        user="system:serviceaccount:kube-system:replicaset-controller",
    )
    assert [w.verb for w in pods] == ["create"]


@pytest.mark.parametrize("example", ["canary.yaml", "blue-green.yaml", "gateway-canary.yaml"])
def test_the_generated_crd_admits_the_examples(cp: TestBed, example: str) -> None:
    # Found here: a fractional multipleOf (0.01 on setWeight) made the real API server refuse
    # every integer weight; the test API server accepted them.
    raw = rollout_from(example)
    raw["metadata"]["namespace"] = cp.namespace
    created = cp.admin.create(MODELROLLOUTS, raw, cp.namespace)
    assert created["spec"] == raw["spec"]
