"""Shared fixtures for the kube layer's clients (loaded by tests/conftest)."""

from __future__ import annotations

import pytest

__all__ = ["no_sleep"]


@pytest.fixture
def no_sleep() -> list[float]:
    """Records the waits retries asked for instead of sleeping."""
    return []
