"""End to end: the controller, the strict test API server, real Prometheus, real model servers.

The data plane routes load by what the API server holds, the servers expose the conventional
metrics, Prometheus scrapes them, and ``mlrollout promote``'s engine drives the rollout with
the sequential judge. A good release is promoted; each kind of regression is rolled back,
with all traffic on stable within a second of the decision (measured on the write history).
"""

from __future__ import annotations

import copy
import logging
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from kubeapi import KubeApiServer, assert_valid_history
from mlrollout.clock import SystemClock
from mlrollout.controller.analyst import MetricsAnalyst
from mlrollout.controller.gating import KubeReleaseVerifier
from mlrollout.controller.kubernetes import build_reconciler
from mlrollout.controller.loop import drive
from mlrollout.kube import KubeClient
from mlrollout.kube.kinds import EVENTS, MODELROLLOUTS
from mlrollout.local import ModelServer, Regressions, ServerConfig
from mlrollout.metrics import PrometheusProvider
from mlrollout.spec import AnalysisTemplate
from mlrollout.spec.status import Phase
from mlrollout.spec.yamlfile import parse_yaml_documents
from support.cluster import SignedRegistry, build_cluster, create_rollout
from support.prometheus import PROMETHEUS, PrometheusServer, start_prometheus

from .dataplane import DataPlane

pytestmark = [pytest.mark.e2e, pytest.mark.prometheus, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PROM_TOKEN = "e2e-controller-token-7c1d55"  # sent to the controller's Prometheus only
BASE = Regressions(error_rate=0.05)
MARGINS = {
    "error-rate": {"relative": 1.0},
    "latency-body": {"relative": 0.10},
    "accuracy": {"points": 10.0},
    "server-anomalies": {"relative": 0.0},
}


def _templates() -> dict[str, AnalysisTemplate]:
    """The shipped templates' queries, with margins wide enough to decide in about a minute."""
    out = {}
    for name, keep in (
        ("errors", "error-rate"),
        ("latency", "latency-body"),
        ("accuracy", "accuracy"),
        ("security-anomalies", "server-anomalies"),
    ):
        [doc] = parse_yaml_documents((ROOT / "analyses" / f"{name}.yaml").read_text(), source=name)
        doc = copy.deepcopy(doc)
        doc["spec"]["metrics"] = [
            dict(m, margin=MARGINS[keep]) for m in doc["spec"]["metrics"] if m["name"] == keep
        ]
        doc["spec"]["args"] = [
            a
            for a in doc["spec"].get("args", [])
            if any(a["name"] in str(m) for m in doc["spec"]["metrics"])
        ]
        out[name] = AnalysisTemplate.model_validate(doc)
    return out


@pytest.fixture(autouse=True)
def no_secret_leaves(kube: KubeClient, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """After each test: no log line, Event or status holds a credential the test used."""
    caplog.set_level(logging.DEBUG)
    yield
    events = repr(kube.list(EVENTS, "default"))
    rollouts = repr(kube.list(MODELROLLOUTS, "default"))
    for where, text in (("logs", caplog.text), ("Events", events), ("status", rollouts)):
        assert PROM_TOKEN not in text, f"the Prometheus token leaked into {where}"


@pytest.fixture
def bed(
    kube: KubeClient,
    kube_server: KubeApiServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Iterator[dict[str, Any]]:
    green_regressions: Regressions = request.param
    monkeypatch.setenv("MLROLLOUT_SECRETS_DIR", str(tmp_path / "secrets"))
    registry = SignedRegistry(tmp_path / "secrets")
    blue = ModelServer(ServerConfig(environment="blue", seed=1, regressions=BASE)).start()
    green = ModelServer(
        ServerConfig(environment="green", seed=2, regressions=green_regressions)
    ).start()
    prometheus: PrometheusServer = start_prometheus(
        tmp_path / "prom",
        targets=[blue.url.removeprefix("http://"), green.url.removeprefix("http://")],
    )
    build_cluster(kube)
    plane = DataPlane(
        kube_server,
        namespace="default",
        service="fraud-scorer",
        backends={"blue": blue.url, "green": green.url},
        deployments={"blue": "fraud-scorer-blue", "green": "fraud-scorer-green"},
    ).start()
    load = plane.run_load(100, 240, feedback_fraction=0.5, seed=3)
    try:
        yield {"registry": registry, "prometheus": prometheus, "plane": plane}
    finally:
        load.stop()
        plane.stop()
        prometheus.stop()
        blue.stop()
        green.stop()


def _run(
    kube: KubeClient,
    bed: dict[str, Any],
    *,
    error_limit: int = 4,
    on_pass: Callable[[Any, Any], None] = lambda stored, decision: None,
) -> Any:
    plane: DataPlane = bed["plane"]
    plane.wait_for(lambda s: s.weights.get("blue", 0) == 100, timeout_s=10)
    time.sleep(8)  # pre-rollout history for the baseline's accuracy
    raw = create_rollout(kube, bed["registry"].image)
    raw["spec"]["strategy"]["canary"]["steps"] = [
        {"setWeight": 50},
        {"analyze": {"maxDuration": "150s"}},
    ]
    raw["spec"]["analysis"] = {
        "templates": [{"name": n} for n in _templates()],
        "interval": "5s",
        "onInconclusive": "pause",
        "consecutiveErrorLimit": error_limit,
    }
    kube.replace(MODELROLLOUTS, raw)
    clock = SystemClock()
    provider = PrometheusProvider.from_config(
        None,
        environ={
            "MLROLLOUT_PROMETHEUS_URL": bed["prometheus"].url,
            "MLROLLOUT_PROMETHEUS_TOKEN": PROM_TOKEN,
        },
    )
    analyst = MetricsAnalyst(provider, _templates(), now=clock.now, scrape_lag=timedelta(seconds=2))
    reconciler = build_reconciler(
        kube, namespace="default", name="fraud-scorer", analyst=analyst, clock=clock
    )
    reconciler.verifier = KubeReleaseVerifier(kube, registry_factory=bed["registry"].client)
    return drive(
        reconciler,
        timeout=timedelta(minutes=4),
        on_pass=on_pass,
        until=lambda s: (
            s.status.phase in {Phase.SUCCEEDED, Phase.ROLLED_BACK, Phase.PAUSED, Phase.REFUSED}
        ),
    )


@pytest.mark.parametrize("bed", [BASE], indirect=True, ids=["same-as-stable"])
def test_a_good_release_is_promoted(
    kube: KubeClient, kube_server: KubeApiServer, bed: dict[str, Any]
) -> None:
    final = _run(kube, bed)
    assert final.status.phase is Phase.SUCCEEDED, final.status.message
    plane: DataPlane = bed["plane"]
    plane.wait_for(lambda s: s.weights.get("green", 0) == 100, timeout_s=10)
    assert_valid_history(kube_server)


REGRESSIONS = {
    "latency": Regressions(error_rate=0.05, latency_factor=2.0),
    "errors": Regressions(error_rate=0.30),
    "accuracy": Regressions(error_rate=0.05, accuracy_drop=0.4),
    "anomalies": Regressions(error_rate=0.05, anomaly_rate=0.05, anomaly_sources=5),
}


@pytest.mark.parametrize("bed", list(REGRESSIONS.values()), indirect=True, ids=list(REGRESSIONS))
def test_a_regression_is_rolled_back_within_a_second(
    kube: KubeClient, kube_server: KubeApiServer, bed: dict[str, Any]
) -> None:
    final = _run(kube, bed)
    assert final.status.phase is Phase.ROLLED_BACK, final.status.message
    statuses = kube_server.history.records(kind="ModelRollout")
    decided = next(
        r for r in statuses if (r.object.get("status") or {}).get("phase") == "RollingBack"
    )
    canary_off = next(
        r
        for r in kube_server.history.records(kind="Deployment", actor="client")
        if r.time >= decided.time
        and r.name == "fraud-scorer-green"
        and r.object["spec"]["replicas"] == 0
    )
    assert canary_off.time - decided.time < 1.0
    plane: DataPlane = bed["plane"]
    plane.wait_for(lambda s: s.weights.get("blue", 0) == 100, since=decided.time, timeout_s=5)
    assert_valid_history(kube_server)


def _restart(server: PrometheusServer) -> None:
    """Start Prometheus again on the same port, config and data directory."""
    directory = server.data_dir.parent
    port = server.url.rsplit(":", 1)[1]
    with server.log.open("ab") as sink:
        server.process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={directory / 'prometheus.yml'}",
                f"--storage.tsdb.path={server.data_dir}",
                "--storage.tsdb.retention.time=3650d",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


@pytest.mark.parametrize("bed", [BASE], indirect=True, ids=["outage-20s"])
def test_a_prometheus_outage_shorter_than_the_error_limit_is_held_through(
    kube: KubeClient, kube_server: KubeApiServer, bed: dict[str, Any]
) -> None:
    prometheus: PrometheusServer = bed["prometheus"]
    started: list[float] = []

    def outage(stored: Any, decision: Any) -> None:
        analysis = stored.status.analysis
        collecting = analysis is not None and analysis.look is not None and analysis.look.metrics
        if started or stored.status.phase is not Phase.PROGRESSING or not collecting:
            return  # begin once the judge is collecting evidence
        started.append(time.monotonic())
        prometheus.stop()
        threading.Timer(20.0, _restart, args=(prometheus,)).start()

    final = _run(kube, bed, error_limit=12, on_pass=outage)
    assert started, "the outage never began"
    assert final.status.phase is Phase.SUCCEEDED, final.status.message
    assert final.status.analysis is not None
    assert final.status.analysis.look is not None
    metrics = final.status.analysis.look.metrics
    assert any(m.errored_windows > 0 for m in metrics), metrics
    green = [
        r.object["spec"]["replicas"]
        for r in kube_server.history.records(kind="Deployment", actor="client")
        if r.name == "fraud-scorer-green"
    ]
    serving = next(i for i, replicas in enumerate(green) if replicas > 0)
    assert 0 not in green[serving:]  # the canary was never pulled during the outage
