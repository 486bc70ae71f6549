"""``status --watch`` against the real control plane: it prints every change of the rollout
(watched on the real kube-apiserver) until the rollout ends (it reuses ``follow`` with its
own stop condition)."""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import pytest

from controlplane.fixtures import TestBed
from mlrollout.cli import status as status_module
from mlrollout.cli.app import main
from mlrollout.cli.output import OutputFormat
from mlrollout.kube import KubeClient, StoredRollout
from mlrollout.kube.kinds import MODELROLLOUTS
from mlrollout.spec.yamlfile import parse_yaml_documents

pytestmark = pytest.mark.controlplane

ROOT = Path(__file__).resolve().parents[2]
STATUS = {
    "phase": "Progressing",
    "currentStep": 1,
    "activeEnv": "blue",
    "candidateEnv": "green",
    "traffic": {"applied": {"stableEnv": "blue", "canaryEnv": "green", "canaryWeight": 5}},
    "verification": {"verified": True, "image": "x"},
    "message": "analysis running",
}


def _create(client: KubeClient, namespace: str, status: dict[str, object]) -> None:
    [obj] = parse_yaml_documents((ROOT / "examples" / "canary.yaml").read_text(), source="c")
    obj["metadata"]["namespace"] = namespace
    created = client.create(MODELROLLOUTS, obj, namespace)
    created["status"] = status
    client.replace(MODELROLLOUTS, created, status=True)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), out, err


def test_status_watch_follows_the_rollout_until_it_ends(
    cp: TestBed, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, ns = cp.admin, cp.namespace
    monkeypatch.setenv("KUBECONFIG", str(cp.session.plane.admin_kubeconfig))
    _create(client, ns, STATUS)
    printed: queue.Queue[str] = queue.Queue()
    shown = status_module._print

    def print_and_tell(stored: StoredRollout, output: OutputFormat) -> None:
        shown(stored, output)
        printed.put(stored.status.phase.value)

    monkeypatch.setattr(status_module, "_print", print_and_tell)

    def change_after_each_print() -> None:
        for phase in ("Paused", "Succeeded"):
            printed.get(timeout=30)  # the watch has shown the previous state
            current = client.get(MODELROLLOUTS, "fraud-scorer", ns)
            current["status"] = {**STATUS, "phase": phase, "message": phase.lower()}
            client.replace(MODELROLLOUTS, current, status=True)

    writer = threading.Thread(target=change_after_each_print)
    writer.start()
    code, out, _ = run(["status", "fraud-scorer", "-n", ns, "--watch"], capsys)
    writer.join()
    assert code == 0
    heads = [line for line in out.splitlines() if line.startswith(f"{ns}/fraud-scorer: ")]
    # Every change is printed; Paused does not end the watch, Succeeded does.
    assert heads == [f"{ns}/fraud-scorer: {p}" for p in ("Progressing", "Paused", "Succeeded")]
