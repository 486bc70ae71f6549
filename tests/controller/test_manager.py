"""The in-cluster manager on the strict test API server: one leader, rollouts driven to the
end by the work queue, health and metrics endpoints, takeover when the leader goes."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from loop_fakes import ScriptedAnalyst

from kubeapi import KubeApiServer
from mlrollout.controller.gating import KubeReleaseVerifier
from mlrollout.controller.kubernetes import build_reconciler
from mlrollout.controller.loop import Reconciler
from mlrollout.controller.manager import Manager, ManagerSettings
from mlrollout.controller.telemetry import HealthServer, Telemetry
from mlrollout.controller.workqueue import WorkQueue
from mlrollout.kube import KubeClient, LeaseSettings, RolloutStore
from mlrollout.kube.kinds import LEASES
from support.cluster import BriskClock, SignedRegistry, build_cluster, create_rollout

FAST_LEASE = LeaseSettings(
    lease_duration=timedelta(seconds=3),
    renew_deadline=timedelta(seconds=2),
    retry_period=timedelta(milliseconds=200),
)


def _manager(kube: KubeClient, name: str, registry: SignedRegistry) -> Manager:
    def reconciler_for(client: KubeClient, key: tuple[str, str], analyst: object) -> Reconciler:
        reconciler = build_reconciler(
            client, namespace=key[0], name=key[1], analyst=ScriptedAnalyst(), clock=BriskClock()
        )
        reconciler.verifier = KubeReleaseVerifier(client, registry_factory=registry.client)
        return reconciler

    return Manager(
        kube,
        ManagerSettings(identity=name, lease_namespace="default", workers=2, lease=FAST_LEASE),
        reconciler_for=reconciler_for,
    )


def _wait(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SignedRegistry:
    monkeypatch.setenv("MLROLLOUT_SECRETS_DIR", str(tmp_path / "secrets"))
    return SignedRegistry(tmp_path / "secrets")


@pytest.mark.slow
def test_one_leader_drives_rollouts_and_a_standby_takes_over(
    kube: KubeClient, kube_server: KubeApiServer, registry: SignedRegistry
) -> None:
    build_cluster(kube)
    first, second = _manager(kube, "a", registry), _manager(kube, "b", registry)
    codes: dict[str, int] = {}
    threads = [
        threading.Thread(target=lambda m=m, n=n: codes.__setitem__(n, m.run()))
        for m, n in ((first, "a"), (second, "b"))
    ]
    threads[0].start()
    _wait(lambda: first.leading)
    threads[1].start()
    create_rollout(kube, registry.image)
    store = RolloutStore(kube)
    _wait(lambda: store.read("default", "fraud-scorer").status.phase.value == "Succeeded")
    assert not second.leading
    assert kube.get(LEASES, "mlrollout-controller", "default")["spec"]["holderIdentity"] == "a"
    first.stop()
    threads[0].join(timeout=10)
    assert codes["a"] == 0
    _wait(lambda: second.leading, timeout=10)
    second.stop()
    threads[1].join(timeout=10)


@pytest.mark.slow
def test_a_leader_that_loses_its_lease_stops_and_exits_1(
    kube: KubeClient, kube_server: KubeApiServer, registry: SignedRegistry
) -> None:
    manager = _manager(kube, "a", registry)
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(manager.run()))
    thread.start()
    _wait(lambda: manager.leading)
    kube_server.faults.add(path_regex=r"/leases/", times=None, status=500)
    thread.join(timeout=15)
    assert result == [1]
    assert not manager.leading


def test_health_endpoints_and_metrics() -> None:
    telemetry = Telemetry()
    leading = {"now": False}
    health = HealthServer(telemetry, host="127.0.0.1", port=0, ready=lambda: leading["now"]).start()
    base = f"http://127.0.0.1:{health.port}"

    def get(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(base + path) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.read().decode()

    try:
        assert get("/healthz") == (200, "ok\n")
        assert get("/readyz") == (503, "standby\n")
        leading["now"] = True
        assert get("/readyz") == (200, "leading\n")
        telemetry.duration.observe(0.02)
        code, body = get("/metrics")
        assert code == 200
        assert "mlrollout_reconcile_duration_seconds_bucket" in body
    finally:
        health.stop()


def test_work_queue_keeps_one_pass_per_key_and_the_earliest_due_time() -> None:
    now = {"t": 0.0}
    queue = WorkQueue(monotonic=lambda: now["t"])
    queue.add(("ns", "a"), after=10)
    queue.add(("ns", "a"), after=5)
    queue.add(("ns", "b"), after=7)
    assert queue.get(timeout=0) is None
    now["t"] = 6
    assert queue.get(timeout=0) == ("ns", "a")
    queue.add(("ns", "a"))  # changed while being processed: not handed out twice
    now["t"] = 8
    assert queue.get(timeout=0) == ("ns", "b")
    assert queue.get(timeout=0) is None
    queue.done(("ns", "a"))
    assert queue.get(timeout=0) == ("ns", "a")


@pytest.mark.slow
def test_promote_follows_a_running_controller(
    kube: KubeClient,
    kube_server: KubeApiServer,
    registry: SignedRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    import yaml

    from kubeapi import write_kubeconfig
    from mlrollout.cli.app import main
    from support.cluster import rollout_from

    build_cluster(kube)
    manager = _manager(kube, "in-cluster", registry)
    thread = threading.Thread(target=manager.run)
    thread.start()
    try:
        _wait(lambda: manager.leading)
        raw = rollout_from("canary.yaml")
        raw["metadata"]["namespace"] = "default"
        for key in ("webhooks", "notifications", "metrics"):
            raw["spec"].pop(key)
        raw["spec"]["release"]["image"] = registry.image
        raw["spec"]["gates"] = {"signature": {"publicKeys": [{"secret": "cosign-pub"}]}}
        raw["spec"]["strategy"]["canary"]["steps"] = [{"setWeight": 25}, {"analyze": {}}]
        path = tmp_path / "rollout.yaml"
        path.write_text(yaml.safe_dump(raw))
        monkeypatch.setenv(
            "KUBECONFIG", str(write_kubeconfig(kube_server.url, tmp_path / "kubeconfig"))
        )
        with pytest.raises(SystemExit) as info:
            main(
                [
                    "promote",
                    str(path),
                    "-o",
                    "json",
                    "--timeout",
                    "2m",
                    "-t",
                    str(Path(__file__).resolve().parents[2] / "analyses"),
                ]
            )
        document = json.loads(capsys.readouterr().out)
        assert info.value.code == 0
        assert document["drivenBy"] == "the in-cluster controller"
        assert document["status"]["phase"] == "Succeeded"
        holder = kube.get(LEASES, "mlrollout-controller", "default")["spec"]["holderIdentity"]
        assert holder == "in-cluster"
    finally:
        manager.stop()
        thread.join(timeout=10)


def test_a_forbidden_read_before_the_first_pass_is_recorded_on_the_rollout(
    kube: KubeClient, kube_server: KubeApiServer, registry: SignedRegistry
) -> None:
    # The real API server shows it too (tests/controlplane/test_rbac.py); here without RBAC.
    build_cluster(kube)
    create_rollout(kube, registry.image)
    kube_server.faults.add(
        verb="GET", path_regex=r"/deployments/fraud-scorer-blue$", times=None, status=403
    )
    manager = _manager(kube, "a", registry)
    assert manager.lease.try_acquire_or_renew()
    first = manager.reconcile(("default", "fraud-scorer"))
    stored = RolloutStore(kube).read("default", "fraud-scorer")
    [condition] = [c for c in stored.status.conditions if c.type == "Reconciled"]
    assert (condition.status, condition.reason) == ("False", "ForbiddenError")
    assert "fraud-scorer-blue: HTTP 403" in condition.message
    second = manager.reconcile(("default", "fraud-scorer"))
    assert first is not None
    assert second is not None
    assert second > first  # backed off, never a hot loop on a refusal
