"""``status``, ``list`` and the intent commands, and their exit codes, on the real control
plane (marker ``controlplane``): the CLI runs as cluster admin with a kubeconfig whose
context names the test's namespace; what it wrote is read from the audit log."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from controlplane.fixtures import TestBed
from controlplane.kubeconfig import write_cert_kubeconfig
from mlrollout.cli.app import main
from mlrollout.kube import KubeClient
from mlrollout.kube.kinds import LEASES, MODELROLLOUTS
from mlrollout.spec.yamlfile import parse_yaml_documents

pytestmark = pytest.mark.controlplane

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ns(cp: TestBed) -> str:
    """The test's namespace, the CLI's by its kubeconfig."""
    return cp.namespace


@pytest.fixture
def kubeconfig(cp: TestBed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    plane = cp.session.plane
    path = write_cert_kubeconfig(
        tmp_path / "kubeconfig",
        server=plane.url,
        ca=plane.pki.ca_cert,
        cert=plane.admin.cert,
        key=plane.admin.key,
        namespace=cp.namespace,
    )
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path


@pytest.fixture
def client(cp: TestBed) -> KubeClient:
    return cp.admin


def _create(client: KubeClient, ns: str, status: dict[str, object] | None = None) -> None:
    [obj] = parse_yaml_documents((ROOT / "examples" / "canary.yaml").read_text(), source="c")
    obj["metadata"]["namespace"] = ns
    created = client.create(MODELROLLOUTS, obj, ns)
    if status is not None:
        created["status"] = status
        client.replace(MODELROLLOUTS, created, status=True)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), out, err


STATUS = {
    "phase": "Progressing",
    "currentStep": 1,
    "activeEnv": "blue",
    "candidateEnv": "green",
    "traffic": {"applied": {"stableEnv": "blue", "canaryEnv": "green", "canaryWeight": 5}},
    "verification": {"verified": True, "image": "x"},
    "message": "analysis running",
    "analysis": {
        "build": "1/registry.example.com/ml/fraud-scorer@sha256:" + "a" * 64 + "/" + "b" * 64,
        "startedAt": "2026-11-26T12:00:00Z",
        "step": 1,
        "stepStartedAt": "2026-11-26T12:00:00Z",
        "fetchedUntil": "2026-11-26T12:01:00Z",
        "look": {
            "decision": "continue",
            "reason": "collecting evidence",
            "elapsedSeconds": 60.0,
            "metrics": [
                {
                    "name": "latency/latency-p99",
                    "kind": "latency-tail",
                    "verdict": "Running",
                    "lower": 0.97,
                    "upper": 1.08,
                    "reason": "no decision yet",
                }
            ],
        },
    },
    "history": [
        {
            "time": "2026-11-26T12:00:00.000Z",
            "phase": "Progressing",
            "action": "advance",
            "reason": "5% of traffic on green",
            "step": 1,
        }
    ],
}


def _intent_writes(cp: TestBed) -> list[str]:
    """The patches of ModelRollouts in the test's namespace (the intent annotations)."""
    writes = cp.audit.writes(namespace=cp.namespace, resource="modelrollouts", succeeded=None)
    return [f"{w.verb} {w.name} {w.code}" for w in writes if w.verb == "patch"]


def test_status_text_is_made_for_on_call(
    client: KubeClient, ns: str, capsys: pytest.CaptureFixture[str], kubeconfig: Path
) -> None:
    _create(client, ns, STATUS)
    code, out, _ = run(["status", "fraud-scorer"], capsys)
    assert code == 0
    assert f"{ns}/fraud-scorer: Progressing" in out
    assert "blue 95% / green 5%" in out
    assert "latency-p99" in out
    assert "[0.97, 1.08]" in out
    assert "5% of traffic on green" in out


def test_status_json(
    client: KubeClient, ns: str, capsys: pytest.CaptureFixture[str], kubeconfig: Path
) -> None:
    _create(client, ns, STATUS)
    code, out, _ = run(["status", "fraud-scorer", "-o", "json"], capsys)
    document = json.loads(out)
    assert code == 0
    assert document["status"]["phase"] == "Progressing"
    assert document["status"]["traffic"]["applied"]["canaryWeight"] == 5
    assert document["release"]["image"].startswith("registry.example.com/ml/fraud-scorer@")


def test_missing_rollout_is_bad_input(
    ns: str, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["status", "nope"], capsys)
    assert code == 2
    assert err.strip() == f"mlrollout: NAME: no ModelRollout 'nope' in namespace '{ns}'"


def test_list(
    client: KubeClient, ns: str, capsys: pytest.CaptureFixture[str], kubeconfig: Path
) -> None:
    _create(client, ns, STATUS)
    code, out, _ = run(["list", "-A"], capsys)
    assert code == 0
    assert "fraud-scorer" in out
    assert "Progressing" in out
    code, out, _ = run(["list", "-o", "json"], capsys)
    assert [d["name"] for d in json.loads(out)] == ["fraud-scorer"]


@pytest.mark.parametrize("intent", ["abort", "pause", "resume", "rollback", "retry"])
def test_intent_commands_record_an_annotation(
    intent: str,
    client: KubeClient,
    cp: TestBed,
    kubeconfig: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ns = cp.namespace
    _create(client, ns, STATUS)
    code, out, err = run([intent, "fraud-scorer", "-o", "json"], capsys)
    # Nothing holds the driver Lease: recorded, but the command says nobody will act (3).
    assert code == 3
    assert json.loads(out)["intent"] == intent
    assert json.loads(out)["drivenBy"] is None
    assert "nothing acts on it until you run `mlrollout promote fraud-scorer" in err
    stored = client.get(MODELROLLOUTS, "fraud-scorer", ns)
    assert f"mlrollout.io/intent.{intent}" in stored["metadata"]["annotations"]
    assert stored["metadata"]["generation"] == 1
    assert _intent_writes(cp) == ["patch fraud-scorer 200"]


@pytest.mark.parametrize(
    ("age_s", "code"), [(1, 0), (60, 3)], ids=["live-holder", "expired-holder"]
)
def test_intent_commands_name_the_driver(
    age_s: int,
    code: int,
    client: KubeClient,
    ns: str,
    kubeconfig: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _create(client, ns, STATUS)
    renewed = datetime.now(UTC) - timedelta(seconds=age_s)
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "mlrollout-controller", "namespace": ns},
        "spec": {
            "holderIdentity": "mlrollout-controller-host-1",
            "leaseDurationSeconds": 15,
            "renewTime": renewed.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        },
    }
    client.create(LEASES, lease, ns)
    got, out, _ = run(["rollback", "fraud-scorer"], capsys)
    assert got == code
    if code == 0:
        assert f"mlrollout-controller-host-1 (Lease {ns}/mlrollout-controller) acts on it" in out


def test_rollback_without_a_warm_environment_is_refused_and_records_nothing(
    client: KubeClient, cp: TestBed, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    succeeded = {**STATUS, "phase": "Succeeded", "activeEnv": "green", "candidateEnv": "blue"}
    _create(client, cp.namespace, succeeded)
    code, _, err = run(["rollback", "fraud-scorer"], capsys)
    assert code == 4
    assert "NOT_WARM" in err
    annotations = client.get(MODELROLLOUTS, "fraud-scorer", cp.namespace)["metadata"].get(
        "annotations"
    )
    assert not any("intent.rollback" in k for k in annotations or {})
    assert _intent_writes(cp) == []
