"""Fixtures of the router tests: a model Service on the real control plane (``world``).

A test that takes ``world`` (or ``cp``) runs on the real control plane and is marked
``controlplane``; the pure ones (replica maths, reachable weights, the fake router) need
nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.fixtures import TestBed

from .world import World, open_world


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(item.path).parent == here and "cp" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.controlplane)


@pytest.fixture
def world(cp: TestBed, no_sleep: list[float]) -> World:
    """A kwok GPU node of the test's own, and the router's client (the controller's
    ServiceAccount through a fault proxy, never sleeping: its waits go to ``no_sleep``)."""
    return open_world(cp, no_sleep.append)
