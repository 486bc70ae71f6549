"""Watches through ``kubernetes.watch.Watch``: events, selectors, resuming, timeouts, 410."""

from __future__ import annotations

import threading
import time
from typing import Any

import kubernetes
import pytest
from kubernetes.client import ApiClient, ApiException

from .server import KubeApiServer


def _configmap(name: str, env: str) -> dict[str, object]:
    return {"metadata": {"name": name, "labels": {"env": env}}, "data": {"v": "1"}}


def _first(count: int, func: Any, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """The first ``count`` events of a watch (ended by the 2 s timeout if they never come)."""
    watch = kubernetes.watch.Watch()
    events = []
    for event in watch.stream(func, *args, timeout_seconds=2, **kwargs):
        events.append(event)
        if len(events) == count:
            watch.stop()
    return events


def test_watch_streams_added_modified_deleted_for_the_selector(kube_client: ApiClient) -> None:
    core = kubernetes.client.CoreV1Api(kube_client)
    start = core.list_namespaced_config_map("ml").metadata.resource_version

    def mutate() -> None:
        time.sleep(0.1)
        core.create_namespaced_config_map("ml", _configmap("a", "blue"))
        core.create_namespaced_config_map("ml", _configmap("ignored", "green"))
        core.patch_namespaced_config_map("a", "ml", {"data": {"v": "2"}})
        core.patch_namespaced_config_map("a", "ml", {"metadata": {"labels": {"env": "green"}}})
        core.patch_namespaced_config_map("ignored", "ml", {"metadata": {"labels": {"env": "blue"}}})
        core.delete_namespaced_config_map("ignored", "ml")

    writer = threading.Thread(target=mutate)
    writer.start()
    seen = []
    watch = kubernetes.watch.Watch()
    for event in watch.stream(
        core.list_namespaced_config_map,
        "ml",
        label_selector="env=blue",
        resource_version=start,
        timeout_seconds=2,
    ):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 5:
            watch.stop()
    writer.join()
    assert seen == [
        ("ADDED", "a"),
        ("MODIFIED", "a"),
        ("DELETED", "a"),  # stopped matching the selector
        ("ADDED", "ignored"),  # started matching it
        ("DELETED", "ignored"),
    ]


def test_watch_without_version_lists_first_and_resumes_from_a_version(
    kube_client: ApiClient,
) -> None:
    core = kubernetes.client.CoreV1Api(kube_client)
    core.create_namespaced_config_map("ml", _configmap("a", "blue"))
    middle = core.create_namespaced_config_map("ml", _configmap("b", "blue"))
    core.create_namespaced_config_map("ml", _configmap("c", "blue"))
    initial = _first(3, core.list_namespaced_config_map, "ml")
    assert [(e["type"], e["object"].metadata.name) for e in initial] == [
        ("ADDED", "a"),
        ("ADDED", "b"),
        ("ADDED", "c"),
    ]
    version = middle.metadata.resource_version
    resumed = _first(1, core.list_namespaced_config_map, "ml", resource_version=version)
    assert [(e["type"], e["object"].metadata.name) for e in resumed] == [("ADDED", "c")]


def test_watch_ends_at_its_timeout(kube_client: ApiClient) -> None:
    core = kubernetes.client.CoreV1Api(kube_client)
    started = time.monotonic()
    events = list(
        kubernetes.watch.Watch().stream(core.list_namespaced_pod, "ml", timeout_seconds=1)
    )
    elapsed = time.monotonic() - started
    assert events == []
    assert 0.9 <= elapsed < 2.0


def test_watch_from_a_compacted_version_is_gone(
    kube_client: ApiClient, kube_server: KubeApiServer
) -> None:
    core = kubernetes.client.CoreV1Api(kube_client)
    old = core.create_namespaced_config_map("ml", _configmap("a", "blue")).metadata.resource_version
    core.patch_namespaced_config_map("a", "ml", {"data": {"v": "2"}})
    kube_server.store.compact()
    with pytest.raises(ApiException) as gone:
        list(
            kubernetes.watch.Watch().stream(
                core.list_namespaced_config_map, "ml", resource_version=old, timeout_seconds=1
            )
        )
    assert gone.value.status == 410


def test_watch_custom_objects_and_cluster_scoped_nodes(kube_client: ApiClient) -> None:
    custom = kubernetes.client.CustomObjectsApi(kube_client)
    core = kubernetes.client.CoreV1Api(kube_client)
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "fraud"},
        "spec": {"rules": [{"backendRefs": [{"name": "blue", "port": 80, "weight": 100}]}]},
    }
    custom.create_namespaced_custom_object(
        "gateway.networking.k8s.io", "v1", "ml", "httproutes", route
    )
    core.create_node(
        {"metadata": {"name": "gpu-1"}, "status": {"capacity": {"nvidia.com/gpu": "8"}}}
    )
    routes = _first(
        1,
        custom.list_namespaced_custom_object,
        "gateway.networking.k8s.io",
        "v1",
        "ml",
        "httproutes",
    )
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in routes] == [("ADDED", "fraud")]
    nodes = _first(1, core.list_node)
    assert nodes[0]["object"].status.capacity == {"nvidia.com/gpu": "8"}
