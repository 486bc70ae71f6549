"""The official client against the server: CRUD, selectors, conflicts, generation, the
/status split, patch types, Leases and deletion."""

from __future__ import annotations

import json
from typing import Any

import kubernetes
import pytest
from kubernetes.client import ApiClient, ApiException

from .server import KubeApiServer

GROUP, VERSION, PLURAL = "mlrollout.io", "v1alpha1", "modelrollouts"


def _deployment(name: str = "web", image: str = "m:1", replicas: int = 1) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "model", "image": image}]},
            },
        },
    }


def _rollout(name: str = "fraud") -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelRollout",
        "metadata": {"name": name},
        "spec": {"service": "fraud-scorer"},
    }


def _status_body(error: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(error.body)
    return body


def test_create_get_list_with_selectors(kube_client: ApiClient) -> None:
    core = kubernetes.client.CoreV1Api(kube_client)
    for name, env in (("blue", "blue"), ("green", "green"), ("other", None)):
        labels = {"app": "fraud", **({"env": env} if env else {})}
        core.create_namespaced_config_map(
            "ml", {"metadata": {"name": name, "labels": labels}, "data": {"k": name}}
        )
    got = core.read_namespaced_config_map("blue", "ml")
    assert got.data == {"k": "blue"}
    assert got.metadata.namespace == "ml"
    assert got.metadata.uid
    assert got.metadata.creation_timestamp is not None

    def names(**query: str) -> list[str]:
        return [cm.metadata.name for cm in core.list_namespaced_config_map("ml", **query).items]

    assert names() == ["blue", "green", "other"]
    assert names(label_selector="env in (blue,green)") == ["blue", "green"]
    assert names(label_selector="env notin (blue)") == ["green", "other"]
    assert names(label_selector="app=fraud,!env") == ["other"]
    assert names(label_selector="env!=green,env") == ["blue"]
    assert names(field_selector="metadata.name=green") == ["green"]
    listed = core.list_namespaced_config_map("ml")
    assert int(listed.metadata.resource_version) >= 3
    assert [c.metadata.name for c in core.list_config_map_for_all_namespaces().items] == [
        "blue",
        "green",
        "other",
    ]


def test_pagination_with_limit_and_continue(kube_client: ApiClient) -> None:
    core = kubernetes.client.CoreV1Api(kube_client)
    for index in range(5):
        core.create_namespaced_config_map("ml", {"metadata": {"name": f"cm-{index}"}})
    first = core.list_namespaced_config_map("ml", limit=2)
    second = core.list_namespaced_config_map("ml", limit=10, _continue=first.metadata._continue)
    assert [c.metadata.name for c in first.items] == ["cm-0", "cm-1"]
    assert [c.metadata.name for c in second.items] == ["cm-2", "cm-3", "cm-4"]
    assert second.metadata._continue is None


def test_not_found_and_already_exists_status_bodies(kube_client: ApiClient) -> None:
    apps = kubernetes.client.AppsV1Api(kube_client)
    with pytest.raises(ApiException) as missing:
        apps.read_namespaced_deployment("nope", "ml")
    assert missing.value.status == 404
    assert _status_body(missing.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'deployments.apps "nope" not found',
        "reason": "NotFound",
        "code": 404,
        "details": {"name": "nope", "kind": "deployments", "group": "apps"},
    }
    apps.create_namespaced_deployment("ml", _deployment())
    with pytest.raises(ApiException) as duplicate:
        apps.create_namespaced_deployment("ml", _deployment())
    assert duplicate.value.status == 409
    assert _status_body(duplicate.value)["reason"] == "AlreadyExists"


def test_stale_resource_version_is_a_conflict_for_put_and_patch(kube_client: ApiClient) -> None:
    core = kubernetes.client.CoreV1Api(kube_client)
    created = core.create_namespaced_config_map("ml", {"metadata": {"name": "c"}, "data": {}})
    stale = created.metadata.resource_version
    core.patch_namespaced_config_map("c", "ml", {"data": {"a": "1"}})
    body = {"metadata": {"name": "c", "resourceVersion": stale}, "data": {"b": "2"}}
    with pytest.raises(ApiException) as put:
        core.replace_namespaced_config_map("c", "ml", body)
    assert put.value.status == 409
    assert _status_body(put.value)["reason"] == "Conflict"
    assert "the object has been modified" in _status_body(put.value)["message"]
    with pytest.raises(ApiException) as patch:
        core.patch_namespaced_config_map("c", "ml", body)
    assert patch.value.status == 409
    assert core.read_namespaced_config_map("c", "ml").data == {"a": "1"}
    fresh = core.read_namespaced_config_map("c", "ml").metadata.resource_version
    body["metadata"]["resourceVersion"] = fresh
    replaced = core.replace_namespaced_config_map("c", "ml", body)
    assert replaced.data == {"b": "2"}
    assert int(replaced.metadata.resource_version) > int(fresh)


def test_noop_write_keeps_the_resource_version(kube_client: ApiClient) -> None:
    core = kubernetes.client.CoreV1Api(kube_client)
    created = core.create_namespaced_config_map(
        "ml", {"metadata": {"name": "c"}, "data": {"a": "1"}}
    )
    patched = core.patch_namespaced_config_map("c", "ml", {"data": {"a": "1"}})
    assert patched.metadata.resource_version == created.metadata.resource_version


def test_deployment_generation_and_status_split(
    kube_client: ApiClient, kube_server: KubeApiServer
) -> None:
    apps = kubernetes.client.AppsV1Api(kube_client)
    kube_server.deployments.set_never_ready("ml", "web")
    created = apps.create_namespaced_deployment("ml", {**_deployment(), "status": {"replicas": 7}})
    assert created.metadata.generation == 1
    assert created.status.replicas is None, "status is ignored on create"
    labelled = apps.patch_namespaced_deployment("web", "ml", {"metadata": {"labels": {"x": "y"}}})
    assert labelled.metadata.generation == 1
    bumped = apps.patch_namespaced_deployment(
        "web",
        "ml",
        {"spec": {"template": {"spec": {"containers": [{"name": "model", "image": "m:2"}]}}}},
    )
    assert bumped.metadata.generation == 2
    ignored = apps.patch_namespaced_deployment("web", "ml", {"status": {"readyReplicas": 5}})
    assert ignored.status.ready_replicas != 5
    assert ignored.metadata.generation == 2
    status = apps.patch_namespaced_deployment_status(
        "web", "ml", {"spec": {"replicas": 9}, "status": {"observedGeneration": 2, "replicas": 4}}
    )
    assert status.spec.replicas == 1, "a /status write ignores spec"
    assert status.status.replicas == 4
    assert status.metadata.generation == 2


def test_model_rollout_status_subresource(kube_client: ApiClient) -> None:
    custom = kubernetes.client.CustomObjectsApi(kube_client)
    created = custom.create_namespaced_custom_object(
        GROUP, VERSION, "ml", PLURAL, {**_rollout(), "status": {"phase": "Promoted"}}
    )
    assert created["metadata"]["generation"] == 1
    assert "status" not in created
    with_status = custom.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        "ml",
        PLURAL,
        "fraud",
        {
            "spec": {"service": "hijacked"},
            "status": {"phase": "Progressing", "observedGeneration": 1},
        },
    )
    assert with_status["spec"]["service"] == "fraud-scorer"
    assert with_status["status"]["phase"] == "Progressing"
    assert with_status["metadata"]["generation"] == 1
    main = custom.patch_namespaced_custom_object(
        GROUP, VERSION, "ml", PLURAL, "fraud", {"spec": {"service": "v2"}, "status": {"phase": "X"}}
    )
    assert main["status"]["phase"] == "Progressing"
    assert main["metadata"]["generation"] == 2
    stale = {**with_status, "status": {"phase": "Aborted"}}
    with pytest.raises(ApiException) as conflict:
        custom.replace_namespaced_custom_object_status(GROUP, VERSION, "ml", PLURAL, "fraud", stale)
    assert conflict.value.status == 409


@pytest.mark.parametrize(
    ("content_type", "patch", "expected_env"),
    [
        (
            "application/strategic-merge-patch+json",
            {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [{"name": "model", "env": [{"name": "B", "value": "2"}]}]
                        }
                    }
                }
            },
            [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        ),
        (
            "application/merge-patch+json",
            {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "model",
                                    "image": "m:1",
                                    "env": [{"name": "B", "value": "2"}],
                                }
                            ]
                        }
                    }
                }
            },
            [{"name": "B", "value": "2"}],
        ),
        (
            "application/json-patch+json",
            [
                {
                    "op": "add",
                    "path": "/spec/template/spec/containers/0/env/-",
                    "value": {"name": "B", "value": "2"},
                }
            ],
            [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        ),
    ],
    ids=["strategic", "merge", "json"],
)
def test_patch_types_through_the_client(
    kube_client: ApiClient, content_type: str, patch: Any, expected_env: list[dict[str, str]]
) -> None:
    apps = kubernetes.client.AppsV1Api(kube_client)
    body = _deployment()
    body["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}]
    apps.create_namespaced_deployment("ml", body)
    patched = apps.patch_namespaced_deployment("web", "ml", patch, _content_type=content_type)
    container = patched.spec.template.spec.containers[0]
    assert [{"name": e.name, "value": e.value} for e in container.env] == expected_env
    assert container.image == "m:1"


def test_service_selector_switch_by_strategic_merge(kube_client: ApiClient) -> None:
    core = kubernetes.client.CoreV1Api(kube_client)
    core.create_namespaced_service(
        "ml",
        {
            "metadata": {"name": "fraud-scorer"},
            "spec": {"selector": {"app": "fraud", "env": "blue"}, "ports": [{"port": 80}]},
        },
    )
    switched = core.patch_namespaced_service(
        "fraud-scorer", "ml", {"spec": {"selector": {"env": "green"}}}
    )
    assert switched.spec.selector == {"app": "fraud", "env": "green"}
    assert switched.spec.cluster_ip
    assert switched.spec.ports[0].target_port == 80


def test_lease_conflict_between_two_holders(kube_client: ApiClient) -> None:
    coordination = kubernetes.client.CoordinationV1Api(kube_client)
    lease = {
        "metadata": {"name": "mlrollout-controller"},
        "spec": {
            "holderIdentity": "a",
            "leaseDurationSeconds": 15,
            "renewTime": "2024-01-01T00:00:00.000000Z",
        },
    }
    coordination.create_namespaced_lease("ml", lease)
    seen_by_a = coordination.read_namespaced_lease("mlrollout-controller", "ml")
    seen_by_b = coordination.read_namespaced_lease("mlrollout-controller", "ml")
    seen_by_b.spec.holder_identity = "b"
    coordination.replace_namespaced_lease("mlrollout-controller", "ml", seen_by_b)
    seen_by_a.spec.renew_time = None
    with pytest.raises(ApiException) as lost:
        coordination.replace_namespaced_lease("mlrollout-controller", "ml", seen_by_a)
    assert lost.value.status == 409
    current = coordination.read_namespaced_lease("mlrollout-controller", "ml")
    assert current.spec.holder_identity == "b"


def test_delete_returns_status_or_object_and_checks_preconditions(kube_client: ApiClient) -> None:
    apps = kubernetes.client.AppsV1Api(kube_client)
    core = kubernetes.client.CoreV1Api(kube_client)
    created = apps.create_namespaced_deployment("ml", _deployment(replicas=0))
    with pytest.raises(ApiException) as precondition:
        apps.delete_namespaced_deployment(
            "web", "ml", body={"preconditions": {"resourceVersion": "1"}}
        )
    assert precondition.value.status == 409
    status = apps.delete_namespaced_deployment("web", "ml")
    assert status["kind"] == "Status"
    assert status["status"] == "Success"
    assert status["details"]["uid"] == created.metadata.uid
    core.create_namespaced_config_map("ml", {"metadata": {"name": "c"}})
    core.delete_namespaced_config_map("c", "ml")
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_config_map("c", "ml")
    assert gone.value.status == 404
