"""``mlrollout promote`` end to end on the real control plane (marker ``controlplane``):
exit codes and JSON. The CLI runs as cluster admin on the test's namespace, with the model's
GPU Deployments on kwok nodes; what it wrote is read from the audit log."""

from __future__ import annotations

import http.server
import json
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from controlplane.fixtures import TestBed
from controlplane.workloads import build_model
from mlrollout.cli.app import main
from mlrollout.kube import KubeClient
from mlrollout.kube.kinds import DEPLOYMENTS
from report.schema import assert_valid_record
from support.cluster import OLD, rollout_from

pytestmark = pytest.mark.controlplane

NEW = "registry.test/ml/fraud-scorer@sha256:" + "e" * 64


def _file(tmp_path: Path, ns: str) -> Path:
    raw = rollout_from("canary.yaml")
    raw["metadata"]["namespace"] = ns
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
def cluster(cp: TestBed, monkeypatch: pytest.MonkeyPatch) -> KubeClient:
    """The model's GPU Deployments (blue live) and Service; the CLI as cluster admin."""
    monkeypatch.setenv("KUBECONFIG", str(cp.session.plane.admin_kubeconfig))
    build_model(cp.admin, cp.namespace)
    return cp.admin


@pytest.fixture
def ns(cp: TestBed) -> str:
    """The test's namespace."""
    return cp.namespace


def test_promote_a_file_to_success_with_json(
    cluster: KubeClient, ns: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report"
    code, out, _ = run(
        [
            "promote",
            str(_file(tmp_path, ns)),
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
    green = cluster.get(DEPLOYMENTS, "fraud-scorer-green", ns)
    assert green["spec"]["template"]["spec"]["containers"][0]["image"] == NEW
    [record] = list(report.glob("decisions-*.jsonl"))
    phases = [json.loads(line)["phase"] for line in record.read_text().splitlines()]
    assert phases[0] == "Verifying"
    assert phases[-1] == "Succeeded"
    [stored] = list(report.glob("report-*.json"))
    assert assert_valid_record(stored.read_text())["decision"]["outcome"] == "promoted"
    markdown = (tmp_path / "report.md").read_text()
    assert markdown.startswith(f"## ✅ {ns}/fraud-scorer: **promoted**")


def test_a_refused_release_exits_4(
    cluster: KubeClient, cp: TestBed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = cp.namespace
    # A patch, not a read-modify-replace: the Deployment controller writes status meanwhile.
    host_network = {"spec": {"template": {"spec": {"hostNetwork": True}}}}
    cluster.patch(DEPLOYMENTS, "fraud-scorer-green", ns, host_network)
    before = len(cp.audit.writes(namespace=ns, user="admin"))
    code, out, _ = run(["promote", str(_file(tmp_path, ns)), "--timeout", "1m"], capsys)
    assert code == 4
    assert "Refused" in out
    green = cluster.get(DEPLOYMENTS, "fraud-scorer-green", ns)
    assert green["spec"]["template"]["spec"]["containers"][0]["image"] == OLD
    deploying = {"deployments", "services", "httproutes"}
    written = cp.audit.writes(namespace=ns, user="admin")[before:]
    assert [w for w in written if w.resource in deploying] == []


def test_bad_input_exits_2_and_changes_nothing(
    cluster: KubeClient, cp: TestBed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = cp.namespace
    before = len(cp.audit.writes(namespace=ns, user="admin"))
    code, _, err = run(["promote", str(_file(tmp_path, ns)), "--image", "fraud:latest"], capsys)
    assert code == 2
    assert "must be pinned by digest" in err
    code, _, err = run(["promote", str(_file(tmp_path, ns)), "--timeout", "soon"], capsys)
    assert code == 2
    assert "--timeout" in err
    assert cp.audit.writes(namespace=ns, user="admin")[before:] == []


class _QualityService(http.server.BaseHTTPRequestHandler):
    """A model-evaluation service answering ``{"value": <quality>}`` per variant."""

    quality: ClassVar[dict[str, float]] = {}

    def do_GET(self) -> None:
        variant = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)["variant"][0]
        body = json.dumps({"value": self.quality.get(variant, 0.0)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def quality_service() -> Iterator[tuple[str, dict[str, float]]]:
    quality: dict[str, float] = {}
    handler = type("Handler", (_QualityService,), {"quality": quality})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", quality
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("canary_quality", "code", "phase"),
    [(0.95, 0, "Succeeded"), (0.5, 1, "RolledBack")],
    ids=["good-quality-promoted", "poor-quality-rolled-back"],
)
def test_a_web_provider_template_drives_promote(
    cluster: KubeClient,
    ns: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    quality_service: tuple[str, dict[str, float]],
    canary_quality: float,
    code: int,
    phase: str,
) -> None:
    url, quality = quality_service
    quality.update({"blue": 0.95, "green": canary_quality})
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "quality.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "mlrollout.io/v1alpha1",
                "kind": "AnalysisTemplate",
                "metadata": {"name": "quality-service"},
                "spec": {
                    "metrics": [
                        {
                            "name": "quality",
                            "kind": "threshold",
                            "range": {"min": 0.9},
                            "provider": {
                                "web": {
                                    "url": url + "/quality?variant={{variant}}",
                                    "fields": {"value": "$.value"},
                                }
                            },
                        }
                    ]
                },
            }
        )
    )
    path = _file(tmp_path, ns)
    raw = yaml.safe_load(path.read_text())
    raw["spec"]["strategy"]["canary"]["steps"] = [{"setWeight": 50}, {"analyze": {}}]
    raw["spec"]["analysis"] = {
        "templates": [{"name": "quality-service"}],
        "judge": "threshold",
        "interval": "1s",
        "threshold": {"interval": "1s", "checks": 3, "failureLimit": 2},
    }
    path.write_text(yaml.safe_dump(raw))
    argv = ["promote", str(path), "-t", str(templates), "-o", "json", "--timeout", "2m"]
    exit_code, out, _ = run(argv, capsys)
    document = json.loads(out)
    assert (exit_code, document["status"]["phase"]) == (code, phase)
    look = document["status"]["analysis"]["look"]
    assert look["metrics"][0]["name"] == "quality-service/quality"
