"""The command line: version, help everywhere, lint exit codes and JSON, manifests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlrollout import __version__
from mlrollout.cli.app import COMMANDS as REGISTERED
from mlrollout.cli.app import load_command, main

ROOT = Path(__file__).resolve().parents[2]
INVALID = sorted((ROOT / "tests" / "data" / "invalid").glob("*.yaml"))


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), out, err


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    if hasattr(group, "commands"):
        for name, command in group.commands.items():
            out += _commands(command, (*prefix, name))
    return out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--version"], capsys) == (0, f"mlrollout {__version__}\n", "")


COMMANDS: list[tuple[str, ...]] = [
    (),
    *(path for name in REGISTERED for path in _commands(load_command(name), (name,))),
]


@pytest.mark.parametrize("name", sorted(REGISTERED))
def test_root_help_summary_is_the_command_help(name: str) -> None:
    """The lazily listed one-liner in ``mlrollout --help`` is the command's own help."""
    command = load_command(name)
    assert command is not None
    assert (command.help or "").strip().splitlines()[0] == REGISTERED[name].summary


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "mlrollout")
def test_every_command_has_help(
    command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run([*command, "--help"], capsys)
    assert code == 0
    assert "Usage:" in out


def test_lint_clean_files_exit_zero(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    files = sorted(
        str(p.relative_to(ROOT))
        for p in [*ROOT.glob("examples/*.yaml"), *ROOT.glob("analyses/*.yaml")]
    )
    code, out, err = run(["lint", *files], capsys)
    assert (code, err) == (0, "")
    assert out.count(": ok: ") == len(files)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_lint_invalid_fixture_exits_2_with_exact_message(
    path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    expected = path.read_bytes().split(b"\n", 1)[0].decode().removeprefix("# expect: ")
    code, _, err = run(["lint", str(path.relative_to(ROOT))], capsys)
    assert code == 2
    assert err.splitlines()[0] == expected


def test_lint_json_lists_every_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    files = [
        "examples/canary.yaml",
        "tests/data/invalid/image-tag.yaml",
        "tests/data/invalid/unknown-field.yaml",
    ]
    code, out, _ = run(["lint", "--output", "json", *files], capsys)
    report = json.loads(out)
    assert code == 2
    assert report["ok"] is False
    assert [d["name"] for d in report["documents"]] == ["fraud-scorer"]
    assert [(e["source"], e["path"]) for e in report["errors"]] == [
        ("tests/data/invalid/image-tag.yaml", "spec.release.image"),
        ("tests/data/invalid/unknown-field.yaml", "spec.strategy.canary.stepz"),
    ]


def test_lint_reports_every_problem_of_a_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (ROOT / "examples" / "canary.yaml").read_text()
    text = text.replace("service: fraud-scorer", "service: Fraud").replace(
        "alpha: 0.01", "alpha: 2"
    )
    (tmp_path / "r.yaml").write_text(text)
    code, _, err = run(["lint", "-t", str(ROOT / "analyses"), str(tmp_path / "r.yaml")], capsys)
    assert code == 2
    assert [line.split(": ")[1] for line in err.splitlines()] == [
        "spec.service",
        "spec.analysis.alpha",
    ]


def test_lint_warns_about_missing_signature_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (ROOT / "examples" / "blue-green.yaml").read_text()
    start = text.index("  gates:")
    (tmp_path / "r.yaml").write_text(text[:start])
    code, out, _ = run(["lint", "-t", str(ROOT / "analyses"), str(tmp_path / "r.yaml")], capsys)
    assert code == 0
    assert "warning: spec.gates.signature: not set" in out


def test_lint_warns_about_inconclusive_promote(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (ROOT / "examples" / "canary.yaml").read_text()
    assert "onInconclusive: pause" in text
    (tmp_path / "r.yaml").write_text(
        text.replace("onInconclusive: pause", "onInconclusive: promote")
    )
    code, out, _ = run(["lint", "-t", str(ROOT / "analyses"), str(tmp_path / "r.yaml")], capsys)
    assert code == 0
    assert "warning: spec.analysis.onInconclusive: promote" in out


def test_missing_file_and_bad_template_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["lint", str(tmp_path / "nope.yaml")], capsys)
    assert (code, err.strip()) == (2, f"{tmp_path / 'nope.yaml'}: no such file")
    code, _, err = run(
        ["lint", "-t", str(tmp_path / "none"), str(ROOT / "analyses" / "errors.yaml")], capsys
    )
    assert code == 2
    assert "not a directory" in err


def test_manifests_crd_prints_the_checked_in_crd(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["manifests", "crd"], capsys)
    assert code == 0
    assert out == (ROOT / "examples" / "crd" / "modelrollout.yaml").read_text()
    code, out, _ = run(["manifests", "crd", "--output", "json"], capsys)
    assert json.loads(out)["kind"] == "CustomResourceDefinition"
    code, out, _ = run(["manifests", "crd", "--kind", "clusterreleasepolicy"], capsys)
    assert code == 0
    assert out == (ROOT / "examples" / "crd" / "clusterreleasepolicy.yaml").read_text()


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["lint", "--bogus", "x.yaml"], capsys)
    assert code == 2
    assert "No such option" in err
    code, _, err = run(["manifests", "crd", "--output", "xml"], capsys)
    assert (code, err.strip()) == (2, "mlrollout: --output: must be yaml or json, got 'xml'")


def test_lint_and_plan_warn_when_no_metric_can_promote(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (ROOT / "examples" / "canary.yaml").read_text()
    shipped = "      - name: latency\n      - name: errors\n"
    assert shipped in text
    (tmp_path / "r.yaml").write_text(text.replace(shipped, "      - name: errors\n"))
    code, out, _ = run(["lint", "-t", str(ROOT / "analyses"), str(tmp_path / "r.yaml")], capsys)
    assert code == 0
    assert "warning: spec.analysis.templates: no metric is a gate" in out
    code, out, _ = run(
        ["lint", "-t", str(ROOT / "analyses"), str(ROOT / "examples" / "canary.yaml")], capsys
    )
    assert "no metric is a gate" not in out
    argv = ["plan", str(tmp_path / "r.yaml"), "-t", str(ROOT / "analyses"), "--rps", "200"]
    code, out, _ = run([*argv, "-o", "json"], capsys)
    assert code == 0
    steps = json.loads(out)["steps"]
    assert all(any("no metric is a gate" in w for w in s["warnings"]) for s in steps)
