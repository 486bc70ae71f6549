"""Driving one rollout from outside the cluster: ``mlrollout promote``'s engine.

Part of the ``controller`` layer. Applies the user's rollout (create, or update the spec at
the version read), then either follows a running in-cluster controller (one holds the
controller Lease) by watching the status, or drives the rollout itself through the same
``loop.Reconciler`` while holding that Lease, so two actors never act on one rollout.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from mlrollout.clock import Clock, SystemClock
from mlrollout.controller.analyst import MetricsAnalyst
from mlrollout.controller.kubernetes import build_reconciler
from mlrollout.controller.loop import Reconciler, drive
from mlrollout.controller.ports import RolloutState
from mlrollout.core.decision import Decision
from mlrollout.errors import DeadlineError, KubeError, NotFoundError
from mlrollout.kube import KubeClient, LeaseLock, LeaseSettings, RolloutStore, StoredRollout
from mlrollout.kube.fencing import LeaseFence
from mlrollout.kube.kinds import LEASES, MODELROLLOUTS
from mlrollout.kube.rollouts import parse_stored
from mlrollout.metrics.registry import build_cluster_providers
from mlrollout.spec import AnalysisTemplate
from mlrollout.spec.environment import EnvironmentSettings
from mlrollout.spec.status import Intent, Phase

__all__ = [
    "CONTROLLER_LEASE",
    "DriveOutcome",
    "apply_rollout",
    "controller_holds_lease",
    "drive_with_lease",
    "follow",
    "full_promotion_requester",
    "identity",
    "lease_settings",
    "see_through",
]

CONTROLLER_LEASE = "mlrollout-controller"


def identity(role: str) -> str:
    """A holder identity: role, host and process."""
    return f"{role}-{socket.gethostname()}-{os.getpid()}"


def apply_rollout(client: KubeClient, obj: dict[str, Any]) -> StoredRollout:
    """Create the rollout, or replace its spec at the version read (status untouched)."""
    meta = obj["metadata"]
    namespace = meta.get("namespace") or "default"
    try:
        current = client.get(MODELROLLOUTS, meta["name"], namespace)
    except NotFoundError:
        body = {**obj, "metadata": {**meta, "namespace": namespace}}
        body.pop("status", None)
        return parse_stored(client.create(MODELROLLOUTS, body, namespace))
    if current.get("spec") == obj["spec"]:
        return parse_stored(current)
    updated = {**current, "spec": obj["spec"]}
    return parse_stored(client.replace(MODELROLLOUTS, updated))


def controller_holds_lease(client: KubeClient, *, namespace: str, now: datetime) -> bool:
    """Whether an in-cluster controller holds the controller Lease (renewed recently)."""
    try:
        lease = client.get(LEASES, CONTROLLER_LEASE, namespace)
    except NotFoundError:
        return False
    spec = lease.get("spec") or {}
    holder, renewed = spec.get("holderIdentity"), spec.get("renewTime")
    if not holder or not renewed or str(holder).startswith("mlrollout-cli-"):
        return False
    renewed_at = datetime.fromisoformat(str(renewed).replace("Z", "+00:00"))
    return now - renewed_at < timedelta(seconds=int(spec.get("leaseDurationSeconds") or 15))


@dataclass(frozen=True)
class DriveOutcome:
    """How the command ended: the rollout as last seen, and whether it was driven here."""

    stored: StoredRollout
    driven: bool


def drive_with_lease(
    reconciler: Reconciler,
    lease: LeaseLock,
    *,
    timeout: timedelta,
    full: bool,
    on_pass: Callable[[StoredRollout, Decision], None],
) -> DriveOutcome:
    """Drive until settled or paused, renewing ``lease``; stop at once if it is lost.

    A Lease left by a process that died is taken once it expires (observed for its whole
    duration); one still being renewed by another driver is a ``KubeError``.
    """
    _acquire(lease, reconciler.clock, patience=lease.settings.lease_duration * 2)
    reconciler.edge.fence = LeaseFence(lease)  # a deposed driver writes nothing more
    request_full = full_promotion_requester(reconciler.edge.state) if full else None

    def each(stored: StoredRollout, decision: Decision) -> None:
        if not lease.try_acquire_or_renew() and not lease.held:
            raise KubeError("lost the Lease: another process now drives this rollout")
        if request_full is not None:
            request_full(stored)
        on_pass(stored, decision)

    renewer = _Renewer(lease)
    try:
        stored = drive(
            reconciler, timeout=timeout, until=lambda s: s.status.phase.settled, on_pass=each
        )
    finally:
        renewer.stop()
        lease.release()
    return DriveOutcome(stored, True)


class _Renewer:
    """Renews the Lease every retry period while a pass runs (a long pass must not lose it:
    the fence would stop its writes)."""

    def __init__(self, lease: LeaseLock) -> None:
        self.lease = lease
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="lease-renewer")
        self._thread.start()

    def _run(self) -> None:
        period = self.lease.settings.retry_period.total_seconds()
        while not self._stop.wait(period):
            self.lease.try_acquire_or_renew()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def see_through(
    client: KubeClient,
    stored: StoredRollout,
    *,
    templates: Mapping[str, AnalysisTemplate],
    timeout: timedelta,
    full: bool,
    lease_namespace: str,
    on_change: Callable[[StoredRollout], None],
    on_pass: Callable[[StoredRollout, Decision], None],
) -> DriveOutcome:
    """See an applied rollout through: follow it while the in-cluster controller holds the
    controller Lease in ``lease_namespace`` (``on_change`` at each change), else drive it
    here under that Lease (``on_pass`` after each pass); ``full`` asks for a full promotion
    either way."""
    rollout = stored.rollout
    clock = SystemClock()
    if controller_holds_lease(client, namespace=lease_namespace, now=clock.now()):
        return follow(
            client,
            namespace=rollout.namespace,
            name=rollout.name,
            clock=clock,
            timeout=timeout,
            on_change=on_change,
            full=full,
        )
    analyst = None
    if rollout.spec.analysis is not None:
        config = rollout.spec.metrics.prometheus if rollout.spec.metrics else None
        analyst = MetricsAnalyst(build_cluster_providers(config), templates, now=clock.now)
    holder = identity("mlrollout-cli")
    reconciler = build_reconciler(
        client,
        namespace=rollout.namespace,
        name=rollout.name,
        analyst=analyst,
        clock=clock,
        identity=holder,
    )
    lease = LeaseLock(
        client,
        name=CONTROLLER_LEASE,
        namespace=lease_namespace,
        identity=holder,
        settings=lease_settings(),
    )
    return drive_with_lease(reconciler, lease, timeout=timeout, full=full, on_pass=on_pass)


def lease_settings() -> LeaseSettings:
    """Lease timing; ``MLROLLOUT_LEASE_SECONDS`` shortens it (tests, small clusters)."""
    seconds = EnvironmentSettings.from_environment().lease_seconds
    if seconds is None:
        return LeaseSettings()
    return LeaseSettings(
        lease_duration=timedelta(seconds=seconds),
        renew_deadline=timedelta(seconds=seconds * 2 / 3),
        retry_period=timedelta(seconds=seconds / 7.5),
    )


def _acquire(lease: LeaseLock, clock: Clock, *, patience: timedelta) -> None:
    deadline = clock.monotonic() + patience.total_seconds()
    while not lease.try_acquire_or_renew():
        if clock.monotonic() >= deadline:
            raise KubeError(
                f"could not acquire the Lease {lease.namespace}/{lease.name}: "
                "another process drives this rollout"
            )
        clock.sleep(lease.settings.retry_period.total_seconds())


def full_promotion_requester(state: RolloutState) -> Callable[[StoredRollout], None]:
    """``--full`` of a driven rollout: ask ``state`` for a full promotion (``PROMOTE_FULL``)
    once, when the rollout is first seen progressing or paused."""
    done = False

    def request(stored: StoredRollout) -> None:
        nonlocal done
        if done or stored.status.phase not in (Phase.PROGRESSING, Phase.PAUSED):
            return
        state.request(stored.rollout.namespace, stored.rollout.name, Intent.PROMOTE_FULL)
        done = True

    return request


def follow(
    client: KubeClient,
    *,
    namespace: str,
    name: str,
    clock: Clock,
    timeout: timedelta | None,
    on_change: Callable[[StoredRollout], None],
    until: Callable[[StoredRollout], bool] = lambda stored: stored.status.phase.settled,
    full: bool = False,
) -> DriveOutcome:
    """Watch a rollout another process drives until ``until`` holds (by default: it settles
    or pauses); ``DeadlineError`` after ``timeout`` (None: no limit). ``full`` asks for a
    full promotion the way a driven rollout does (``full_promotion_requester``): asked
    earlier, the driver would acknowledge and ignore it before the rollout progresses."""
    store = RolloutStore(client)
    request_full = full_promotion_requester(store) if full else None

    def seen(current: StoredRollout) -> None:
        if request_full is not None:
            request_full(current)
        on_change(current)

    deadline = None if timeout is None else clock.monotonic() + timeout.total_seconds()
    stored = store.read(namespace, name)
    seen(stored)
    while not until(stored):
        remaining = 30.0 if deadline is None else deadline - clock.monotonic()
        if remaining <= 0:
            raise DeadlineError(f"rollout still {stored.status.phase.value} after {timeout}")
        for _, obj in client.watch(
            MODELROLLOUTS,
            namespace,
            resource_version=stored.resource_version,
            timeout_seconds=max(1, min(30, int(remaining))),
        ):
            if obj.get("metadata", {}).get("name") == name:
                stored = parse_stored(obj)
                seen(stored)
                if until(stored):
                    break
        else:
            stored = store.read(namespace, name)
    return DriveOutcome(stored, False)


def _now() -> datetime:
    return datetime.now(UTC)
