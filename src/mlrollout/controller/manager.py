"""``mlrollout controller``: the in-cluster manager for every ModelRollout it can see.

Part of the ``controller`` layer. Waits in standby until it holds the controller Lease,
then lists and watches ModelRollouts (one namespace or all), keeps a work queue with a due
time per rollout, and runs ``loop.Reconciler`` passes on a few worker threads — one pass per
rollout at a time. It renews the Lease every retry period and stops acting, and exits, as
soon as it is lost: Kubernetes is the distributed engine, the Lease the one-actor rule.

Every pass runs inside the containment boundary (``containment``): whatever it raises
becomes a ``Reconciled=False`` condition and an Event on that rollout, counted in
``mlrollout_reconcile_errors_total{reason}``, and the rollout is retried with backoff while
the others go on; after ``analysis.consecutiveErrorLimit`` failed passes in a row its
``onErrorLimit`` applies (``fallback``). Workers never die (a worker thread that ends anyway
is restarted by the renew loop); ``readiness`` fails while one is dead or stuck
(``heartbeat``). Every write of a pass is fenced by the Lease (``kube.fencing``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from mlrollout.clock import Clock, SystemClock
from mlrollout.controller.containment import Backoff, classify, clear_failure, record_failure
from mlrollout.controller.driver import CONTROLLER_LEASE
from mlrollout.controller.fallback import apply_error_fallback
from mlrollout.controller.heartbeat import Heartbeats, Readiness
from mlrollout.controller.kubernetes import build_reconciler
from mlrollout.controller.loop import Reconciler
from mlrollout.controller.ports import Analyst
from mlrollout.controller.telemetry import Telemetry
from mlrollout.controller.workqueue import Key, WorkQueue
from mlrollout.errors import KubeError, LeaseLostError, NotFoundError, TransientError
from mlrollout.gates.capacity import CapacitySnapshot
from mlrollout.kube import KubeClient, LeaseLock, LeaseSettings
from mlrollout.kube.client import api_wait_seconds
from mlrollout.kube.fencing import LeaseFence
from mlrollout.kube.kinds import MODELROLLOUTS
from mlrollout.kube.rollouts import StoredRollout, parse_stored
from mlrollout.redaction import redact
from mlrollout.spec import ModelRollout

__all__ = ["Manager", "ManagerSettings"]

log = logging.getLogger("mlrollout.controller")
IDLE_REQUEUE = timedelta(seconds=30)
ERROR_REQUEUE = timedelta(seconds=10)


@dataclass(frozen=True)
class ManagerSettings:
    """Where to look, how to elect, how many workers, when a worker counts as stuck."""

    identity: str
    namespace: str | None = None  # None: every namespace
    lease_namespace: str = "default"
    workers: int = 4
    lease: LeaseSettings = field(default_factory=LeaseSettings)
    watch_timeout_s: int = 30
    # Above the total deadline of every outbound call one pass makes (gates, webhooks,
    # providers: each bounded in its own module), so only a wedged pass trips it.
    stuck_after: timedelta = timedelta(minutes=5)
    backoff: Backoff = field(default_factory=Backoff)
    # Whether a rollout's publicKeys[].file may be read (None: as MLROLLOUT_ALLOW_KEY_FILES).
    allow_key_files: bool | None = None


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
        self.fence = LeaseFence(self.lease)
        # Every write of a pass is fenced where it is sent (``KubeClient.fenced``), besides
        # the checks before each effect; the Lease itself is written through ``client``.
        self.client = client.fenced(self.fence.check)
        # One view of nodes and pods for every rollout's GPU capacity gate (watched once a
        # gate reads it; listed at most every two seconds until the watches are current),
        # not a list of the whole cluster per verification.
        self.capacity = CapacitySnapshot(client, watch=True)
        self.heartbeats = Heartbeats(stuck_after=settings.stuck_after)
        self.backoff = settings.backoff
        self._reconcilers: dict[Key, tuple[int, Reconciler]] = {}
        self._stop = threading.Event()
        self._leading = threading.Event()
        self._reconciler_for = reconciler_for or self._build
        self._workers: dict[str, threading.Thread] = {}

    @property
    def leading(self) -> bool:
        """True while this process holds the Lease and acts."""
        return self._leading.is_set()

    def readiness(self) -> Readiness:
        """Ready while leading with every worker alive and none stuck (``/readyz``)."""
        if not self.leading:
            return Readiness(False, "standby")
        return self.heartbeats.readiness()

    def stop(self) -> None:
        """Ask ``run`` to return."""
        self._stop.set()
        self.queue.close()

    def run(self) -> int:
        """Stand by until leader, act until the Lease is lost or ``stop``; the exit code."""
        period = self.settings.lease.retry_period.total_seconds()
        while not self._stop.is_set() and not self._elect():
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
        self._start_worker("watch")
        for i in range(self.settings.workers):
            self._start_worker(f"worker-{i}")
        lost = False
        while not self._stop.wait(period):
            if not self._elect() and not self.lease.held:
                lost = True
                log.error("lost the Lease: stopping")
                break
            self._restart_dead_workers()
        self._leading.clear()
        self.telemetry.leader.set(0)
        self.stop()
        self.capacity.stop()
        for thread in list(self._workers.values()):
            thread.join(timeout=5)
        busy = any(t.is_alive() for t in self._workers.values() if t.name != "watch")
        if not lost and not busy:
            # Released only when no pass can still write: a worker still in a pass (a slow
            # API server) keeps the Lease to its expiry, so no successor overlaps with it.
            self.lease.release()
        return 1 if lost else 0

    def _elect(self) -> bool:
        """One election round; logs (once per change) whether the API server answers."""
        won = self.lease.try_acquire_or_renew()
        error = self.lease.last_error
        reason = None if error is None else str(error)
        if (reason is None) != (self.telemetry.api_error is None):
            if reason is None:
                log.info("the API server answers again")
            else:
                log.error(
                    "cannot use the API server for the Lease %s/%s: %s",
                    self.lease.namespace,
                    self.lease.name,
                    reason,
                )
        self.telemetry.note_api(reason)
        return won

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
            except Exception as exc:  # 410 Gone, outages, odd objects: list again after a pause
                log.warning("watch: %s", redact(f"{type(exc).__name__}: {exc}"))
                self._stop.wait(1.0)

    def _forget(self, key: Key) -> None:
        self._reconcilers.pop(key, None)
        self.telemetry.forget(*key)

    # -- workers -------------------------------------------------------------------------

    def _start_worker(self, name: str) -> None:
        if name == "watch":
            thread = threading.Thread(target=self._watch, daemon=True, name=name)
        else:
            thread = threading.Thread(target=self._work, args=(name,), daemon=True, name=name)
        self._workers[name] = thread
        self.heartbeats.attach(name, thread)
        thread.start()

    def _restart_dead_workers(self) -> None:
        for name in self.heartbeats.dead():
            if self._stop.is_set():
                return
            log.error("%s ended unexpectedly: starting a new one", name)
            self.telemetry.worker_restarts.inc()
            self._start_worker(name)

    def _work(self, name: str = "worker") -> None:
        while not self._stop.is_set():
            key = self.queue.get()
            if key is None:
                return
            self.heartbeats.begin(name, key)
            after: timedelta | None = ERROR_REQUEUE
            try:
                after = self.reconcile(key)
            except Exception:  # reconcile contains its pass; this is the last net
                log.exception("%s/%s: unexpected failure outside the pass", *key)
            finally:
                self.heartbeats.end(name)
                self.queue.done(key)
            if after is not None and self.leading:
                self.queue.add(key, after=after.total_seconds())

    def reconcile(self, key: Key) -> timedelta | None:
        """One contained pass for one rollout; when to look again (None: it is gone)."""
        if not self.lease.held:
            return ERROR_REQUEUE
        started, waited = time.monotonic(), api_wait_seconds()
        began = ["Unread"]  # the phase the pass found; stays Unread when the read failed
        try:
            stored, requeue = self._pass(key, began)
        except NotFoundError as exc:
            if self._gone(key):
                self._forget(key)
                return None
            return self._failed(key, exc)
        except LeaseLostError as exc:
            log.warning("%s/%s: %s", *key, exc)
            return ERROR_REQUEUE
        except Exception as exc:  # the containment boundary: nothing escapes a pass
            return self._failed(key, exc)
        finally:
            self.telemetry.observe_pass(
                began[0], time.monotonic() - started, api_wait_seconds() - waited
            )
        self.backoff.succeeded(key)
        clear_failure(self.client, stored.raw, now=self.clock.now(), fence=self.fence)
        return requeue

    def _pass(self, key: Key, began: list[str]) -> tuple[StoredRollout, timedelta]:
        current = self.client.get(MODELROLLOUTS, key[1], key[0])
        began[0] = str((current.get("status") or {}).get("phase") or "Pending")
        reconciler = self._reconciler(key, current)
        # The pass starts from this read: one GET of the rollout per pass, not two.
        stored, decision = reconciler.reconcile(parse_stored(current))
        self.telemetry.decisions.labels(phase=stored.status.phase.value).inc()
        self.telemetry.record(stored)
        return stored, decision.requeue_after or IDLE_REQUEUE

    def _failed(self, key: Key, exc: Exception) -> timedelta:
        failure = classify(exc)
        self.telemetry.errors.labels(reason=failure.reason).inc()
        if failure.internal:
            log.error("%s/%s: %s", *key, failure.message, exc_info=exc)
        else:
            log.warning("%s/%s: %s", *key, failure.message)
        cached = self._reconcilers.pop(key, None)  # rebuild from a fresh read next time
        record_failure(self.client, key, failure, now=self.clock.now(), fence=self.fence)
        wait = self.backoff.failed(key)
        if cached is not None and not isinstance(exc, TransientError):
            self._fall_back(key, cached[1], failure.message)
        return wait

    def _fall_back(self, key: Key, reconciler: Reconciler, cause: str) -> None:
        """The policy's onErrorLimit once enough passes failed in a row (``fallback``)."""
        try:
            done = apply_error_fallback(
                reconciler, failures=self.backoff.failures(key), cause=cause
            )
        except Exception as exc:  # the fallback is best effort; the rollout stays held
            log.warning("%s/%s: fallback failed: %s", *key, redact(f"{type(exc).__name__}: {exc}"))
            return
        if done is not None:
            log.warning("%s/%s: %s", *key, done.status.message)

    def _gone(self, key: Key) -> bool:
        try:
            self.client.get(MODELROLLOUTS, key[1], key[0])
        except NotFoundError:
            return True
        except KubeError as exc:
            log.warning("%s/%s: %s", *key, redact(str(exc)))
        return False

    def _reconciler(self, key: Key, current: dict[str, Any]) -> Reconciler:
        generation = int(current["metadata"].get("generation") or 0)
        cached = self._reconcilers.get(key)
        if cached is not None and cached[0] == generation:
            return cached[1]
        rollout = parse_stored(current).rollout
        reconciler = self._reconciler_for(self.client, key, self.analyst_for(rollout))
        reconciler.edge.fence = self.fence
        self._reconcilers[key] = (generation, reconciler)
        return reconciler

    def _build(self, client: KubeClient, key: Key, analyst: Analyst | None) -> Reconciler:
        return build_reconciler(
            client,
            namespace=key[0],
            name=key[1],
            analyst=analyst,
            clock=self.clock,
            identity=self.settings.identity,
            capacity=self.capacity,
            allow_key_files=self.settings.allow_key_files,
        )


def _key(obj: dict[str, object]) -> Key:
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name"):
        raise KubeError("the watch returned an object without metadata.name")
    return str(meta.get("namespace") or "default"), str(meta["name"])
