"""The CI workflow example (examples/ci/github-actions.yaml): every ``mlrollout`` command
line in it parses with the real CLI (command, subcommand, options, choices), the steps come
in the order build, sign, verify, promote, report, and secrets stay out of command lines."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from .cli_lines import check_command_line

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "examples" / "ci" / "github-actions.yaml"
SHELL_OPERATORS = {">", ">>", "<", "|", "||", "&&", ";", "2>", "2>&1"}


def _workflow() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    return data


def _steps() -> list[dict[str, Any]]:
    return [step for job in _workflow()["jobs"].values() for step in job["steps"]]


def _commands(script: str) -> list[list[str]]:
    """The simple commands of a ``run:`` script (continuations joined, operators cut)."""
    out: list[list[str]] = []
    for line in script.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        current: list[str] = []
        for word in words:
            if word in SHELL_OPERATORS:
                if current:
                    out.append(current)
                current = []
            else:
                current.append(word)
        if current:
            out.append(current)
    return out


def _mlrollout_lines() -> list[list[str]]:
    return [
        command[1:]
        for step in _steps()
        for command in _commands(step.get("run", ""))
        if command[0] == "mlrollout"
    ]


def test_the_commands_are_the_ones_the_pipeline_needs() -> None:
    used = [" ".join(line[:2]) if line[0] == "verify" else line[0] for line in _mlrollout_lines()]
    assert used == ["verify image", "promote", "report"]


@pytest.mark.parametrize("line", _mlrollout_lines(), ids=lambda line: " ".join(line[:2]))
def test_every_mlrollout_line_parses_with_the_cli(line: list[str]) -> None:
    check_command_line(line)


def test_promote_and_report_give_machine_and_markdown_output() -> None:
    lines = {line[0]: line for line in _mlrollout_lines()}
    promote, report = " ".join(lines["promote"]), " ".join(lines["report"])
    assert "--output json" in promote
    assert "--image $IMAGE" in promote
    assert "--format md" in report
    assert "--output json" in " ".join(lines["verify"])
    # The rollout the pipeline releases is a real one.
    rollout = _workflow()["env"]["ROLLOUT"]
    assert (ROOT / rollout).is_file()


def test_steps_run_build_sign_verify_promote_report_in_order() -> None:
    def index(pattern: str) -> int:
        [found] = [i for i, s in enumerate(_steps()) if re.search(pattern, s.get("run", ""))]
        return found

    order = [
        index(r"docker buildx build --push"),
        index(r"cosign sign "),
        index(r"mlrollout verify image"),
        index(r"mlrollout promote"),
        index(r"mlrollout report"),
    ]
    assert order == sorted(order)


def test_signs_with_cosign_v3_in_its_bundle_format() -> None:
    [installer] = [s for s in _steps() if s.get("uses", "").startswith("sigstore/cosign-installer")]
    assert re.fullmatch(r"v3\.\d+\.\d+", installer["with"]["cosign-release"])
    [sign] = [
        c for s in _steps() for c in _commands(s.get("run", "")) if c[:2] == ["cosign", "sign"]
    ]
    # The legacy format would need these; v3's default bundle is what the gate is told to expect.
    assert not [w for w in sign if w.startswith(("--new-bundle-format", "--tlog-upload"))]
    assert "--key" in sign
    image = next(w for w in sign if w.startswith("$"))
    assert image == "$IMAGE"  # the digest reference written by the build step


def test_secrets_only_reach_commands_through_the_environment() -> None:
    for step in _steps():
        assert "secrets." not in step.get("run", ""), step.get("name")
    for step in _steps():
        uses = step.get("uses")
        if uses:
            assert re.search(r"@(v\d+|[0-9a-f]{40})$", uses), uses  # never a moving branch
    assert _workflow()["permissions"]["contents"] == "write"
