"""``mlrollout controller``: the in-cluster manager for every ModelRollout it can see.

Part of the ``controller`` layer. Waits in standby until it holds the controller Lease,
then lists and watches ModelRollouts (one namespace or all), keeps a work queue with a due
time per rollout, and runs ``loop.Reconciler`` passes on a few worker threads — one pass per
rollout at a time. It renews the Lease every retry period and stops acting, and exits, as
soon as it is lost: Kubernetes is the distributed engine, the Lease the one-actor rule.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from mlrollout.clock import Clock, SystemClock
from mlrollout.controller.blocked import record_forbidden
from mlrollout.controller.driver import CONTROLLER_LEASE
from mlrollout.controller.kubernetes import build_reconciler
from mlrollout.controller.loop import Reconciler
from mlrollout.controller.ports import Analyst
from mlrollout.controller.telemetry import Telemetry
from mlrollout.controller.workqueue import Key, WorkQueue
from mlrollout.errors import ForbiddenError, KubeError, MlrolloutError, NotFoundError
from mlrollout.kube import KubeClient, LeaseLock, LeaseSettings
from mlrollout.kube.kinds import MODELROLLOUTS
from mlrollout.kube.rollouts import parse_stored
from mlrollout.spec import ModelRollout

__all__ = ["Manager", "ManagerSettings"]

log = logging.getLogger("mlrollout.controller")
IDLE_REQUEUE = timedelta(seconds=30)
ERROR_REQUEUE = timedelta(seconds=10)


@dataclass(frozen=True)
class ManagerSettings:
    """Where to look, how to elect, how many workers."""

    identity: str
    namespace: str | None = None  # None: every namespace
    lease_namespace: str = "default"
    workers: int = 4
    lease: LeaseSettings = field(default_factory=LeaseSettings)
    watch_timeout_s: int = 30


class Manager:
    """Leader election, the watch, the work queue and the workers."""

    def __init__(
        self,
        client: KubeClient,
        settings: ManagerSettings,
        *,
        analyst_for: Callable[[ModelRollout], Analyst | None] = lambda rollout: None,
        telemetry: Telemetry | None = None,
        clock: Clock | None = None,
        reconciler_for: Callable[[KubeClient, Key, Analyst | None], Reconciler] | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.analyst_for = analyst_for
        self.telemetry = telemetry or Telemetry()
        self.clock = clock or SystemClock()
        self.queue = WorkQueue()
        self.lease = LeaseLock(
            client,
            name=CONTROLLER_LEASE,
            namespace=settings.lease_namespace,
            identity=settings.identity,
            settings=settings.lease,
        )
        self._reconcilers: dict[Key, tuple[int, Reconciler]] = {}
        self._stop = threading.Event()
        self._leading = threading.Event()
        self._reconciler_for = reconciler_for or self._build

    @property
    def leading(self) -> bool:
        """True while this process holds the Lease and acts."""
        return self._leading.is_set()

    def stop(self) -> None:
        """Ask ``run`` to return."""
        self._stop.set()
        self.queue.close()

    def run(self) -> int:
        """Stand by until leader, act until the Lease is lost or ``stop``; the exit code."""
        period = self.settings.lease.retry_period.total_seconds()
        while not self._stop.is_set() and not self.lease.try_acquire_or_renew():
            self._stop.wait(period)
        if self._stop.is_set():
            return 0
        log.info(
            "acquired the Lease %s/%s as %s",
            self.lease.namespace,
            self.lease.name,
            self.settings.identity,
        )
        self._leading.set()
        self.telemetry.leader.set(1)
        threads = [threading.Thread(target=self._watch, daemon=True, name="watch")]
        threads += [
            threading.Thread(target=self._work, daemon=True, name=f"worker-{i}")
            for i in range(self.settings.workers)
        ]
        for thread in threads:
            thread.start()
        lost = False
        while not self._stop.wait(period):
            if not self.lease.try_acquire_or_renew() and not self.lease.held:
                lost = True
                log.error("lost the Lease: stopping")
                break
        self._leading.clear()
        self.telemetry.leader.set(0)
        self.stop()
        for thread in threads:
            thread.join(timeout=5)
        if not lost:
            self.lease.release()
        return 1 if lost else 0

    # -- watch ---------------------------------------------------------------------------

    def _watch(self) -> None:
        namespace = self.settings.namespace
        while not self._stop.is_set():
            try:
                items, version = self.client.list_with_version(MODELROLLOUTS, namespace)
                for obj in items:
                    self.queue.add(_key(obj))
                for kind, obj in self.client.watch(
                    MODELROLLOUTS,
                    namespace,
                    resource_version=version,
                    timeout_seconds=self.settings.watch_timeout_s,
                ):
                    if self._stop.is_set():
                        return
                    if kind == "DELETED":
                        self._forget(_key(obj))
                    elif kind in ("ADDED", "MODIFIED"):
                        self.queue.add(_key(obj))
            except KubeError as exc:  # 410 Gone, outages: list again after a pause
                log.warning("watch: %s", exc)
                self._stop.wait(1.0)

    def _forget(self, key: Key) -> None:
        self._reconcilers.pop(key, None)
        self.telemetry.forget(*key)

    # -- workers -------------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stop.is_set():
            key = self.queue.get()
            if key is None:
                return
            try:
                after = self.reconcile(key)
            finally:
                self.queue.done(key)
            if after is not None and self.leading:
                self.queue.add(key, after=after.total_seconds())

    def reconcile(self, key: Key) -> timedelta | None:
        """One pass for one rollout; when to look again (None: it is gone)."""
        if not self.lease.held:
            return ERROR_REQUEUE
        started = time.monotonic()
        try:
            reconciler = self._reconciler(key)
            stored, decision = reconciler.reconcile()
        except NotFoundError:
            self._forget(key)
            return None
        except MlrolloutError as exc:
            self.telemetry.errors.labels(reason=type(exc).__name__).inc()
            log.warning("%s/%s: %s", key[0], key[1], exc)
            if isinstance(exc, ForbiddenError):
                record_forbidden(self.client, key[0], key[1], exc, now=self.clock.now())
            return ERROR_REQUEUE
        finally:
            self.telemetry.duration.observe(time.monotonic() - started)
        self.telemetry.decisions.labels(phase=stored.status.phase.value).inc()
        self.telemetry.record(stored)
        return decision.requeue_after or IDLE_REQUEUE

    def _reconciler(self, key: Key) -> Reconciler:
        current = self.client.get(MODELROLLOUTS, key[1], key[0])
        generation = int(current["metadata"].get("generation") or 0)
        cached = self._reconcilers.get(key)
        if cached is not None and cached[0] == generation:
            return cached[1]
        rollout = parse_stored(current).rollout
        reconciler = self._reconciler_for(self.client, key, self.analyst_for(rollout))
        self._reconcilers[key] = (generation, reconciler)
        return reconciler

    def _build(self, client: KubeClient, key: Key, analyst: Analyst | None) -> Reconciler:
        return build_reconciler(
            client, namespace=key[0], name=key[1], analyst=analyst, clock=self.clock
        )


def _key(obj: dict[str, object]) -> Key:
    meta = obj.get("metadata")
    assert isinstance(meta, dict)
    return str(meta.get("namespace") or "default"), str(meta["name"])
