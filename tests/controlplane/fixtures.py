"""Pytest fixtures for the real control plane (loaded by ``tests/conftest.py``).

``control_plane`` starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
kwok once per session (``cluster``) and installs mlrollout's CRDs; ``cp`` gives each
test a namespace of its own (restricted Pod Security enforced), an admin client, the audit
log and a way to get a client that holds only the shipped RBAC (``rbac``). Missing
binaries (``tests/controlplane/build.sh`` not run) skip the tests, or fail them under CI.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from mlrollout.kube import KubeClient, connect

from .audit import AuditLog
from .cluster import ControlPlane, find_binaries
from .faults import FaultProxy
from .kubeconfig import write_token_kubeconfig
from .rbac import RuleRef, apply_rbac, delete_cluster_objects
from .workloads import wait_until

__all__ = [
    "ControlPlaneSession",
    "TestBed",
    "control_plane",
    "control_plane_session",
    "cp",
    "open_bed",
]

ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = ROOT / "examples" / "crd"
# Every CRD mlrollout ships, installed as an operator would (`kubectl apply -f examples/crd`).
CRD_FILES = (
    "modelrollout.yaml",
    "analysistemplate.yaml",
    "clusteranalysistemplate.yaml",
    "clusterreleasepolicy.yaml",
)
CONTROLLER_SA = "mlrollout-controller"
NAMESPACE_ADMIN = "namespace-admin"


@dataclass
class ControlPlaneSession:
    """The session's control plane and the clients every test shares."""

    plane: ControlPlane
    admin: KubeClient
    api: kubernetes.client.ApiClient
    audit: AuditLog


def _skip_or_fail(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must run the controlplane tests")
    pytest.skip(message)


def install_crd(api: kubernetes.client.ApiClient, path: Path) -> None:
    """Create a CRD and wait until it is served."""
    body = yaml.safe_load(path.read_text())
    ext = kubernetes.client.ApiextensionsV1Api(api)
    ext.create_custom_resource_definition(body)

    def established() -> bool:
        crd = ext.read_custom_resource_definition(body["metadata"]["name"])
        return any(
            c.type == "Established" and c.status == "True" for c in crd.status.conditions or []
        )

    wait_until(established, what=f"CRD {body['metadata']['name']} established")


@contextmanager
def control_plane_session(binaries: Path, workdir: Path) -> Iterator[ControlPlaneSession]:
    """Start a control plane in ``workdir`` with mlrollout's CRDs; stop it afterwards."""
    plane = ControlPlane(binaries, workdir).start()
    api = kubernetes.config.new_client_from_config(config_file=str(plane.admin_kubeconfig))
    admin = connect(kubeconfig=str(plane.admin_kubeconfig), timeout=10.0)
    try:
        for name in CRD_FILES:
            install_crd(api, CRD_DIR / name)
        install_crd(api, plane.httproute_crd)
        yield ControlPlaneSession(plane, admin, api, AuditLog(plane.audit_log))
    finally:
        admin.close()
        api.close()
        plane.stop()


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlaneSession]:
    """One real control plane for the session."""
    binaries = find_binaries()
    if binaries is None:
        _skip_or_fail("control plane binaries not built (run tests/controlplane/build.sh)")
    assert binaries is not None
    with control_plane_session(binaries, tmp_path_factory.mktemp("controlplane")) as session:
        yield session


@dataclass
class TestBed:
    """One test's corner of the control plane."""

    __test__ = False  # not a test class, despite the name

    session: ControlPlaneSession
    namespace: str
    workdir: Path
    clients: list[KubeClient] = field(default_factory=list)
    proxies: list[FaultProxy] = field(default_factory=list)
    rbac_applied: tuple[RuleRef | None] | None = None  # the ``without`` applied, once

    @property
    def admin(self) -> KubeClient:
        """A cluster-admin client."""
        return self.session.admin

    @property
    def api(self) -> kubernetes.client.ApiClient:
        """The official client as cluster admin (for kinds the kube layer has no verbs for)."""
        return self.session.api

    @property
    def audit(self) -> AuditLog:
        """The API server's audit log."""
        return self.session.audit

    @property
    def controller_user(self) -> str:
        """The audit username of the controller's ServiceAccount."""
        return f"system:serviceaccount:{self.namespace}:{CONTROLLER_SA}"

    def controller_client(
        self, *, without: RuleRef | None = None, through: FaultProxy | None = None
    ) -> KubeClient:
        """A ``KubeClient`` authenticated as the controller's ServiceAccount, bound only to
        the shipped RBAC (minus ``without``), from a token-based kubeconfig; talking to the
        API server ``through`` a fault proxy if given."""
        client = connect(
            kubeconfig=str(self.controller_kubeconfig(without=without, through=through)),
            timeout=10.0,
        )
        self.clients.append(client)
        return client

    def controller_kubeconfig(
        self, *, without: RuleRef | None = None, through: FaultProxy | None = None
    ) -> Path:
        """The kubeconfig behind ``controller_client`` (for a controller in a subprocess)."""
        if self.rbac_applied is None:
            apply_rbac(self.api, namespace=self.namespace, without=without)
            self.rbac_applied = (without,)
        elif self.rbac_applied != (without,):
            raise ValueError(f"RBAC already applied without {self.rbac_applied[0]}")
        token = self.mint_token(CONTROLLER_SA)
        return write_token_kubeconfig(
            self.workdir / f"controller-{_port(through)}.kubeconfig",
            server=through.url if through else self.session.plane.url,
            ca=self.session.plane.pki.ca_cert,
            token=token,
            namespace=self.namespace,
        )

    def namespace_admin_kubeconfig(self, *, through: FaultProxy | None = None) -> Path:
        """A token kubeconfig of a ServiceAccount bound to ``cluster-admin`` in this namespace
        only (clients that go through a fault proxy authenticate with tokens)."""
        core = kubernetes.client.CoreV1Api(self.api)
        if not any(
            sa.metadata.name == NAMESPACE_ADMIN
            for sa in core.list_namespaced_service_account(self.namespace).items
        ):
            core.create_namespaced_service_account(
                self.namespace, {"metadata": {"name": NAMESPACE_ADMIN}}
            )
            kubernetes.client.RbacAuthorizationV1Api(self.api).create_namespaced_role_binding(
                self.namespace,
                {
                    "metadata": {"name": NAMESPACE_ADMIN},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "ClusterRole",
                        "name": "cluster-admin",
                    },
                    "subjects": [
                        {
                            "kind": "ServiceAccount",
                            "name": NAMESPACE_ADMIN,
                            "namespace": self.namespace,
                        }
                    ],
                },
            )
        return write_token_kubeconfig(
            self.workdir / "namespace-admin.kubeconfig",
            server=through.url if through else self.session.plane.url,
            ca=self.session.plane.pki.ca_cert,
            token=self.mint_token(NAMESPACE_ADMIN),
            namespace=self.namespace,
        )

    def fault_proxy(self, *, seed: int = 0, user_agent: str | None = None) -> FaultProxy:
        """A fault proxy in front of the API server, stopped after the test (``user_agent``:
        what the forwarded requests say they come from, in the audit log)."""
        plane = self.session.plane
        name = f"fault-proxy-{self.namespace}-{len(self.proxies)}"  # files of its own
        serving = plane.pki.issue(name, common_name="fault-proxy", server=True)
        proxy = FaultProxy(
            plane.url,
            ca=plane.pki.ca_cert,
            cert=serving.cert,
            key=serving.key,
            seed=seed,
            user_agent=user_agent,
        ).start()
        self.proxies.append(proxy)
        return proxy

    def mint_token(self, service_account: str, *, seconds: int = 3600) -> str:
        """A bound token for ``service_account`` (TokenRequest API)."""
        core = kubernetes.client.CoreV1Api(self.api)
        answer: Any = core.create_namespaced_service_account_token(
            service_account, self.namespace, {"spec": {"expirationSeconds": seconds}}
        )
        token: str = answer.status.token
        return token


def _port(proxy: FaultProxy | None) -> str:
    """A file-name part per proxy (each proxy's kubeconfig a file of its own)."""
    return proxy.url.rsplit(":", 1)[1] if proxy else "direct"


def _namespace_name(node_name: str) -> str:
    stem = re.sub(r"[^a-z0-9]+", "-", node_name.lower()).strip("-")[:40].strip("-")
    return f"{stem}-{uuid.uuid4().hex[:6]}"


@contextmanager
def open_bed(session: ControlPlaneSession, name: str, workdir: Path) -> Iterator[TestBed]:
    """Namespace ``name`` on the control plane, enforcing the restricted Pod Security
    Standard, as a ``TestBed``; deleted (not awaited) afterwards with what the bed made."""
    session.plane.check_alive()
    core = kubernetes.client.CoreV1Api(session.api)
    labels = {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
    }
    core.create_namespace({"metadata": {"name": name, "labels": labels}})

    def has_default_service_account() -> bool:
        names = [sa.metadata.name for sa in core.list_namespaced_service_account(name).items]
        return "default" in names

    wait_until(has_default_service_account, what=f"ServiceAccount default in {name}")
    bed = TestBed(session, name, workdir)
    try:
        yield bed
    finally:
        for client in bed.clients:
            client.close()
        for proxy in bed.proxies:
            proxy.stop()
        core.delete_namespace(name)
        delete_cluster_objects(session.api, namespace=name)


@pytest.fixture
def cp(
    control_plane: ControlPlaneSession, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[TestBed]:
    """A namespace of the test's own on the real control plane (``open_bed``)."""
    with open_bed(control_plane, _namespace_name(request.node.name), tmp_path) as bed:
        yield bed
