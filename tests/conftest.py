"""Shared test configuration: paths of the repository's example and fixture files."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def repo_root() -> Path:
    """The repository root (examples/, analyses/)."""
    return ROOT
