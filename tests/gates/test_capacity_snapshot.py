"""The GPU capacity gate's shared snapshot: nodes and pods listed at most once per
``max_age`` for every check that shares it, listed again once it is older."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from mlrollout.errors import KubeError
from mlrollout.gates.capacity import CapacitySnapshot, fetch_gpu_capacity
from mlrollout.kube import KubeClient
from mlrollout.kube.kinds import NODES, PODS, Kind

from .test_capacity import model_spec, node, pod


class Lists:
    """Counts the lists a client makes."""

    def __init__(self, client: KubeClient, monkeypatch: pytest.MonkeyPatch) -> None:
        self.kinds: list[str] = []
        real = client.list

        def counting(kind: Kind, namespace: str | None = None, **kw: Any) -> list[Any]:
            self.kinds.append(kind.plural)
            return real(kind, namespace, **kw)

        monkeypatch.setattr(client, "list", counting)


def test_snapshot_is_reused_while_young_and_listed_again_when_old(
    kube: KubeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube.create(NODES, node("node-a", 4))
    now = [100.0]
    snapshot = CapacitySnapshot(kube, max_age=2.0, monotonic=lambda: now[0])
    lists = Lists(kube, monkeypatch)
    spec = model_spec()
    assert fetch_gpu_capacity(kube, pod_spec=spec, replicas=4, snapshot=snapshot).sufficient
    kube.create(PODS, pod("p1", "node-a", 2), "other")
    now[0] += 1.9  # young: the pod is not seen yet, nothing listed
    assert fetch_gpu_capacity(kube, pod_spec=spec, replicas=4, snapshot=snapshot).sufficient
    assert lists.kinds == ["nodes", "pods"]
    now[0] += 0.1  # max_age reached: listed again, the pod's GPUs are taken
    result = fetch_gpu_capacity(kube, pod_spec=spec, replicas=4, snapshot=snapshot)
    assert not result.sufficient
    assert "2 free" in result.message
    assert lists.kinds == ["nodes", "pods", "nodes", "pods"]


def test_concurrent_checks_share_one_list(
    kube: KubeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube.create(NODES, node("node-a", 4))
    snapshot = CapacitySnapshot(kube, max_age=60.0)
    lists = Lists(kube, monkeypatch)
    answers: list[bool] = []

    def check() -> None:
        answers.append(
            fetch_gpu_capacity(
                kube, pod_spec=model_spec(), replicas=2, snapshot=snapshot
            ).sufficient
        )

    threads = [threading.Thread(target=check) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [True] * 8
    assert lists.kinds == ["nodes", "pods"]


def test_a_failed_list_is_not_kept(kube: KubeClient, monkeypatch: pytest.MonkeyPatch) -> None:
    kube.create(NODES, node("node-a", 4))
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
    assert [n["metadata"]["name"] for n in nodes] == ["node-a"]
    assert pods == []


def test_with_watch_checks_read_the_watched_nodes_and_pods_and_list_nothing(
    kube: KubeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube.create(NODES, node("node-a", 4))
    snapshot = CapacitySnapshot(kube, max_age=3600.0, watch=True)  # a list would stay stale
    lists = Lists(kube, monkeypatch)
    spec = model_spec()
    try:
        assert fetch_gpu_capacity(kube, pod_spec=spec, replicas=4, snapshot=snapshot).sufficient
        assert lists.kinds == ["nodes", "pods"]  # the informers were not current yet
        kube.create(PODS, pod("p1", "node-a", 2), "other")
        deadline = time.monotonic() + 30
        while fetch_gpu_capacity(kube, pod_spec=spec, replicas=4, snapshot=snapshot).sufficient:
            assert time.monotonic() < deadline, "the watched pod never counted"
            time.sleep(0.05)
        result = fetch_gpu_capacity(kube, pod_spec=spec, replicas=4, snapshot=snapshot)
        assert "2 free" in result.message
        assert lists.kinds == ["nodes", "pods"]  # seen through the watch, not a list
        kube.delete(PODS, "p1", "other")
        while not fetch_gpu_capacity(kube, pod_spec=spec, replicas=4, snapshot=snapshot).sufficient:
            assert time.monotonic() < deadline, "the deleted pod still counted"
            time.sleep(0.05)
    finally:
        snapshot.stop()
