"""Digest pinning with no webhook: the shipped ValidatingAdmissionPolicy
(``examples/admission/digest-pinning.yaml``, policy and binding, unchanged) evaluated by the
real API server's CEL alone. No ValidatingWebhookConfiguration is registered, and no
registry exists: the pinned image below is never pulled or verified."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest

from .fixtures import TestBed
from .webhook import (
    GOVERNED,
    apply_digest_pinning,
    debug_container,
    delete_digest_pinning,
    deployment,
    pod,
    try_create,
    wait_for_admission,
)

pytestmark = pytest.mark.controlplane

PINNED = "registry.example.com/ml/fraud@sha256:" + "ab" * 32
TAG_ONLY = "registry.example.com/ml/fraud:v1"
DENIED = (
    "ValidatingAdmissionPolicy 'mlrollout-digest-pinning' with binding "
    "'mlrollout-digest-pinning' denied request: every image must be pinned by digest"
)


@pytest.fixture
def pinning(cp: TestBed) -> Iterator[TestBed]:
    """The test's namespace, governed, with the policy in effect and no webhook."""
    registration = kubernetes.client.AdmissionregistrationV1Api(cp.api)
    hooks = registration.list_validating_webhook_configuration().items
    assert [h.metadata.name for h in hooks] == []
    kubernetes.client.CoreV1Api(cp.api).patch_namespace(
        cp.namespace, {"metadata": {"labels": GOVERNED}}
    )
    created = apply_digest_pinning(cp.api)
    try:
        wait_for_admission(cp.api, pod(TAG_ONLY), cp.namespace, refused_with=DENIED)
        yield cp
    finally:
        delete_digest_pinning(cp.api, created)
        wait_for_admission(cp.api, pod(TAG_ONLY), cp.namespace, refused_with=None)


def _init_container(image: str) -> dict[str, Any]:
    body = pod(PINNED)
    init = copy.deepcopy(body["spec"]["containers"][0])
    body["spec"]["initContainers"] = [{**init, "name": "fetch-model", "image": image}]
    return body


def test_the_policy_alone_denies_tag_only_images(pinning: TestBed) -> None:
    ns = pinning.namespace
    for body in (pod(TAG_ONLY), deployment(TAG_ONLY, "tagged"), _init_container(TAG_ONLY)):
        refusal = try_create(pinning.api, body, ns)
        assert refusal is not None, f"{body['kind']} admitted"
        assert refusal.status == 403
        assert DENIED in refusal.message, refusal.message
        assert refusal.message.endswith(f"not pinned: {TAG_ONLY}")
    # Pinned, unsigned and never pulled: admitted (the policy checks pinning, not signatures).
    for body in (pod(PINNED, "pinned"), deployment(PINNED, "pinned"), _init_container(PINNED)):
        assert try_create(pinning.api, body, ns) is None
    core = kubernetes.client.CoreV1Api(pinning.api)
    assert "pinned" in [p.metadata.name for p in core.list_namespaced_pod(ns).items]
    # An ephemeral container added to the running pod (pods/ephemeralcontainers).
    tag_only = {"spec": {"ephemeralContainers": [debug_container(TAG_ONLY)]}}
    with pytest.raises(kubernetes.client.ApiException) as info:
        core.patch_namespaced_pod_ephemeralcontainers("pinned", ns, tag_only)
    assert DENIED in json.loads(info.value.body)["message"]
    pinned = {"spec": {"ephemeralContainers": [debug_container(PINNED)]}}
    core.patch_namespaced_pod_ephemeralcontainers("pinned", ns, pinned)
    debug = core.read_namespaced_pod("pinned", ns).spec.ephemeral_containers
    assert [c.image for c in debug] == [PINNED]


def test_namespaces_outside_the_binding_are_not_checked(pinning: TestBed) -> None:
    core = kubernetes.client.CoreV1Api(pinning.api)
    ungoverned = {"metadata": {"labels": {"mlrollout.io/governed": "false"}}}
    core.patch_namespace(pinning.namespace, ungoverned)
    wait_for_admission(pinning.api, pod(TAG_ONLY), pinning.namespace, refused_with=None)
    assert try_create(pinning.api, pod(TAG_ONLY, "tagged"), pinning.namespace) is None
