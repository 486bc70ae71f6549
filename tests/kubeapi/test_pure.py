"""Unit tests of the pure parts: selectors, patches, write rules, scale, workloads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from .failures import StatusError
from .kinds import kind_by_name
from .lifecycle import assess_body, compute_created, compute_updated
from .patches import compute_json_patch, compute_merge_patch, compute_patched
from .selectors import parse_field_selector, parse_label_selector
from .strategic import compute_strategic_merge
from .workloads import compute_deployment_status, compute_template_hash

DEPLOYMENT = kind_by_name("Deployment")
ROLLOUT = kind_by_name("ModelRollout")
LABELS = {"app": "fraud", "env": "blue", "tier": "gpu"}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", True),
        ("app=fraud", True),
        ("app==fraud", True),
        ("app!=fraud", False),
        ("missing!=x", True),
        ("env in (blue,green)", True),
        ("env in (green)", False),
        ("env notin (green, red)", True),
        ("missing notin (a)", True),
        ("tier", True),
        ("!tier", False),
        ("!missing", True),
        ("app=fraud,env in (blue),!missing", True),
        ("app=fraud,env=green", False),
    ],
    ids=lambda v: str(v),
)
def test_label_selector_semantics(selector: str, expected: bool) -> None:
    assert parse_label_selector(selector).matches(LABELS) is expected


@pytest.mark.parametrize("selector", ["app in blue", "a=b=c", "=x", "env in (a b)"])
def test_malformed_label_selector_is_bad_request(selector: str) -> None:
    with pytest.raises(StatusError) as caught:
        parse_label_selector(selector)
    assert caught.value.code == 400


def test_field_selector_name_and_unsupported_field() -> None:
    obj = {"metadata": {"name": "a", "namespace": "ns"}}
    assert parse_field_selector("metadata.name=a", DEPLOYMENT).matches(obj)
    assert not parse_field_selector("metadata.name!=a", DEPLOYMENT).matches(obj)
    with pytest.raises(StatusError, match="field label not supported"):
        parse_field_selector("spec.replicas=1", DEPLOYMENT)


def test_merge_patch_merges_maps_deletes_nulls_replaces_lists() -> None:
    target = {"a": {"b": 1, "c": 2}, "l": [1, 2], "k": "v"}
    patched = compute_merge_patch(target, {"a": {"b": None, "d": 3}, "l": [3], "k": None})
    assert patched == {"a": {"c": 2, "d": 3}, "l": [3]}
    assert target["a"] == {"b": 1, "c": 2}, "the target must not be modified"


def test_json_patch_operations() -> None:
    doc = {"spec": {"rules": [{"w": 90}, {"w": 10}]}}
    ops = [
        {"op": "test", "path": "/spec/rules/0/w", "value": 90},
        {"op": "replace", "path": "/spec/rules/0/w", "value": 50},
        {"op": "add", "path": "/spec/rules/-", "value": {"w": 0}},
        {"op": "copy", "from": "/spec/rules/1", "path": "/spec/copy"},
        {"op": "move", "from": "/spec/copy", "path": "/spec/moved"},
        {"op": "remove", "path": "/spec/rules/2"},
    ]
    assert compute_json_patch(doc, ops) == {
        "spec": {"rules": [{"w": 50}, {"w": 10}], "moved": {"w": 10}}
    }


@pytest.mark.parametrize(
    ("ops", "code"),
    [
        ([{"op": "test", "path": "/a", "value": 2}], 422),
        ([{"op": "replace", "path": "/missing", "value": 1}], 422),
        ([{"op": "remove", "path": "/l/5"}], 422),
        ([{"op": "jump", "path": "/a"}], 400),
        ({"op": "add"}, 400),
    ],
    ids=["failed-test", "replace-missing", "index-out-of-range", "unknown-op", "not-a-list"],
)
def test_json_patch_errors(ops: Any, code: int) -> None:
    with pytest.raises(StatusError) as caught:
        compute_json_patch({"a": 1, "l": [0]}, ops)
    assert caught.value.code == code


POD_SPEC = {
    "containers": [
        {"name": "model", "image": "m:1", "env": [{"name": "A", "value": "1"}]},
        {"name": "sidecar", "image": "s:1"},
    ],
    "volumes": [{"name": "tmp", "emptyDir": {}}],
}


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        (
            {"containers": [{"name": "model", "image": "m:2"}]},
            [
                {"name": "model", "image": "m:2", "env": [{"name": "A", "value": "1"}]},
                {"name": "sidecar", "image": "s:1"},
            ],
        ),
        (
            {"containers": [{"name": "model", "env": [{"name": "B", "value": "2"}]}]},
            [
                {
                    "name": "model",
                    "image": "m:1",
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                },
                {"name": "sidecar", "image": "s:1"},
            ],
        ),
        (
            {"containers": [{"name": "sidecar", "$patch": "delete"}]},
            [{"name": "model", "image": "m:1", "env": [{"name": "A", "value": "1"}]}],
        ),
        (
            {"containers": [{"$patch": "replace"}, {"name": "only", "image": "o:1"}]},
            [{"name": "only", "image": "o:1"}],
        ),
    ],
    ids=["merge-by-name", "env-merge", "delete-directive", "replace-directive"],
)
def test_strategic_merge_lists_by_name(patch: dict[str, Any], expected: list[Any]) -> None:
    assert compute_strategic_merge(POD_SPEC, patch)["containers"] == expected


def test_strategic_merge_service_selector_merges_unless_replaced() -> None:
    service = {"spec": {"selector": {"app": "fraud", "env": "blue"}, "ports": [{"port": 80}]}}
    merged = compute_strategic_merge(service, {"spec": {"selector": {"env": "green"}}})
    assert merged["spec"]["selector"] == {"app": "fraud", "env": "green"}
    replaced = compute_strategic_merge(
        service, {"spec": {"selector": {"$patch": "replace", "version": "2"}}}
    )
    assert replaced["spec"]["selector"] == {"version": "2"}
    ports = compute_strategic_merge(service, {"spec": {"ports": [{"port": 81}]}})
    assert ports["spec"]["ports"] == [{"port": 80}, {"port": 81}]


def test_strategic_merge_is_refused_for_custom_resources() -> None:
    with pytest.raises(StatusError) as caught:
        compute_patched(
            ROLLOUT, {}, {"spec": {}}, content_type="application/strategic-merge-patch+json"
        )
    assert caught.value.code == 415


def _deployment(image: str = "m:1", labels: dict[str, str] | None = None) -> dict[str, Any]:
    body = {
        "metadata": {"name": "d", "labels": labels or {}},
        "spec": {
            "selector": {"matchLabels": {"app": "d"}},
            "template": {
                "metadata": {"labels": {"app": "d"}},
                "spec": {"containers": [{"name": "c", "image": image}]},
            },
        },
    }
    return assess_body(DEPLOYMENT, body, namespace="ns", name=None)


def _created() -> dict[str, Any]:
    return compute_created(
        DEPLOYMENT,
        _deployment(),
        uid="u",
        resource_version=5,
        now=datetime(2024, 1, 1, tzinfo=UTC),
        name_suffix="x",
    )


def test_generation_moves_on_spec_changes_only() -> None:
    old = _created()
    assert old["metadata"]["generation"] == 1
    relabelled = compute_updated(DEPLOYMENT, old, _deployment(labels={"a": "b"}), subresource=None)
    assert relabelled["metadata"]["generation"] == 1
    new_image = compute_updated(DEPLOYMENT, old, _deployment(image="m:2"), subresource=None)
    assert new_image["metadata"]["generation"] == 2
    status = compute_updated(
        DEPLOYMENT,
        old,
        {**_deployment(image="m:3"), "status": {"replicas": 1}},
        subresource="status",
    )
    assert status["metadata"]["generation"] == 1
    assert status["status"] == {"replicas": 1}
    assert status["spec"]["template"]["spec"]["containers"][0]["image"] == "m:1"


def test_main_write_ignores_status_and_server_metadata() -> None:
    old = {**_created(), "status": {"replicas": 3}}
    body = _deployment()
    body["status"] = {"replicas": 99}
    body["metadata"].update(uid="forged", generation=42, creationTimestamp="1999-01-01T00:00:00Z")
    updated = compute_updated(DEPLOYMENT, old, body, subresource=None)
    assert updated["status"] == {"replicas": 3}
    assert updated["metadata"]["uid"] == "u"
    assert updated["metadata"]["generation"] == 1
    assert updated["metadata"]["creationTimestamp"] == "2024-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ([], 400),
        ({"apiVersion": "v1", "metadata": {"name": "d"}}, 400),
        ({"kind": "StatefulSet", "metadata": {"name": "d"}}, 400),
        ({"metadata": {"name": "d", "namespace": "other"}}, 400),
        ({"metadata": {}}, 422),
    ],
    ids=["not-object", "wrong-apiVersion", "wrong-kind", "wrong-namespace", "no-name"],
)
def test_bodies_that_do_not_match_their_url(body: Any, code: int) -> None:
    with pytest.raises(StatusError) as caught:
        assess_body(DEPLOYMENT, body, namespace="ns", name=None)
    assert caught.value.code == code


def test_deployment_status_counts_and_conditions() -> None:
    deployment = {**_created(), "spec": {**_created()["spec"], "replicas": 2}}
    template_hash = compute_template_hash(deployment["spec"]["template"])
    ready = {"conditions": [{"type": "Ready", "status": "True"}]}
    pods = [
        {"metadata": {"labels": {"pod-template-hash": template_hash}}, "status": ready},
        {"metadata": {"labels": {"pod-template-hash": template_hash}}, "status": {}},
    ]
    status = compute_deployment_status(
        deployment,
        pods,
        template_hash=template_hash,
        deadline_exceeded=True,
        now=datetime(2024, 1, 1, tzinfo=UTC),
    )
    assert {k: v for k, v in status.items() if k != "conditions"} == {
        "observedGeneration": 1,
        "replicas": 2,
        "updatedReplicas": 2,
        "readyReplicas": 1,
        "availableReplicas": 1,
        "unavailableReplicas": 1,
    }
    reasons = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert reasons == {
        "Available": ("False", "MinimumReplicasUnavailable"),
        "Progressing": ("False", "ProgressDeadlineExceeded"),
    }
