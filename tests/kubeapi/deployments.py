"""The built-in deployment controller: Deployment replicas become pods that turn Ready.

A thread inside the test API server (started and stopped by ``server``). It follows the
``store``'s change feed, reconciles each touched Deployment (create/delete pods, recreate on
a template change, garbage-collect pods of deleted Deployments), marks pods Ready after a
configurable delay, and writes the Deployment status computed by ``workloads``; every write
is recorded in the history with ``actor="controller"``. Per Deployment, pods can be made
never-ready (to exercise progress deadlines) and the ready delay can be overridden.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
import traceback
from datetime import UTC, datetime
from typing import Any

from .failures import StatusError
from .kinds import kind_by_name
from .routing import compute_object_path
from .store import ObjectStore, WatchEvent, WriteContext
from .workloads import (
    HASH_LABEL,
    compute_deployment_status,
    compute_pod,
    compute_pod_status,
    compute_template_hash,
    is_pod_ready,
)

__all__ = ["DeploymentController"]

DEPLOYMENT = kind_by_name("Deployment")
POD = kind_by_name("Pod")
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
Key = tuple[str, str]


def _owner(pod: dict[str, Any]) -> dict[str, Any] | None:
    refs = pod["metadata"].get("ownerReferences") or []
    return next((r for r in refs if r.get("kind") == "Deployment" and r.get("controller")), None)


class DeploymentController:
    """Turns Deployments into pods and keeps their status; runs on its own thread."""

    def __init__(self, store: ObjectStore, *, ready_delay: float = 0.1) -> None:
        self._store = store
        self.ready_delay = ready_delay
        self._lock = threading.Lock()
        self._dirty: set[Key] = set()
        self._due: dict[Key, tuple[float, Key]] = {}  # pod -> (when ready, its deployment)
        self._deadlines: dict[Key, float] = {}
        self._progress: dict[Key, tuple[tuple[Any, ...], float]] = {}
        self._never_ready: set[Key] = set()
        self._delays: dict[Key, float] = {}
        self._ips = itertools.count(2)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kubeapi-deployments", daemon=True)
        self.errors: list[str] = []

    def start(self) -> None:
        """Start the controller thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (the store must be closed or poked for it to notice at once)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def set_never_ready(self, namespace: str, name: str, never: bool = True) -> None:
        """Make the pods of Deployment ``namespace/name`` never (or again) become Ready."""
        with self._lock:
            (self._never_ready.add if never else self._never_ready.discard)((namespace, name))
            self._dirty.add((namespace, name))
        self._store.poke()

    def set_ready_delay(self, namespace: str, name: str, seconds: float) -> None:
        """Override the delay before the pods of ``namespace/name`` become Ready."""
        with self._lock:
            self._delays[(namespace, name)] = seconds

    def _run(self) -> None:
        cursor = 0
        while not self._stopping.is_set() and not self._store.closed:
            try:
                events = self._store.events_since(cursor, timeout=self._next_wait())
            except StatusError:
                cursor = self._store.resource_version
                self._mark_all()
                continue
            for event in events:
                cursor = event.resource_version
                self._note(event)
            self._reconcile_dirty()

    def _next_wait(self) -> float:
        now = time.monotonic()
        with self._lock:
            if self._dirty:
                return 0.0
            moments = [due for due, _ in self._due.values()] + list(self._deadlines.values())
        return max(0.0, min([*moments, now + 0.5]) - now)

    def _mark_all(self) -> None:
        items, _ = self._store.list_objects(DEPLOYMENT, None)
        with self._lock:
            self._dirty.update((o["metadata"]["namespace"], o["metadata"]["name"]) for o in items)

    def _note(self, event: WatchEvent) -> None:
        meta = event.object["metadata"]
        if event.kind == DEPLOYMENT:
            with self._lock:
                self._dirty.add((meta["namespace"], meta["name"]))
        elif event.kind == POD and (owner := _owner(event.object)) is not None:
            with self._lock:
                self._dirty.add((meta["namespace"], owner["name"]))

    def _take_work(self) -> tuple[set[Key], list[tuple[Key, Key]]]:
        now = time.monotonic()
        with self._lock:
            ripe = [(pod, dep) for pod, (due, dep) in self._due.items() if due <= now]
            for pod, _ in ripe:
                del self._due[pod]
            for key in [k for k, due in self._deadlines.items() if due <= now]:
                del self._deadlines[key]
                self._dirty.add(key)
            dirty, self._dirty = self._dirty, set()
        return dirty, ripe

    def _reconcile_dirty(self) -> None:
        dirty, ripe = self._take_work()
        for pod_key, dep_key in ripe:
            self._guard(self._make_running, pod_key, dep_key)
        for key in sorted(dirty):
            self._guard(self._reconcile, key)

    def _guard(self, action: Any, *args: Any) -> None:
        try:
            action(*args)
        except StatusError:
            with self._lock:  # revisit soon, not in a hot loop
                self._deadlines[args[-1]] = time.monotonic() + 0.1
        except Exception:
            self.errors.append(traceback.format_exc())

    def _make_running(self, pod_key: Key, dep_key: Key) -> None:
        pod = self._store.find(POD, *pod_key)
        if pod is None:
            return
        with self._lock:
            ready = dep_key not in self._never_ready
        status = compute_pod_status(pod, ready=ready, ip=self._pod_ip(pod), now=datetime.now(UTC))
        self._store.update(
            POD,
            pod_key[0],
            pod_key[1],
            lambda current: {**current, "status": status},
            write=WriteContext(
                "PUT",
                compute_object_path(POD, pod_key[0], pod_key[1], "status"),
                actor="controller",
                subresource="status",
            ),
        )

    def _pod_ip(self, pod: dict[str, Any]) -> str:
        known = (pod.get("status") or {}).get("podIP")
        if known:
            return str(known)
        number = next(self._ips)
        return f"10.244.{number // 250}.{number % 250 + 1}"

    def _owned_pods(self, namespace: str, name: str) -> list[dict[str, Any]]:
        def owned(pod: dict[str, Any]) -> bool:
            owner = _owner(pod)
            return owner is not None and owner.get("name") == name

        return self._store.list_objects(POD, namespace, where=owned)[0]

    def _delete_pod(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        with self._lock:
            self._due.pop((meta["namespace"], meta["name"]), None)
        try:
            self._store.delete(
                POD,
                meta["namespace"],
                meta["name"],
                write=WriteContext(
                    "DELETE",
                    compute_object_path(POD, meta["namespace"], meta["name"]),
                    actor="controller",
                ),
            )
        except StatusError as failure:
            if failure.code != 404:
                raise

    def _create_pod(
        self, deployment: dict[str, Any], template_hash: str, key: Key
    ) -> dict[str, Any]:
        pod = compute_pod(
            deployment, template_hash=template_hash, suffix="".join(random.choices(_ALPHABET, k=5))
        )
        created = self._store.create(
            POD,
            key[0],
            pod,
            write=WriteContext("POST", compute_object_path(POD, key[0]), actor="controller"),
        )
        with self._lock:
            delay = self._delays.get(key, self.ready_delay)
            self._due[(key[0], created["metadata"]["name"])] = (time.monotonic() + delay, key)
        return created

    def _reconcile(self, key: Key) -> None:
        deployment = self._store.find(DEPLOYMENT, *key)
        if deployment is None:
            for pod in self._owned_pods(key[0], key[1]):
                self._delete_pod(pod)
            with self._lock:
                self._progress.pop(key, None)
                self._deadlines.pop(key, None)
            return
        template_hash = compute_template_hash(deployment["spec"].get("template") or {})
        pods = self._sync_pods(deployment, template_hash, key)
        self._sync_readiness(pods, key)
        self._write_status(deployment, pods, template_hash, key)

    def _sync_pods(
        self, deployment: dict[str, Any], template_hash: str, key: Key
    ) -> list[dict[str, Any]]:
        uid = deployment["metadata"]["uid"]
        owned = []
        for pod in self._owned_pods(key[0], key[1]):
            if (_owner(pod) or {}).get("uid") == uid:
                owned.append(pod)
            else:  # left over from a deleted Deployment of the same name
                self._delete_pod(pod)
        current = []
        for pod in owned:
            if pod["metadata"].get("labels", {}).get(HASH_LABEL) == template_hash:
                current.append(pod)
            else:
                self._delete_pod(pod)
        desired = int(deployment["spec"].get("replicas", 1))
        for extra in current[desired:]:
            self._delete_pod(extra)
        current = current[:desired]
        while len(current) < desired:
            current.append(self._create_pod(deployment, template_hash, key))
        return current

    def _sync_readiness(self, pods: list[dict[str, Any]], key: Key) -> None:
        with self._lock:
            never = key in self._never_ready
            delay = self._delays.get(key, self.ready_delay)
            for pod in pods:
                pod_key = (key[0], pod["metadata"]["name"])
                running = (pod.get("status") or {}).get("phase") == "Running"
                wrong = not running or is_pod_ready(pod) == never
                if wrong and pod_key not in self._due:
                    self._due[pod_key] = (time.monotonic() + (0.0 if never else delay), key)

    def _deadline_exceeded(
        self, deployment: dict[str, Any], status: dict[str, Any], key: Key
    ) -> bool:
        signature = tuple(
            status.get(f, 0)
            for f in ("observedGeneration", "replicas", "updatedReplicas", "availableReplicas")
        )
        now = time.monotonic()
        limit = float(deployment["spec"].get("progressDeadlineSeconds", 600))
        with self._lock:
            previous = self._progress.get(key)
            since = previous[1] if previous is not None and previous[0] == signature else now
            self._progress[key] = (signature, since)
            exceeded = now - since > limit
            if not exceeded:
                self._deadlines[key] = since + limit + 0.01
        return exceeded

    def _write_status(
        self, deployment: dict[str, Any], pods: list[dict[str, Any]], template_hash: str, key: Key
    ) -> None:
        def build(exceeded: bool) -> dict[str, Any]:
            return compute_deployment_status(
                deployment,
                pods,
                template_hash=template_hash,
                deadline_exceeded=exceeded,
                now=datetime.now(UTC),
            )

        status = build(False)
        progressing = status["conditions"][1]
        if progressing["reason"] != "NewReplicaSetAvailable":
            status = build(self._deadline_exceeded(deployment, status, key))
        else:
            with self._lock:
                self._deadlines.pop(key, None)
        if status == deployment.get("status"):
            return
        self._store.update(
            DEPLOYMENT,
            key[0],
            key[1],
            lambda current: {**current, "status": status},
            write=WriteContext(
                "PUT",
                compute_object_path(DEPLOYMENT, key[0], key[1], "status"),
                actor="controller",
                subresource="status",
            ),
        )
