"""``Informer``: one kind's objects kept current in memory by a list and then a watch.

Part of the ``kube`` layer. A thread lists the kind (all namespaces), then watches from the
list's resourceVersion and applies every ADDED, MODIFIED and DELETED event; a watch that
ends is started again from the last version seen, and an ERROR event (410 Gone: the version
is too old) or a failed request lists again after a pause. ``items`` answers None until the
first list landed, while the informer is relisting after an error, and when its watch has
not been (re)started within the watch timeout plus a grace period (a stalled stream): the
caller then reads the API server itself. An informer replaces repeated lists of a big kind
(every pod of the cluster) by one list and a stream of changes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from mlrollout.errors import KubeError
from mlrollout.kube.client import KubeClient
from mlrollout.kube.kinds import Kind
from mlrollout.redaction import redact

__all__ = ["Informer"]

Obj = dict[str, Any]
log = logging.getLogger("mlrollout.kube")


class Informer:
    """``kind`` in every namespace, as the API server last told this process."""

    def __init__(
        self,
        client: KubeClient,
        kind: Kind,
        *,
        keep: Callable[[Obj], Obj] = lambda obj: obj,
        watch_timeout: int = 60,
        grace: float = 15.0,
        pause: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.kind = kind
        self.keep = keep  # what of each object to hold (memory: a pod's spec and phase)
        self.watch_timeout = watch_timeout
        self.grace = grace
        self.pause = pause
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._objects: dict[str, Obj] = {}
        self._synced = False
        self._fresh_until = 0.0  # a watch started later than this is overdue
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Informer:
        """List and watch in a daemon thread (once)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, daemon=True, name=f"informer-{self.kind.plural}"
                )
                self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the current watch request ends (at most ``watch_timeout`` s)."""
        self._stop.set()

    def items(self) -> list[Obj] | None:
        """Every object held, or None when they cannot be trusted to be current."""
        with self._lock:
            if not self._synced or self._monotonic() > self._fresh_until:
                return None
            return list(self._objects.values())

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._list_and_watch()
            except Exception as exc:  # 410 Gone, outages, odd objects: list again
                with self._lock:
                    self._synced = False
                log.info(
                    "%s informer: listing again: %s",
                    self.kind.plural,
                    redact(f"{type(exc).__name__}: {exc}"),
                )
                self._stop.wait(self.pause)

    def _list_and_watch(self) -> None:
        items, version = self.client.list_with_version(self.kind, None)
        with self._lock:
            self._objects = {_key(obj): self.keep(obj) for obj in items}
            self._synced = True
        while not self._stop.is_set():
            with self._lock:
                self._fresh_until = self._monotonic() + self.watch_timeout + self.grace
            for event, obj in self.client.watch(
                self.kind, None, resource_version=version, timeout_seconds=self.watch_timeout
            ):
                if event == "ERROR":
                    raise KubeError(f"watch {self.kind.plural}: {obj.get('message', obj)}")
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                with self._lock:
                    if event == "DELETED":
                        self._objects.pop(_key(obj), None)
                    elif event in ("ADDED", "MODIFIED"):
                        self._objects[_key(obj)] = self.keep(obj)
                if self._stop.is_set():
                    return


def _key(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"
