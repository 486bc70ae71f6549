"""``KubeClient``: verbs, error translation, retries, on the real kube-apiserver; the
fault-injection ones through the fault proxy in front of it (conftest)."""

from __future__ import annotations

import pytest

from controlplane.faults import FaultProxy
from mlrollout.errors import (
    ApiUnavailableError,
    ConflictError,
    InvalidObjectError,
    NotFoundError,
    ThrottledError,
)
from mlrollout.kube import KubeClient, PatchType
from mlrollout.kube.kinds import CONFIGMAPS, DEPLOYMENTS, SERVICES

IMAGE = "registry.example.com/m@sha256:" + "a" * 64


def deployment(
    name: str, *, replicas: int = 1, env: str = "blue", ns: str = "default"
) -> dict[str, object]:
    labels = {"app": "m", "env": env}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "model", "image": IMAGE}]},
            },
        },
    }


def test_create_get_list_patch_delete(kube: KubeClient, ns: str) -> None:
    kube.create(DEPLOYMENTS, deployment("m-blue", ns=ns), ns)
    kube.create(DEPLOYMENTS, deployment("m-green", env="green", ns=ns), ns)
    assert kube.get(DEPLOYMENTS, "m-blue", ns)["spec"]["replicas"] == 1
    names = [d["metadata"]["name"] for d in kube.list(DEPLOYMENTS, ns, label_selector="env=green")]
    assert names == ["m-green"]
    everywhere = {
        (d["metadata"]["namespace"], d["metadata"]["name"]) for d in kube.list(DEPLOYMENTS, None)
    }
    assert {(ns, "m-blue"), (ns, "m-green")} <= everywhere
    patched = kube.patch(
        DEPLOYMENTS, "m-blue", ns, {"spec": {"replicas": 3}}, patch_type=PatchType.STRATEGIC
    )
    assert patched["spec"]["replicas"] == 3
    scale = kube.patch(DEPLOYMENTS, "m-blue", ns, {"spec": {"replicas": 2}}, subresource="scale")
    assert scale["spec"]["replicas"] == 2
    kube.delete(DEPLOYMENTS, "m-green", ns)
    with pytest.raises(NotFoundError, match=f"get deployments {ns}/m-green: HTTP 404"):
        kube.get(DEPLOYMENTS, "m-green", ns)


def test_stale_replace_is_a_conflict(kube: KubeClient, ns: str) -> None:
    created = kube.create(
        CONFIGMAPS,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}},
        ns,
    )
    fresh = dict(created, data={"a": "2"})
    kube.replace(CONFIGMAPS, fresh)
    stale = dict(created, data={"a": "3"})
    with pytest.raises(ConflictError):
        kube.replace(CONFIGMAPS, stale)
    assert kube.get(CONFIGMAPS, "c", ns)["data"] == {"a": "2"}


def test_invalid_object_is_translated(kube: KubeClient, ns: str) -> None:
    bad = deployment("m", ns=ns)
    bad["spec"] = {"replicas": "three"}
    with pytest.raises(InvalidObjectError, match=r"spec\.replicas: Input should be"):
        kube.create(DEPLOYMENTS, bad, ns)


def test_throttling_is_retried_after_the_servers_delay(
    kube: KubeClient, ns: str, faults: FaultProxy, no_sleep: list[float]
) -> None:
    kube.create(
        SERVICES,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "s"},
            "spec": {"selector": {"env": "blue"}, "ports": [{"port": 80}]},
        },
        ns,
    )
    faults.add(verb="PATCH", path=r"/services/s$", status=429, retry_after=3)
    faults.add(verb="PATCH", path=r"/services/s$", nth=2, status=500)
    patched = kube.patch(SERVICES, "s", ns, {"spec": {"selector": {"env": "green"}}})
    assert patched["spec"]["selector"] == {"env": "green"}
    assert no_sleep[0] == 3.0
    assert len(no_sleep) == 2


def test_persistent_outage_gives_up_as_unavailable(
    kube: KubeClient, ns: str, faults: FaultProxy, no_sleep: list[float]
) -> None:
    faults.add(verb="GET", path=r"/services/", times=None, status=503)
    with pytest.raises(ApiUnavailableError, match="HTTP 503"):
        kube.get(SERVICES, "s", ns)
    assert len(no_sleep) == 4


def test_throttled_error_carries_retry_after(kube: KubeClient, ns: str, faults: FaultProxy) -> None:
    faults.add(verb="GET", path=r"/configmaps/x$", times=None, status=429, retry_after=1)
    with pytest.raises(ThrottledError) as info:
        kube.get(CONFIGMAPS, "x", ns)
    assert info.value.retry_after is not None
    assert info.value.retry_after.total_seconds() == 1.0


def test_watch_streams_changes(kube: KubeClient, ns: str) -> None:
    _, version = kube.list_with_version(CONFIGMAPS, ns)
    kube.create(
        CONFIGMAPS,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "w"}, "data": {}},
        ns,
    )
    events = []
    for kind, obj in kube.watch(CONFIGMAPS, ns, resource_version=version, timeout_seconds=1):
        events.append((kind, obj["metadata"]["name"]))
        break
    assert events == [("ADDED", "w")]
