"""The kube layer's tests run on the real control plane.

A test that asks for ``kube`` gets an admin ``KubeClient`` on the real kube-apiserver and, with
``ns``, a namespace of its own (every test here that uses either is marked
``controlplane``); one that also asks for ``faults`` talks to it through the fault proxy
(``controlplane.faults``), as a ServiceAccount bound to ``cluster-admin`` in that namespace.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from controlplane.faults import FaultProxy
from controlplane.fixtures import TestBed
from mlrollout.kube import KubeClient, connect


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        names = getattr(item, "fixturenames", ())
        if Path(item.path).parent == here and ({"kube", "ns", "cp"} & set(names)):
            item.add_marker(pytest.mark.controlplane)


@pytest.fixture
def ns(cp: TestBed) -> str:
    """The namespace the test works in."""
    return cp.namespace


@pytest.fixture
def faults(cp: TestBed) -> FaultProxy:
    """The fault proxy ``kube`` talks through."""
    return cp.fault_proxy()


@pytest.fixture
def kube(request: pytest.FixtureRequest, no_sleep: list[float]) -> Iterator[KubeClient]:
    """A ``KubeClient`` built by ``connect`` from a kubeconfig: the real control plane's
    admin, or a namespace admin through the fault proxy when the test asks for ``faults``."""
    if "faults" in request.fixturenames:
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
