"""Leader election on a ``coordination.k8s.io/v1`` Lease: one actor per rollout or controller.

Part of the ``kube`` layer. Follows the usual Kubernetes protocol: a holder renews the Lease
every ``retry_period``; another candidate takes it only after it has *observed* the same
record unchanged for ``lease_duration`` on its own monotonic clock (so clock skew between
machines does not matter); every write carries the resourceVersion read, so of two racing
candidates exactly one wins. A holder that has not renewed successfully for
``renew_deadline`` must consider itself deposed and stop acting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from mlrollout.errors import ConflictError, KubeError, NotFoundError, TransientError
from mlrollout.kube.client import KubeClient
from mlrollout.kube.kinds import LEASES

__all__ = ["LeaseLock", "LeaseSettings"]


@dataclass(frozen=True)
class LeaseSettings:
    """Timing of leader election (defaults as Kubernetes controllers use)."""

    lease_duration: timedelta = timedelta(seconds=15)
    renew_deadline: timedelta = timedelta(seconds=10)
    retry_period: timedelta = timedelta(seconds=2)

    def __post_init__(self) -> None:
        if not self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError("need retry_period < renew_deadline < lease_duration")


def _micro(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaseLock:
    """A Lease held by ``identity``; call ``try_acquire_or_renew`` every retry period."""

    def __init__(
        self,
        client: KubeClient,
        *,
        name: str,
        namespace: str,
        identity: str,
        settings: LeaseSettings | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.name = name
        self.namespace = namespace
        self.identity = identity
        self.settings = settings or LeaseSettings()
        self._now = now
        self._monotonic = monotonic
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self._last_renewed: float | None = None
        self.last_error: Exception | None = None  # why the last round failed (not a lost race)

    @property
    def held(self) -> bool:
        """True while the last successful renewal is younger than the renew deadline."""
        if self._last_renewed is None:
            return False
        age = self._monotonic() - self._last_renewed
        return age < self.settings.renew_deadline.total_seconds()

    def try_acquire_or_renew(self) -> bool:
        """One election round: True when this identity holds the Lease afterwards.

        A renewal counts from when it was sent, not from when its answer came: the API
        server stored it at or after that moment, so a slow answer never stretches the
        time this process believes it holds the Lease (``held``, the fences)."""
        sent = self._monotonic()
        try:
            won = self._attempt()
            self.last_error = None
        except (ConflictError, TransientError, KubeError) as exc:
            won = False
            # A lost race (409) is the API server answering; anything else is worth a log line.
            failed = isinstance(exc, KubeError) and not isinstance(exc, ConflictError)
            self.last_error = exc if failed else None
        if won:
            self._last_renewed = sent
        return won and self.held

    def release(self) -> None:
        """Give the Lease up (holder cleared) so a successor need not wait for expiry."""
        if self._last_renewed is None:
            return
        self._last_renewed = None
        try:
            lease = self.client.get(LEASES, self.name, self.namespace)
            if lease.get("spec", {}).get("holderIdentity") != self.identity:
                return
            lease["spec"]["holderIdentity"] = None
            lease["spec"]["leaseDurationSeconds"] = 1
            self.client.replace(LEASES, lease)
        except KubeError:
            return

    def _attempt(self) -> bool:
        now = self._now()
        try:
            lease = self.client.get(LEASES, self.name, self.namespace)
        except NotFoundError:
            self.client.create(LEASES, self._new_lease(now), self.namespace)
            return True
        spec = lease.setdefault("spec", {})
        holder = spec.get("holderIdentity")
        self._observe(spec)
        if holder and holder != self.identity and not self._expired(spec):
            return False
        if holder != self.identity:
            spec["acquireTime"] = _micro(now)
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        spec["holderIdentity"] = self.identity
        spec["renewTime"] = _micro(now)
        spec["leaseDurationSeconds"] = int(self.settings.lease_duration.total_seconds())
        self.client.replace(LEASES, lease)
        return True

    def _observe(self, spec: dict[str, Any]) -> None:
        record = (
            spec.get("holderIdentity"),
            spec.get("renewTime"),
            spec.get("leaseDurationSeconds"),
        )
        if record != self._observed:
            self._observed = record
            self._observed_at = self._monotonic()

    def _expired(self, spec: dict[str, Any]) -> bool:
        duration = float(spec.get("leaseDurationSeconds") or 0)
        return self._monotonic() - self._observed_at > duration

    def _new_lease(self, now: datetime) -> dict[str, Any]:
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": int(self.settings.lease_duration.total_seconds()),
                "acquireTime": _micro(now),
                "renewTime": _micro(now),
                "leaseTransitions": 0,
            },
        }
