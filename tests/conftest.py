"""Shared test configuration: the real control plane fixtures, shards, and the repository root."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.budgets import register_profiles

pytest_plugins = [
    "support.kube_fixtures",
    "support.shards",
    "controlplane.fixtures",
]

ROOT = Path(__file__).resolve().parent.parent

register_profiles()


@pytest.fixture
def repo_root() -> Path:
    """The repository root (examples/, analyses/)."""
    return ROOT
