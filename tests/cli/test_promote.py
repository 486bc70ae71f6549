"""``mlrollout promote`` end to end on the strict test API server: exit codes and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from kubeapi import KubeApiServer, write_kubeconfig
from mlrollout.cli.app import main
from mlrollout.kube import KubeClient
from mlrollout.kube.kinds import DEPLOYMENTS
from report.schema import assert_valid_record
from support.cluster import OLD, build_cluster, rollout_from

pytestmark = pytest.mark.slow

NEW = "registry.test/ml/fraud-scorer@sha256:" + "e" * 64


def _file(tmp_path: Path) -> Path:
    raw = rollout_from("canary.yaml")
    raw["metadata"]["namespace"] = "default"
    spec = raw["spec"]
    for key in ("webhooks", "notifications", "metrics", "analysis"):
        spec.pop(key, None)
    spec["release"]["image"] = NEW
    spec["gates"] = {"gpuCapacity": True}
    spec["strategy"]["canary"]["steps"] = [{"setWeight": 25}, {"setWeight": 50}]
    path = tmp_path / "rollout.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), out, err


@pytest.fixture
def cluster(
    kube: KubeClient, kube_server: KubeApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> KubeClient:
    monkeypatch.setenv(
        "KUBECONFIG", str(write_kubeconfig(kube_server.url, tmp_path / "kubeconfig"))
    )
    build_cluster(kube)
    return kube


def test_promote_a_file_to_success_with_json(
    cluster: KubeClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report"
    code, out, _ = run(
        [
            "promote",
            str(_file(tmp_path)),
            "-o",
            "json",
            "--timeout",
            "2m",
            "--report-dir",
            str(report),
            "--report",
            str(tmp_path / "report.md"),
        ],
        capsys,
    )
    document = json.loads(out)
    assert code == 0
    assert document["status"]["phase"] == "Succeeded"
    assert document["exitCode"] == 0
    assert document["drivenBy"] == "this process"
    green = cluster.get(DEPLOYMENTS, "fraud-scorer-green", "default")
    assert green["spec"]["template"]["spec"]["containers"][0]["image"] == NEW
    [record] = list(report.glob("decisions-*.jsonl"))
    phases = [json.loads(line)["phase"] for line in record.read_text().splitlines()]
    assert phases[0] == "Verifying"
    assert phases[-1] == "Succeeded"
    [stored] = list(report.glob("report-*.json"))
    assert assert_valid_record(stored.read_text())["decision"]["outcome"] == "promoted"
    markdown = (tmp_path / "report.md").read_text()
    assert markdown.startswith("## ✅ default/fraud-scorer: **promoted**")


def test_a_refused_release_exits_4(
    cluster: KubeClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A patch, not a read-modify-replace: the built-in controller writes status meanwhile.
    host_network = {"spec": {"template": {"spec": {"hostNetwork": True}}}}
    cluster.patch(DEPLOYMENTS, "fraud-scorer-green", "default", host_network)
    code, out, _ = run(["promote", str(_file(tmp_path)), "--timeout", "1m"], capsys)
    assert code == 4
    assert "Refused" in out
    image = cluster.get(DEPLOYMENTS, "fraud-scorer-green", "default")["spec"]["template"]["spec"][
        "containers"
    ][0]["image"]
    assert image == OLD


def test_bad_input_exits_2_and_changes_nothing(
    cluster: KubeClient,
    tmp_path: Path,
    kube_server: KubeApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kube_server.history.clear()
    code, _, err = run(["promote", str(_file(tmp_path)), "--image", "fraud:latest"], capsys)
    assert code == 2
    assert "must be pinned by digest" in err
    code, _, err = run(["promote", str(_file(tmp_path)), "--timeout", "soon"], capsys)
    assert code == 2
    assert "--timeout" in err
    assert not kube_server.history.records(kind="ModelRollout")
