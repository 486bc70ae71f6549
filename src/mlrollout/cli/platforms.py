"""``--platform``: where a command's rollout lives (a cluster, or the local platform).

Part of the ``cli`` layer; no heavy imports, so ``status`` can offer the flag cheaply.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["PLATFORM_ANNOTATION", "PLATFORM_HELP", "Platform"]

PLATFORM_ANNOTATION = "mlrollout.io/platform"
PLATFORM_HELP = "kubernetes (default) or local; else the file's mlrollout.io/platform annotation."


class Platform(StrEnum):
    """Where a release runs."""

    KUBERNETES = "kubernetes"
    LOCAL = "local"
