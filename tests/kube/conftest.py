"""Where the kube layer's tests run: on the real control plane, unless they need the test API
server (Deployments never ready on demand, its write history).

A test that asks for ``kube`` and ``ns`` gets an admin ``KubeClient`` on the real
kube-apiserver and a namespace of its own (marked ``controlplane``); one that also asks for
``faults`` talks to it through the fault proxy (``controlplane.faults``), as a
ServiceAccount bound to ``cluster-admin`` in that namespace. A test that does not ask for
``ns``, or asks for ``kube_server``, gets the strict test API server and namespace
``default``, as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from controlplane.faults import FaultProxy
from controlplane.fixtures import TestBed
from kubeapi import write_kubeconfig
from mlrollout.kube import KubeClient, connect


def _on_test_server(fixturenames: list[str] | tuple[str, ...]) -> bool:
    return "kube_server" in fixturenames or "ns" not in fixturenames


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        names = getattr(item, "fixturenames", ())
        if Path(item.path).parent == here and not _on_test_server(names):
            item.add_marker(pytest.mark.controlplane)


@pytest.fixture
def ns(request: pytest.FixtureRequest) -> str:
    """The namespace the test works in."""
    if "kube_server" in request.fixturenames:
        return "default"
    name: str = request.getfixturevalue("cp").namespace
    return name


@pytest.fixture
def faults(cp: TestBed) -> FaultProxy:
    """The fault proxy ``kube`` talks through."""
    return cp.fault_proxy()


@pytest.fixture
def kube(
    request: pytest.FixtureRequest, tmp_path: Path, no_sleep: list[float]
) -> Iterator[KubeClient]:
    """A ``KubeClient`` built by ``connect`` from a kubeconfig: the real control plane's
    admin, or the test API server's."""
    if _on_test_server(request.fixturenames):
        server = request.getfixturevalue("kube_server")
        path = write_kubeconfig(server.url, tmp_path / "kubeconfig")
    elif "faults" in request.fixturenames:
        bed: TestBed = request.getfixturevalue("cp")
        path = bed.namespace_admin_kubeconfig(through=request.getfixturevalue("faults"))
    else:
        path = request.getfixturevalue("cp").session.plane.admin_kubeconfig
    client = connect(kubeconfig=str(path), timeout=5.0)
    client.sleep = no_sleep.append
    try:
        yield client
    finally:
        client.close()
