"""``status``, ``list`` and the intent commands against the strict test API server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubeapi import KubeApiServer, write_kubeconfig
from mlrollout.cli.app import main
from mlrollout.kube import KubeClient, connect
from mlrollout.kube.kinds import MODELROLLOUTS
from mlrollout.spec.yamlfile import parse_yaml_documents

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def kubeconfig(kube_server: KubeApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = write_kubeconfig(kube_server.url, tmp_path / "kubeconfig")
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path


@pytest.fixture
def client(kubeconfig: Path) -> KubeClient:
    return connect(kubeconfig=str(kubeconfig))


def _create(client: KubeClient, status: dict[str, object] | None = None) -> None:
    [obj] = parse_yaml_documents((ROOT / "examples" / "canary.yaml").read_text(), source="c")
    obj["metadata"]["namespace"] = "default"
    created = client.create(MODELROLLOUTS, obj, "default")
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


def test_status_text_is_made_for_on_call(
    client: KubeClient, capsys: pytest.CaptureFixture[str], kubeconfig: Path
) -> None:
    _create(client, STATUS)
    code, out, _ = run(["status", "fraud-scorer"], capsys)
    assert code == 0
    assert "default/fraud-scorer: Progressing" in out
    assert "blue 95% / green 5%" in out
    assert "latency-p99" in out
    assert "[0.97, 1.08]" in out
    assert "5% of traffic on green" in out


def test_status_json(
    client: KubeClient, capsys: pytest.CaptureFixture[str], kubeconfig: Path
) -> None:
    _create(client, STATUS)
    code, out, _ = run(["status", "fraud-scorer", "-o", "json"], capsys)
    document = json.loads(out)
    assert code == 0
    assert document["status"]["phase"] == "Progressing"
    assert document["status"]["traffic"]["applied"]["canaryWeight"] == 5
    assert document["release"]["image"].startswith("registry.example.com/ml/fraud-scorer@")


def test_missing_rollout_is_bad_input(kubeconfig: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["status", "nope"], capsys)
    assert code == 2
    assert err.strip() == "mlrollout: NAME: no ModelRollout 'nope' in namespace 'default'"


def test_list(client: KubeClient, capsys: pytest.CaptureFixture[str], kubeconfig: Path) -> None:
    _create(client, STATUS)
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
    kube_server: KubeApiServer,
    kubeconfig: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _create(client, STATUS)
    code, out, err = run([intent, "fraud-scorer", "-o", "json"], capsys)
    # Nothing holds the driver Lease: recorded, but the command says nobody will act (3).
    assert code == 3
    assert json.loads(out)["intent"] == intent
    assert json.loads(out)["drivenBy"] is None
    assert "nothing acts on it until you run `mlrollout promote fraud-scorer" in err
    stored = client.get(MODELROLLOUTS, "fraud-scorer", "default")
    assert f"mlrollout.io/intent.{intent}" in stored["metadata"]["annotations"]
    assert stored["metadata"]["generation"] == 1
    writes = kube_server.history.records(kind="ModelRollout", verb="PATCH")
    assert len(writes) == 1


@pytest.mark.parametrize(
    ("lease_namespace", "age_s", "code"),
    [("default", 1, 0), ("default", 60, 3)],
    ids=["live-holder", "expired-holder"],
)
def test_intent_commands_name_the_driver(
    lease_namespace: str,
    age_s: int,
    code: int,
    client: KubeClient,
    kubeconfig: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from datetime import UTC, datetime, timedelta

    from mlrollout.kube.kinds import LEASES

    _create(client, STATUS)
    renewed = datetime.now(UTC) - timedelta(seconds=age_s)
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "mlrollout-controller", "namespace": lease_namespace},
        "spec": {
            "holderIdentity": "mlrollout-controller-host-1",
            "leaseDurationSeconds": 15,
            "renewTime": renewed.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        },
    }
    client.create(LEASES, lease, lease_namespace)
    got, out, _ = run(["rollback", "fraud-scorer"], capsys)
    assert got == code
    if code == 0:
        assert "mlrollout-controller-host-1 (Lease default/mlrollout-controller) acts on it" in out


def test_rollback_without_a_warm_environment_is_refused_and_records_nothing(
    client: KubeClient, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    succeeded = {**STATUS, "phase": "Succeeded", "activeEnv": "green", "candidateEnv": "blue"}
    _create(client, succeeded)
    code, _, err = run(["rollback", "fraud-scorer"], capsys)
    assert code == 4
    assert "NOT_WARM" in err
    annotations = client.get(MODELROLLOUTS, "fraud-scorer", "default")["metadata"].get(
        "annotations"
    )
    assert not any("intent.rollback" in k for k in annotations or {})
