"""Shared fixtures: a ``KubeClient`` on the strict test API server (loaded by tests/conftest)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeapi import KubeApiServer, write_kubeconfig
from mlrollout.kube import KubeClient, connect

__all__ = ["kube", "no_sleep"]


@pytest.fixture
def no_sleep() -> list[float]:
    """Records the waits retries asked for instead of sleeping."""
    return []


@pytest.fixture
def kube(kube_server: KubeApiServer, tmp_path: Path, no_sleep: list[float]) -> Iterator[KubeClient]:
    """A ``KubeClient`` built by ``connect`` from a kubeconfig for the test server."""
    path = write_kubeconfig(kube_server.url, tmp_path / "kubeconfig")
    client = connect(kubeconfig=str(path), timeout=5.0)
    client.sleep = no_sleep.append
    try:
        yield client
    finally:
        client.close()
