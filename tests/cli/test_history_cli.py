"""``mlrollout history`` and ``mlrollout undo`` on the real control plane (marker
``controlplane``): two releases driven by the controller's reconciler as its ServiceAccount
(shipped RBAC) on kwok GPU nodes, then the CLI as cluster admin; what the CLI wrote is read
from the audit log."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import yaml

from controlplane.fixtures import TestBed
from controlplane.workloads import build_model
from mlrollout.cli.app import main
from mlrollout.controller.kubernetes import build_reconciler
from mlrollout.controller.loop import drive
from mlrollout.kube import KubeClient, RolloutStore
from mlrollout.kube.kinds import DEPLOYMENTS, MODELROLLOUTS
from mlrollout.spec.status import UNDO_ANNOTATION, Phase
from support.cluster import BriskClock, create_rollout

pytestmark = pytest.mark.controlplane

IMAGES = [f"registry.test/ml/fraud-scorer@sha256:{n:064x}" for n in (0xA1, 0xA2, 0xA3)]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 0 if code is None else 1), out, err


def _release(cp: TestBed, controller: KubeClient, image: str | None) -> None:
    if image is not None:
        patch = {"spec": {"release": {"image": image}}}
        cp.admin.patch(MODELROLLOUTS, "fraud-scorer", cp.namespace, patch)
    reconciler = build_reconciler(
        controller, namespace=cp.namespace, name="fraud-scorer", clock=BriskClock()
    )
    final = drive(
        reconciler,
        timeout=timedelta(hours=1),
        until=lambda s: s.status.phase.terminal and s.status.scale_down is None,
    )
    assert final.status.phase is Phase.SUCCEEDED


@pytest.fixture
def released(cp: TestBed, monkeypatch: pytest.MonkeyPatch) -> KubeClient:
    """Two releases through the gates (pod security, GPU capacity): revisions 1 and 2; the
    CLI's kubeconfig is cluster admin's."""
    monkeypatch.setenv("KUBECONFIG", str(cp.session.plane.admin_kubeconfig))
    monkeypatch.setenv("MLROLLOUT_LEASE_SECONDS", "3")
    build_model(cp.admin, cp.namespace)
    raw = create_rollout(cp.admin, IMAGES[0], namespace=cp.namespace, gates={"gpuCapacity": True})
    raw["spec"]["strategy"]["canary"]["steps"] = [{"setWeight": 50}]
    raw["spec"].pop("analysis", None)
    cp.admin.replace(MODELROLLOUTS, raw)
    controller = cp.controller_client()
    _release(cp, controller, None)
    _release(cp, controller, IMAGES[1])
    return cp.admin


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(
            ["--to-revision", "7"], "revision 7 not found (revisions kept: 1, 2)", id="unknown"
        ),
        pytest.param(
            ["--to-revision", "2"], "revision 2 is already the spec's release", id="current"
        ),
        pytest.param(["--timeout", "soon"], "--timeout", id="bad-timeout"),
    ],
)
def test_bad_undo_exits_2_and_writes_nothing(
    released: KubeClient,
    cp: TestBed,
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = len(cp.audit.writes(namespace=cp.namespace, user="admin"))
    code, _, err = run(["undo", "fraud-scorer", "-n", cp.namespace, *argv], capsys)
    assert code == 2
    assert message in err
    assert cp.audit.writes(namespace=cp.namespace, user="admin")[before:] == []


def test_history_lists_revisions_as_text_json_and_yaml(
    released: KubeClient, cp: TestBed, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = cp.namespace
    code, out, _ = run(["history", "fraud-scorer", "-n", ns, "-o", "json"], capsys)
    assert code == 0
    document = json.loads(out)
    assert [r["number"] for r in document["revisions"]] == [1, 2]
    assert document["revisions"][1]["image"] == IMAGES[1]
    assert document["revisions"][1]["verification"]["verified"] is True
    assert document["revisionHistoryLimit"] == 10
    code, out, _ = run(["history", "fraud-scorer", "-n", ns, "-o", "yaml"], capsys)
    assert yaml.safe_load(out) == document
    code, out, _ = run(["history", "fraud-scorer", "-n", ns], capsys)
    rows = [line.split()[0] for line in out.splitlines()[1:-1]]
    assert rows == ["1", "2*"]
    assert out.splitlines()[-1] == f"{ns}/fraud-scorer: Succeeded; * marks the spec's release"


def test_undo_drives_the_previous_revision_to_success(
    released: KubeClient, cp: TestBed, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = cp.namespace
    code, out, _ = run(["undo", "fraud-scorer", "-n", ns, "--timeout", "2m", "-o", "json"], capsys)
    document = json.loads(out)
    assert code == 0, document
    assert document["drivenBy"] == "this process"
    assert document["status"]["phase"] == "Succeeded"
    stored = RolloutStore(released).read(ns, "fraud-scorer")
    latest = stored.status.revisions[-1]
    assert (latest.number, latest.image, latest.undo_of) == (3, IMAGES[0], 1)
    assert latest.driven_by is not None
    assert latest.driven_by.startswith("mlrollout-cli-")
    assert stored.raw["metadata"]["annotations"][UNDO_ANNOTATION].startswith("revision=1,")
    active = stored.status.active_env
    deployment = released.get(DEPLOYMENTS, f"fraud-scorer-{active}", ns)
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == IMAGES[0]
