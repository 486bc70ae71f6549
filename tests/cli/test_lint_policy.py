"""``mlrollout lint --policy``: one line per refusal naming the field and the policy, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlrollout.cli.app import main
from mlrollout.spec.yamlfile import parse_yaml_documents

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "examples" / "policy" / "clusterreleasepolicy.yaml"
POLICY_NAME = "(ClusterReleasePolicy production)"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _rollout(tmp_path: Path, gates: dict[str, object]) -> Path:
    [doc] = parse_yaml_documents((ROOT / "examples" / "canary.yaml").read_text(), source="x")
    assert isinstance(doc, dict)
    doc["spec"]["gates"] = gates
    path = tmp_path / "rollout.yaml"
    path.write_text(json.dumps(doc))
    return path


def test_compliant_rollout_passes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        ["lint", str(ROOT / "examples" / "canary.yaml"), "--policy", str(POLICY)], capsys
    )
    assert (code, err) == (0, "")
    assert "ok: ModelRollout" in out


PEM = "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"
CASES = [
    (
        "no-signature",
        {},
        ["spec.gates.signature: not set; the policy requires signature verification"],
    ),
    (
        "inline-and-untrusted",
        {"signature": {"publicKeys": [{"pem": PEM}, {"secret": "mine"}]}},
        [
            "spec.gates.signature.publicKeys[0]: inline pem keys are not allowed",
            "spec.gates.signature.publicKeys[1]: secret mine/cosign.pub is not a trusted key",
        ],
    ),
]


@pytest.mark.parametrize(("gates", "lines"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_refusal_is_one_line_naming_field_and_policy(
    gates: dict[str, object], lines: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _rollout(tmp_path, gates)
    code, out, err = run(["lint", str(path), "--policy", str(POLICY)], capsys)
    assert code == 2
    assert err.splitlines() == [f"{path}: {line} {POLICY_NAME}" for line in lines]
    assert "ok:" not in out


def test_json_output_lists_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _rollout(tmp_path, {})
    code, out, _ = run(["lint", str(path), "--policy", str(POLICY), "-o", "json"], capsys)
    report = json.loads(out)
    assert code == 2
    assert not report["ok"]
    assert [e["path"] for e in report["errors"]] == ["spec.gates.signature"]


def test_bad_policy_file_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text(POLICY.read_text().replace("podSecurity: restricted", "podSecurity: lax"))
    rollout = str(ROOT / "examples" / "canary.yaml")
    code, _, err = run(["lint", rollout, "--policy", str(bad)], capsys)
    assert code == 2
    assert err.startswith(f"mlrollout: {bad}: spec.podSecurity:")
    assert len(err.strip().splitlines()) == 1
    code, _, err = run(["lint", rollout, "--policy", str(tmp_path / "none.yaml")], capsys)
    assert (code, err.strip()) == (2, f"mlrollout: {tmp_path / 'none.yaml'}: no such file")
