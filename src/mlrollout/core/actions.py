"""What ``decide()`` asks the edge to do. Each action is applied idempotently by ``effects``.

Part of the pure ``core``: plain frozen values, no behaviour. Applying the same action
twice has the same result as once, so a pass interrupted anywhere can simply be repeated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mlrollout.spec.status import EnvName, Phase, TrafficSplit

__all__ = [
    "Action",
    "Deploy",
    "Emit",
    "Notify",
    "ScaleEnv",
    "SetPreview",
    "Shift",
]


@dataclass(frozen=True)
class Deploy:
    """Put the release on ``env``'s Deployment; ``replicas`` None keeps the current count."""

    env: EnvName
    image: str
    model_uri: str
    model_sha256: str
    replicas: int | None


@dataclass(frozen=True)
class ScaleEnv:
    """Scale an environment's Deployment."""

    env: EnvName
    replicas: int


@dataclass(frozen=True)
class Shift:
    """Apply a traffic split (persisted as ``status.traffic.target`` before the router write)."""

    split: TrafficSplit


@dataclass(frozen=True)
class SetPreview:
    """Point the blue-green preview Service at ``env``."""

    env: EnvName


@dataclass(frozen=True)
class Notify:
    """Tell notification channels about a phase change."""

    phase: Phase
    reason: str


@dataclass(frozen=True)
class Emit:
    """Record a Kubernetes Event on the rollout."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


Action = Deploy | ScaleEnv | Shift | SetPreview | Notify | Emit
