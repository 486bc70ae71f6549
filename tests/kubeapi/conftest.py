"""Fixtures of the test API server package, re-exported from ``fixtures`` for its own tests.

This package's tests run the server without the repository's ModelRollout CRD, so they do
not depend on the CRD's evolving schema; ``test_validity`` brings its own small CRD.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .fixtures import kube_client, kube_server, kubeconfig_path

__all__ = ["kube_client", "kube_crd", "kube_server", "kubeconfig_path"]


@pytest.fixture
def kube_crd() -> Path | None:
    """No CRD: ModelRollouts are accepted as they are."""
    return None
