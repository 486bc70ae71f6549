"""Lazy package exports: a package names what it re-exports from heavy modules, and those
modules are imported on first use.

Bottom layer. ``binding``, ``traffic`` and ``analysis`` re-export names whose modules pull
in numpy, scipy or the Kubernetes client; ``lint`` and the CLI's start-up import the
packages without paying for those. A package writes
``__getattr__ = lazy_exports(__name__, {"name": "package.module", ...})``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, table: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: each name of ``table`` is imported from its
    module on first access and then kept in the package (later accesses are plain)."""

    def attribute(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    return attribute
