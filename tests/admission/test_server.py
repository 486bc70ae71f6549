"""``AdmissionServer`` over TLS, with real signed images in Debian's docker-registry and the
policies and namespace labels on the real control plane (marker ``controlplane``): a
ClusterReleasePolicy governing the test's namespace, labelled, and a second namespace of the
test's, unlabelled. The reviews are posted directly, so bodies no API server would send
(malformed, oversized, plain HTTP) are covered too; the API server calling the webhook is
``tests/controlplane/test_admission.py``. The deadline, failure and certificate cases need
no server at all.

Covers: signed and pinned → allowed; unsigned, tag-only, untrusted signer → denied with a
one-line reason and code 403; a namespace no policy governs → allowed; malformed reviews →
400 or denied, never a crash; registry down and a review past its deadline → denied (fail
closed); verified digests are cached.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from controlplane.fixtures import TestBed, open_bed
from controlplane.policies import GOVERNED, label, own_policy, release_policies
from gates.publish import RegistryPusher, push_image, push_signature
from gates.real_registry import free_port, start_registry
from gates.signer import CosignTestSigner
from mlrollout.admission import (
    AdmissionServer,
    ImageChecker,
    KubePolicySource,
    ReviewRequest,
    load_tls_context,
)
from mlrollout.admission.checker import AdmissionVerdict
from mlrollout.errors import SpecError
from mlrollout.gates import RegistryClient
from mlrollout.model import ImageRef

from .certs import TlsFiles, write_tls_files
from .reviews import pod_spec, review, workload

pytestmark = pytest.mark.registry
ON_CLUSTER = pytest.mark.controlplane  # the policies are read from the real API server

SIGNER = CosignTestSigner("ci")
STRANGER = CosignTestSigner("stranger")


class Images:
    def __init__(self, host: str) -> None:
        with RegistryPusher(f"http://{host}") as pusher:
            self.signed = self._push(pusher, host, "ml/signed", SIGNER)
            self.unsigned = self._push(pusher, host, "ml/unsigned", None)
            self.stranger = self._push(pusher, host, "ml/stranger", STRANGER)
            self.init = self._push(pusher, host, "ml/verify-model", SIGNER)
        self.tag_only = f"{host}/ml/signed:v43"

    @staticmethod
    def _push(pusher: RegistryPusher, host: str, repo: str, signer: CosignTestSigner | None) -> str:
        digest = push_image(pusher, repo, f"layer of {repo}".encode())
        image = ImageRef(f"{host}/{repo}", digest)
        if signer is not None:
            push_signature(pusher, image, signer)
        return f"{host}/{repo}@{digest}"


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Images]:
    with start_registry(tmp_path_factory.mktemp("registry")) as host:
        yield Images(host)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return write_tls_files(tmp_path_factory.mktemp("tls"))


class CountingRegistries:
    """Registry clients for the checker, counting how many were opened."""

    def __init__(self) -> None:
        self.opened = 0

    def __call__(self, host: str) -> RegistryClient:
        self.opened += 1
        return RegistryClient(host, timeout=1.0, attempts=1, sleep=lambda _: None)


@pytest.fixture
def registries() -> CountingRegistries:
    return CountingRegistries()


@pytest.fixture
def spaces(cp: TestBed, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The reviews' namespaces: "prod" (the test's, governed) and "sandbox" (not)."""
    label(cp, cp.namespace, GOVERNED)
    with open_bed(cp.session, f"{cp.namespace}-sandbox", tmp_path / "sandbox") as sandbox:
        yield {"prod": cp.namespace, "sandbox": sandbox.namespace}


@pytest.fixture
def server(
    cp: TestBed,
    spaces: dict[str, str],
    tls: TlsFiles,
    tmp_path: Path,
    registries: CountingRegistries,
) -> Iterator[AdmissionServer]:
    key = tmp_path / "cosign.pub"
    key.write_bytes(SIGNER.public_pem)
    signature = {"publicKeys": [{"file": str(key)}]}
    policy = own_policy(cp, namespaces=sorted(spaces.values()), signature=signature)
    with release_policies(cp.api) as policies:
        policies.create(policy)
        source = KubePolicySource(cp.admin, ttl=0.001)
        source.warm_up()
        checker = ImageChecker(source, registry_factory=registries)
        context = load_tls_context(tls.cert, tls.key)
        with AdmissionServer(
            checker, context, host="127.0.0.1", port=0, review_timeout=5.0
        ) as running:
            yield running


def _post(server: AdmissionServer, tls: TlsFiles, body: bytes) -> httpx.Response:
    context = ssl.create_default_context(cafile=str(tls.ca))
    with httpx.Client(verify=context, timeout=10) as client:
        return client.post(
            f"https://127.0.0.1:{server.port}/validate",
            content=body,
            headers={"Content-Type": "application/json"},
        )


def _answer(server: AdmissionServer, tls: TlsFiles, doc: dict[str, Any]) -> dict[str, Any]:
    response = _post(server, tls, json.dumps(doc).encode())
    assert response.status_code == 200
    answer: dict[str, Any] = response.json()
    assert answer["apiVersion"] == "admission.k8s.io/v1"
    assert answer["kind"] == "AdmissionReview"
    assert answer["response"]["uid"] == doc["request"]["uid"]
    return answer["response"]


CASES = [
    ("signed-pinned-pod", "Pod", "prod", lambda i: pod_spec(i.signed), None),
    (
        "unsigned",
        "Pod",
        "prod",
        lambda i: pod_spec(i.unsigned),
        "spec.containers[0].image: UNSIGNED",
    ),
    (
        "tag-only",
        "Pod",
        "prod",
        lambda i: pod_spec(i.tag_only),
        "spec.containers[0].image: UNPINNED_REFERENCE",
    ),
    ("untrusted-signer", "Pod", "prod", lambda i: pod_spec(i.stranger), "UNTRUSTED_KEY"),
    ("not-governed", "Pod", "sandbox", lambda i: pod_spec(i.tag_only), None),
    ("deployment-signed", "Deployment", "prod", lambda i: pod_spec(i.signed, init=i.init), None),
    (
        "deployment-unsigned-init",
        "Deployment",
        "prod",
        lambda i: pod_spec(i.signed, init=i.unsigned),
        "spec.template.spec.initContainers[0].image: UNSIGNED",
    ),
    (
        "statefulset-ephemeral-tag",
        "StatefulSet",
        "prod",
        lambda i: pod_spec(i.signed, ephemeral="busybox:1.36"),
        "spec.template.spec.ephemeralContainers[0].image: UNPINNED_REFERENCE",
    ),
    ("cronjob-signed", "CronJob", "prod", lambda i: pod_spec(i.signed), None),
    (
        "job-unsigned",
        "Job",
        "prod",
        lambda i: pod_spec(i.unsigned),
        "spec.template.spec.containers[0].image: UNSIGNED",
    ),
]


@ON_CLUSTER
@pytest.mark.parametrize(
    ("kind", "namespace", "spec", "denial"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_reviews(
    kind: str,
    namespace: str,
    spec: Any,
    denial: str | None,
    images: Images,
    server: AdmissionServer,
    spaces: dict[str, str],
    tls: TlsFiles,
) -> None:
    request = review(kind, workload(kind, spec(images)), namespace=spaces[namespace])
    answer = _answer(server, tls, request)
    if denial is None:
        assert answer == {"uid": answer["uid"], "allowed": True}
        return
    assert answer["allowed"] is False
    status = answer["status"]
    assert status["code"] == 403
    assert denial in status["message"]
    policy = f"(ClusterReleasePolicy production-{spaces['prod']})"
    assert policy in status["message"] or "UNPINNED" in denial
    assert "\n" not in status["message"]


@ON_CLUSTER
def test_verified_digest_is_cached(
    images: Images,
    server: AdmissionServer,
    spaces: dict[str, str],
    tls: TlsFiles,
    registries: CountingRegistries,
) -> None:
    for _ in range(3):
        assert _answer(
            server,
            tls,
            review("Pod", workload("Pod", pod_spec(images.signed)), namespace=spaces["prod"]),
        )["allowed"]
    assert registries.opened == 1
    for _ in range(2):
        assert not _answer(
            server,
            tls,
            review("Pod", workload("Pod", pod_spec(images.unsigned)), namespace=spaces["prod"]),
        )["allowed"]
    assert registries.opened == 3  # refusals are never cached


@ON_CLUSTER
def test_registry_down_denies(
    server: AdmissionServer, spaces: dict[str, str], tls: TlsFiles
) -> None:
    image = f"127.0.0.1:{free_port()}/ml/gone@sha256:" + "a" * 64
    answer = _answer(
        server, tls, review("Pod", workload("Pod", pod_spec(image)), namespace=spaces["prod"])
    )
    assert answer["allowed"] is False
    assert "REGISTRY_UNAVAILABLE" in answer["status"]["message"]


MALFORMED = [
    ("not-json", b"{nope", 400),
    ("not-a-review", b'{"kind": "Pod"}', 400),
    ("huge-nesting", b"[" * 100_000 + b"]" * 100_000, 400),
]


@ON_CLUSTER
@pytest.mark.parametrize(
    ("body", "status"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_body_is_400_and_the_server_keeps_serving(
    body: bytes,
    status: int,
    images: Images,
    server: AdmissionServer,
    spaces: dict[str, str],
    tls: TlsFiles,
) -> None:
    response = _post(server, tls, body)
    assert response.status_code == status
    assert "Traceback" not in response.text
    assert _answer(
        server,
        tls,
        review("Pod", workload("Pod", pod_spec(images.signed)), namespace=spaces["prod"]),
    )["allowed"]


@ON_CLUSTER
def test_unreadable_object_in_a_governed_namespace_is_denied(
    server: AdmissionServer, spaces: dict[str, str], tls: TlsFiles
) -> None:
    answer = _answer(
        server, tls, review("Pod", {"spec": {"containers": "model"}}, namespace=spaces["prod"])
    )
    assert answer["allowed"] is False
    assert answer["status"]["message"] == "spec.containers: must be a list"


@ON_CLUSTER
def test_oversized_review_is_refused_before_reading_it(
    server: AdmissionServer, tls: TlsFiles
) -> None:
    context = ssl.create_default_context(cafile=str(tls.ca))
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as conn,
    ):
        conn.sendall(
            b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {server.max_body + 1}\r\n\r\n".encode()
        )
        assert conn.recv(100).startswith(b"HTTP/1.1 413 ")


@ON_CLUSTER
def test_plain_http_and_garbage_do_not_stop_the_server(
    images: Images, server: AdmissionServer, spaces: dict[str, str], tls: TlsFiles
) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        raw.sendall(b"POST /validate HTTP/1.1\r\nHost: x\r\n\r\n")
        with contextlib.suppress(ConnectionResetError):
            assert not raw.recv(100).startswith(b"HTTP/")
    assert _answer(
        server,
        tls,
        review("Pod", workload("Pod", pod_spec(images.signed)), namespace=spaces["prod"]),
    )["allowed"]


class BlockedSource:
    """A policy source that never answers until released (a hung API server)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def governing(self, namespace: str) -> list[Any]:
        self.release.wait(10)
        return []


def test_review_past_its_deadline_is_denied(tls: TlsFiles) -> None:
    source = BlockedSource()
    checker = ImageChecker(source)
    context = load_tls_context(tls.cert, tls.key)
    with AdmissionServer(checker, context, host="127.0.0.1", port=0, review_timeout=0.3) as server:
        try:
            answer = _answer(server, tls, review("Pod", workload("Pod", pod_spec("x:1"))))
        finally:
            source.release.set()
    assert answer["allowed"] is False
    assert answer["status"]["message"] == "verification did not finish within 0.3s"


class ExplodingChecker(ImageChecker):
    def review(self, request: ReviewRequest) -> AdmissionVerdict:
        raise RuntimeError("boom")


def test_unexpected_failure_is_denied_without_traceback(tls: TlsFiles) -> None:
    checker = ExplodingChecker(BlockedSource())
    context = load_tls_context(tls.cert, tls.key)
    with AdmissionServer(checker, context, host="127.0.0.1", port=0) as server:
        answer = _answer(server, tls, review("Pod", workload("Pod", pod_spec("x:1"))))
    assert answer["allowed"] is False
    assert answer["status"]["message"] == "internal error: RuntimeError"


def test_bad_certificate_files_are_one_line_spec_errors(tls: TlsFiles, tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_tls_context(tmp_path / "none.crt", tls.key)
    assert str(info.value) == f"{tmp_path / 'none.crt'}: --tls-cert-file: no such file"
    with pytest.raises(SpecError) as info:
        load_tls_context(tls.key, tls.key)
    assert "not a usable PEM certificate and private key" in str(info.value)
