"""The local platform behind the controller's ports: no cluster, everything on this machine.

Part of the ``controller`` layer, the counterpart of ``kubernetes``: binds one rollout to a
state directory (``local.statedir``, the API server's part), to model-server processes
(``LocalEnvironments``, one process per environment that has replicas), to the weighted
proxy (``localrouter``), to the gates the local platform has (``localchecks``) and to metrics
scraped from the servers directly (``metrics.local``), so ``loop.Reconciler`` — the same
``decide()`` and the same analysis as on Kubernetes — drives it.

``LocalPlatform`` is the session: it holds the state directory's driver lock, starts the
proxy, a scraper thread and the labelled load generator, and stops every child process when
it closes — and at interpreter exit, and on SIGTERM (``local.processes``).
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from mlrollout.clock import Clock, SystemClock
from mlrollout.controller.analyst import MetricsAnalyst
from mlrollout.controller.effects import Edge
from mlrollout.controller.kubernetes import send_hooks
from mlrollout.controller.localchecks import LocalVerifier, stored_model_path
from mlrollout.controller.localrouter import LocalRouter
from mlrollout.controller.loop import Reconciler
from mlrollout.core.actions import Deploy
from mlrollout.core.observation import EnvState
from mlrollout.errors import KubeError, RouterError, SpecError
from mlrollout.hooks.webhooks import WebhookConfirmer
from mlrollout.kube.rollouts import StoredRollout
from mlrollout.local.labelledload import LabelledLoad, LoadSettings
from mlrollout.local.modelcard import ModelCard
from mlrollout.local.processes import ModelServerProcess, ProcessSupervisor, StartError
from mlrollout.local.proxy import WeightedProxy
from mlrollout.local.regressions import Regressions
from mlrollout.local.statedir import DriverLock, EnvRecord, StateDir
from mlrollout.metrics.local import LocalProvider
from mlrollout.metrics.registry import build_local_providers
from mlrollout.spec import AnalysisTemplate
from mlrollout.spec.status import TOTAL_BASIS_POINTS, EnvName

__all__ = [
    "REFERENCE_MODEL",
    "LocalEnvironments",
    "LocalPlatform",
    "reference_release",
]

log = logging.getLogger("mlrollout.local")

REFERENCE_MODEL = ModelCard(seed=1, base_latency_ms=20.0, regressions=Regressions(error_rate=0.05))
"""What the live environment runs on a fresh state directory: the reference model, which
fails 5% of requests (as real services fail some), so the error-rate metric has a rate to
compare against."""
REFERENCE_IMAGE = "mlrollout.local/reference-model"
SCRAPE_INTERVAL_S = 1.0
SCRAPE_LAG = timedelta(seconds=2)


def reference_release(models: Path) -> EnvRecord:
    """The reference model's card, kept in ``models``, as a release record (1 replica)."""
    models.mkdir(parents=True, exist_ok=True)
    temporary = models / "reference.json.tmp"
    sha = REFERENCE_MODEL.write(temporary)
    temporary.replace(stored_model_path(models, sha))
    return EnvRecord(
        image=f"{REFERENCE_IMAGE}@sha256:{sha}",
        model_uri=f"file://{stored_model_path(models, sha)}",
        model_sha256=sha,
        replicas=1,
    )


class LocalEnvironments:
    """The ``Environments`` port: one model-server process per environment with replicas.

    Replica counts are recorded as asked; any positive count runs one process (a laptop has
    no GPUs to spread pods over), and an environment scaled to zero runs none.
    """

    def __init__(
        self,
        state: StateDir,
        *,
        namespace: str,
        name: str,
        supervisor: ProcessSupervisor,
        proxy: WeightedProxy,
        scraper: LocalProvider,
    ) -> None:
        self.state = state
        self.namespace = namespace
        self.name = name
        self.supervisor = supervisor
        self.proxy = proxy
        self.scraper = scraper
        self.models = state.root / "models"
        self.records: dict[str, EnvRecord] = state.read_envs(namespace, name)
        self.servers: dict[str, tuple[str, ModelServerProcess]] = {}
        self._lock = threading.RLock()

    # -- the port -----------------------------------------------------------------------

    def observe(self) -> dict[EnvName, EnvState]:
        """Release and readiness of both environments."""
        out: dict[EnvName, EnvState] = {}
        with self._lock:
            for env in ("blue", "green"):
                record = self.records.get(env)
                if record is None:
                    out[env] = EnvState(env, None, None, 0, 0, True)
                    continue
                up = self._running(env, record)
                out[env] = EnvState(
                    name=env,
                    image=record.image,
                    model_sha256=record.model_sha256,
                    replicas=record.replicas,
                    ready_replicas=record.replicas if up else 0,
                    rolled_out=record.replicas == 0 or up,
                )
        return out

    def deploy(self, action: Deploy) -> None:
        """Put the release on ``action.env`` (a new process when the release changed)."""
        with self._lock:
            current = self.records.get(action.env)
            replicas = action.replicas
            if replicas is None:
                replicas = current.replicas if current is not None else 1
            self._set(
                action.env,
                EnvRecord(action.image, action.model_uri, action.model_sha256, replicas),
            )

    def scale(self, env: EnvName, replicas: int) -> None:
        """Scale: zero stops the process (refused while the proxy sends it traffic)."""
        with self._lock:
            record = self.records.get(env)
            if record is None:
                if replicas == 0:
                    return
                raise KubeError(f"{env} runs no release; nothing to scale")
            self._set(env, replace(record, replicas=replicas))

    def set_preview(self, env: EnvName) -> None:
        """No preview Service locally (a rollout asking for one is refused at load)."""

    # -- what the router needs ----------------------------------------------------------

    def serve(self, env: EnvName) -> str | None:
        """Make ``env`` serve (one replica at least); its URL, None if it runs no release."""
        with self._lock:
            record = self.records.get(env)
            if record is None:
                return None
            if record.replicas == 0:
                self._set(env, replace(record, replicas=1))
            else:
                self._converge(env)
            return self.servers[env][1].url

    def adopt_live(self, active: EnvName) -> None:
        """Start every environment that has replicas; the live one runs the reference
        model on a fresh state directory."""
        with self._lock:
            if active not in self.records:
                self.records[active] = reference_release(self.models)
                self._save()
            for env in list(self.records):
                self._converge(env)

    def urls(self) -> dict[str, str]:
        """The base URL of every running server."""
        with self._lock:
            return {env: child.url for env, (_, child) in self.servers.items()}

    # -- internals ----------------------------------------------------------------------

    def _running(self, env: str, record: EnvRecord) -> bool:
        entry = self.servers.get(env)
        return entry is not None and entry[0] == record.model_sha256 and entry[1].alive()

    def _set(self, env: str, record: EnvRecord) -> None:
        self.records[env] = record
        self._save()
        self._converge(env)

    def _save(self) -> None:
        self.state.write_envs(self.namespace, self.name, self.records)

    def _converge(self, env: str) -> None:
        record = self.records[env]
        if record.replicas == 0 or not self._running(env, record):
            self._stop(env)
        if record.replicas > 0 and env not in self.servers:
            self._start(env, record)

    def _start(self, env: str, record: EnvRecord) -> None:
        model = stored_model_path(self.models, record.model_sha256)
        if not model.exists():
            raise KubeError(f"{env}: model sha256:{record.model_sha256} was never verified here")
        log_file = self.state.logs / f"{self.namespace}-{self.name}-{env}.log"
        try:
            child = self.supervisor.start(env, model, log=log_file)
        except (StartError, OSError) as exc:
            raise KubeError(f"{env}: {exc}") from None
        self.servers[env] = (record.model_sha256, child)
        self.proxy.set_backend(env, child.url)
        self._retarget()

    def _stop(self, env: str) -> None:
        entry = self.servers.get(env)
        if entry is None:
            return
        try:
            self.proxy.set_backend(env, None)
        except ValueError as exc:
            raise RouterError(f"not stopping {env}: {exc}") from None
        del self.servers[env]
        self.supervisor.stop(entry[1])
        self._retarget()

    def _retarget(self) -> None:
        self.scraper.set_targets([child.url for _, child in self.servers.values()])


class LocalPlatform:
    """One session of the local platform (a context manager)."""

    def __init__(
        self,
        root: Path,
        *,
        port: int = 0,
        load: LoadSettings | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.root = root
        self.port = port
        self.load_settings = load or LoadSettings()
        self.clock = clock or SystemClock()
        self.supervisor = ProcessSupervisor()
        self.scraper = LocalProvider([], clock=self.clock)
        self.environments: dict[tuple[str, str], LocalEnvironments] = {}
        self.proxy: WeightedProxy | None = None
        self.load: LabelledLoad | None = None
        self._state: StateDir | None = None
        self._lock: DriverLock | None = None
        self._stop = threading.Event()
        self._scraping = threading.Thread(target=self._scrape, daemon=True, name="local-scrape")

    @property
    def state(self) -> StateDir:
        """The state directory (once the session has started)."""
        assert self._state is not None, "the local platform has not started"
        return self._state

    def __enter__(self) -> LocalPlatform:
        """Bind the proxy's port, open the state directory, take its lock, start scraping;
        a port in use or a directory that cannot be written is bad input, and nothing is
        written then."""
        try:
            try:
                self.proxy = WeightedProxy(port=self.port).start()
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise SpecError(
                        f"port {self.port} is in use; choose another", path="--port"
                    ) from None
                raise
            self._state = StateDir(self.root)
            self._lock = DriverLock(self._state).__enter__()
            self._scraping.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the load, the scraper, every model server and the proxy (idempotent)."""
        self._stop.set()
        if self.load is not None:
            self.load.stop()
            self.load = None
        if self._scraping.is_alive():
            self._scraping.join(timeout=5)
        self.supervisor.stop_all()
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None
        self.scraper.close()
        if self._lock is not None:
            self._lock.__exit__(None, None, None)
            self._lock = None

    @property
    def child_pids(self) -> list[int]:
        """Process ids of the model servers running now."""
        return self.supervisor.pids

    def _scrape(self) -> None:
        while not self._stop.wait(SCRAPE_INTERVAL_S):
            report = self.scraper.fetch_samples()
            for target, why in report.failed.items():
                log.debug("scrape of %s failed: %s", target, why)

    # -- rollouts -----------------------------------------------------------------------

    def apply(self, obj: dict[str, Any]) -> StoredRollout:
        """Create the rollout, or replace its spec (see ``StateDir.apply``)."""
        return self.state.apply(obj)

    def bring_up(self, stored: StoredRollout) -> LocalEnvironments:
        """Start the rollout's environments and route to them as its status says."""
        assert self.proxy is not None
        key = (stored.rollout.namespace, stored.rollout.name)
        environments = self.environments.get(key)
        if environments is None:
            environments = LocalEnvironments(
                self.state,
                namespace=key[0],
                name=key[1],
                supervisor=self.supervisor,
                proxy=self.proxy,
                scraper=self.scraper,
            )
            self.environments[key] = environments
        status = stored.status
        active = status.active_env or "blue"
        environments.adopt_live(active)
        applied = status.traffic.applied
        weights: Mapping[str, int] = {active: TOTAL_BASIS_POINTS}
        if applied is not None and not status.phase.settled:
            weights = {applied.canary_env: applied.canary_bp, applied.stable_env: applied.stable_bp}
        try:
            self.proxy.set_weights(weights)
        except ValueError:
            self.proxy.set_weights({active: TOTAL_BASIS_POINTS})
        return environments

    def start_load(self) -> LabelledLoad:
        """Start the labelled load generator against the proxy (once)."""
        assert self.proxy is not None
        if self.load is None:
            self.load = LabelledLoad(self.proxy.url, self.load_settings).start()
        return self.load

    def reconciler(
        self,
        stored: StoredRollout,
        *,
        templates: Mapping[str, AnalysisTemplate],
        base: Path,
    ) -> Reconciler:
        """A reconciler for ``stored`` on this platform (``bring_up`` first)."""
        rollout = stored.rollout
        environments = self.bring_up(stored)
        assert self.proxy is not None
        analyst = None
        if rollout.spec.analysis is not None:
            config = rollout.spec.metrics.prometheus if rollout.spec.metrics else None
            analyst = MetricsAnalyst(
                build_local_providers(self.scraper, config),
                templates,
                now=self.clock.now,
                scrape_lag=SCRAPE_LAG,
            )
        edge = Edge(
            state=self.state,
            namespace=rollout.namespace,
            name=rollout.name,
            environments=environments,
            router=LocalRouter(self.proxy, environments),
            notify=send_hooks,
        )
        return Reconciler(
            edge=edge,
            verifier=LocalVerifier(base=base, models=self.state.root / "models"),
            clock=self.clock,
            analyst=analyst,
            confirmer=WebhookConfirmer(),
            identity=f"mlrollout-local-{os.getpid()}",
        )
