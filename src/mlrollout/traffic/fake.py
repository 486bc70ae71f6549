"""``FakeRouter``: an in-memory ``TrafficRouter`` for the controller's tests.

Part of the ``traffic`` layer and shipped with it (as httpx ships ``MockTransport``), so the
controller is tested against the same contract the real routers pass (``tests/traffic``).
It keeps the split in memory, refuses weight to an environment with no available replicas,
rounds to a configurable resolution in basis points (100 imitates whole-percent routers)
and can be told to fail its next calls, to exercise the controller's fault handling.
"""

from __future__ import annotations

from collections.abc import Mapping

from mlrollout.errors import MlrolloutError
from mlrollout.spec.status import TOTAL_BASIS_POINTS, EnvName, TrafficSplit, other_env
from mlrollout.traffic.split import (
    assess_destinations,
    assess_target,
    compute_split,
    compute_weights,
)

__all__ = ["FakeRouter"]


class FakeRouter:
    """A router whose "cluster" is a dict: available replicas per environment and a split.

    ``weights`` are basis points per environment (they sum to 10 000); ``writes`` records
    every split applied, with the available replicas at that moment;
    ``errors`` is a queue: each call to ``shift``/``release`` first raises the next one.
    """

    def __init__(
        self,
        *,
        live_env: EnvName = "blue",
        available: Mapping[EnvName, int] | None = None,
        resolution_bp: int = 1,
    ) -> None:
        other = other_env(live_env)
        self.available: dict[EnvName, int] = dict(available or {"blue": 1, "green": 1})
        self.resolution_bp = resolution_bp
        self.weights: dict[EnvName, int] = {live_env: TOTAL_BASIS_POINTS, other: 0}
        self.writes: list[tuple[dict[EnvName, int], dict[EnvName, int]]] = []
        self.errors: list[MlrolloutError] = []
        self.ensured = 0
        self.extras = False

    def fail_next(self, error: MlrolloutError, times: int = 1) -> None:
        """Make the next ``times`` writes raise ``error`` before changing anything."""
        self.errors.extend([error] * times)

    def ensure(self) -> None:
        """Count the call; there is nothing to prepare."""
        self.ensured += 1

    def observe(self, stable_env: EnvName) -> TrafficSplit:
        """The split in force, relative to ``stable_env``."""
        canary = other_env(stable_env)
        return TrafficSplit(
            stable_env=stable_env, canary_env=canary, canary_bp=self.weights[canary]
        )

    def shift(self, target: TrafficSplit) -> TrafficSplit:
        """Apply ``target`` rounded to ``resolution_bp``; the extras follow the canary."""
        self._raise_queued()
        assess_target(target)
        steps = round(target.canary_bp / self.resolution_bp)
        achieved = compute_split(
            stable_env=target.stable_env,
            canary_env=target.canary_env,
            canary_bp=steps * self.resolution_bp,
        )
        assess_destinations(achieved, self.available)
        self.weights = compute_weights(achieved)
        canary_up = self.available.get(achieved.canary_env, 0) > 0
        self.extras = canary_up and achieved.canary_bp < TOTAL_BASIS_POINTS
        self.writes.append((dict(self.weights), dict(self.available)))
        return achieved

    def release(self, stable_env: EnvName) -> TrafficSplit:
        """All traffic to ``stable_env``; extras removed."""
        canary = other_env(stable_env)
        achieved = self.shift(TrafficSplit(stable_env=stable_env, canary_env=canary, canary_bp=0))
        self.extras = False
        return achieved

    def _raise_queued(self) -> None:
        if self.errors:
            raise self.errors.pop(0)
