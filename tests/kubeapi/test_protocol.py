"""Protocol-level behaviour: malformed requests, discovery, kubeconfig, concurrent writers."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from kubernetes.client import ApiClient, ApiException

from .server import KubeApiServer

GROUP, VERSION, PLURAL = "mlrollout.io", "v1alpha1", "modelrollouts"
ROLLOUT = {
    "apiVersion": f"{GROUP}/{VERSION}",
    "kind": "ModelRollout",
    "metadata": {"name": "fraud"},
    "spec": {"service": "fraud-scorer"},
}


def _raw(
    server: KubeApiServer, method: str, path: str, body: bytes, content_type: str
) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        server.url + path, data=body, method=method, headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


@pytest.mark.parametrize(
    ("method", "path", "body", "code", "reason"),
    [
        ("POST", "/api/v1/namespaces/ml/configmaps", b"{not json", 400, "BadRequest"),
        ("POST", "/api/v1/namespaces/ml/configmaps", b"[1, 2]", 400, "BadRequest"),
        (
            "POST",
            "/api/v1/namespaces/ml/configmaps",
            b'{"kind": "Secret", "metadata": {"name": "a"}}',
            400,
            "BadRequest",
        ),
        (
            "POST",
            "/api/v1/namespaces/ml/configmaps",
            b'{"metadata": {"name": "Bad_Name"}}',
            422,
            "Invalid",
        ),
        (
            "POST",
            "/apis/mlrollout.io/v1alpha1/namespaces/ml/modelrollouts",
            b'{"metadata": {"name": "a"}}',
            400,
            "BadRequest",
        ),
        (
            "PUT",
            "/api/v1/namespaces/ml/configmaps/a",
            b'{"metadata": {"name": "b"}}',
            400,
            "BadRequest",
        ),
        ("GET", "/apis/example.com/v1/widgets", b"", 404, "NotFound"),
    ],
    ids=[
        "invalid-json",
        "not-object",
        "kind-mismatch",
        "bad-name",
        "cr-without-kind",
        "name-mismatch",
        "unknown-resource",
    ],
)
def test_malformed_requests(
    kube_server: KubeApiServer, method: str, path: str, body: bytes, code: int, reason: str
) -> None:
    status, answer = _raw(kube_server, method, path, body or b"", "application/json")
    assert (status, answer["kind"], answer["reason"], answer["code"]) == (
        code,
        "Status",
        reason,
        code,
    )


def test_discovery_and_kubeconfig(kubeconfig_path: Path) -> None:
    with kubernetes.config.new_client_from_config(config_file=str(kubeconfig_path)) as client:
        assert kubernetes.client.VersionApi(client).get_code().git_version == "v1.30.0"
        assert kubernetes.client.CoreApi(client).get_api_versions().versions == ["v1"]
        groups = {g.name for g in kubernetes.client.ApisApi(client).get_api_versions().groups}
        assert {
            "apps",
            "coordination.k8s.io",
            "mlrollout.io",
            "gateway.networking.k8s.io",
        } <= groups
        resources = kubernetes.client.AppsV1Api(client).get_api_resources().resources
        assert {r.name for r in resources} == {
            "deployments",
            "deployments/status",
            "deployments/scale",
        }
        custom = kubernetes.client.CustomObjectsApi(client)
        created = custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, ROLLOUT)
        assert created["metadata"]["namespace"] == "default"


def test_concurrent_read_modify_write_loses_no_update(
    kube_client: ApiClient, kube_server: KubeApiServer
) -> None:
    core = kubernetes.client.CoreV1Api(kube_client)
    core.create_namespaced_config_map("ml", {"metadata": {"name": "counter"}, "data": {"n": "0"}})
    conflicts = []

    def increment(times: int) -> None:
        for _ in range(times):
            while True:
                current = core.read_namespaced_config_map("counter", "ml")
                current.data["n"] = str(int(current.data["n"]) + 1)
                try:
                    core.replace_namespaced_config_map("counter", "ml", current)
                    break
                except ApiException as error:
                    conflicts.append(error.status)

    workers = [threading.Thread(target=increment, args=(10,)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert core.read_namespaced_config_map("counter", "ml").data["n"] == "40"
    versions = [int(r.resource_version) for r in kube_server.history.records()]
    assert versions == sorted(set(versions)), "one global, strictly increasing resourceVersion"
    assert len(versions) == 41
    assert set(conflicts) <= {409}
