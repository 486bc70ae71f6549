"""The strict test Kubernetes API server: one object that tests start, drive and inspect.

Composes the ``store`` (objects, resourceVersions, watch events), the write ``history``, the
``faults`` plan, CRD admission (``crdschema``), the built-in ``deployments`` controller and
the HTTP ``handler``, served by ``ThreadingHTTPServer`` on 127.0.0.1 with an ephemeral port.
Clients reach it through ``kubeconfig``; tests use ``server.faults``, ``server.history``,
``server.deployments`` and ``server.store`` directly.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import jsonschema

from .crdschema import CrdAdmission, load_crd_schema
from .deployments import DeploymentController
from .faults import FaultPlan
from .handler import ApiHttpServer, ServerState
from .history import WriteHistory
from .store import ObjectStore

__all__ = ["KubeApiServer"]


class KubeApiServer:
    """A running (after :meth:`start`) test API server."""

    def __init__(
        self,
        *,
        pod_ready_delay: float = 0.1,
        crd: Path | str | Mapping[str, Any] | None = None,
        other_crds: Mapping[str, Path | str | Mapping[str, Any]] = {},
        event_window: int = 10_000,
        max_watch_seconds: float = 60.0,
    ) -> None:
        schema = load_crd_schema(crd) if crd is not None else None
        others = {kind: load_crd_schema(c) for kind, c in other_crds.items()}
        self._admission = CrdAdmission(schema, others=others)
        self.history = WriteHistory()
        self.store = ObjectStore(
            history=self.history, admit=self._admission, event_window=event_window
        )
        self.faults = FaultPlan()
        self.deployments = DeploymentController(self.store, ready_delay=pod_ready_delay)
        self._state = ServerState(
            store=self.store, faults=self.faults, max_watch_seconds=max_watch_seconds
        )
        self._http: ApiHttpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def crd_validator(self) -> jsonschema.protocols.Validator | None:
        """The ModelRollout schema validator, when the server was given a CRD."""
        return self._admission.validator

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        if self._http is None:
            raise RuntimeError("the test API server is not running")
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def internal_errors(self) -> list[str]:
        """Tracebacks of unexpected exceptions in request handlers and the controller."""
        return [*self._state.internal_errors, *self.deployments.errors]

    def start(self) -> KubeApiServer:
        """Bind an ephemeral port on 127.0.0.1 and serve in background threads."""
        self._http = ApiHttpServer(("127.0.0.1", 0), self._state)
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        self.deployments.start()
        return self

    def stop(self) -> None:
        """Stop serving: end watches, close connections and the listening socket."""
        self.store.close()
        self.deployments.stop()
        if self._http is not None:
            self._http.shutdown()
            self._http.close_connections()
            self._http.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> KubeApiServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
