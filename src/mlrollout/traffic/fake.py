"""``FakeRouter``: an in-memory ``TrafficRouter`` for the controller's tests.

Part of the ``traffic`` layer and shipped with it (as httpx ships ``MockTransport``), so the
controller is tested against the same contract the real routers pass (``tests/traffic``).
It keeps the split in memory, refuses weight to an environment with no available replicas,
rounds to a configurable resolution (1.0 imitates whole-percent routers) and can be told to
fail its next calls, to exercise the controller's fault handling.
"""

from __future__ import annotations

from collections.abc import Mapping

from mlrollout.errors import MlrolloutError
from mlrollout.spec.status import EnvName, TrafficSplit, other_env
from mlrollout.traffic.split import assess_destinations, assess_target, compute_split

__all__ = ["FakeRouter"]


class FakeRouter:
    """A router whose "cluster" is a dict: available replicas per environment and a split.

    ``writes`` records every split applied, with the available replicas at that moment;
    ``errors`` is a queue: each call to ``shift``/``release`` first raises the next one.
    """

    def __init__(
        self,
        *,
        live_env: EnvName = "blue",
        available: Mapping[EnvName, int] | None = None,
        resolution: float = 0.01,
    ) -> None:
        other = other_env(live_env)
        self.available: dict[EnvName, int] = dict(available or {"blue": 1, "green": 1})
        self.resolution = resolution
        self.weights: dict[EnvName, float] = {live_env: 100.0, other: 0.0}
        self.writes: list[tuple[dict[EnvName, float], dict[EnvName, int]]] = []
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
            stable_env=stable_env, canary_env=canary, canary_weight=self.weights[canary]
        )

    def shift(self, target: TrafficSplit) -> TrafficSplit:
        """Apply ``target`` rounded to ``resolution``; the extras follow the canary."""
        self._raise_queued()
        assess_target(target)
        steps = round(target.canary_weight / self.resolution)
        achieved = compute_split(
            stable_env=target.stable_env,
            canary_env=target.canary_env,
            canary_bp=round(steps * self.resolution * 100),
        )
        assess_destinations(achieved, self.available)
        self.weights = {
            achieved.stable_env: achieved.stable_weight,
            achieved.canary_env: achieved.canary_weight,
        }
        canary_up = self.available.get(achieved.canary_env, 0) > 0
        self.extras = canary_up and achieved.canary_weight < 100
        self.writes.append((dict(self.weights), dict(self.available)))
        return achieved

    def release(self, stable_env: EnvName) -> TrafficSplit:
        """All traffic to ``stable_env``; extras removed."""
        canary = other_env(stable_env)
        achieved = self.shift(
            TrafficSplit(stable_env=stable_env, canary_env=canary, canary_weight=0)
        )
        self.extras = False
        return achieved

    def _raise_queued(self) -> None:
        if self.errors:
            raise self.errors.pop(0)
