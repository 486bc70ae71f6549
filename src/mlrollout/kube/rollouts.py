"""ModelRollout state in the cluster: read, status read-modify-write, and user intents.

Part of the ``kube`` layer. The status is written through the ``/status`` subresource with
the resourceVersion that was read, so a concurrent writer makes the write fail with 409;
``update_status`` then re-reads and recomputes (bounded). A status write can never change
the spec, so a user's concurrent spec edit is never overwritten.

Intents (promote, abort, pause, ...) are written by the CLI as annotations
``mlrollout.io/intent.<name>: <timestamp>`` — metadata, so they do not bump ``generation`` —
and acknowledged by the controller in ``status.acknowledgedIntents``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from mlrollout.errors import ConflictError, SpecError
from mlrollout.kube.client import KubeClient, PatchType
from mlrollout.kube.kinds import MODELROLLOUTS
from mlrollout.redaction import redact
from mlrollout.spec import ModelRollout, RolloutStatus, load_object
from mlrollout.spec.base import IntentStamp, format_intent_stamp
from mlrollout.spec.status import INTENT_PREFIX, Intent

__all__ = [
    "INTENT_PREFIX",
    "Intent",
    "RolloutStore",
    "StoredRollout",
    "pending_intents",
    "redact_texts",
]


@dataclass(frozen=True)
class StoredRollout:
    """A ModelRollout as read: the raw object (for writes) and its validated form."""

    raw: dict[str, Any]
    rollout: ModelRollout

    @property
    def resource_version(self) -> str:
        """The resourceVersion this copy was read at."""
        return str(self.raw["metadata"].get("resourceVersion", ""))

    @property
    def generation(self) -> int:
        """``metadata.generation`` (spec changes only)."""
        return int(self.raw["metadata"].get("generation") or 0)

    @property
    def status(self) -> RolloutStatus:
        """The stored status, or an empty one."""
        return self.rollout.status or RolloutStatus()


_INTENT_TIME: TypeAdapter[datetime] = TypeAdapter(IntentStamp)


def pending_intents(stored: StoredRollout) -> dict[Intent, datetime]:
    """Intents whose annotation time the controller has not acknowledged yet.

    The annotation's value is the RFC 3339 time the CLI wrote; a value that is not one was
    not written by the CLI and is not an intent.
    """
    annotations = stored.raw["metadata"].get("annotations") or {}
    acknowledged = stored.status.acknowledged_intents
    pending: dict[Intent, datetime] = {}
    for intent in Intent:
        value = annotations.get(INTENT_PREFIX + intent.value)
        if not value:
            continue
        try:
            at = _INTENT_TIME.validate_python(value)
        except ValidationError:
            continue
        if acknowledged.get(intent.value) != at:
            pending[intent] = at
    return pending


_TEXT_KEYS = frozenset({"message", "reason"})


def redact_texts(value: Any) -> Any:
    """``value`` with every ``message`` and ``reason`` string redacted (credentials never
    reach the status, whatever an error or a webhook said)."""
    if isinstance(value, dict):
        return {
            k: redact(v) if k in _TEXT_KEYS and isinstance(v, str) else redact_texts(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_texts(item) for item in value]
    return value


def parse_stored(raw: dict[str, Any]) -> StoredRollout:
    """Validate a ModelRollout object read from the API server."""
    meta = raw.get("metadata", {})
    source = f"modelrollout/{meta.get('namespace', '?')}/{meta.get('name', '?')}"
    rollout = load_object(raw, source=source)
    if not isinstance(rollout, ModelRollout):
        raise SpecError("expected a ModelRollout", source=source)
    return StoredRollout(raw=raw, rollout=rollout)


class RolloutStore:
    """Reads ModelRollouts and writes their status and intents: the controller's state port
    (``controller.ports.RolloutState``) on a cluster, as it is. Through a fenced client
    (``KubeClient.fenced``), every write it sends is fenced."""

    def __init__(self, client: KubeClient, *, max_conflicts: int = 5) -> None:
        self.client = client
        self.max_conflicts = max_conflicts

    def read(self, namespace: str, name: str) -> StoredRollout:
        """Read and validate one rollout."""
        return parse_stored(self.client.get(MODELROLLOUTS, name, namespace))

    def list(self, namespace: str | None = None) -> list[StoredRollout]:
        """Every rollout in a namespace (or all); invalid ones raise ``SpecError``."""
        return [parse_stored(raw) for raw in self.client.list(MODELROLLOUTS, namespace)]

    def write_status(self, stored: StoredRollout, status: RolloutStatus) -> StoredRollout:
        """PUT the status at the resourceVersion ``stored`` was read at (409 if stale)."""
        body = dict(stored.raw)
        body["status"] = redact_texts(
            status.model_dump(mode="json", by_alias=True, exclude_none=True)
        )
        written = self.client.replace(MODELROLLOUTS, body, status=True)
        return parse_stored(written)

    def update_status(
        self,
        namespace: str,
        name: str,
        compute: Callable[[StoredRollout], RolloutStatus | None],
    ) -> StoredRollout:
        """Read, compute a new status, write it; on 409 re-read and recompute (bounded).

        ``compute`` returns ``None`` when nothing needs writing. It is called again on every
        conflict with the fresh object, so it sees a user's concurrent spec change.
        """
        for _ in range(self.max_conflicts):
            stored = self.read(namespace, name)
            status = compute(stored)
            if status is None:
                return stored
            try:
                return self.write_status(stored, status)
            except ConflictError:
                continue
        raise ConflictError(
            f"update modelrollouts/status {namespace}/{name}: still conflicting after "
            f"{self.max_conflicts} attempts",
            status=409,
        )

    def request(
        self, namespace: str, name: str, intent: Intent, *, now: datetime | None = None
    ) -> str:
        """Record a user intent as an annotation; returns the value written."""
        stamp = format_intent_stamp(now or datetime.now(UTC))
        patch = {"metadata": {"annotations": {INTENT_PREFIX + intent.value: stamp}}}
        self.client.patch(MODELROLLOUTS, name, namespace, patch, patch_type=PatchType.MERGE)
        return stamp
