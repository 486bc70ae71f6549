"""``TrafficRouter``: the port every traffic router implements (four methods).

Part of the ``traffic`` layer, used by the ``controller``'s effects. Implementations, one
file each: ``selector`` (Service selector switch), ``replicas`` (replica-count canary),
``gateway`` (Gateway API HTTPRoute weights) and ``fake`` (in memory, for controller tests).
``factory.build_router`` picks one from a ModelRollout spec.

Error contract shared by every implementation:

- ``RouterError``: the router cannot express, apply or read the split (missing or foreign
  objects, a weight the router cannot carry, a destination with no available replicas);
- ``KubeError`` subclasses pass through unchanged, so ``TransientError`` still marks what
  a later pass may retry (the client has already retried 429/5xx per its policy);
- a failed ``shift`` never leaves an undefined split: ``observe`` afterwards returns the
  split in force (the old one, or the new one if the write landed before the failure);
- ``shift`` and ``release`` return what they achieved, which may fall short of the target
  when a router must first start pods before it may remove others (``replicas``); calling
  again with the same target once those pods are available finishes the move.
"""

from __future__ import annotations

from typing import Protocol

from mlrollout.spec.status import EnvName, TrafficSplit

__all__ = ["TrafficRouter"]


class TrafficRouter(Protocol):
    """Splits a model Service's traffic between its blue and green environments."""

    def ensure(self) -> None:
        """Check (and where needed prepare) the objects the router writes; idempotent."""
        ...

    def observe(self, stable_env: EnvName) -> TrafficSplit:
        """The split in force, expressed with ``stable_env`` as the stable side."""
        ...

    def shift(self, target: TrafficSplit) -> TrafficSplit:
        """Apply ``target`` (idempotently); the split actually achieved, which may be rounded."""
        ...

    def release(self, stable_env: EnvName) -> TrafficSplit:
        """All traffic to ``stable_env``; remove router extras (header routes, mirrors)."""
        ...
