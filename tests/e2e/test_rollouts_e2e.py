"""End to end on the real control plane: the controller, real Prometheus, real model servers.

Each test has a namespace of the real control plane (``tests/controlplane``: etcd,
kube-apiserver, controller-manager, scheduler, kwok GPU nodes) with the model's blue and
green GPU Deployments and Service (``controlplane.workloads.build_model``). The data plane
(``clusterplane.ClusterDataPlane``, through ``servingbed``) follows the real API server and
routes 100 req/s to two local model servers by the ready kwok pods of each environment; the
servers expose the conventional metrics, Prometheus scrapes them, and ``mlrollout
promote``'s engine (``controller.loop.drive``) drives the rollout with the sequential judge,
its kube layer authenticated as the controller's ServiceAccount bound only to the shipped
RBAC. A good release is promoted; each kind of regression is rolled back, with the canary's
replicas at zero within a second of the decision, measured on the API server's audit log
(its own timestamps of the status write recording the decision and of the rollback write).
"""

from __future__ import annotations

import copy
import logging
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from controlplane.audit import Request
from controlplane.fixtures import TestBed
from controlplane.rollouts import check_audit
from controlplane.workloads import build_model
from mlrollout.clock import SystemClock
from mlrollout.controller.analyst import MetricsAnalyst
from mlrollout.controller.kubernetes import build_reconciler
from mlrollout.controller.loop import drive
from mlrollout.kube.kinds import CONFIGMAPS, EVENTS, MODELROLLOUTS
from mlrollout.local import Regressions
from mlrollout.metrics import PrometheusProvider
from mlrollout.spec import AnalysisTemplate
from mlrollout.spec.status import Phase
from mlrollout.spec.yamlfile import parse_yaml_documents
from report.schema import assert_valid_record
from support.cluster import SignedRegistry, create_rollout
from support.prometheus import PROMETHEUS, PrometheusServer

from .servingbed import Serving, serving

pytestmark = [pytest.mark.e2e, pytest.mark.prometheus, pytest.mark.controlplane, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PROM_TOKEN = "e2e-controller-token-7c1d55"  # sent to the controller's Prometheus only
BASE = Regressions(error_rate=0.05)
CANARY = "fraud-scorer-green"
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
def no_secret_leaves(cp: TestBed, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """After each test: no log line, Event, status or audited write body in the test's
    namespace holds a credential the test used."""
    caplog.set_level(logging.DEBUG)
    yield
    events = repr(cp.admin.list(EVENTS, cp.namespace))
    rollouts = repr(cp.admin.list(MODELROLLOUTS, cp.namespace))
    written = repr([w.stored for w in cp.audit.writes(namespace=cp.namespace, succeeded=None)])
    for where, text in (
        ("logs", caplog.text),
        ("Events", events),
        ("status", rollouts),
        ("the audit log", written),
    ):
        assert PROM_TOKEN not in text, f"the Prometheus token leaked into {where}"


@pytest.fixture
def bed(
    cp: TestBed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[tuple[SignedRegistry, Serving]]:
    green: Regressions = request.param
    monkeypatch.setenv("MLROLLOUT_SECRETS_DIR", str(tmp_path / "secrets"))
    registry = SignedRegistry(tmp_path / "secrets")
    build_model(cp.admin, cp.namespace)
    with serving(
        cp, tmp_path, regressions={"blue": BASE, "green": green}, services=["fraud-scorer"]
    ) as world:
        world.run_load(100, 420, feedback_fraction=0.5, seed=3)  # stopped with the bed
        yield registry, world


def _run(
    cp: TestBed,
    bed: tuple[SignedRegistry, Serving],
    *,
    error_limit: int = 4,
    max_duration: str = "150s",
    on_pass: Callable[[Any, Any], None] = lambda stored, decision: None,
) -> Any:
    registry, world = bed
    world.plane.wait_for(lambda s: s.weights.get("blue", 0) == 100, timeout_s=30)
    time.sleep(8)  # pre-rollout history for the baseline's accuracy
    raw = create_rollout(cp.admin, registry.image, namespace=cp.namespace)
    raw["spec"]["strategy"]["canary"]["steps"] = [
        {"setWeight": 50},
        {"analyze": {"maxDuration": max_duration}},
    ]
    raw["spec"]["analysis"] = {
        "templates": [{"name": n} for n in _templates()],
        "interval": "5s",
        "onInconclusive": "pause",
        "consecutiveErrorLimit": error_limit,
    }
    cp.admin.replace(MODELROLLOUTS, raw)
    clock = SystemClock()
    provider = PrometheusProvider.from_config(
        None,
        environ={
            "MLROLLOUT_PROMETHEUS_URL": world.prometheus.url,
            "MLROLLOUT_PROMETHEUS_TOKEN": PROM_TOKEN,
        },
    )
    analyst = MetricsAnalyst(provider, _templates(), now=clock.now, scrape_lag=timedelta(seconds=2))
    controller = cp.controller_client()
    reconciler = build_reconciler(
        controller,
        namespace=cp.namespace,
        name="fraud-scorer",
        analyst=analyst,
        clock=clock,
        registry_factory=registry.client,
    )
    return drive(
        reconciler,
        timeout=timedelta(minutes=6),
        on_pass=on_pass,
        until=lambda s: (
            s.status.phase in {Phase.SUCCEEDED, Phase.ROLLED_BACK, Phase.PAUSED, Phase.REFUSED}
        ),
    )


def _check_writes(cp: TestBed) -> list[Request]:
    """The controller's writes, checked on the audit log (``check_audit``); its report
    ConfigMap as stored is a valid record."""
    writes = check_audit(cp.audit, namespace=cp.namespace, user=cp.controller_user)
    assert any(w.resource == "configmaps" for w in writes), "no report record written"
    reports = cp.admin.list(CONFIGMAPS, cp.namespace, label_selector="mlrollout.io/report=true")
    assert reports, "no report ConfigMap stored"
    for report in reports:
        assert_valid_record(report["data"]["report.json"])
    return writes


def _canary_replicas(writes: list[Request]) -> list[tuple[Request, int]]:
    """The controller's accepted writes of the canary Deployment (or its scale), with the
    replicas each stored."""
    return [
        (w, int((w.stored.get("spec") or {}).get("replicas", 0)))  # a Scale omits 0
        for w in writes
        if w.resource == "deployments" and w.name == CANARY and w.stored is not None
    ]


@pytest.mark.parametrize("bed", [BASE], indirect=True, ids=["same-as-stable"])
def test_a_good_release_is_promoted(cp: TestBed, bed: tuple[SignedRegistry, Serving]) -> None:
    final = _run(cp, bed)
    assert final.status.phase is Phase.SUCCEEDED, final.status.message
    bed[1].plane.wait_for(lambda s: s.weights.get("green", 0) == 100, timeout_s=10)
    _check_writes(cp)


REGRESSIONS = {
    "latency": Regressions(error_rate=0.05, latency_factor=2.0),
    "errors": Regressions(error_rate=0.30),
    "accuracy": Regressions(error_rate=0.05, accuracy_drop=0.4),
    "anomalies": Regressions(error_rate=0.05, anomaly_rate=0.05, anomaly_sources=5),
}


@pytest.mark.parametrize("bed", list(REGRESSIONS.values()), indirect=True, ids=list(REGRESSIONS))
def test_a_regression_is_rolled_back_within_a_second(
    cp: TestBed, bed: tuple[SignedRegistry, Serving]
) -> None:
    final = _run(cp, bed)
    assert final.status.phase is Phase.ROLLED_BACK, final.status.message
    writes = _check_writes(cp)
    decided = next(
        w
        for w in writes
        if w.resource == "modelrollouts"
        and ((w.stored or {}).get("status") or {}).get("phase") == "RollingBack"
    )
    canary_off = next(
        (w for w, replicas in _canary_replicas(writes) if w.at >= decided.at and replicas == 0),
        None,
    )
    assert canary_off is not None, "the canary was never scaled to zero after the decision"
    # The API server's own clock: the decision's status write completed, then the write that
    # takes the canary's replicas to zero was received and completed.
    pulled_s = (canary_off.at - decided.at).total_seconds()
    print(f"canary at 0 replicas {pulled_s:.3f} s after the decision")  # shown with -s
    assert pulled_s < 1.0, (decided, canary_off)
    assert canary_off.received_at >= decided.at
    ago = (datetime.now(UTC) - decided.at).total_seconds()
    since = time.monotonic() - ago - 0.5  # the data plane's clock; a margin for the skew
    bed[1].plane.wait_for(lambda s: s.weights.get("blue", 0) == 100, since=since, timeout_s=5)


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
    cp: TestBed, bed: tuple[SignedRegistry, Serving]
) -> None:
    prometheus = bed[1].prometheus
    started: list[float] = []

    def outage(stored: Any, decision: Any) -> None:
        analysis = stored.status.analysis
        collecting = analysis is not None and analysis.look is not None and analysis.look.metrics
        if started or stored.status.phase is not Phase.PROGRESSING or not collecting:
            return  # begin once the judge is collecting evidence
        started.append(time.monotonic())
        prometheus.stop()
        threading.Timer(20.0, _restart, args=(prometheus,)).start()

    # The outage, the restart and the scrape lag take their share of the step: 150 s ended
    # Paused at maxDuration on the shared, loaded machine.
    final = _run(cp, bed, error_limit=12, max_duration="240s", on_pass=outage)
    assert started, "the outage never began"
    assert final.status.phase is Phase.SUCCEEDED, final.status.message
    assert final.status.analysis is not None
    assert final.status.analysis.look is not None
    metrics = final.status.analysis.look.metrics
    assert any(m.errored_windows > 0 for m in metrics), metrics
    green = [replicas for _, replicas in _canary_replicas(_check_writes(cp))]
    serving_from = next(i for i, replicas in enumerate(green) if replicas > 0)
    assert 0 not in green[serving_from:]  # the canary was never pulled during the outage
