"""GPU and runtime-security series for the e2e data plane, shaped as the shipped templates read
them: NVIDIA DCGM exporter gauges and Falcosidekick's event counter, one set per kwok pod.

Part of the e2e test bed (``tests/e2e``). kwok pods run no GPU and no Falco, so
``PodSeriesExporter`` stands in for the DCGM exporter and Falcosidekick of a real node: on
every scrape it reads the pods the data plane last saw (``clusterplane.ClusterDataPlane.pods``)
and exposes, for each running pod,

- ``DCGM_FI_DEV_XID_ERRORS`` (the last XID error code, 0: none), ``DCGM_FI_DEV_FB_USED`` and
  ``DCGM_FI_DEV_FB_FREE`` (MiB), labelled ``exported_pod`` / ``exported_namespace``: the names
  Prometheus gives the exporter's ``pod`` / ``namespace`` labels when it scrapes it through a
  ServiceMonitor without ``honorLabels`` (the defaults of ``analyses/gpu-health.yaml``);
- ``falcosecurity_falcosidekick_falco_events_total`` with ``k8s_ns_name``, ``k8s_pod_name``,
  ``rule`` and ``priority``: Notice-priority events (a shell's routine file reads), which
  ``analyses/security-anomalies.yaml`` filters out by its ``min_priority``, so a clean
  release carries the series the template selects on without a Warning-or-worse event.

Serves on loopback; ``stop`` shuts it down.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["PodSeriesExporter"]

FB_TOTAL_MIB = 81_920  # an 80 GiB GPU
FB_USED_MIB = 30_720  # the model's weights and KV cache: well under the 95% threshold
NOTICE_PER_SCRAPE = 1  # routine Notice events per pod per scrape


def _running(pod: Mapping[str, Any]) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and not pod["metadata"].get("deletionTimestamp")


class _PodCollector(Collector):
    def __init__(self, exporter: PodSeriesExporter) -> None:
        self.exporter = exporter

    def collect(self) -> Iterator[Any]:
        ex = self.exporter
        gpu = ["gpu", "exported_pod", "exported_namespace"]
        xid, used, free = (
            GaugeMetricFamily(name, text, labels=gpu)
            for name, text in (
                ("DCGM_FI_DEV_XID_ERRORS", "Value of the last XID error encountered."),
                ("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB)."),
                ("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB)."),
            )
        )
        falco = CounterMetricFamily(
            "falcosecurity_falcosidekick_falco_events",
            "Events processed by Falcosidekick.",
            labels=["k8s_ns_name", "k8s_pod_name", "rule", "priority"],
        )
        for name, count in ex.tick():
            labels = ["0", name, ex.namespace]
            xid.add_metric(labels, 0)
            used.add_metric(labels, FB_USED_MIB)
            free.add_metric(labels, FB_TOTAL_MIB - FB_USED_MIB)
            notice = [ex.namespace, name, "Read sensitive file untrusted", "Notice"]
            falco.add_metric(notice, count * NOTICE_PER_SCRAPE)
        yield from (xid, used, free, falco)


class PodSeriesExporter:
    """DCGM- and Falcosidekick-shaped series for the pods ``pods()`` returns."""

    def __init__(self, pods: Callable[[], list[dict[str, Any]]], *, namespace: str) -> None:
        self.pods = pods
        self.namespace = namespace
        self._scrapes: dict[str, int] = {}
        self._lock = threading.Lock()
        self.registry = CollectorRegistry()
        self.registry.register(_PodCollector(self))
        self._server, self._thread = start_http_server(0, "127.0.0.1", self.registry)

    @property
    def target(self) -> str:
        """``host:port`` for Prometheus."""
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def tick(self) -> list[tuple[str, int]]:
        """One scrape: each running pod and how many scrapes it has been seen in."""
        with self._lock:
            out = []
            for pod in self.pods():
                if not _running(pod):
                    continue
                name = pod["metadata"]["name"]
                self._scrapes[name] = self._scrapes.get(name, 0) + 1
                out.append((name, self._scrapes[name]))
            return out

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
