"""Hostile file inputs at the CLI: each known trigger gives one line naming the problem and a
documented exit code; a hypothesis fuzz over the file inputs of ``lint``, ``verify``,
``analyze``, ``plan`` and ``promote`` sees only exit codes 0-6 and never a traceback."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlrollout.cli.app import main

ROOT = Path(__file__).resolve().parents[2]
CANARY = (ROOT / "examples" / "canary.yaml").read_text()
HEX = "a" * 64


def run(argv: list[str]) -> tuple[int, str]:
    """Exit code and stderr+stdout of one in-process CLI run."""
    out, err = io.StringIO(), io.StringIO()
    code: int = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
    return code, err.getvalue() + out.getvalue()


def _canary_with(old: str, new: str) -> str:
    assert old in CANARY
    return CANARY.replace(old, new, 1)


CASES: list[tuple[str, bytes, int, str]] = [
    ("huge-int", b"apiVersion: v1\nx: " + b"9" * 5000 + b"\n", 2, "4300 digits"),
    ("not-utf8", b"apiVersion: \xff\xfe\n", 2, "not valid UTF-8"),
    ("alias", b"a: &x [1]\nb: *x\n", 2, "aliases"),
    ("duplicate-key", b"a: 1\na: 2\n", 2, "duplicate key 'a'"),
    (
        "naive-not-before",
        _canary_with(
            "publicKeys: [{secret: cosign-pub}]",
            'publicKeys: [{secret: cosign-pub, notBefore: "2026-01-01T00:00:00"}]',
        ).encode(),
        2,
        "must carry a timezone",
    ),
    (
        "duration-too-long",
        _canary_with("analyze: {maxDuration: 30m}", "analyze: {maxDuration: 1000h}").encode(),
        2,
        "maxDuration: must be at most 24h",
    ),
    (
        "webhook-timeout-too-long",
        _canary_with(
            "url: https://release-gate.example.com/confirm",
            "url: https://release-gate.example.com/confirm\n      timeout: 1000h",
        ).encode(),
        2,
        "timeout: must be at most 1m",
    ),
    ("deep-nesting", b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n", 2, "nest"),
]


SLOW_CASES = {"deep-nesting"}  # seconds of YAML parsing


@pytest.mark.parametrize(
    ("name", "content", "code", "message"),
    [pytest.param(*c, id=c[0], marks=[pytest.mark.slow] * (c[0] in SLOW_CASES)) for c in CASES],
)
def test_lint_names_each_hostile_input(
    name: str, content: bytes, code: int, message: str, tmp_path: Path
) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(content)
    got, text = run(["lint", str(path)])
    assert got == code
    assert message in text
    assert "Traceback" not in text


POLICY_CASES = [
    ("not-utf8", b"signature: \xff\n", "not valid UTF-8"),
    ("duplicate-key", b"signature: {}\nsignature: {}\n", "duplicate key"),
    ("alias", b"a: &x {}\nsignature: *x\n", "aliases"),
    (
        "naive-time",
        b"signature:\n  publicKeys: [{file: k.pub, notBefore: 2026-01-01T00:00:00}]\n",
        "notBefore",
    ),
]


@pytest.mark.parametrize(
    ("name", "content", "message"), POLICY_CASES, ids=[c[0] for c in POLICY_CASES]
)
def test_verify_refuses_bad_policy_files_in_one_line(
    name: str, content: bytes, message: str, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_bytes(content)
    code, text = run(["verify", "image", f"127.0.0.1:9/m@sha256:{HEX}", "--policy", str(policy)])
    assert code == 2
    assert message in text
    assert "Traceback" not in text
    assert len(text.strip().splitlines()) == 1


def test_lint_and_verify_model_refuse_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    code, text = run(["lint", str(fifo)])
    assert (code, "not a regular file" in text) == (2, True)
    code, text = run(["verify", "model", str(fifo), "--sha256", HEX])
    assert (code, "not a regular file" in text) == (4, True)


def test_sha256sums_that_is_not_utf8_is_a_refusal(tmp_path: Path) -> None:
    import hashlib

    model = tmp_path / "model"
    model.mkdir()
    sums = b"\xff\xfe not utf-8\n"
    (model / "SHA256SUMS").write_bytes(sums)
    code, text = run(["verify", "model", str(model), "--sha256", hashlib.sha256(sums).hexdigest()])
    assert code == 4
    assert "not UTF-8" in text


def test_verify_has_no_password_flag_and_reads_a_password_file(tmp_path: Path) -> None:
    code, text = run(["verify", "image", f"127.0.0.1:9/m@sha256:{HEX}", "--password", "x"])
    assert code == 2
    assert "No such option" in text
    from mlrollout.cli.verify import fetch_password
    from mlrollout.redaction import redact

    secret = tmp_path / "password"
    secret.write_text("correct-horse-battery\n")
    assert fetch_password(str(secret)) == "correct-horse-battery"
    assert "correct-horse-battery" not in redact("login with correct-horse-battery failed")


# -- fuzz ------------------------------------------------------------------------------------

_LINES = CANARY.splitlines()
_JUNK = st.sampled_from(
    [
        "x: " + "9" * 4400,
        "a: &x 1",
        "b: *x",
        "\t- :",
        "notBefore: 2026-01-01T00:00:00",
        "timeout: 99999h",
        "le: not-a-number",
        "url: http://[::1",
        "headers: {X: é}",
        "- " * 200,
        "{" * 300,
        "setWeight: 1e308",
        "image: " + "a" * 300,
        "",
    ]
)


@st.composite
def _mutated_canary(draw: Callable[..., object]) -> bytes:
    lines = list(_LINES)
    for _ in range(draw(st.integers(1, 3))):  # type: ignore[call-overload]
        index = draw(st.integers(0, len(lines) - 1))  # type: ignore[call-overload]
        lines[index] = (
            lines[index].split(":")[0] + ": " + str(draw(_JUNK))
            if draw(st.booleans())
            else str(draw(_JUNK))
        )  # type: ignore[call-overload]
    return "\n".join(lines).encode("utf-8", "surrogatepass")


_INPUTS = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
    _mutated_canary(),
)


def _argv(command: str, path: Path, tmp: Path) -> list[str]:
    kubeconfig = str(tmp / "no-kubeconfig")
    return {
        "lint": ["lint", str(path)],
        "verify-model": ["verify", "model", str(path), "--sha256", HEX],
        "verify-policy": ["verify", "image", f"127.0.0.1:9/m@sha256:{HEX}", "--policy", str(path)],
        "verify-key": ["verify", "image", f"127.0.0.1:9/m@sha256:{HEX}", "--key", str(path)],
        "analyze": [
            "analyze",
            "-T",
            str(path),
            "--baseline",
            "env=blue",
            "--canary",
            "env=green",
            "--prometheus",
            "http://127.0.0.1:9",
        ],
        "plan": ["plan", str(path), "-t", str(ROOT / "analyses")],
        "promote": ["promote", str(path), "--kubeconfig", kubeconfig],
    }[command]


COMMANDS = ["lint", "verify-model", "verify-policy", "verify-key", "analyze", "plan", "promote"]


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(content=_INPUTS)
def test_cli_fuzz_sees_only_documented_exit_codes(
    command: str, content: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "input.yaml"
    path.write_bytes(content)
    code, text = run(_argv(command, path, tmp_path))
    assert 0 <= code <= 6, text
    assert "Traceback" not in text
    assert "internal error" not in text, text
