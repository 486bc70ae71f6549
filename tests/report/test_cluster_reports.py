"""Report records in the cluster: a ConfigMap per run, owned by the rollout, rendered by NAME."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from kubeapi import KubeApiServer, write_kubeconfig
from mlrollout.cli.app import main
from mlrollout.controller.gating import KubeReleaseVerifier
from mlrollout.controller.kubernetes import build_reconciler
from mlrollout.controller.loop import drive
from mlrollout.core.observation import AnalysisLook
from mlrollout.kube import KubeClient, StoredRollout
from mlrollout.kube.kinds import CONFIGMAPS, MODELROLLOUTS
from mlrollout.model.analysis import AnalysisDecision, Verdict
from mlrollout.report import decode_config_map
from mlrollout.spec.analysis import AnalysisRecord, LookRecord, MetricVerdictRecord
from mlrollout.spec.status import Phase
from report.schema import assert_valid_record
from support.cluster import BriskClock, SignedRegistry, build_cluster, create_rollout

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
    kube: KubeClient,
    kube_server: KubeApiServer,
    registry: SignedRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    build_cluster(kube)
    create_rollout(kube, registry.image)
    clock = BriskClock()
    reconciler = build_reconciler(
        kube,
        namespace="default",
        name="fraud-scorer",
        analyst=RecordingAnalyst(now=clock.now),
        clock=clock,
    )
    reconciler.verifier = KubeReleaseVerifier(kube, registry_factory=registry.client)
    final = drive(reconciler, timeout=timedelta(hours=2))
    assert final.status.phase is Phase.ROLLED_BACK
    reference = final.status.report
    assert reference is not None

    stored = kube.get(CONFIGMAPS, reference.config_map, "default")
    owner = stored["metadata"]["ownerReferences"][0]
    rollout = kube.get(MODELROLLOUTS, "fraud-scorer", "default")
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
    assert [p.canary_weight for p in record.traffic][:2] == [25.0, 50.0]
    assert record.traffic[-1].canary_weight == 0.0
    # One ConfigMap per run, rewritten as it grows (not one per pass).
    writes = kube_server.history.records(kind="ConfigMap")
    assert {w.name for w in writes} == {reference.config_map}

    monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(kube_server.url, tmp_path / "kc")))
    out = tmp_path / "report.html"
    with pytest.raises(SystemExit) as info:
        main(["report", "fraud-scorer", "-n", "default", "-o", str(out)])
    assert info.value.code in (0, None)
    page = out.read_text()
    assert "ROLLED-BACK" in page
    assert "latency/p99" in page
    with pytest.raises(SystemExit) as info:
        main(["report", "fraud-scorer", "-n", "default", "--format", "json"])
    assert_valid_record(capsys.readouterr().out)


def test_report_of_an_unknown_rollout_is_bad_input(
    kube_server: KubeApiServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(kube_server.url, tmp_path / "kc")))
    with pytest.raises(SystemExit) as info:
        main(["report", "no-such-rollout", "-n", "default"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "no-such-rollout" in err
    assert len(err.strip().splitlines()) == 1
