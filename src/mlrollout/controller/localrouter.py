"""``LocalRouter``: the ``TrafficRouter`` port over the local platform's weighted proxy.

Part of the ``controller`` layer (it binds the ``local`` proxy to the ``traffic`` rules).
Like the replicas router on Kubernetes, which starts pods before it gives them weight, it
asks the environments to serve (start a model-server process) before it sends an
environment any traffic, and refuses weight to one that cannot serve. Splits are carried
exactly to the basis point and always sum to 100%; a refused or failed shift leaves the
split in force unchanged, and the refusal stands (every later shift to that split raises
again) until the environment can serve.
"""

from __future__ import annotations

from typing import Protocol

from mlrollout.errors import RouterError
from mlrollout.local.proxy import WeightedProxy
from mlrollout.spec.status import EnvName, TrafficSplit, other_env
from mlrollout.traffic.split import (
    assess_target,
    compute_split,
    compute_weights,
)

__all__ = ["LocalRouter", "Serving"]


class Serving(Protocol):
    """Starts an environment's server on demand; its URL, or None when it cannot serve."""

    def serve(self, env: EnvName) -> str | None:
        """Make ``env`` serve; its base URL (None when it runs no release)."""
        ...


class LocalRouter:
    """Splits the local proxy's traffic between blue and green."""

    def __init__(self, proxy: WeightedProxy, serving: Serving) -> None:
        self.proxy = proxy
        self.serving = serving

    def ensure(self) -> None:
        """Nothing to prepare: the proxy runs for the platform's lifetime."""

    def observe(self, stable_env: EnvName) -> TrafficSplit:
        """The split in force, relative to ``stable_env``."""
        canary = other_env(stable_env)
        weights = self.proxy.weights()
        return compute_split(stable_env=stable_env, canary_env=canary, canary_bp=weights[canary])

    def shift(self, target: TrafficSplit) -> TrafficSplit:
        """Apply ``target`` to the basis point; environments with weight serve first."""
        assess_target(target)
        wanted = compute_weights(target)
        for env, bp in wanted.items():
            if bp <= 0:
                continue
            url = self.serving.serve(env)
            if url is None:
                raise RouterError(
                    f"refusing to send {bp / 100:g}% of traffic to {env}: it runs no release"
                )
            self.proxy.set_backend(env, url)
        try:
            self.proxy.set_weights({str(env): bp for env, bp in wanted.items()})
        except ValueError as exc:
            raise RouterError(f"the local proxy refused {wanted}: {exc}") from None
        return target

    def release(self, stable_env: EnvName) -> TrafficSplit:
        """All traffic to ``stable_env``."""
        return self.shift(
            TrafficSplit(stable_env=stable_env, canary_env=other_env(stable_env), canary_bp=0)
        )
