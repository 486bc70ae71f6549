"""Fixtures shared by the gate tests: ``kube`` on the strict test API server, used by
``test_capacity_snapshot.py`` only (not moved yet); ``test_capacity.py`` fetches from the
real control plane."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeapi import KubeApiServer, write_kubeconfig
from mlrollout.kube import KubeClient, connect


@pytest.fixture
def kube(kube_server: KubeApiServer, tmp_path: Path) -> Iterator[KubeClient]:
    """A client of the test API server that does not sleep between retries."""
    client = connect(kubeconfig=str(write_kubeconfig(kube_server.url, tmp_path / "kc")))
    client.sleep = lambda _seconds: None
    try:
        yield client
    finally:
        client.close()
