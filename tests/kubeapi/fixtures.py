"""Pytest fixtures for the test API server, reusable by any test package.

``conftest`` of this package re-exports them; another package can load them with
``pytest_plugins = ["kubeapi.fixtures"]`` in the top-level ``tests/conftest.py``. The server
uses the repository's CRD (``examples/crd/modelrollout.yaml``) when it exists, and every test
fails if the server hit an internal error while serving it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest

from .kubeconfig import make_api_client, write_kubeconfig
from .server import KubeApiServer

__all__ = ["CRD_PATH", "kube_client", "kube_crd", "kube_server", "kubeconfig_path"]

CRD_PATH = Path(__file__).resolve().parents[2] / "examples" / "crd" / "modelrollout.yaml"
POLICY_CRD_PATH = CRD_PATH.with_name("clusterreleasepolicy.yaml")


@pytest.fixture
def kube_crd() -> Path | None:
    """The ModelRollout CRD the server validates against (override to change; None: none)."""
    return CRD_PATH if CRD_PATH.exists() else None


@pytest.fixture
def kube_server(kube_crd: Path | None) -> Iterator[KubeApiServer]:
    """A running test API server (pods become Ready 0.05 s after creation)."""
    others = {"ClusterReleasePolicy": POLICY_CRD_PATH} if POLICY_CRD_PATH.exists() else {}
    server = KubeApiServer(pod_ready_delay=0.05, crd=kube_crd, other_crds=others).start()
    try:
        yield server
    finally:
        server.stop()
    assert not server.internal_errors, "\n".join(server.internal_errors)


@pytest.fixture
def kube_client(kube_server: KubeApiServer) -> Iterator[kubernetes.client.ApiClient]:
    """An official-client ``ApiClient`` configured for ``kube_server``."""
    client = make_api_client(kube_server.url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def kubeconfig_path(kube_server: KubeApiServer, tmp_path: Path) -> Path:
    """A kubeconfig file (namespace ``default``) pointing at ``kube_server``."""
    return write_kubeconfig(kube_server.url, tmp_path / "kubeconfig")
