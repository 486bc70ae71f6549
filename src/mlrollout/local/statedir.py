"""The local platform's state directory: rollouts, their status and what each environment runs.

Part of the ``local`` sandbox. Plays the API server's part for the local platform, with the
same rules the controller relies on: every rollout is one JSON file holding the object as
the API server would (``metadata.generation`` grows on spec changes only,
``metadata.resourceVersion`` on every write); a status write at a stale resourceVersion is a
``ConflictError``; intents are annotations. Files are replaced atomically (write, fsync,
rename), and one process at a time drives a state directory (an exclusive ``flock`` held by
``DriverLock``). Layout::

    <root>/rollouts/<namespace>/<name>.json       the ModelRollout with its status
    <root>/environments/<namespace>/<name>.json   the release each environment runs
    <root>/logs/                                  model-server logs
    <root>/reports/                               report records and rendered reports
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlrollout.errors import ConflictError, NotFoundError, SpecError
from mlrollout.kube.rollouts import StoredRollout, parse_stored, redact_texts
from mlrollout.spec import RolloutStatus
from mlrollout.spec.base import format_intent_stamp
from mlrollout.spec.environment import EnvironmentSettings
from mlrollout.spec.status import INTENT_PREFIX, Intent

__all__ = ["DriverLock", "EnvRecord", "StateDir", "default_state_dir"]

API_VERSION = "mlrollout.io/v1alpha1"


def default_state_dir() -> Path:
    """``$MLROLLOUT_STATE_DIR``, else ``$XDG_STATE_HOME/mlrollout``, else
    ``~/.local/state/mlrollout``."""
    settings = EnvironmentSettings.from_environment()
    if settings.state_dir is not None:
        return settings.state_dir
    return (settings.xdg_state_home or Path.home() / ".local" / "state") / "mlrollout"


@dataclass(frozen=True)
class EnvRecord:
    """The release one environment runs, and how many replicas were asked for."""

    image: str
    model_uri: str
    model_sha256: str
    replicas: int


class StateDir:
    """One state directory (created on first use; refused when it cannot be written)."""

    def __init__(self, root: Path, *, option: str = "--state-dir") -> None:
        self.root = root
        try:
            for sub in ("rollouts", "environments", "logs", "reports"):
                (root / sub).mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=root, prefix=".probe-"):
                pass
        except OSError as exc:
            raise SpecError(
                f"state directory {str(root)!r} is not writable: {exc.strerror or exc}",
                path=option,
            ) from None

    @property
    def logs(self) -> Path:
        """Where model-server logs go."""
        return self.root / "logs"

    @property
    def reports(self) -> Path:
        """Where report records and rendered reports go."""
        return self.root / "reports"

    # -- rollouts -----------------------------------------------------------------------

    def _rollout_file(self, namespace: str, name: str) -> Path:
        return self.root / "rollouts" / namespace / f"{name}.json"

    def read(self, namespace: str, name: str) -> StoredRollout:
        """The rollout as stored (``NotFoundError`` when there is none)."""
        path = self._rollout_file(namespace, name)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotFoundError(f"no rollout {namespace}/{name} in {self.root}") from None
        return parse_stored(raw)

    def list(self) -> list[StoredRollout]:
        """Every rollout stored, by namespace and name."""
        files = sorted((self.root / "rollouts").glob("*/*.json"))
        return [self.read(f.parent.name, f.stem) for f in files]

    def apply(self, obj: dict[str, Any]) -> StoredRollout:
        """Create the rollout, or replace its spec (a new generation when it changed)."""
        meta = obj["metadata"]
        namespace, name = meta.get("namespace") or "default", meta["name"]
        try:
            current = self.read(namespace, name).raw
        except NotFoundError:
            body = {
                "apiVersion": API_VERSION,
                "kind": "ModelRollout",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "uid": str(uuid.uuid4()),
                    "generation": 1,
                    "resourceVersion": "0",
                    "creationTimestamp": _now(),
                    "annotations": dict(meta.get("annotations") or {}),
                },
                "spec": obj["spec"],
            }
            return self._write(body)
        if current.get("spec") == obj["spec"]:
            return parse_stored(current)
        metadata = dict(current["metadata"])
        metadata["generation"] = int(metadata.get("generation") or 0) + 1
        return self._write({**current, "metadata": metadata, "spec": obj["spec"]})

    def write_status(self, stored: StoredRollout, status: RolloutStatus) -> StoredRollout:
        """Write ``status`` at the version ``stored`` was read (``ConflictError`` if stale)."""
        meta = stored.raw["metadata"]
        current = self.read(meta["namespace"], meta["name"])
        if current.resource_version != stored.resource_version:
            raise ConflictError(
                f"rollout {meta['namespace']}/{meta['name']} changed since it was read "
                f"({stored.resource_version} -> {current.resource_version})",
                status=409,
            )
        body = dict(current.raw)
        body["status"] = redact_texts(
            status.model_dump(mode="json", by_alias=True, exclude_none=True)
        )
        return self._write(body)

    def request(self, namespace: str, name: str, intent: Intent) -> str:
        """Record a user intent as an annotation; returns the value written."""
        stored = self.read(namespace, name)
        stamp = format_intent_stamp(datetime.now(UTC))
        metadata = dict(stored.raw["metadata"])
        metadata["annotations"] = {
            **(metadata.get("annotations") or {}),
            INTENT_PREFIX + intent.value: stamp,
        }
        self._write({**stored.raw, "metadata": metadata})
        return stamp

    def _write(self, body: dict[str, Any]) -> StoredRollout:
        meta = dict(body["metadata"])
        meta["resourceVersion"] = str(int(meta.get("resourceVersion") or 0) + 1)
        body = {**body, "metadata": meta}
        stored = parse_stored(body)  # never store what would not read back
        _replace(self._rollout_file(meta["namespace"], meta["name"]), body)
        return stored

    # -- environments -------------------------------------------------------------------

    def _env_file(self, namespace: str, name: str) -> Path:
        return self.root / "environments" / namespace / f"{name}.json"

    def read_envs(self, namespace: str, name: str) -> dict[str, EnvRecord]:
        """What each environment of the rollout runs (empty on a fresh directory)."""
        try:
            raw = json.loads(self._env_file(namespace, name).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        return {env: EnvRecord(**record) for env, record in raw.items()}

    def write_envs(self, namespace: str, name: str, envs: dict[str, EnvRecord]) -> None:
        """Record what each environment runs."""
        _replace(self._env_file(namespace, name), {env: asdict(rec) for env, rec in envs.items()})


class DriverLock:
    """An exclusive lock on a state directory: one driving process at a time."""

    def __init__(self, state: StateDir) -> None:
        self.path = state.root / ".driver.lock"
        self._handle: Any = None

    def __enter__(self) -> DriverLock:
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise SpecError(
                f"another mlrollout process drives rollouts in {str(self.path.parent)!r}; "
                "wait for it or choose another --state-dir",
                path="--state-dir",
            ) from None
        self._handle = handle
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def _replace(path: Path, body: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(body, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
