"""A real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok, built by ``build.sh`` and started in that order.

Part of the ``controlplane`` test package: ``fixtures`` starts one per test session. The API
server authenticates client certificates and ServiceAccount tokens, authorizes with
Node,RBAC, runs the PodSecurity admission plugin and writes an audit log (``audit``). kwok
plays the kubelets of the fake GPU nodes (``nodes``) with the Stages in ``stages.yaml``.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from .kubeconfig import write_cert_kubeconfig
from .pki import Credential, Pki
from .processes import Child, free_port

__all__ = ["BINARIES", "ControlPlane", "ControlPlaneError", "crd_path", "find_binaries"]

HERE = Path(__file__).resolve().parent
BUILD_SCRIPT = HERE / "build.sh"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
ENV_BIN = "MLROLLOUT_CONTROLPLANE_BIN"
# The kube-controller-manager controllers a rollout needs (Deployments down to pods,
# Services' EndpointSlices, ServiceAccounts and their tokens, owner-reference GC, namespaces).
CONTROLLERS = (
    "deployment-controller",
    "replicaset-controller",
    "endpointslice-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "garbage-collector-controller",
    "namespace-controller",
)
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
# Copied by build.sh from the pinned Gateway API module into <cache>/crds/.
HTTPROUTE_CRD = "gateway.networking.k8s.io_httproutes.yaml"


class ControlPlaneError(RuntimeError):
    """A component did not start or died; the message carries its log tail."""


def find_binaries() -> Path | None:
    """The directory with all five binaries: ``$MLROLLOUT_CONTROLPLANE_BIN`` or the build
    cache of the pinned versions (``build.sh --print``); None when not built."""
    configured = os.environ.get(ENV_BIN)
    if configured:
        candidate = Path(configured)
    else:
        if shutil.which("go") is None:
            return None
        done = subprocess.run(
            ["bash", str(BUILD_SCRIPT), "--print"], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            return None
        candidate = Path(done.stdout.strip())
    if all((candidate / b).is_file() for b in BINARIES) and crd_path(candidate).is_file():
        return candidate
    return None


def crd_path(binaries: Path) -> Path:
    """The HTTPRoute CRD built beside ``binaries``."""
    return binaries.parent / "crds" / HTTPROUTE_CRD


@dataclass(frozen=True)
class Endpoints:
    """Where the components listen."""

    etcd_client: int
    etcd_peer: int
    apiserver: int
    kwok: int


class ControlPlane:
    """Start, inspect and stop the five components in ``workdir``."""

    def __init__(self, binaries: Path, workdir: Path) -> None:
        self.bin = binaries
        self.httproute_crd = crd_path(binaries)
        self.workdir = workdir
        self.ports = Endpoints(free_port(), free_port(), free_port(), free_port())
        self.pki = Pki(workdir / "pki")
        self.admin = self.pki.issue("admin", common_name="admin", groups=("system:masters",))
        self.audit_log = workdir / "audit.log"
        self.children: list[Child] = []
        self.admin_kubeconfig = self._kubeconfig("admin", self.admin)

    @property
    def url(self) -> str:
        """The API server's address."""
        return f"https://127.0.0.1:{self.ports.apiserver}"

    def _kubeconfig(self, name: str, credential: Credential) -> Path:
        return write_cert_kubeconfig(
            self.workdir / f"{name}.kubeconfig",
            server=self.url,
            ca=self.pki.ca_cert,
            cert=credential.cert,
            key=credential.key,
        )

    def _spawn(self, name: str, *args: str) -> Child:
        child = Child(name, [str(self.bin / name), *args], log=self.workdir / f"{name}.log")
        self.children.append(child.start())
        return child

    # -- start -----------------------------------------------------------------------------

    def start(self, *, timeout: float = 90.0) -> ControlPlane:
        """Start every component and wait until the API server is ready."""
        try:
            self._start_etcd()
            self._start_apiserver()
            self.wait_ready(timeout=timeout)
            self._start_controllers()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_etcd(self) -> None:
        client = f"http://127.0.0.1:{self.ports.etcd_client}"
        peer = f"http://127.0.0.1:{self.ports.etcd_peer}"
        self._spawn(
            "etcd",
            f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=default={peer}",
            "--unsafe-no-fsync",
            "--log-level=warn",
        )

    def _start_apiserver(self) -> None:
        serving = self.pki.issue("apiserver", common_name="kube-apiserver", server=True)
        sa = self.pki.service_account_keys()
        self._service_account_key = sa.key
        self._spawn(
            "kube-apiserver",
            f"--etcd-servers=http://127.0.0.1:{self.ports.etcd_client}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.ports.apiserver}",
            f"--tls-cert-file={serving.cert}",
            f"--tls-private-key-file={serving.key}",
            f"--client-ca-file={self.pki.ca_cert}",
            f"--service-account-key-file={sa.cert}",
            f"--service-account-signing-key-file={sa.key}",
            "--service-account-issuer=https://kubernetes.default.svc",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--authorization-mode=Node,RBAC",
            "--allow-privileged=true",  # as clusters do; Pod Security decides per namespace
            "--enable-admission-plugins=NamespaceLifecycle,ServiceAccount,PodSecurity",
            # New nodes would carry the not-ready taint until the node lifecycle controller
            # (not run: kwok sends no heartbeats) lifted it.
            "--disable-admission-plugins=TaintNodesByCondition",
            "--endpoint-reconciler-type=none",
            f"--audit-policy-file={HERE / 'audit-policy.yaml'}",
            f"--audit-log-path={self.audit_log}",
            "--audit-log-format=json",
            "--audit-log-mode=blocking",
            "--audit-log-maxsize=0",
            f"--cert-dir={self.workdir / 'apiserver-certs'}",
            "--profiling=false",
        )

    def _start_controllers(self) -> None:
        kcm = self._kubeconfig(
            "kube-controller-manager",
            self.pki.issue("kcm", common_name="system:kube-controller-manager"),
        )
        self._spawn(
            "kube-controller-manager",
            f"--kubeconfig={kcm}",
            "--leader-elect=false",
            "--secure-port=0",
            f"--controllers={','.join(CONTROLLERS)}",
            f"--service-account-private-key-file={self._service_account_key}",
            f"--root-ca-file={self.pki.ca_cert}",
            "--use-service-account-credentials=true",  # each controller its own RBAC role
            "--concurrent-deployment-syncs=10",
            "--concurrent-replicaset-syncs=10",
        )
        scheduler = self._kubeconfig(
            "kube-scheduler", self.pki.issue("scheduler", common_name="system:kube-scheduler")
        )
        self._spawn(
            "kube-scheduler",
            f"--kubeconfig={scheduler}",
            "--leader-elect=false",
            "--secure-port=0",
        )
        self._spawn(
            "kwok",
            f"--kubeconfig={self.admin_kubeconfig}",
            f"--config={HERE / 'stages.yaml'}",
            f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake",
            "--manage-all-nodes=false",
            "--cidr=10.244.0.0/16",
            "--node-ip=10.0.0.1",
            f"--server-address=127.0.0.1:{self.ports.kwok}",
        )

    def wait_ready(self, *, timeout: float) -> None:
        """Poll ``/readyz`` until it answers 200 (``ControlPlaneError`` on timeout or exit)."""
        context = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        context.load_cert_chain(str(self.admin.cert), str(self.admin.key))
        deadline = time.monotonic() + timeout
        last = ""
        with httpx.Client(verify=context, timeout=2.0) as http:
            while time.monotonic() < deadline:
                self.check_alive()
                try:
                    response = http.get(f"{self.url}/readyz")
                    if response.status_code == 200:
                        return
                    last = response.text[-300:]
                except httpx.HTTPError as exc:
                    last = str(exc)
                time.sleep(0.2)
        raise ControlPlaneError(f"kube-apiserver not ready after {timeout}s: {last}")

    def restart(self, name: str) -> None:
        """Stop component ``name`` and start it again with the same arguments (and state:
        etcd keeps its data directory), without waiting for it to be ready."""
        [child] = [c for c in self.children if c.name == name]
        child.stop()
        again = Child(name, child.argv, log=child.log).start()
        self.children[self.children.index(child)] = again

    def check_alive(self) -> None:
        """``ControlPlaneError`` with the log tail of the first component that exited."""
        for child in self.children:
            if not child.alive():
                raise ControlPlaneError(f"{child.name} exited:\n{child.tail()}")

    def stop(self) -> None:
        """Stop the components, last started first."""
        for child in reversed(self.children):
            child.stop()
