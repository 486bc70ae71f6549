"""The built-in deployment controller and the /scale subresource, through the client."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import kubernetes
import pytest
from kubernetes.client import ApiClient, ApiException

from .server import KubeApiServer

T = TypeVar("T")


def _eventually(probe: Callable[[], T], *, timeout: float = 3.0) -> T:
    """Poll ``probe`` until it returns a truthy value (the controller runs asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            assert value, f"condition not met within {timeout} s"
            return value
        time.sleep(0.02)


def _deployment(replicas: int = 2, image: str = "m:1", deadline: int = 600) -> dict[str, Any]:
    return {
        "metadata": {"name": "blue"},
        "spec": {
            "replicas": replicas,
            "progressDeadlineSeconds": deadline,
            "selector": {"matchLabels": {"app": "fraud", "env": "blue"}},
            "template": {
                "metadata": {"labels": {"app": "fraud", "env": "blue"}},
                "spec": {"containers": [{"name": "model", "image": image}]},
            },
        },
    }


def _pods(client: ApiClient) -> list[Any]:
    items: list[Any] = (
        kubernetes.client.CoreV1Api(client)
        .list_namespaced_pod("ml", label_selector="env=blue")
        .items
    )
    return items


def _conditions(deployment: Any) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in deployment.status.conditions or []}


def test_pods_become_ready_after_the_delay_and_status_follows(
    kube_client: ApiClient, kube_server: KubeApiServer
) -> None:
    apps = kubernetes.client.AppsV1Api(kube_client)
    kube_server.deployments.set_ready_delay("ml", "blue", 0.3)
    created = apps.create_namespaced_deployment("ml", _deployment())
    pods = _eventually(lambda: len(_pods(kube_client)) == 2 and _pods(kube_client))
    assert all(p.metadata.owner_references[0].uid == created.metadata.uid for p in pods)
    assert all(p.metadata.labels["env"] == "blue" for p in pods)
    ready = _eventually(
        lambda: (
            (d := apps.read_namespaced_deployment("ml-none" if False else "blue", "ml"))
            and d.status.ready_replicas == 2
            and d
        )
    )
    assert (ready.status.observed_generation, ready.status.replicas) == (1, 2)
    assert (ready.status.updated_replicas, ready.status.available_replicas) == (2, 2)
    assert _conditions(ready) == {
        "Available": ("True", "MinimumReplicasAvailable"),
        "Progressing": ("True", "NewReplicaSetAvailable"),
    }
    pod_writes = kube_server.history.records(kind="Pod", actor="controller", verb="POST")
    ready_writes = [
        r
        for r in kube_server.history.records(kind="Pod", actor="controller")
        if r.subresource == "status"
    ]
    assert len(pod_writes) == 2
    assert {r.object["status"]["phase"] for r in pod_writes} == {"Pending"}
    assert {r.object["status"]["phase"] for r in ready_writes} == {"Running"}
    assert min(r.time for r in ready_writes) - max(r.time for r in pod_writes) >= 0.25


def test_template_change_recreates_the_pods(kube_client: ApiClient) -> None:
    apps = kubernetes.client.AppsV1Api(kube_client)
    apps.create_namespaced_deployment("ml", _deployment())
    first = {
        p.metadata.name
        for p in _eventually(lambda: len(_pods(kube_client)) == 2 and _pods(kube_client))
    }
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "model", "image": "m:2"}]}}}}
    assert apps.patch_namespaced_deployment("blue", "ml", patch).metadata.generation == 2

    def replaced() -> Any:
        d = apps.read_namespaced_deployment("blue", "ml")
        return d.status.observed_generation == 2 and d.status.available_replicas == 2 and d

    _eventually(replaced)
    pods = _pods(kube_client)
    assert len(pods) == 2
    assert not first & {p.metadata.name for p in pods}
    assert {p.spec.containers[0].image for p in pods} == {"m:2"}


def test_scale_subresource_get_put_patch(kube_client: ApiClient) -> None:
    apps = kubernetes.client.AppsV1Api(kube_client)
    apps.create_namespaced_deployment("ml", _deployment(replicas=1))
    scale = apps.read_namespaced_deployment_scale("blue", "ml")
    assert (scale.kind, scale.api_version, scale.spec.replicas) == ("Scale", "autoscaling/v1", 1)
    assert scale.status.selector == "app=fraud,env=blue"
    stale = scale.metadata.resource_version
    scaled = apps.patch_namespaced_deployment_scale("blue", "ml", {"spec": {"replicas": 3}})
    assert scaled.spec.replicas == 3
    body = {"metadata": {"name": "blue", "resourceVersion": stale}, "spec": {"replicas": 0}}
    with pytest.raises(ApiException) as conflict:
        apps.replace_namespaced_deployment_scale("blue", "ml", body)
    assert conflict.value.status == 409
    _eventually(lambda: len(_pods(kube_client)) == 3)
    body["metadata"]["resourceVersion"] = None
    assert apps.replace_namespaced_deployment_scale("blue", "ml", body).spec.replicas == 0
    deployment = apps.read_namespaced_deployment("blue", "ml")
    assert (deployment.spec.replicas, deployment.metadata.generation) == (0, 3)
    _eventually(lambda: _pods(kube_client) == [])


def test_never_ready_pods_exceed_the_progress_deadline(
    kube_client: ApiClient, kube_server: KubeApiServer
) -> None:
    apps = kubernetes.client.AppsV1Api(kube_client)
    kube_server.deployments.set_never_ready("ml", "blue")
    apps.create_namespaced_deployment("ml", _deployment(replicas=1, deadline=1))

    def stuck() -> Any:
        d = apps.read_namespaced_deployment("blue", "ml")
        return _conditions(d).get("Progressing") == ("False", "ProgressDeadlineExceeded") and d

    stalled = _eventually(stuck)
    assert stalled.status.ready_replicas is None
    assert _conditions(stalled)["Available"] == ("False", "MinimumReplicasUnavailable")
    pod = _pods(kube_client)[0]
    assert pod.status.phase == "Running"
    assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "False"
    kube_server.deployments.set_never_ready("ml", "blue", never=False)
    recovered = _eventually(
        lambda: (
            (d := apps.read_namespaced_deployment("blue", "ml")).status.ready_replicas == 1 and d
        )
    )
    assert _conditions(recovered)["Progressing"] == ("True", "NewReplicaSetAvailable")


def test_deleting_a_deployment_collects_its_pods_and_pods_are_replaced(
    kube_client: ApiClient,
) -> None:
    apps = kubernetes.client.AppsV1Api(kube_client)
    core = kubernetes.client.CoreV1Api(kube_client)
    apps.create_namespaced_deployment("ml", _deployment(replicas=1))
    victim = _eventually(lambda: _pods(kube_client))[0].metadata.name
    core.delete_namespaced_pod(victim, "ml")
    replacement = _eventually(lambda: [p for p in _pods(kube_client) if p.metadata.name != victim])
    assert len(replacement) == 1
    apps.delete_namespaced_deployment("blue", "ml")
    _eventually(lambda: _pods(kube_client) == [])
