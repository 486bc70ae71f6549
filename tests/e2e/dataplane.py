"""The e2e data plane: routes load to real model servers as the cluster's objects say.

Part of the e2e test bed (``tests/e2e``). ``RoutedPlane`` keeps the routing table
(``routing.compute_routing``) current from a view of the cluster's objects, recomputing it
on every relevant change in a thread of its own, and a time series of the weights in force;
``clusterplane.ClusterDataPlane`` is the one that follows the real API server. ``run_load``
starts ``load.LoadRun``, which sends each request to the model server of the environment the
table picks, so what Prometheus scrapes from the servers reflects the controller's traffic
decisions. Neighbours: ``mlrollout.local.modelserver`` (the servers).
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit

from mlrollout.local.model import SyntheticTask

from .load import LoadRun, LoadSpec
from .routing import ClusterView, Routing, Topology, compute_routing

__all__ = ["RoutedPlane", "WeightSample"]

_LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class WeightSample:
    """The routing in force from ``time`` (``time.monotonic()``) on: percent per environment
    for a plain prediction request, and each environment's ready endpoints."""

    time: float
    source: str
    weights: Mapping[str, float]
    ready: Mapping[str, int]


class RoutedPlane(ABC):
    """Routing weights per environment, kept current from some view of the cluster's objects
    (``_view``); a subclass follows an API server (``_follow``, in a thread)."""

    def __init__(
        self,
        *,
        namespace: str,
        service: str,
        backends: Mapping[str, str],
        http_route: str | None = None,
        deployments: Mapping[str, str] | None = None,
        backend_services: Mapping[str, str] | None = None,
    ) -> None:
        for url in backends.values():
            if urlsplit(url).hostname not in _LOOPBACK:
                raise ValueError(f"the data plane sends to loopback only, not {url}")
        self.backends = dict(backends)
        self.topology = Topology(
            namespace=namespace,
            service=service,
            deployments=dict(deployments or {e: f"{service}-{e}" for e in backends}),
            backend_services=dict(backend_services or {e: f"{service}-{e}" for e in backends}),
            http_route=http_route,
        )
        self._lock = threading.Lock()
        self._series: list[WeightSample] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="e2e-dataplane", daemon=True)
        self._routing = self._refresh()

    @abstractmethod
    def _view(self) -> ClusterView:
        """The cluster's objects as the followed API server holds them now."""

    @abstractmethod
    def _follow(self) -> None:
        """Keep the routing current until stopped (runs in the plane's thread)."""

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> RoutedPlane:
        """Follow the server's changes in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop following (the thread waits on ``_stopping`` between reads)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def __enter__(self) -> RoutedPlane:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- reading -----------------------------------------------------------------------

    @property
    def routing(self) -> Routing:
        """The routing table in force now."""
        with self._lock:
            return self._routing

    def weights(self) -> dict[str, float]:
        """Percent per environment of plain prediction requests now (sum 100, or 0)."""
        return self.routing.weights()

    @property
    def series(self) -> list[WeightSample]:
        """Every change of weights or ready endpoints so far, oldest first."""
        with self._lock:
            return list(self._series)

    def wait_for(
        self,
        wanted: Callable[[WeightSample], bool],
        *,
        since: float = 0.0,
        timeout_s: float = 5.0,
    ) -> WeightSample:
        """The first sample from ``since`` on (monotonic) satisfying ``wanted``, waiting up to
        ``timeout_s`` for it."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = next((s for s in self.series if s.time >= since and wanted(s)), None)
            if found is not None:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"no weight sample as wanted in {timeout_s}s: {self.series}")
            time.sleep(0.005)

    # -- load --------------------------------------------------------------------------

    def run_load(
        self,
        rps: float,
        duration_s: float,
        *,
        feedback_fraction: float,
        seed: int,
        headers: Mapping[str, str] | None = None,
        header_fraction: float = 0.0,
        max_requests: int | None = None,
        task: SyntheticTask | None = None,
    ) -> LoadRun:
        """Start sending load routed by this data plane; ``wait()`` or ``stop()`` the run."""
        spec = LoadSpec(
            rps=rps,
            duration_s=duration_s,
            feedback_fraction=feedback_fraction,
            seed=seed,
            headers=dict(headers or {}),
            header_fraction=header_fraction,
            max_requests=max_requests,
            task=task or SyntheticTask(),
        )
        return LoadRun(spec, routing=lambda: self.routing, backends=self.backends).start()

    def _refresh(self) -> Routing:
        routing = compute_routing(self._view(), self.topology)
        sample = WeightSample(
            time=time.monotonic(),
            source=routing.source,
            weights=routing.weights(),
            ready=dict(routing.ready),
        )
        with self._lock:
            self._routing = routing
            last = self._series[-1] if self._series else None
            if last is None or (last.source, last.weights, last.ready) != (
                sample.source,
                sample.weights,
                sample.ready,
            ):
                self._series.append(sample)
        return routing
