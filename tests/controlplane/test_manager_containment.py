"""Acceptance of the containment boundary on the real control plane: the in-cluster manager,
as the controller's ServiceAccount with only the shipped RBAC, runs several rollouts on kwok
GPU nodes, one poisoned in each way; the healthy ones reach their terminal phase, every
poisoned one carries a condition naming the cause, no worker dies, no secret reaches a
status, an Event or anything the audit log recorded, the API server refuses none of the
controller's writes, and ``/readyz`` reports the stuck worker."""

from __future__ import annotations

import copy
import threading
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mlrollout.controller.containment import Backoff
from mlrollout.controller.kubernetes import build_reconciler
from mlrollout.controller.loop import Reconciler
from mlrollout.controller.manager import Manager, ManagerSettings
from mlrollout.controller.telemetry import HealthServer
from mlrollout.core import AnalysisLook
from mlrollout.errors import ProviderUnavailableError
from mlrollout.kube import KubeClient, StoredRollout
from mlrollout.kube.kinds import DEPLOYMENTS, EVENTS, MODELROLLOUTS, NODES, SERVICES
from mlrollout.redaction import register_secret
from support.cluster import MODEL_URI, BriskClock, SignedRegistry, rollout_from

from .fixtures import TestBed
from .rollouts import FAST_LEASE, ScriptAnalyst, wait_until
from .workloads import deployment, gpu_node

pytestmark = pytest.mark.controlplane

SECRET = "s3cr3t-token-4711"


class RaisingAnalyst:
    """A judge whose every look raises ``error`` (a provider bug, a parse error...)."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def look(self, stored: StoredRollout, *, now_s: float) -> AnalysisLook | None:
        raise self.error


class BlockingAnalyst:
    """A judge that never answers until released: the worker running it is stuck."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()

    def look(self, stored: StoredRollout, *, now_s: float) -> AnalysisLook | None:
        self.entered.set()
        self.release.wait(60)
        return None


def _app(kube: KubeClient, ns: str, app: str) -> None:
    """Blue (4 pods) and green (none) GPU Deployments of ``app`` on the node pool of ``ns``,
    and its Service."""
    for env, replicas in (("blue", 4), ("green", 0)):
        body = deployment(env, namespace=ns, pool=ns, replicas=replicas)
        body["metadata"]["name"] = f"{app}-{env}"
        labels = {"app": app, "env": env}
        body["spec"]["selector"]["matchLabels"] = labels
        body["spec"]["template"]["metadata"]["labels"] = labels
        kube.create(DEPLOYMENTS, body, ns)
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": app, "namespace": ns},
        "spec": {"selector": {"app": app}, "ports": [{"port": 8080}]},
    }
    kube.create(SERVICES, service, ns)


def _rollout(
    kube: KubeClient,
    ns: str,
    app: str,
    image: str,
    *,
    error_limit: int = 1000,
    webhooks: list[dict[str, Any]] | None = None,
    **gates: Any,
) -> None:
    raw = rollout_from("canary.yaml")
    raw["metadata"] = {"name": app, "namespace": ns}
    spec = raw["spec"]
    for key in ("webhooks", "notifications", "metrics"):
        spec.pop(key, None)
    spec["service"] = app
    spec["environments"] = {
        "blue": {"deployment": f"{app}-blue"},
        "green": {"deployment": f"{app}-green"},
    }
    spec["release"] = {"image": image, "model": {"uri": MODEL_URI, "sha256": "c" * 64}}
    key: dict[str, Any] = {"secret": "cosign-pub", **gates}
    spec["gates"] = {"signature": {"publicKeys": [key]}}
    spec["strategy"]["canary"]["steps"] = [{"setWeight": 25}, {"analyze": {}}]
    spec["analysis"]["consecutiveErrorLimit"] = error_limit
    if webhooks:
        spec["webhooks"] = webhooks
    kube.create(MODELROLLOUTS, copy.deepcopy(raw), ns)


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode()


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SignedRegistry:
    monkeypatch.setenv("MLROLLOUT_SECRETS_DIR", str(tmp_path / "secrets"))
    return SignedRegistry(tmp_path / "secrets")


def test_poisoned_rollouts_are_contained_and_healthy_ones_finish(
    cp: TestBed, registry: SignedRegistry
) -> None:
    register_secret(SECRET)
    kube, ns = cp.admin, cp.namespace
    for i in range(3):  # 9 models of 4 GPU pods, and their canaries
        kube.create(NODES, gpu_node(f"{ns}-gpu-{i}", pool=ns, gpus=24, cpu=64))
    blocking = BlockingAnalyst()
    analysts: dict[str, object] = {
        "healthy-a": ScriptAnalyst(),
        "healthy-b": ScriptAnalyst(),
        "internal": RaisingAnalyst(ValueError("could not convert string to float: '+Inf5'")),
        "overflow": RaisingAnalyst(OverflowError("counter 1.7e308 overflowed")),
        "provider": RaisingAnalyst(
            ProviderUnavailableError(f"GET https://u:{SECRET}@prom.example/api: 503")
        ),
        "stuck": blocking,
        "fallback": RaisingAnalyst(KeyError("le")),
    }

    def reconciler_for(client: KubeClient, key: tuple[str, str], analyst: object) -> Reconciler:
        return build_reconciler(
            client,
            namespace=key[0],
            name=key[1],
            analyst=analysts[key[1]],  # type: ignore[arg-type]
            clock=BriskClock(),
            registry_factory=registry.client,
        )

    manager = Manager(
        cp.controller_client(),
        ManagerSettings(
            identity="a",
            namespace=ns,
            lease_namespace=ns,
            workers=3,
            lease=FAST_LEASE,
            stuck_after=timedelta(seconds=1),
            backoff=Backoff(base=timedelta(milliseconds=100), cap=timedelta(milliseconds=400)),
        ),
        reconciler_for=reconciler_for,
    )
    for app in [*analysts, "naive-time", "bad-header"]:
        _app(kube, ns, app)
        if app == "bad-header":
            hook = {"type": "event", "url": "https://hooks.example/x", "headers": {"X": "é"}}
            _rollout(kube, ns, app, registry.image, webhooks=[hook])
        elif app == "naive-time":
            _rollout(kube, ns, app, registry.image, notBefore="2026-01-01T00:00:00")
        elif app == "fallback":
            _rollout(kube, ns, app, registry.image, error_limit=2)
        else:
            _rollout(kube, ns, app, registry.image)
    health = HealthServer(
        manager.telemetry, host="127.0.0.1", port=0, ready=manager.readiness
    ).start()
    thread = threading.Thread(target=manager.run)
    thread.start()
    try:
        wait_until(lambda: manager.leading)
        assert blocking.entered.wait(60)
        for app in ("healthy-a", "healthy-b"):
            wait_until(lambda app=app: _phase(kube, ns, app) == "Succeeded")
        wait_until(lambda: _phase(kube, ns, "fallback") == "RolledBack")
        message = kube.get(MODELROLLOUTS, "fallback", ns)["status"]["message"]
        assert "passes failed in a row (analysis.onErrorLimit: rollback)" in message
        expected = {
            "internal": "InternalError",
            "overflow": "InternalError",
            "provider": "ProviderUnavailableError",
            "naive-time": "SpecError",
            "bad-header": "SpecError",
        }
        for app, reason in expected.items():
            wait_until(
                lambda app=app, reason=reason: _reconciled(kube, ns, app) == ("False", reason)
            )
        assert "must carry a timezone" in _condition(kube, ns, "naive-time")["message"]
        assert "must be printable ASCII" in _condition(kube, ns, "bad-header")["message"]
        assert "+Inf5" in _condition(kube, ns, "internal")["message"]
        readyz = f"http://127.0.0.1:{health.port}/readyz"
        wait_until(lambda: _get(readyz)[0] == 503, timeout=10)
        body = _get(readyz)[1]
        assert body.startswith("worker stuck: worker-")
        assert f"{ns}/stuck" in body
        assert manager.heartbeats.dead() == []
        metrics = _get(f"http://127.0.0.1:{health.port}/metrics")[1]
        assert 'mlrollout_reconcile_errors_total{reason="InternalError"}' in metrics
        assert 'mlrollout_reconcile_errors_total{reason="SpecError"}' in metrics
        events = kube.list(EVENTS, ns)
        reasons = {
            e["involvedObject"]["name"]: e["reason"] for e in events if "Reconcile" in e["reason"]
        }
        assert reasons["provider"] == "ReconcileProviderUnavailableError"
        everything = repr(events) + repr(kube.list(MODELROLLOUTS, ns))
        assert SECRET not in everything
        # Nor in any request or stored object the audit log recorded (statuses included).
        assert SECRET not in cp.audit.path.read_text()
    finally:
        blocking.release.set()
        manager.stop()
        thread.join(timeout=15)
        health.stop()
    assert not thread.is_alive()
    refused = cp.audit.writes(namespace=ns, user=cp.controller_user, succeeded=False)
    # A resourceVersion-checked PUT that lost a race with kube-controller-manager (409) is
    # optimistic concurrency at work: the release re-reads and writes again. Anything else
    # refused (403, 422, ...) is a defect, and every conflict must have been written over.
    assert [(r.verb, r.resource, r.code) for r in refused if r.code != 409] == []
    accepted = cp.audit.writes(namespace=ns, user=cp.controller_user)
    for lost in (r for r in refused if r.code == 409):
        assert any(
            (a.verb, a.resource, a.name) == (lost.verb, lost.resource, lost.name)
            and a.at >= lost.at
            for a in accepted
        ), f"{lost.verb} {lost.resource}/{lost.name} was not written again after its 409"


def _phase(kube: KubeClient, ns: str, name: str) -> str:
    return str((kube.get(MODELROLLOUTS, name, ns).get("status") or {}).get("phase"))


def _condition(kube: KubeClient, ns: str, name: str) -> dict[str, Any]:
    conditions = (kube.get(MODELROLLOUTS, name, ns).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == "Reconciled"), {})


def _reconciled(kube: KubeClient, ns: str, name: str) -> tuple[str, str] | None:
    condition = _condition(kube, ns, name)
    return (condition["status"], condition["reason"]) if condition else None
