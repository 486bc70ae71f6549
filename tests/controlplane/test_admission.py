"""The admission webhook end to end: the real API server calls ``mlrollout admission``.

The webhook runs as a process on loopback with a serving certificate from the control
plane's CA, reads policies as the shipped ``mlrollout-admission`` ServiceAccount (only the
shipped ClusterRole), and is registered with the shipped ``webhook.yaml`` (``clientConfig``
set to its URL and CA). Images live in the real docker-registry, signed by the real cosign
CLI (legacy format: this policy requires log evidence for bundles, and the test signs
without a transparency log). A ClusterReleasePolicy governs namespaces labelled
``mlrollout.io/governed=true`` and trusts the Secret ``cosign-pub``. Everything is judged by
what the API server answers and stores. The webhook keeps one verified digest
(``--cache-size=1``), so the cache bound is exercised on every test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from gates.cosign_cli import CosignWorld, cosign_binary
from gates.real_registry import start_registry

from .fixtures import ControlPlaneSession, TestBed
from .webhook import (
    GOVERNED,
    AdmissionProcess,
    Refusal,
    apply_admission_rbac,
    debug_container,
    delete_admission_rbac,
    delete_webhook,
    deployment,
    pod,
    register_webhook,
    try_create,
    wait_for_admission,
)
from .workloads import wait_until

pytestmark = [pytest.mark.controlplane, pytest.mark.registry, pytest.mark.cosign]

EXCLUDED = "mlrollout.test/ungoverned"  # a governed-labelled namespace the policy skips
POLICY = "admission-e2e"
WEBHOOK = 'admission webhook "images.admission.mlrollout.io"'
CRP = ("mlrollout.io", "v1alpha1", "clusterreleasepolicies")


@dataclass(frozen=True)
class Images:
    """Pinned references in the real registry, by how they are signed."""

    signed: str
    signed_too: str
    unsigned: str
    stranger: str  # signed by a key the policy does not trust
    bundle_without_log: str  # cosign v3 bundle format, no transparency-log entry
    tag_only: str


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Images, Path]]:
    """The images, and the secrets directory holding the trusted keys (as the webhook's
    Deployment mounts them)."""
    binary = cosign_binary()
    with start_registry(tmp_path_factory.mktemp("registry")) as host:
        world = CosignWorld(binary, host, tmp_path_factory.mktemp("cosign"))
        secrets = tmp_path_factory.mktemp("secrets")
        for secret, key in (("cosign-pub", "trusted"), ("stranger-pub", "stranger")):
            (secrets / secret).mkdir()
            (secrets / secret / "cosign.pub").write_bytes(world.key(key).read_bytes())
        signed, signed_too = world.image(b"model a"), world.image(b"model b")
        stranger, bundled = world.image(b"model c"), world.image(b"model d")
        world.sign(signed, "legacy")
        world.sign(signed_too, "legacy")
        world.sign(stranger, "legacy", key="stranger")
        world.sign(bundled, "bundle")
        world.image(b"model e", tag="v1")
        found = Images(
            signed=signed,
            signed_too=signed_too,
            unsigned=world.image(b"model f"),
            stranger=stranger,
            bundle_without_log=bundled,
            tag_only=f"{host}/{world.repo}:v1",
        )
        try:
            yield found, secrets
        finally:
            world.http.close()


def _policy(secret: str) -> dict[str, Any]:
    return {
        "apiVersion": "mlrollout.io/v1alpha1",
        "kind": "ClusterReleasePolicy",
        "metadata": {"name": POLICY},
        "spec": {
            "namespaceSelector": {
                "matchLabels": GOVERNED,
                "matchExpressions": [{"key": EXCLUDED, "operator": "DoesNotExist"}],
            },
            "signature": {"publicKeys": [{"secret": secret}], "allowInlineKeys": False},
        },
    }


@pytest.fixture(scope="module")
def webhook(
    control_plane: ControlPlaneSession,
    images: tuple[Images, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[AdmissionProcess]:
    """The policy, the webhook process (one cached digest) and its registration."""
    api = control_plane.api
    custom = kubernetes.client.CustomObjectsApi(api)
    custom.create_cluster_custom_object(*CRP, _policy("cosign-pub"))
    process: AdmissionProcess | None = None
    name = ""
    try:
        apply_admission_rbac(api)
        process = AdmissionProcess(
            api=api,
            server=control_plane.plane.url,
            pki=control_plane.plane.pki,
            workdir=tmp_path_factory.mktemp("admission"),
            secrets=images[1],
            extra_args=("--cache-size=1",),
        )
        process.start()
        name = register_webhook(api, process.url, control_plane.plane.pki.ca_pem)
        yield process
    finally:
        if name:
            delete_webhook(api, name)
        if process is not None:
            process.stop()
        custom.delete_cluster_custom_object(*CRP, POLICY)
        delete_admission_rbac(api)
    assert "Traceback" not in process.log()


def _label(cp: TestBed, namespace: str, labels: dict[str, str]) -> None:
    core = kubernetes.client.CoreV1Api(cp.api)
    core.patch_namespace(namespace, {"metadata": {"labels": labels}})


@pytest.fixture
def governed(cp: TestBed, webhook: AdmissionProcess, images: tuple[Images, Path]) -> TestBed:
    """The test's namespace, governed, once the API server calls the webhook for it."""
    _label(cp, cp.namespace, GOVERNED)
    wait_for_admission(cp.api, pod(images[0].tag_only), cp.namespace, refused_with=WEBHOOK)
    return cp


def _pods(cp: TestBed) -> list[str]:
    core = kubernetes.client.CoreV1Api(cp.api)
    return [p.metadata.name for p in core.list_namespaced_pod(cp.namespace).items]


def _denied(refusal: Refusal | None) -> str:
    """The webhook's one-line reason, from the API server's refusal."""
    assert refusal is not None, "admitted"
    prefix = f"{WEBHOOK} denied the request: "
    assert refusal.message.startswith(prefix), refusal
    assert "\n" not in refusal.message
    return refusal.message.removeprefix(prefix)


_DENIALS = {
    "unsigned": ("unsigned", "spec.containers[0].image: UNSIGNED: "),
    "untrusted-key": ("stranger", "spec.containers[0].image: UNTRUSTED_KEY: "),
    "bundle-without-log": ("bundle_without_log", "spec.containers[0].image: NO_LOG_EVIDENCE: "),
    "tag-only": ("tag_only", "spec.containers[0].image: UNPINNED_REFERENCE: "),
}


@pytest.mark.parametrize("case", sorted(_DENIALS))
def test_the_api_server_denies_what_the_policy_refuses(
    governed: TestBed, images: tuple[Images, Path], webhook: AdmissionProcess, case: str
) -> None:
    attribute, reason = _DENIALS[case]
    refusal = try_create(governed.api, pod(getattr(images[0], attribute)), governed.namespace)
    message = _denied(refusal)
    assert refusal is not None
    assert refusal.status == 403
    assert message.startswith(reason), message
    if case != "tag-only":  # pinning is checked before any policy's signature gates
        assert message.endswith(f"(ClusterReleasePolicy {POLICY})")
    assert _pods(governed) == []
    assert any(" denied " in line for line in webhook.reviews(governed.namespace))


def test_a_signed_pinned_pod_is_admitted(
    governed: TestBed, images: tuple[Images, Path], webhook: AdmissionProcess
) -> None:
    assert try_create(governed.api, pod(images[0].signed, "signed"), governed.namespace) is None
    assert _pods(governed) == ["signed"]
    allowed = [line for line in webhook.reviews(governed.namespace) if " allowed " in line]
    assert allowed
    assert f"every image verified (ClusterReleasePolicy {POLICY})" in allowed[-1]


def test_deployment_templates_are_checked(governed: TestBed, images: tuple[Images, Path]) -> None:
    ns = governed.namespace
    field = "spec.template.spec.containers[0].image"
    tag_only = _denied(try_create(governed.api, deployment(images[0].tag_only, "tagged"), ns))
    assert tag_only.startswith(f"{field}: UNPINNED_REFERENCE: ")
    unsigned = _denied(try_create(governed.api, deployment(images[0].unsigned, "unsigned"), ns))
    assert unsigned.startswith(f"{field}: UNSIGNED: ")
    apps = kubernetes.client.AppsV1Api(governed.api)
    assert apps.list_namespaced_deployment(ns).items == []
    assert try_create(governed.api, deployment(images[0].signed, "signed"), ns) is None
    # The ReplicaSet controller's pod is reviewed too, and admitted.
    wait_until(lambda: len(_pods(governed)) == 1, what="the signed Deployment's pod")


def test_ungoverned_namespaces_are_admitted(
    cp: TestBed, images: tuple[Images, Path], webhook: AdmissionProcess
) -> None:
    # Not labelled: the API server does not call the webhook at all.
    assert try_create(cp.api, pod(images[0].tag_only), cp.namespace) is None
    assert webhook.reviews(cp.namespace) == []
    # Labelled for the webhook, but no ClusterReleasePolicy selects it: the webhook allows.
    _label(cp, cp.namespace, {**GOVERNED, EXCLUDED: "yes"})
    wait_until(
        lambda: (
            try_create(cp.api, pod(images[0].tag_only), cp.namespace) is None
            and bool(webhook.reviews(cp.namespace))
        ),
        what="a review of the namespace",
    )
    assert f"namespace {cp.namespace!r} is not governed" in webhook.reviews(cp.namespace)[-1]


def test_the_bounded_cache_never_admits_what_the_policy_no_longer_trusts(
    governed: TestBed, images: tuple[Images, Path], webhook: AdmissionProcess
) -> None:
    ns, found = governed.namespace, images[0]
    # One cached digest: each admission evicts the other, and both stay admitted.
    for image in (found.signed, found.signed_too, found.signed, found.signed_too):
        assert try_create(governed.api, pod(image), ns) is None
    assert _denied(try_create(governed.api, pod(found.unsigned), ns)).startswith(
        "spec.containers[0].image: UNSIGNED: "
    )
    custom = kubernetes.client.CustomObjectsApi(governed.api)
    custom.patch_cluster_custom_object(*CRP, POLICY, _policy("stranger-pub"))
    try:
        # signed_too is the cached digest; under the changed policy it is verified again.
        wait_until(
            lambda: try_create(governed.api, pod(found.signed_too), ns) is not None,
            what="the changed policy in effect",
            timeout=30.0,
        )
        message = _denied(try_create(governed.api, pod(found.signed_too), ns))
        assert message.startswith("spec.containers[0].image: UNTRUSTED_KEY: ")
        assert try_create(governed.api, pod(found.stranger), ns) is None
    finally:
        custom.patch_cluster_custom_object(*CRP, POLICY, _policy("cosign-pub"))
        wait_until(
            lambda: try_create(governed.api, pod(found.signed), ns, dry_run=True) is None,
            what="the original policy back in effect",
            timeout=30.0,
        )


def test_with_the_webhook_down_creation_is_denied(
    governed: TestBed, images: tuple[Images, Path], webhook: AdmissionProcess
) -> None:
    ns, signed = governed.namespace, images[0].signed
    assert try_create(governed.api, pod(signed, "before"), ns) is None  # verified and cached
    webhook.stop()
    try:
        for body in (pod(signed, "during"), deployment(signed, "during")):
            refusal = try_create(governed.api, body, ns)
            assert refusal is not None, f"{body['kind']} admitted with the webhook down"
            assert 'failed calling webhook "images.admission.mlrollout.io"' in refusal.message
        assert _pods(governed) == ["before"]
        assert kubernetes.client.AppsV1Api(governed.api).list_namespaced_deployment(ns).items == []
    finally:
        webhook.restart()
    assert try_create(governed.api, pod(signed, "after"), ns) is None
    assert sorted(_pods(governed)) == ["after", "before"]


def test_ephemeral_containers_are_checked(governed: TestBed, images: tuple[Images, Path]) -> None:
    ns, found = governed.namespace, images[0]
    assert try_create(governed.api, pod(found.signed, "debugged"), ns) is None
    core = kubernetes.client.CoreV1Api(governed.api)
    for image, reason in ((found.tag_only, "UNPINNED_REFERENCE"), (found.unsigned, "UNSIGNED")):
        container = debug_container(image)
        patch = {"spec": {"ephemeralContainers": [container]}}
        with pytest.raises(kubernetes.client.ApiException) as info:
            core.patch_namespaced_pod_ephemeralcontainers("debugged", ns, patch)
        message = json.loads(info.value.body)["message"]
        assert f"{WEBHOOK} denied the request: spec.ephemeralContainers[0].image: {reason}: " in (
            message
        )
    container = debug_container(found.signed)
    patch = {"spec": {"ephemeralContainers": [container]}}
    core.patch_namespaced_pod_ephemeralcontainers("debugged", ns, patch)
    added = [c.name for c in core.read_namespaced_pod("debugged", ns).spec.ephemeral_containers]
    assert added == [container["name"]]
