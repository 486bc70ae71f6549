"""Keeping each run's report record in a ConfigMap owned by its rollout.

Part of the ``controller`` layer, at the edge (``Edge.record``): before a pass writes the
status, the record of the current build is grown from that status (``report.collect``),
written to the run's ConfigMap when it changed, and referenced from ``status.report``. Best
effort: a failed write is logged and the rollout goes on; the next pass retries. Records
are cached per ConfigMap so a quiet pass reads and writes nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from mlrollout.errors import ConflictError, KubeError, NotFoundError, SpecError
from mlrollout.kube import KubeClient, StoredRollout
from mlrollout.kube.kinds import CONFIGMAPS
from mlrollout.report import (
    ReportRecord,
    collect_rollout,
    config_map_name,
    decode_config_map,
    encode_config_map,
)
from mlrollout.report.collect import compute_build
from mlrollout.spec import RolloutStatus
from mlrollout.spec.status import ReportRef

__all__ = ["ConfigMapReports"]

log = logging.getLogger("mlrollout.controller")


class ConfigMapReports:
    """``Edge.record`` over the API server: one ConfigMap per run."""

    def __init__(self, client: KubeClient, *, now: Callable[[], datetime]) -> None:
        self.client = client
        self.now = now
        self._cache: dict[tuple[str, str], ReportRecord] = {}
        self._versions: dict[tuple[str, str], str] = {}  # resourceVersion of our last write
        self._lock = threading.Lock()

    def __call__(self, stored: StoredRollout, status: RolloutStatus) -> RolloutStatus:
        """Grow and store the run's record; ``status`` with its reference."""
        rollout = stored.rollout
        build = compute_build(rollout, status, stored.generation)
        name = config_map_name(rollout.name, build)
        key = (rollout.namespace, name)
        try:
            previous = self._previous(key)
            record = collect_rollout(
                previous,
                rollout=rollout,
                status=status,
                generation=stored.generation,
                uid=str(stored.raw["metadata"].get("uid", "")),
                now=self.now(),
            )
            changed = previous is None or _same_time(previous, record) != record
            if changed:
                self._write(stored, record, exists=previous is not None)
            with self._lock:
                self._cache[key] = record
        except KubeError as exc:
            log.warning("report record %s/%s not written: %s", *key, exc)
            return status
        current = status.report
        if not changed and current is not None and current.config_map == name:
            return status
        updated = record.generated_at if changed else None
        return status.model_copy(update={"report": ReportRef(config_map=name, updated_at=updated)})

    def _previous(self, key: tuple[str, str]) -> ReportRecord | None:
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        try:
            return decode_config_map(self.client.get(CONFIGMAPS, key[1], key[0]))
        except NotFoundError:
            return None
        except SpecError as exc:
            log.warning("report record %s/%s unreadable, starting anew: %s", *key, exc)
            return None

    def _write(self, stored: StoredRollout, record: ReportRecord, *, exists: bool) -> None:
        namespace = stored.rollout.namespace
        body = encode_config_map(record, namespace=namespace, owner=stored.raw)
        key = (namespace, body["metadata"]["name"])
        with self._lock:
            version = self._versions.pop(key, None)
        if not exists:
            try:
                self._remember(key, self.client.create(CONFIGMAPS, body, namespace))
                return
            except ConflictError:
                pass  # written by an earlier process: replace it below
        if version is not None:
            # Replaced at the version this process last wrote: no read first. Someone else
            # wrote since (409): read and replace below, as without a remembered version.
            body["metadata"]["resourceVersion"] = version
            try:
                self._remember(key, self.client.replace(CONFIGMAPS, body))
                return
            except ConflictError:
                pass
        current = self.client.get(CONFIGMAPS, key[1], namespace)
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        self._remember(key, self.client.replace(CONFIGMAPS, body))

    def _remember(self, key: tuple[str, str], written: dict[str, Any]) -> None:
        version = (written.get("metadata") or {}).get("resourceVersion")
        if version:
            with self._lock:
                self._versions[key] = str(version)


def _same_time(previous: ReportRecord, record: ReportRecord) -> ReportRecord:
    """``previous`` as if generated with ``record``: what differs then is content."""
    return previous.model_copy(update={"generated_at": record.generated_at})
