"""Object validation: ``assert_valid_history`` and the CRD admission of ModelRollouts."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest
from kubernetes.client import ApiClient, ApiException

from .kubeconfig import make_api_client
from .server import KubeApiServer
from .validity import assert_valid_history

GROUP, VERSION, PLURAL = "mlrollout.io", "v1alpha1", "modelrollouts"
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "modelrollouts.mlrollout.io"},
    "spec": {
        "group": GROUP,
        "versions": [
            {
                "name": VERSION,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "required": ["spec"],
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["service"],
                                "properties": {
                                    "service": {"type": "string", "minLength": 1},
                                    "maxSurge": {"x-kubernetes-int-or-string": True},
                                    "note": {"type": "string", "nullable": True},
                                },
                            },
                            "status": {
                                "type": "object",
                                "properties": {"phase": {"enum": ["Progressing", "Promoted"]}},
                            },
                        },
                    }
                },
            }
        ],
    },
}


@pytest.fixture
def crd_client() -> Iterator[tuple[KubeApiServer, ApiClient]]:
    server = KubeApiServer(crd=CRD).start()
    client = make_api_client(server.url)
    try:
        yield server, client
    finally:
        client.close()
        server.stop()


def _rollout(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelRollout",
        "metadata": {"name": "fraud"},
        "spec": spec,
    }


def test_a_normal_session_including_controller_pods_is_valid(
    kube_client: ApiClient, kube_server: KubeApiServer
) -> None:
    apps = kubernetes.client.AppsV1Api(kube_client)
    core = kubernetes.client.CoreV1Api(kube_client)
    apps.create_namespaced_deployment(
        "ml",
        {
            "metadata": {"name": "blue"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "blue"}},
                "template": {
                    "metadata": {"labels": {"app": "blue"}},
                    "spec": {"containers": [{"name": "model", "image": "m:1"}]},
                },
            },
        },
    )
    core.create_namespaced_service(
        "ml",
        {
            "metadata": {"name": "svc"},
            "spec": {"selector": {"app": "blue"}, "ports": [{"port": 80}]},
        },
    )
    core.create_namespaced_event(
        "ml",
        {
            "metadata": {"name": "ev"},
            "involvedObject": {"kind": "Deployment", "name": "blue", "namespace": "ml"},
            "reason": "Shifted",
            "message": "weight 10",
            "type": "Normal",
        },
    )
    deadline = time.monotonic() + 3
    while not apps.read_namespaced_deployment("blue", "ml").status.ready_replicas:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    kinds = {r.kind for r in kube_server.history.records()}
    assert {"Deployment", "Pod", "Service", "Event"} <= kinds
    assert_valid_history(kube_server)


def test_a_bad_deployment_fails_the_history_check(
    kube_client: ApiClient, kube_server: KubeApiServer
) -> None:
    apps = kubernetes.client.AppsV1Api(kube_client)
    body = {
        "metadata": {"name": "typo"},
        "spec": {
            "replica": 2,  # a typo: not a DeploymentSpec field
            "selector": {"matchLabels": {"app": "typo"}},
            "template": {
                "metadata": {"labels": {"app": "typo"}},
                "spec": {
                    "containers": [
                        {"name": "model", "image": "m:1", "ports": [{"containerPort": 80}]}
                    ]
                },
            },
        },
    }
    # the typed client refuses this body before sending; a raw request gets it through
    request = urllib.request.Request(
        f"{kube_server.url}/apis/apps/v1/namespaces/ml/deployments",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 201
    with pytest.raises(AssertionError) as caught:
        assert_valid_history(kube_server)
    message = str(caught.value)
    assert "client POST Deployment ml/typo" in message
    assert "'replica' was unexpected" in message
    assert apps.read_namespaced_deployment("typo", "ml").spec.replicas == 1, "served anyway"


def test_a_bad_httproute_weight_fails_the_history_check(
    kube_client: ApiClient, kube_server: KubeApiServer
) -> None:
    custom = kubernetes.client.CustomObjectsApi(kube_client)
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "fraud"},
        "spec": {"rules": [{"backendRefs": [{"name": "blue", "port": 80, "weight": 2_000_000}]}]},
    }
    custom.create_namespaced_custom_object(
        "gateway.networking.k8s.io", "v1", "ml", "httproutes", route
    )
    with pytest.raises(AssertionError, match=r"spec\.rules\[0\]\.backendRefs\[0\]\.weight"):
        assert_valid_history(kube_server)


def test_model_rollouts_are_validated_and_pruned_against_the_crd(
    crd_client: tuple[KubeApiServer, ApiClient],
) -> None:
    server, client = crd_client
    custom = kubernetes.client.CustomObjectsApi(client)
    with pytest.raises(ApiException) as invalid:
        custom.create_namespaced_custom_object(GROUP, VERSION, "ml", PLURAL, _rollout(service=""))
    assert invalid.value.status == 422
    assert "spec.service" in invalid.value.body
    created = custom.create_namespaced_custom_object(
        GROUP, VERSION, "ml", PLURAL, _rollout(service="fraud", maxSurge="25%", note=None)
    )
    assert created["spec"] == {"service": "fraud", "maxSurge": "25%", "note": None}
    assert_valid_history(server)
    pruned = custom.patch_namespaced_custom_object(
        GROUP, VERSION, "ml", PLURAL, "fraud", {"spec": {"unknownField": 1, "maxSurge": 2}}
    )
    assert pruned["spec"] == {"service": "fraud", "maxSurge": 2, "note": None}
    assert server.history.records(kind="ModelRollout")[-1].pruned == ("spec.unknownField",)
    with pytest.raises(AssertionError, match=r"spec\.unknownField: unknown field"):
        assert_valid_history(server)
    assert_valid_history(server, allow_pruned=True)
    with pytest.raises(ApiException) as bad_status:
        custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, "ml", PLURAL, "fraud", {"status": {"phase": "Exploded"}}
        )
    assert bad_status.value.status == 422
