"""``mlrollout history`` and ``mlrollout undo`` on the strict test API server."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from kubeapi import KubeApiServer, write_kubeconfig
from mlrollout.cli.app import main
from mlrollout.controller.kubernetes import build_reconciler
from mlrollout.controller.loop import drive
from mlrollout.kube import KubeClient, RolloutStore
from mlrollout.kube.kinds import DEPLOYMENTS, MODELROLLOUTS
from mlrollout.spec.status import UNDO_ANNOTATION, Phase
from support.cluster import BriskClock, build_cluster, create_rollout

pytestmark = pytest.mark.slow

IMAGES = [f"registry.test/ml/fraud-scorer@sha256:{n:064x}" for n in (0xA1, 0xA2, 0xA3)]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 0 if code is None else 1), out, err


def _release(kube: KubeClient, image: str | None) -> None:
    if image is not None:
        patch = {"spec": {"release": {"image": image}}}
        kube.patch(MODELROLLOUTS, "fraud-scorer", "default", patch)
    reconciler = build_reconciler(
        kube, namespace="default", name="fraud-scorer", clock=BriskClock()
    )
    final = drive(
        reconciler,
        timeout=timedelta(hours=1),
        until=lambda s: s.status.phase.terminal and s.status.scale_down is None,
    )
    assert final.status.phase is Phase.SUCCEEDED


@pytest.fixture
def released(
    kube: KubeClient, kube_server: KubeApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> KubeClient:
    """Two releases through the gates (pod security, GPU capacity): revisions 1 and 2."""
    monkeypatch.setenv(
        "KUBECONFIG", str(write_kubeconfig(kube_server.url, tmp_path / "kubeconfig"))
    )
    monkeypatch.setenv("MLROLLOUT_LEASE_SECONDS", "3")
    build_cluster(kube)
    raw = create_rollout(kube, IMAGES[0], gates={"gpuCapacity": True})
    raw["spec"]["strategy"]["canary"]["steps"] = [{"setWeight": 50}]
    raw["spec"].pop("analysis", None)
    kube.replace(MODELROLLOUTS, raw)
    _release(kube, None)
    _release(kube, IMAGES[1])
    return kube


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
    kube_server: KubeApiServer,
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kube_server.history.clear()
    code, _, err = run(["undo", "fraud-scorer", "-n", "default", *argv], capsys)
    assert code == 2
    assert message in err
    assert not [r for r in kube_server.history.records(kind="ModelRollout") if r.actor == "client"]


def test_history_lists_revisions_as_text_json_and_yaml(
    released: KubeClient, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["history", "fraud-scorer", "-n", "default", "-o", "json"], capsys)
    assert code == 0
    document = json.loads(out)
    assert [r["number"] for r in document["revisions"]] == [1, 2]
    assert document["revisions"][1]["image"] == IMAGES[1]
    assert document["revisions"][1]["verification"]["verified"] is True
    assert document["revisionHistoryLimit"] == 10
    code, out, _ = run(["history", "fraud-scorer", "-n", "default", "-o", "yaml"], capsys)
    assert yaml.safe_load(out) == document
    code, out, _ = run(["history", "fraud-scorer", "-n", "default"], capsys)
    rows = [line.split()[0] for line in out.splitlines()[1:-1]]
    assert rows == ["1", "2*"]
    assert out.splitlines()[-1] == "default/fraud-scorer: Succeeded; * marks the spec's release"


def test_undo_drives_the_previous_revision_to_success(
    released: KubeClient, kube_server: KubeApiServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        ["undo", "fraud-scorer", "-n", "default", "--timeout", "2m", "-o", "json"], capsys
    )
    document = json.loads(out)
    assert code == 0, document
    assert document["drivenBy"] == "this process"
    assert document["status"]["phase"] == "Succeeded"
    stored = RolloutStore(released).read("default", "fraud-scorer")
    latest = stored.status.revisions[-1]
    assert (latest.number, latest.image, latest.undo_of) == (3, IMAGES[0], 1)
    assert latest.driven_by is not None
    assert latest.driven_by.startswith("mlrollout-cli-")
    assert stored.raw["metadata"]["annotations"][UNDO_ANNOTATION].startswith("revision=1,")
    active = stored.status.active_env
    image = released.get(DEPLOYMENTS, f"fraud-scorer-{active}", "default")["spec"]["template"][
        "spec"
    ]["containers"][0]["image"]
    assert image == IMAGES[0]
