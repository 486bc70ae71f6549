"""``mlrollout admission`` as the real API server sees it: the webhook process on loopback
(serving certificate from the control plane's CA, IP SAN 127.0.0.1), authenticated to the
cluster as the shipped ``mlrollout-admission`` ServiceAccount with only its shipped RBAC, and
the shipped ``ValidatingWebhookConfiguration`` and ``ValidatingAdmissionPolicy`` registered
as an operator would, with ``clientConfig.url`` pointing at the process.

Part of the ``controlplane`` test package; ``test_admission`` uses it. ``Refusal`` reads the
API server's answer to a refused write; ``wait_for_admission`` polls with server-side
dry runs until a freshly registered configuration takes effect.
"""

from __future__ import annotations

import base64
import copy
import json
import ssl
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import kubernetes
import yaml

from support.cluster import template

from .kubeconfig import write_token_kubeconfig
from .pki import Pki
from .processes import Child, free_port

__all__ = [
    "ADMISSION_NAMESPACE",
    "GOVERNED",
    "AdmissionProcess",
    "Refusal",
    "apply_admission_rbac",
    "apply_digest_pinning",
    "debug_container",
    "delete_admission_rbac",
    "delete_digest_pinning",
    "delete_webhook",
    "deployment",
    "pod",
    "register_webhook",
    "try_create",
    "wait_for_admission",
]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "admission"
ADMISSION_NAMESPACE = "mlrollout-system"  # where deployment.yaml puts the ServiceAccount
SERVICE_ACCOUNT = "mlrollout-admission"
GOVERNED = {"mlrollout.io/governed": "true"}  # the shipped configurations' namespace label


def _documents(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((EXAMPLES / name).read_text()) if d]


def _ignore_conflict(call: Callable[[], object]) -> None:
    try:
        call()
    except kubernetes.client.ApiException as exc:
        if exc.status != 409:
            raise


def apply_admission_rbac(api: kubernetes.client.ApiClient) -> None:
    """Create the namespace, ServiceAccount, ClusterRole and ClusterRoleBinding of
    ``deployment.yaml`` (not its Deployment or Service: the webhook runs on loopback)."""
    core = kubernetes.client.CoreV1Api(api)
    rbac = kubernetes.client.RbacAuthorizationV1Api(api)
    _ignore_conflict(lambda: core.create_namespace({"metadata": {"name": ADMISSION_NAMESPACE}}))
    for doc in _documents("deployment.yaml"):
        kind = doc["kind"]
        if kind == "ServiceAccount":
            _ignore_conflict(
                lambda d=doc: core.create_namespaced_service_account(ADMISSION_NAMESPACE, d)
            )
        elif kind == "ClusterRole":
            _ignore_conflict(lambda d=doc: rbac.create_cluster_role(d))
        elif kind == "ClusterRoleBinding":
            _ignore_conflict(lambda d=doc: rbac.create_cluster_role_binding(d))


def delete_admission_rbac(api: kubernetes.client.ApiClient) -> None:
    """Remove the cluster-scoped objects and the namespace ``apply_admission_rbac`` made."""
    rbac = kubernetes.client.RbacAuthorizationV1Api(api)
    calls = (
        lambda: rbac.delete_cluster_role_binding(SERVICE_ACCOUNT),
        lambda: rbac.delete_cluster_role(SERVICE_ACCOUNT),
        lambda: kubernetes.client.CoreV1Api(api).delete_namespace(ADMISSION_NAMESPACE),
    )
    for call in calls:
        try:
            call()
        except kubernetes.client.ApiException as exc:
            if exc.status != 404:
                raise


def _token(api: kubernetes.client.ApiClient) -> str:
    core = kubernetes.client.CoreV1Api(api)
    answer: Any = core.create_namespaced_service_account_token(
        SERVICE_ACCOUNT, ADMISSION_NAMESPACE, {"spec": {"expirationSeconds": 3600}}
    )
    token: str = answer.status.token
    return token


class AdmissionProcess:
    """``python -m mlrollout admission`` on 127.0.0.1, as the shipped ServiceAccount."""

    def __init__(
        self,
        *,
        api: kubernetes.client.ApiClient,
        server: str,
        pki: Pki,
        workdir: Path,
        secrets: Path,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.pki = pki
        self.port = free_port()
        serving = pki.issue("admission", common_name="mlrollout-admission", server=True)
        kubeconfig = write_token_kubeconfig(
            workdir / "admission.kubeconfig",
            server=server,
            ca=pki.ca_cert,
            token=_token(api),
            namespace=ADMISSION_NAMESPACE,
        )
        argv = [
            sys.executable,
            "-m",
            "mlrollout",
            "admission",
            f"--tls-cert-file={serving.cert}",
            f"--tls-private-key-file={serving.key}",
            "--host=127.0.0.1",
            f"--port={self.port}",
            f"--kubeconfig={kubeconfig}",
            *extra_args,
        ]
        env = {"PYTHONPATH": str(ROOT / "src"), "MLROLLOUT_SECRETS_DIR": str(secrets)}
        self.child = Child("mlrollout-admission", argv, log=workdir / "admission.log", env=env)

    @property
    def url(self) -> str:
        """Where the API server sends reviews."""
        return f"https://127.0.0.1:{self.port}/validate"

    def start(self, *, timeout: float = 90.0) -> AdmissionProcess:
        """Start the process and wait until ``/healthz`` answers over TLS."""
        self.child.start()
        context = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        deadline = time.monotonic() + timeout
        with httpx.Client(verify=context, timeout=2.0) as http:
            while time.monotonic() < deadline:
                if not self.child.alive():
                    raise AssertionError(f"mlrollout admission exited:\n{self.child.tail()}")
                try:
                    if http.get(f"https://127.0.0.1:{self.port}/healthz").status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        raise AssertionError(f"mlrollout admission not serving after {timeout}s")

    def stop(self) -> None:
        """SIGTERM (the process stops serving and exits)."""
        self.child.stop()

    def restart(self) -> None:
        """Stop and start again with the same arguments (an empty verified-digest cache)."""
        self.stop()
        self.child = Child(self.child.name, self.child.argv, log=self.child.log, env=self.child.env)
        self.start()

    def log(self) -> str:
        """Everything the process wrote."""
        return self.child.log.read_text(errors="replace")

    def reviews(self, namespace: str) -> list[str]:
        """The log lines of reviews decided for ``namespace``."""
        marker = f" {namespace}/"
        return [line for line in self.log().splitlines() if " review " in line and marker in line]


def register_webhook(api: kubernetes.client.ApiClient, url: str, ca_pem: bytes) -> str:
    """Register the shipped ``webhook.yaml`` with ``clientConfig`` set to ``url`` and the CA
    (what cert-manager's injector or an operator would fill in); its name."""
    [doc] = _documents("webhook.yaml")
    doc = copy.deepcopy(doc)
    for hook in doc["webhooks"]:
        hook["clientConfig"] = {"url": url, "caBundle": base64.b64encode(ca_pem).decode()}
    registration = kubernetes.client.AdmissionregistrationV1Api(api)
    registration.create_validating_webhook_configuration(doc)
    name: str = doc["metadata"]["name"]
    return name


def delete_webhook(api: kubernetes.client.ApiClient, name: str) -> None:
    """Remove the webhook registration (missing is fine)."""
    registration = kubernetes.client.AdmissionregistrationV1Api(api)
    try:
        registration.delete_validating_webhook_configuration(name)
    except kubernetes.client.ApiException as exc:
        if exc.status != 404:
            raise


def apply_digest_pinning(api: kubernetes.client.ApiClient) -> list[tuple[str, str]]:
    """Create the shipped ``ValidatingAdmissionPolicy`` and its binding, unchanged."""
    registration = kubernetes.client.AdmissionregistrationV1Api(api)
    created = []
    for doc in _documents("digest-pinning.yaml"):
        if doc["kind"] == "ValidatingAdmissionPolicy":
            registration.create_validating_admission_policy(doc)
        elif doc["kind"] == "ValidatingAdmissionPolicyBinding":
            registration.create_validating_admission_policy_binding(doc)
        else:
            raise AssertionError(f"digest-pinning.yaml: unexpected kind {doc['kind']}")
        created.append((doc["kind"], doc["metadata"]["name"]))
    return created


def delete_digest_pinning(api: kubernetes.client.ApiClient, created: list[tuple[str, str]]) -> None:
    """Remove what ``apply_digest_pinning`` created."""
    registration = kubernetes.client.AdmissionregistrationV1Api(api)
    for kind, name in reversed(created):
        try:
            if kind == "ValidatingAdmissionPolicyBinding":
                registration.delete_validating_admission_policy_binding(name)
            else:
                registration.delete_validating_admission_policy(name)
        except kubernetes.client.ApiException as exc:
            if exc.status != 404:
                raise


def pod(image: str, name: str | None = None) -> dict[str, Any]:
    """A Pod passing the restricted profile, running ``image``."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name or f"model-{uuid.uuid4().hex[:6]}"},
        "spec": template("canary", image)["spec"],
    }


def deployment(image: str, name: str) -> dict[str, Any]:
    """A one-replica Deployment whose template runs ``image``."""
    pod_template = copy.deepcopy(template("canary", image))
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": pod_template["metadata"]["labels"]},
            "template": pod_template,
        },
    }


def debug_container(image: str) -> dict[str, Any]:
    """An ephemeral container (restricted profile) running ``image``."""
    context = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    return {"name": f"debug-{uuid.uuid4().hex[:6]}", "image": image, "securityContext": context}


@dataclass(frozen=True)
class Refusal:
    """The API server's answer to a refused write."""

    status: int
    message: str


def try_create(
    api: kubernetes.client.ApiClient, body: dict[str, Any], namespace: str, *, dry_run: bool = False
) -> Refusal | None:
    """Create a Pod or Deployment; None when admitted, else the API server's refusal."""
    kwargs: dict[str, Any] = {"dry_run": "All"} if dry_run else {}
    try:
        if body["kind"] == "Pod":
            kubernetes.client.CoreV1Api(api).create_namespaced_pod(namespace, body, **kwargs)
        elif body["kind"] == "Deployment":
            kubernetes.client.AppsV1Api(api).create_namespaced_deployment(namespace, body, **kwargs)
        else:
            raise AssertionError(f"unexpected kind {body['kind']}")
    except kubernetes.client.ApiException as exc:
        try:
            message = str(json.loads(exc.body)["message"])
        except (TypeError, ValueError, KeyError):
            message = str(exc.body)
        return Refusal(int(exc.status), message)
    return None


def wait_for_admission(
    api: kubernetes.client.ApiClient,
    probe: dict[str, Any],
    namespace: str,
    *,
    refused_with: str | None,
    timeout: float = 30.0,
) -> None:
    """Dry-run ``probe`` until the API server refuses it with a message containing
    ``refused_with`` (or admits it, when None): registrations take effect asynchronously."""
    deadline = time.monotonic() + timeout
    last: Refusal | None = None
    while time.monotonic() < deadline:
        last = try_create(api, probe, namespace, dry_run=True)
        if refused_with is None and last is None:
            return
        if refused_with is not None and last is not None and refused_with in last.message:
            return
        time.sleep(0.2)
    raise AssertionError(f"admission not in effect after {timeout}s (last answer: {last})")
