"""Report records in the cluster: a ConfigMap per run, owned by the rollout, rendered by NAME.

On the real control plane: the controller writes the record as its ServiceAccount with the
shipped RBAC, and the audit log shows one ConfigMap per run (created once, then rewritten),
so the garbage collector of kube-controller-manager is what removes it with its rollout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from controlplane.fixtures import TestBed
from controlplane.workloads import build_model
from mlrollout.cli.app import main
from mlrollout.controller.kubernetes import build_reconciler
from mlrollout.controller.loop import drive
from mlrollout.core.observation import AnalysisLook
from mlrollout.kube import StoredRollout
from mlrollout.kube.kinds import CONFIGMAPS, MODELROLLOUTS
from mlrollout.model.analysis import AnalysisDecision, Verdict
from mlrollout.report import decode_config_map
from mlrollout.spec.analysis import AnalysisRecord, LookRecord, MetricVerdictRecord
from mlrollout.spec.status import Phase
from report.schema import assert_valid_record
from support.cluster import BriskClock, SignedRegistry, create_rollout

pytestmark = pytest.mark.controlplane

METRICS = ("latency/p99", "errors/error-rate")


@dataclass
class RecordingAnalyst:
    """Looks with per-metric verdicts; rolls back at the second analysis step's 4th look."""

    now: Callable[[], object]
    looks: int = 0
    seen: list[int] = field(default_factory=list)

    def look(self, stored: StoredRollout, *, now_s: float) -> AnalysisLook | None:
        status = stored.status
        step = status.current_step or 0
        if step not in (1, 3):
            return None
        self.looks += 1
        final = step == 3 and self.looks >= 7
        metrics = [
            MetricVerdictRecord(
                name=name,
                kind="latency-tail" if i == 0 else "errors",
                verdict=Verdict.FAILED if final and i == 0 else Verdict.RUNNING,
                reason="p99 above the margin" if final and i == 0 else "gathering",
                estimate=1.0 + 0.05 * self.looks * (i == 0),
                lower=0.9,
                upper=1.1 + 0.05 * self.looks,
                e_rollback=2.0**self.looks if i == 0 else 1.0,
                e_promote=1.0,
                rollback_at=200.0,
                promote_at=20.0,
                windows=self.looks,
            )
            for i, name in enumerate(METRICS)
        ]
        decision = AnalysisDecision.ROLLBACK if final else AnalysisDecision.CONTINUE
        if step == 1 and self.looks >= 3:
            decision = AnalysisDecision.PROMOTE
        started = self.now()
        record = AnalysisRecord(
            build=f"{stored.generation}/{status.release.image}/{status.release.model_sha256}"
            if status.release
            else "",
            started_at=started,
            step=step,
            step_started_at=started,
            elapsed_seconds=30.0 * self.looks,
            offset_seconds=30.0 * self.looks,
            fetched_until=started,
            look=LookRecord(
                decision=decision,
                reason="latency/p99 regressed" if final else "continue",
                elapsed_seconds=30.0 * self.looks,
                metrics=metrics,
            ),
        )
        return AnalysisLook(decision, record.look.reason, step, record)  # type: ignore[union-attr]


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SignedRegistry:
    monkeypatch.setenv("MLROLLOUT_SECRETS_DIR", str(tmp_path / "secrets"))
    return SignedRegistry(tmp_path / "secrets")


def test_rolled_back_run_keeps_its_record_in_an_owned_configmap(
    cp: TestBed,
    registry: SignedRegistry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    build_model(cp.admin, cp.namespace)
    create_rollout(cp.admin, registry.image, namespace=cp.namespace)
    kube = cp.controller_client()
    clock = BriskClock()
    reconciler = build_reconciler(
        kube,
        namespace=cp.namespace,
        name="fraud-scorer",
        analyst=RecordingAnalyst(now=clock.now),
        clock=clock,
        registry_factory=registry.client,
    )
    final = drive(reconciler, timeout=timedelta(hours=2))
    assert final.status.phase is Phase.ROLLED_BACK
    reference = final.status.report
    assert reference is not None

    stored = cp.admin.get(CONFIGMAPS, reference.config_map, cp.namespace)
    owner = stored["metadata"]["ownerReferences"][0]
    rollout = cp.admin.get(MODELROLLOUTS, "fraud-scorer", cp.namespace)
    assert (owner["kind"], owner["name"], owner["uid"]) == (
        "ModelRollout",
        "fraud-scorer",
        rollout["metadata"]["uid"],
    )
    assert_valid_record(stored["data"]["report.json"])
    record = decode_config_map(stored)
    assert record.decision.outcome.value == "rolled-back"
    assert record.decision.failing == ["latency/p99"]
    [latency] = [m for m in record.metrics if m.name == "latency/p99"]
    assert len(latency.series) >= 5
    assert [p.elapsed for p in latency.series] == sorted(p.elapsed for p in latency.series)
    assert [p.canary_bp for p in record.traffic][:2] == [2500, 5000]
    assert record.traffic[-1].canary_bp == 0
    # One ConfigMap per run, rewritten as it grows (not one per pass).
    writes = cp.audit.writes(namespace=cp.namespace, resource="configmaps")
    mine = [w for w in writes if w.name != "kube-root-ca.crt"]
    assert {w.name for w in mine} == {reference.config_map}
    assert {w.user for w in mine} == {cp.controller_user}
    assert [w.verb for w in mine].count("create") == 1
    assert len(mine) > 1

    kubeconfig = ["--kubeconfig", str(cp.session.plane.admin_kubeconfig)]
    out = tmp_path / "report.html"
    with pytest.raises(SystemExit) as info:
        main(["report", "fraud-scorer", "-n", cp.namespace, "-o", str(out), *kubeconfig])
    assert info.value.code in (0, None)
    page = out.read_text()
    assert "ROLLED-BACK" in page
    assert "latency/p99" in page
    with pytest.raises(SystemExit) as info:
        main(["report", "fraud-scorer", "-n", cp.namespace, "--format", "json", *kubeconfig])
    assert_valid_record(capsys.readouterr().out)


def test_report_of_an_unknown_rollout_is_bad_input(
    cp: TestBed, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = str(cp.session.plane.admin_kubeconfig)
    with pytest.raises(SystemExit) as info:
        main(["report", "no-such-rollout", "-n", cp.namespace, "--kubeconfig", kubeconfig])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "no-such-rollout" in err
    assert len(err.strip().splitlines()) == 1
