"""Parsing AdmissionReviews: every image of every reviewed kind, with the field that holds it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlrollout.admission import build_response, parse_review
from mlrollout.errors import SpecError

from .reviews import pod_spec, review, workload

PREFIX = {
    "Pod": "spec",
    "Deployment": "spec.template.spec",
    "ReplicaSet": "spec.template.spec",
    "StatefulSet": "spec.template.spec",
    "DaemonSet": "spec.template.spec",
    "Job": "spec.template.spec",
    "CronJob": "spec.jobTemplate.spec.template.spec",
}


@pytest.mark.parametrize("kind", list(PREFIX))
def test_every_container_list_of_every_kind(kind: str) -> None:
    spec = pod_spec("a@sha256:" + "1" * 64, init="b:1", ephemeral="c:2")
    request = parse_review(json.dumps(review(kind, workload(kind, spec))).encode())
    prefix = PREFIX[kind]
    assert [(u.field, u.image) for u in request.images] == [
        (f"{prefix}.containers[0].image", "a@sha256:" + "1" * 64),
        (f"{prefix}.initContainers[0].image", "b:1"),
        (f"{prefix}.ephemeralContainers[0].image", "c:2"),
    ]
    assert request.problem is None
    assert request.checked


NOT_REVIEWS = [
    ("not-json", b"{", "AdmissionReview: body is not JSON"),
    ("a-list", b"[]", "kind: must be an AdmissionReview object"),
    (
        "v1beta1",
        json.dumps({**review("Pod", {}), "apiVersion": "admission.k8s.io/v1beta1"}).encode(),
        "apiVersion",
    ),
    (
        "no-request",
        b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}',
        "request: missing",
    ),
    ("no-uid", json.dumps(review("Pod", {}, uid="")).encode(), "request.uid"),
]


@pytest.mark.parametrize(
    ("body", "message"), [n[1:] for n in NOT_REVIEWS], ids=[n[0] for n in NOT_REVIEWS]
)
def test_not_a_review_is_a_spec_error(body: bytes, message: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_review(body)
    assert message in str(info.value)


UNREADABLE = [
    ("no-spec", "Pod", {"metadata": {}}, "spec: missing or not an object"),
    ("containers-not-list", "Pod", {"spec": {"containers": {}}}, "spec.containers: must be a list"),
    ("image-missing", "Pod", {"spec": {"containers": [{"name": "x"}]}}, "spec.containers[0].image"),
    ("cronjob-no-template", "CronJob", {"spec": {"jobTemplate": {}}}, "spec.jobTemplate.spec"),
    ("unknown-kind", "Widget", {"spec": {}}, "kind 'example.com/Widget' is not one"),
    ("object-null", "Pod", None, "spec: missing"),
]


@pytest.mark.parametrize(
    ("kind", "obj", "problem"), [u[1:] for u in UNREADABLE], ids=[u[0] for u in UNREADABLE]
)
def test_unreadable_object_is_a_problem_to_deny(kind: str, obj: Any, problem: str) -> None:
    request = parse_review(json.dumps(review(kind, obj)).encode())
    assert request.problem is not None
    assert problem in request.problem


@pytest.mark.parametrize("operation", ["DELETE", "CONNECT"])
def test_operations_that_run_nothing_are_not_checked(operation: str) -> None:
    request = parse_review(json.dumps(review("Pod", None, operation=operation)).encode())
    assert not request.checked
    assert request.problem is None


def test_denial_is_one_line_with_code_403() -> None:
    answer = build_response("u1", allowed=False, message="bad\nthing\r\n  here")
    assert answer == {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {
            "uid": "u1",
            "allowed": False,
            "status": {"code": 403, "reason": "Forbidden", "message": "bad thing here"},
        },
    }
    assert build_response("u2", allowed=True, message="x")["response"] == {
        "uid": "u2",
        "allowed": True,
    }
