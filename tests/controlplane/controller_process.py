"""``mlrollout controller`` as a real subprocess on the test control plane: authenticated with
a ServiceAccount token bound only to the shipped RBAC, its metrics read from its own
``/metrics``, its memory from ``/proc``.

Part of the ``controlplane`` test package, used by ``benchmarks/reliability_scale.py``.
Each replica gets a token of its own (TokenRequest), so the audit log tells replicas apart
by the token's credential id although they share the ServiceAccount.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import kubernetes

from .cluster import ControlPlane
from .kubeconfig import write_token_kubeconfig
from .processes import Child, free_port
from .rbac import apply_rbac

__all__ = [
    "ControllerProcess",
    "histogram_quantile",
    "install_controller_rbac",
    "parse_histogram",
]

SERVICE_ACCOUNT = "mlrollout-controller"
_SAMPLE = re.compile(r"^(\w+)(?:\{([^}]*)\})?\s+(\S+)$")


def install_controller_rbac(api: kubernetes.client.ApiClient, namespace: str) -> None:
    """The shipped RBAC (``examples/deploy/rbac.yaml``) with ``namespace`` as both the
    controller's namespace and the ML namespace."""
    apply_rbac(api, namespace=namespace)


def mint_token(api: kubernetes.client.ApiClient, namespace: str, *, seconds: int = 7200) -> str:
    """A bound token of the controller's ServiceAccount (TokenRequest API)."""
    core = kubernetes.client.CoreV1Api(api)
    answer: Any = core.create_namespaced_service_account_token(
        SERVICE_ACCOUNT, namespace, {"spec": {"expirationSeconds": seconds}}
    )
    token: str = answer.status.token
    return token


class ControllerProcess:
    """One replica: ``mlrollout controller -n NAMESPACE`` with the Lease in the same
    namespace, a token kubeconfig of its own and ``/metrics`` on a free loopback port."""

    def __init__(
        self,
        plane: ControlPlane,
        api: kubernetes.client.ApiClient,
        *,
        namespace: str,
        identity: str,
        workdir: Path,
        workers: int = 4,
    ) -> None:
        self.identity = identity
        self.port = free_port()
        self.token = mint_token(api, namespace)
        kubeconfig = write_token_kubeconfig(
            workdir / f"{identity}.kubeconfig",
            server=plane.url,
            ca=plane.pki.ca_cert,
            token=self.token,
            namespace=namespace,
        )
        argv = [
            sys.executable,
            "-m",
            "mlrollout",
            "controller",
            f"--namespace={namespace}",
            f"--lease-namespace={namespace}",
            f"--workers={workers}",
            f"--health-port={self.port}",
            "--health-host=127.0.0.1",
            f"--identity={identity}",
            f"--kubeconfig={kubeconfig}",
        ]
        self.child = Child(identity, argv, log=workdir / f"{identity}.log")

    @property
    def credential_id(self) -> str:
        """The JWT id of this replica's token, as the audit log records it."""
        import base64
        import json

        payload = self.token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return f"JTI={claims['jti']}"

    @property
    def pid(self) -> int:
        """The process id."""
        assert self.child.process is not None
        return self.child.process.pid

    def start(self) -> ControllerProcess:
        """Start the replica (it dies with this process)."""
        self.child.start()
        return self

    def get(self, path: str) -> httpx.Response:
        """GET ``path`` of the health endpoint."""
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=5.0)

    def wait_serving(self, timeout: float = 60.0) -> None:
        """Wait until ``/healthz`` answers at all (the process is up)."""
        self.wait(lambda: self._answers("/healthz"), what="/healthz", timeout=timeout)

    def wait_leading(self, timeout: float = 60.0) -> None:
        """Wait until ``/readyz`` says this replica leads."""
        self.wait(lambda: self._ready(), what="/readyz 200 (leading)", timeout=timeout)

    def _answers(self, path: str) -> bool:
        try:
            self.get(path)
        except httpx.HTTPError:
            return False
        return True

    def _ready(self) -> bool:
        try:
            return self.get("/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    def wait(self, condition: Callable[[], bool], *, what: str, timeout: float) -> None:
        """Poll ``condition``; ``RuntimeError`` with the log tail when the replica exits or
        ``timeout`` s pass."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.child.alive():
                raise RuntimeError(f"{self.identity} exited:\n{self.child.tail()}")
            if condition():
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.identity}: no {what} after {timeout}s:\n{self.child.tail()}")

    def metrics(self) -> str:
        """The Prometheus exposition of ``/metrics``."""
        response = self.get("/metrics")
        response.raise_for_status()
        return response.text

    def rss_bytes(self) -> tuple[int, int]:
        """(current, peak) resident set size from ``/proc/PID/status`` (VmRSS, VmHWM)."""
        fields: dict[str, int] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) * 1024
        return fields["VmRSS"], fields["VmHWM"]

    def stop(self) -> None:
        """SIGTERM (the replica releases the Lease), SIGKILL after 10 s."""
        self.child.stop()

    def kill(self) -> None:
        """SIGKILL: the replica vanishes holding the Lease."""
        if self.child.alive():
            os.kill(self.pid, 9)
            assert self.child.process is not None
            self.child.process.wait()


def parse_histogram(exposition: str, name: str) -> tuple[list[tuple[float, float]], float, float]:
    """The cumulative buckets ``[(le, count)]``, the sum and the count of histogram ``name``."""
    buckets: list[tuple[float, float]] = []
    total = count = 0.0
    for line in exposition.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        metric, labels, value = match.groups()
        if metric == f"{name}_bucket":
            le = re.search(r'le="([^"]+)"', labels or "")
            assert le is not None
            buckets.append((float(le.group(1)), float(value)))
        elif metric == f"{name}_sum":
            total = float(value)
        elif metric == f"{name}_count":
            count = float(value)
    return sorted(buckets), total, count


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The ``q`` quantile by linear interpolation inside the bucket (as Prometheus's
    ``histogram_quantile``); None without observations. A quantile in the +Inf bucket is
    reported as the highest finite bound (a lower bound of the truth)."""
    if not buckets or buckets[-1][1] == 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return lower_bound
