"""GPU capacity preflight: node eligibility, per-node packing, the refusal message (pure
cases, no server), and fetching nodes and pods from the real control plane (kwok GPU nodes
in a pool of the test's own, pods in two namespaces)."""

from __future__ import annotations

import copy
import doctest
from pathlib import Path
from typing import Any

import pytest

import mlrollout.gates.capacity as capacity_module
from controlplane.fixtures import TestBed, open_bed
from controlplane.workloads import POOL_LABEL, gpu_node, wait_until
from mlrollout.errors import GateError
from mlrollout.gates.capacity import (
    GPU_CAPACITY,
    assess_gpu_capacity,
    decide_eligible_node,
    fetch_gpu_capacity,
)
from mlrollout.kube.kinds import NODES, PODS
from support.cluster import OLD, template

GPU = "nvidia.com/gpu"
MIG = "nvidia.com/mig-1g.10gb"


def node(
    name: str, gpus: int, *, labels: dict[str, str] | None = None, resource: str = GPU, **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels if labels is not None else {"pool": "a100"}},
        "spec": spec,
        "status": {"allocatable": {resource: str(gpus), "cpu": "64"}},
    }


def pod(
    name: str, on: str, gpus: int, *, phase: str = "Running", resource: str = GPU
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "other"},
        "spec": {
            "nodeName": on,
            "containers": [
                {"name": "c", "image": "x", "resources": {"limits": {resource: str(gpus)}}}
            ],
        },
        "status": {"phase": phase},
    }


def model_spec(gpus: int = 1, *, resource: str = GPU, **extra: Any) -> dict[str, Any]:
    return {
        "nodeSelector": {"pool": "a100"},
        "containers": [{"name": "model", "resources": {"limits": {resource: gpus}}}],
        **extra,
    }


def test_the_docstring_example_holds() -> None:
    assert doctest.testmod(capacity_module).failed == 0


def test_refusal_names_the_shortfall_per_node() -> None:
    nodes = [node("node-a", 4), node("node-b", 2), node("node-c", 8, labels={"pool": "t4"})]
    pods = [pod("p1", "node-a", 1), pod("done", "node-b", 2, phase="Succeeded")]
    result = assess_gpu_capacity(nodes=nodes, pods=pods, pod_spec=model_spec(), replicas=8)
    assert not result.sufficient
    assert result.message == (
        "needs 8 nvidia.com/gpu on nodes matching {pool: a100}, 5 free "
        "(node-a: 3, node-b: 2): short by 3"
    )
    with pytest.raises(GateError) as info:
        result.raise_if_short()
    assert info.value.reason_code == GPU_CAPACITY


def test_enough_room_passes() -> None:
    result = assess_gpu_capacity(
        nodes=[node("node-a", 4)], pods=[], pod_spec=model_spec(), replicas=4
    )
    assert result.sufficient
    result.raise_if_short()
    assert result.message.endswith(": enough")


def test_a_two_gpu_pod_cannot_use_one_free_gpu_on_each_of_two_nodes() -> None:
    nodes = [node("node-a", 4), node("node-b", 4)]
    pods = [pod("a", "node-a", 3), pod("b", "node-b", 3)]
    result = assess_gpu_capacity(nodes=nodes, pods=pods, pod_spec=model_spec(2), replicas=1)
    assert not result.sufficient
    assert result.slots == 0
    assert "needs 2 nvidia.com/gpu (1 pods of 2)" in result.message
    assert (
        "2 free (node-a: 1, node-b: 1), room for 0 such pod(s) on single nodes: short by 2"
        in result.message
    )


@pytest.mark.parametrize(
    ("free", "per_pod", "replicas", "fits"),
    [
        ([3, 2], 2, 2, True),  # one pod on each node
        ([3, 2], 2, 3, False),  # 5 free GPUs but only two 2-GPU slots
        ([4], 2, 2, True),
        ([1, 1, 1, 1], 2, 1, False),
        ([8], 8, 1, True),
    ],
    ids=["one-each", "fragmented", "one-node", "all-fragments", "whole-node"],
)
def test_packing_table(free: list[int], per_pod: int, replicas: int, fits: bool) -> None:
    nodes = [node(f"n{i}", g) for i, g in enumerate(free)]
    result = assess_gpu_capacity(
        nodes=nodes, pods=[], pod_spec=model_spec(per_pod), replicas=replicas
    )
    assert result.sufficient is fits


def test_mig_resources_are_counted_separately() -> None:
    nodes = [node("mig-a", 7, resource=MIG), node("full", 8)]
    pods = [pod("slice", "mig-a", 5, resource=MIG)]
    result = assess_gpu_capacity(
        nodes=nodes, pods=pods, pod_spec=model_spec(1, resource=MIG), replicas=3
    )
    assert not result.sufficient
    assert "needs 3 nvidia.com/mig-1g.10gb" in result.message
    assert "(full: 0, mig-a: 2): short by 1" in result.message


def _affinity(*expressions: dict[str, Any]) -> dict[str, Any]:
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": list(expressions)}]
            }
        }
    }


@pytest.mark.parametrize(
    ("labels", "expression", "eligible"),
    [
        ({"zone": "a"}, {"key": "zone", "operator": "In", "values": ["a", "b"]}, True),
        ({"zone": "c"}, {"key": "zone", "operator": "In", "values": ["a", "b"]}, False),
        ({"zone": "c"}, {"key": "zone", "operator": "NotIn", "values": ["a"]}, True),
        ({}, {"key": "zone", "operator": "NotIn", "values": ["a"]}, True),
        ({"zone": "a"}, {"key": "zone", "operator": "NotIn", "values": ["a"]}, False),
        ({"spot": "1"}, {"key": "spot", "operator": "Exists"}, True),
        ({}, {"key": "spot", "operator": "Exists"}, False),
        ({"spot": "1"}, {"key": "spot", "operator": "DoesNotExist"}, False),
        ({}, {"key": "spot", "operator": "DoesNotExist"}, True),
        ({"mem": "80"}, {"key": "mem", "operator": "Gt", "values": ["40"]}, True),
    ],
    ids=[
        "in",
        "not-in-list",
        "notin",
        "notin-absent",
        "notin-hit",
        "exists",
        "exists-absent",
        "doesnotexist-present",
        "doesnotexist",
        "gt",
    ],
)
def test_required_node_affinity(
    labels: dict[str, str], expression: dict[str, Any], eligible: bool
) -> None:
    spec = {"affinity": _affinity(expression), "containers": []}
    assert decide_eligible_node(node("n", 1, labels=labels), spec) is eligible


def test_affinity_terms_are_ored_and_expressions_anded() -> None:
    terms = [
        {
            "matchExpressions": [
                {"key": "a", "operator": "Exists"},
                {"key": "b", "operator": "Exists"},
            ]
        },
        {"matchExpressions": [{"key": "c", "operator": "Exists"}]},
    ]
    spec = {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}
            }
        }
    }
    assert decide_eligible_node(node("n", 1, labels={"a": "1", "b": "1"}), spec)
    assert not decide_eligible_node(node("n", 1, labels={"a": "1"}), spec)
    assert decide_eligible_node(node("n", 1, labels={"c": "1"}), spec)


def test_cordoned_and_tainted_nodes_are_not_counted() -> None:
    taint = {"key": "gpu", "value": "reserved", "effect": "NoSchedule"}
    nodes = [node("cordoned", 8, unschedulable=True), node("tainted", 8, taints=[taint])]
    result = assess_gpu_capacity(nodes=nodes, pods=[], pod_spec=model_spec(), replicas=1)
    assert not result.sufficient
    assert "no such nodes" in result.message
    tolerant = model_spec(
        tolerations=[
            {"key": "gpu", "operator": "Equal", "value": "reserved", "effect": "NoSchedule"}
        ]
    )
    assert assess_gpu_capacity(nodes=nodes, pods=[], pod_spec=tolerant, replicas=8).sufficient


def test_init_containers_count_at_their_peak() -> None:
    spec = model_spec(1)
    spec["initContainers"] = [{"name": "warm", "resources": {"limits": {GPU: "2"}}}]
    result = assess_gpu_capacity(nodes=[node("n", 3)], pods=[], pod_spec=spec, replicas=2)
    assert result.per_pod == {GPU: 2}
    assert not result.sufficient


# -- against the real control plane ---------------------------------------------------


def placed_pod(name: str, on: str, gpus: int = 1) -> dict[str, Any]:
    """A restricted-profile pod asking for ``gpus`` GPUs, bound to node ``on``."""
    spec = copy.deepcopy(template("blue", OLD)["spec"])
    del spec["nodeSelector"]
    spec["nodeName"] = on
    resources = spec["containers"][0]["resources"]
    for amounts in resources.values():
        amounts[GPU] = str(gpus)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def pool_spec(pool: str, gpus: int = 1) -> dict[str, Any]:
    """A model pod spec asking for ``gpus`` GPUs on the kwok nodes of ``pool``."""
    return {
        "nodeSelector": {POOL_LABEL: pool},
        "containers": [{"name": "model", "resources": {"limits": {GPU: gpus}}}],
    }


@pytest.mark.controlplane
def test_fetch_reads_nodes_and_pods_of_every_namespace(cp: TestBed, tmp_path: Path) -> None:
    pool = cp.namespace
    node_a, node_b = f"{pool}-gpu-a", f"{pool}-gpu-b"
    cp.admin.create(NODES, gpu_node(node_a, pool=pool, gpus=4))
    cp.admin.create(NODES, gpu_node(node_b, pool=pool, gpus=2))
    spec = pool_spec(pool)
    with open_bed(cp.session, f"{pool}-other", tmp_path / "other") as other:
        for name, namespace in (("p1", cp.namespace), ("p2", other.namespace)):
            cp.admin.create(PODS, placed_pod(name, node_a), namespace)
        wait_until(
            lambda: all(
                cp.admin.get(PODS, name, namespace)["status"].get("phase") == "Running"
                for name, namespace in (("p1", cp.namespace), ("p2", other.namespace))
            ),
            what="both pods running on the kwok node",
        )
        result = fetch_gpu_capacity(cp.admin, pod_spec=spec, replicas=5)
        assert not result.sufficient
        assert f"4 free ({node_a}: 2, {node_b}: 2): short by 1" in result.message
        assert fetch_gpu_capacity(cp.admin, pod_spec=spec, replicas=4).sufficient
