"""The GPU capacity gate's shared snapshot: nodes and pods listed at most once per
``max_age`` for every check that shares it, listed again once it is older. On the real
control plane: kwok GPU nodes in a pool of the test's own (nodes are cluster-wide, so only
that pool's count), pods bound to them in the test's namespace."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from controlplane.fixtures import TestBed
from controlplane.workloads import POOL_LABEL, gpu_node
from mlrollout.errors import KubeError
from mlrollout.gates.capacity import CapacitySnapshot, fetch_gpu_capacity
from mlrollout.kube import KubeClient, connect
from mlrollout.kube.kinds import NODES, PODS, Kind

from .test_capacity import placed_pod, pool_spec

pytestmark = pytest.mark.controlplane


class Lists:
    """Counts the lists a client makes."""

    def __init__(self, client: KubeClient, monkeypatch: pytest.MonkeyPatch) -> None:
        self.kinds: list[str] = []
        real = client.list

        def counting(kind: Kind, namespace: str | None = None, **kw: Any) -> list[Any]:
            self.kinds.append(kind.plural)
            return real(kind, namespace, **kw)

        monkeypatch.setattr(client, "list", counting)


@pytest.fixture
def kube(cp: TestBed) -> KubeClient:
    """A cluster-admin client of the test's own (its ``list`` is counted and patched)."""
    client = connect(kubeconfig=str(cp.session.plane.admin_kubeconfig), timeout=10.0)
    cp.clients.append(client)  # closed with the test's namespace
    return client


def _node(cp: TestBed) -> str:
    """A kwok node of 4 GPUs in the test's pool; its name."""
    name = f"{cp.namespace}-gpu-a"
    cp.admin.create(NODES, gpu_node(name, pool=cp.namespace, gpus=4))
    return name


def test_snapshot_is_reused_while_young_and_listed_again_when_old(
    cp: TestBed, kube: KubeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    node_a = _node(cp)
    now = [100.0]
    snapshot = CapacitySnapshot(kube, max_age=2.0, monotonic=lambda: now[0])
    lists = Lists(kube, monkeypatch)
    spec = pool_spec(cp.namespace)
    assert fetch_gpu_capacity(kube, pod_spec=spec, replicas=4, snapshot=snapshot).sufficient
    kube.create(PODS, placed_pod("p1", node_a, 2), cp.namespace)
    now[0] += 1.9  # young: the pod is not seen yet, nothing listed
    assert fetch_gpu_capacity(kube, pod_spec=spec, replicas=4, snapshot=snapshot).sufficient
    assert lists.kinds == ["nodes", "pods"]
    now[0] += 0.1  # max_age reached: listed again, the pod's GPUs are taken
    result = fetch_gpu_capacity(kube, pod_spec=spec, replicas=4, snapshot=snapshot)
    assert not result.sufficient
    assert "2 free" in result.message
    assert lists.kinds == ["nodes", "pods", "nodes", "pods"]


def test_concurrent_checks_share_one_list(
    cp: TestBed, kube: KubeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _node(cp)
    snapshot = CapacitySnapshot(kube, max_age=60.0)
    lists = Lists(kube, monkeypatch)
    answers: list[bool] = []

    def check() -> None:
        answers.append(
            fetch_gpu_capacity(
                kube, pod_spec=pool_spec(cp.namespace), replicas=2, snapshot=snapshot
            ).sufficient
        )

    threads = [threading.Thread(target=check) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [True] * 8
    assert lists.kinds == ["nodes", "pods"]


def test_a_failed_list_is_not_kept(
    cp: TestBed, kube: KubeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    node_a = _node(cp)
    snapshot = CapacitySnapshot(kube, max_age=60.0)
    real = kube.list
    failing = [True]

    def flaky(kind: Kind, namespace: str | None = None, **kw: Any) -> list[Any]:
        if failing[0]:
            raise KubeError("list pods: the API server is unavailable")
        return real(kind, namespace, **kw)

    monkeypatch.setattr(kube, "list", flaky)
    with pytest.raises(KubeError):
        snapshot.read()
    failing[0] = False
    nodes, pods = snapshot.read()
    pool = [n["metadata"]["name"] for n in nodes if n["metadata"]["labels"].get(POOL_LABEL)]
    assert node_a in pool
    assert not [p for p in pods if p["metadata"]["namespace"] == cp.namespace]


def test_with_watch_checks_read_the_watched_nodes_and_pods_and_list_nothing(
    cp: TestBed, kube: KubeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    node_a = _node(cp)
    snapshot = CapacitySnapshot(kube, max_age=3600.0, watch=True)  # a list would stay stale
    lists = Lists(kube, monkeypatch)
    spec = pool_spec(cp.namespace)
    try:
        assert fetch_gpu_capacity(kube, pod_spec=spec, replicas=4, snapshot=snapshot).sufficient
        assert lists.kinds == ["nodes", "pods"]  # the informers were not current yet
        kube.create(PODS, placed_pod("p1", node_a, 2), cp.namespace)
        deadline = time.monotonic() + 30
        while fetch_gpu_capacity(kube, pod_spec=spec, replicas=4, snapshot=snapshot).sufficient:
            assert time.monotonic() < deadline, "the watched pod never counted"
            time.sleep(0.05)
        result = fetch_gpu_capacity(kube, pod_spec=spec, replicas=4, snapshot=snapshot)
        assert "2 free" in result.message
        assert lists.kinds == ["nodes", "pods"]  # seen through the watch, not a list
        kube.delete(PODS, "p1", cp.namespace)
        while not fetch_gpu_capacity(kube, pod_spec=spec, replicas=4, snapshot=snapshot).sufficient:
            assert time.monotonic() < deadline, "the deleted pod still counted"
            time.sleep(0.05)
    finally:
        snapshot.stop()
