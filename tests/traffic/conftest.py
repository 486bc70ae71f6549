"""Fixtures of the router tests: a ``KubeClient`` on the test API server that never sleeps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeapi import KubeApiServer, write_kubeconfig
from mlrollout.kube import KubeClient, connect


@pytest.fixture
def no_sleep() -> list[float]:
    """The waits the client's retries asked for, instead of sleeping."""
    return []


@pytest.fixture
def kube(kube_server: KubeApiServer, tmp_path: Path, no_sleep: list[float]) -> Iterator[KubeClient]:
    """A ``KubeClient`` connected to ``kube_server`` through a kubeconfig."""
    client = connect(kubeconfig=str(write_kubeconfig(kube_server.url, tmp_path / "kubeconfig")))
    client.sleep = no_sleep.append
    try:
        yield client
    finally:
        client.close()
