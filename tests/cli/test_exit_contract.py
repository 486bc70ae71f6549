"""The exit-code contract of the README, over every command and its failure modes.

Each case runs the real CLI entry point in-process and checks the exit code against the
README table (2 bad input, before any request; 4 refused; 6 a dependency unreachable) and
that no traceback is printed. Unreachable dependencies are closed loopback ports; nothing
is faked. A case that expects 2 while pointing at a closed port also shows the input was
refused before any request: a request would have failed with 6. A closed port refuses at
once, so the only wait of an unreachable case is the back-off between the tries of its
retry policy (``mlrollout.retry``): the back-off is recorded instead of slept, and a case
that ends in 6 must have retried.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import tenacity

import mlrollout.retry
from mlrollout.cli.app import COMMANDS, main
from mlrollout.errors import ExitCode

ROOT = Path(__file__).resolve().parents[2]
DIGEST = "sha256:" + "a" * 64


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


CLOSED = _closed_port()
KC = "KUBECONFIG_CLOSED"
BAD_KC = "KUBECONFIG_GARBAGE"
PROM = f"http://127.0.0.1:{CLOSED}"
BUSY = "BUSY_PORT"
STATE = "STATE_DIR"
NOT_WRITABLE = "STATE_DIR_NOT_WRITABLE"
LOCAL = "examples/local/rollout.yaml"

ANALYZE = ["analyze", "-T", "errors", "--baseline", "environment=blue"]
ANALYZE += ["--canary", "environment=green"]

CASES: dict[str, tuple[list[str], int]] = {
    # lint
    "lint/missing-file": (["lint", "nope.yaml"], ExitCode.BAD_INPUT),
    "lint/bad-flag": (["lint", "--bogus", "examples/canary.yaml"], ExitCode.BAD_INPUT),
    "lint/bad-output": (["lint", "examples/canary.yaml", "-o", "xml"], ExitCode.BAD_INPUT),
    # demo
    "demo/port-in-use": (["demo", "--port", BUSY, "--state-dir", STATE], ExitCode.BAD_INPUT),
    "demo/state-dir-not-writable": (["demo", "--state-dir", NOT_WRITABLE], ExitCode.BAD_INPUT),
    "demo/bad-scenario": (["demo", "--scenario", "slowness"], ExitCode.BAD_INPUT),
    "demo/bad-rate": (["demo", "--rate", "0", "--state-dir", STATE], ExitCode.BAD_INPUT),
    "demo/bad-output": (["demo", "-o", "xml", "--state-dir", STATE], ExitCode.BAD_INPUT),
    "status/local-not-a-state-dir": (
        ["status", "fraud-scorer", "--platform", "local", "--state-dir", NOT_WRITABLE],
        ExitCode.BAD_INPUT,
    ),
    "status/state-dir-without-local": (
        ["status", "fraud-scorer", "--state-dir", STATE, "--kubeconfig", KC],
        ExitCode.BAD_INPUT,
    ),
    # promote
    "promote/local-port-in-use": (
        ["promote", LOCAL, "--port", BUSY, "--state-dir", STATE],
        ExitCode.BAD_INPUT,
    ),
    "promote/local-state-dir-not-writable": (
        ["promote", LOCAL, "--state-dir", NOT_WRITABLE],
        ExitCode.BAD_INPUT,
    ),
    "promote/local-no-wait": (["promote", LOCAL, "--no-wait"], ExitCode.BAD_INPUT),
    "promote/local-cluster-option": (["promote", LOCAL, "--context", "prod"], ExitCode.BAD_INPUT),
    "promote/platform-conflict": (
        ["promote", LOCAL, "--platform", "kubernetes", "--kubeconfig", KC],
        ExitCode.BAD_INPUT,
    ),
    "promote/local-option-on-kubernetes": (
        ["promote", "examples/canary.yaml", "--state-dir", STATE, "--kubeconfig", KC],
        ExitCode.BAD_INPUT,
    ),
    "promote/local-unservable-gate": (
        ["promote", "examples/canary.yaml", "--platform", "local", "--state-dir", STATE],
        ExitCode.BAD_INPUT,
    ),
    "promote/mistyped-path": (["promote", "examples/canry.yaml", "--kubeconfig", KC], 2),
    "promote/bad-image": (
        ["promote", "fraud-scorer", "--image", "fraud:latest", "--kubeconfig", KC],
        ExitCode.BAD_INPUT,
    ),
    "promote/bad-timeout": (
        ["promote", "examples/canary.yaml", "--timeout", "soon", "--kubeconfig", KC],
        ExitCode.BAD_INPUT,
    ),
    "promote/bad-kubeconfig": (
        ["promote", "examples/canary.yaml", "--kubeconfig", BAD_KC],
        ExitCode.BAD_INPUT,
    ),
    "promote/missing-kubeconfig": (
        ["promote", "examples/canary.yaml", "--kubeconfig", "/nonexistent/kubeconfig"],
        ExitCode.BAD_INPUT,
    ),
    "promote/api-unreachable": (
        ["promote", "examples/canary.yaml", "--kubeconfig", KC],
        ExitCode.ERROR,
    ),
    # status, list
    "status/api-unreachable": (["status", "fraud", "--kubeconfig", KC], ExitCode.ERROR),
    "status/bad-kubeconfig": (["status", "fraud", "--kubeconfig", BAD_KC], ExitCode.BAD_INPUT),
    "status/bad-output": (["status", "fraud", "-o", "xml"], ExitCode.BAD_INPUT),
    "list/api-unreachable": (["list", "-A", "--kubeconfig", KC], ExitCode.ERROR),
    "list/bad-kubeconfig": (["list", "--kubeconfig", BAD_KC], ExitCode.BAD_INPUT),
    # intents
    **{
        f"{intent}/api-unreachable": ([intent, "fraud", "--kubeconfig", KC], ExitCode.ERROR)
        for intent in ("abort", "pause", "resume", "rollback", "retry")
    },
    **{
        f"{intent}/missing-name": ([intent], ExitCode.BAD_INPUT)
        for intent in ("abort", "pause", "resume", "rollback", "retry")
    },
    # history, undo
    "history/api-unreachable": (["history", "fraud", "--kubeconfig", KC], ExitCode.ERROR),
    "history/bad-output": (["history", "fraud", "-o", "xml"], ExitCode.BAD_INPUT),
    "undo/api-unreachable": (["undo", "fraud", "--kubeconfig", KC], ExitCode.ERROR),
    "undo/revision-out-of-range": (
        ["undo", "fraud", "--to-revision", "0", "--kubeconfig", KC],
        ExitCode.BAD_INPUT,
    ),
    # admission
    "admission/missing-certificate": (
        ["admission", "--tls-cert-file", "/nonexistent", "--tls-private-key-file", "/nonexistent"],
        ExitCode.BAD_INPUT,
    ),
    "admission/bad-output": (
        ["admission", "-o", "xml", "--tls-cert-file", "x", "--tls-private-key-file", "y"],
        ExitCode.BAD_INPUT,
    ),
    "admission/port-out-of-range": (
        ["admission", "--port", "99999", "--tls-cert-file", "x", "--tls-private-key-file", "y"],
        ExitCode.BAD_INPUT,
    ),
    # report
    "report/missing-file": (["report", "nope.json", "--format", "html"], ExitCode.BAD_INPUT),
    "report/bad-format": (["report", "x", "--format", "pdf"], ExitCode.BAD_INPUT),
    "report/api-unreachable": (["report", "fraud", "--kubeconfig", KC], ExitCode.ERROR),
    # analyze
    "analyze/prometheus-unreachable": ([*ANALYZE, "--prometheus", PROM], ExitCode.ERROR),
    "analyze/latency-prometheus-unreachable": (
        [*ANALYZE[:2], "latency", *ANALYZE[3:], "--prometheus", PROM],
        ExitCode.ERROR,
    ),
    "analyze/alpha-out-of-range": (
        [*ANALYZE, "--prometheus", PROM, "--alpha", "5"],
        ExitCode.BAD_INPUT,
    ),
    "analyze/bad-interval": (
        [*ANALYZE, "--prometheus", PROM, "--interval", "often"],
        ExitCode.BAD_INPUT,
    ),
    "analyze/undeclared-arg": (
        [*ANALYZE, "--prometheus", PROM, "--arg", "nosuch=1"],
        ExitCode.BAD_INPUT,
    ),
    "analyze/missing-template": (
        ["analyze", "-T", "nosuch", "--baseline", "a=b", "--canary", "a=c", "--prometheus", PROM],
        ExitCode.BAD_INPUT,
    ),
    # plan
    "plan/missing-file": (["plan", "nope.yaml", "--rps", "50"], ExitCode.BAD_INPUT),
    "plan/huge-replicas": (
        ["plan", "examples/canary.yaml", "--rps", "50", "--replicas", "100000000"],
        ExitCode.BAD_INPUT,
    ),
    "plan/negative-rps": (["plan", "examples/canary.yaml", "--rps", "-1"], ExitCode.BAD_INPUT),
    "plan/bad-buckets": (
        ["plan", "examples/canary.yaml", "--rps", "5", "--buckets", "x"],
        ExitCode.BAD_INPUT,
    ),
    "plan/one-pod-latency": (
        ["plan", "examples/canary.yaml", "--rps", "5", "--pod-latencies", "0.05"],
        ExitCode.BAD_INPUT,
    ),
    # simulate
    "simulate/negative-seed": (["simulate", "--seed", "-1"], ExitCode.BAD_INPUT),
    "simulate/zero-workers": (["simulate", "--workers", "0"], ExitCode.BAD_INPUT),
    "simulate/unknown-scenario": (["simulate", "--scenario", "nope"], ExitCode.BAD_INPUT),
    "simulate/markdown-dir-missing": (
        ["simulate", "--suite", "standard", "--markdown", "/nonexistent/dir/x.md"],
        ExitCode.BAD_INPUT,
    ),
    "simulate/bad-output": (["simulate", "-o", "xml"], ExitCode.BAD_INPUT),
    # controller
    "controller/port-out-of-range": (
        ["controller", "--health-port", "70000", "--kubeconfig", KC],
        ExitCode.BAD_INPUT,
    ),
    "controller/negative-port": (
        ["controller", "--health-port", "-1", "--kubeconfig", KC],
        ExitCode.BAD_INPUT,
    ),
    "controller/port-in-use": (
        ["controller", "--health-host", "127.0.0.1", "--health-port", BUSY, "--kubeconfig", KC],
        ExitCode.BAD_INPUT,
    ),
    "controller/bad-output": (
        ["controller", "--health-port", "0", "-o", "xml", "--kubeconfig", KC],
        ExitCode.BAD_INPUT,
    ),
    "controller/bad-kubeconfig": (
        ["controller", "--health-port", "0", "--kubeconfig", BAD_KC],
        ExitCode.BAD_INPUT,
    ),
    # verify
    "verify/tag-only-reference": (
        ["verify", "image", "ml/fraud:latest", "--key", "tests/data/cosign/cosign.pub"],
        ExitCode.BAD_INPUT,
    ),
    "verify/garbage-reference": (
        ["verify", "image", "garbage!!", "--key", "tests/data/cosign/cosign.pub"],
        ExitCode.BAD_INPUT,
    ),
    "verify/missing-key-file": (
        ["verify", "image", f"127.0.0.1:{CLOSED}/ml/fraud@{DIGEST}", "--key", "nope.pub"],
        ExitCode.BAD_INPUT,
    ),
    "verify/registry-unreachable": (
        [
            "verify",
            "image",
            f"127.0.0.1:{CLOSED}/ml/fraud@{DIGEST}",
            "--key",
            "tests/data/cosign/cosign.pub",
        ],
        ExitCode.ERROR,
    ),
    "verify/model-missing": (
        ["verify", "model", "nope.bin", "--sha256", "a" * 64],
        ExitCode.BAD_INPUT,
    ),
    "verify/model-bad-sha": (
        ["verify", "model", "README.md", "--sha256", "xyz"],
        ExitCode.BAD_INPUT,
    ),
    # manifests
    "manifests/bad-output": (["manifests", "crd", "-o", "xml"], ExitCode.BAD_INPUT),
    "manifests/report-schema-bad-output": (
        ["manifests", "report-schema", "-o", "xml"],
        ExitCode.BAD_INPUT,
    ),
    "root/unknown-command": (["frobnicate"], ExitCode.BAD_INPUT),
}


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.fixture
def kubeconfigs(tmp_path: Path) -> dict[str, str]:
    closed = tmp_path / "kubeconfig"
    closed.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{CLOSED}'}}}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u, namespace: default}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
    )
    garbage = tmp_path / "garbage"
    garbage.write_text("this is not a kubeconfig\n")
    return {
        KC: str(closed),
        BAD_KC: str(garbage),
        STATE: str(tmp_path / "state"),
        NOT_WRITABLE: str(garbage / "state"),
    }


def _schedule(policy: mlrollout.retry.RetryPolicy) -> list[float]:
    return [min(policy.max_s, policy.initial_s * 2**k) for k in range(policy.attempts - 1)]


SCHEDULES = [
    _schedule(policy)
    for policy in (
        mlrollout.retry.API_READ,
        mlrollout.retry.API_WRITE,
        mlrollout.retry.PROVIDER_RETRY,
        mlrollout.retry.REGISTRY,
    )
]


@pytest.fixture
def backoff(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits the retry policies ask for, in order, recorded instead of slept (every
    policy builds its ``tenacity.Retrying`` in ``mlrollout.retry``; only that module's view
    of tenacity is replaced)."""
    waits: list[float] = []

    def retrying(**kwargs: Any) -> tenacity.Retrying:
        return tenacity.Retrying(**{**kwargs, "sleep": waits.append})

    recording = SimpleNamespace(**{**vars(tenacity), "Retrying": retrying})
    monkeypatch.setattr(mlrollout.retry, "tenacity", recording)
    return waits


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), out, err


@pytest.mark.parametrize("case", sorted(CASES))
def test_exit_code_follows_the_readme_table(
    case: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    kubeconfigs: dict[str, str],
    busy_port: int,
    backoff: list[float],
) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    argv, expected = CASES[case]
    swap = {**kubeconfigs, BUSY: str(busy_port)}
    environment = dict(os.environ)
    code, out, err = _run([swap.get(a, a) for a in argv], capsys)
    assert code == expected, (out, err)
    assert dict(os.environ) == environment, "a command configures itself, not the process"
    assert "Traceback" not in out + err
    assert err.strip(), "a failure says why on stderr"
    if expected == ExitCode.ERROR:
        assert backoff in SCHEDULES, f"gave up after every try of one policy, not {backoff}"
    else:
        assert backoff == [], "refused before any request"


def test_every_command_has_a_failure_case() -> None:
    covered = {case.split("/")[0] for case in CASES}
    assert set(COMMANDS) <= covered


@pytest.mark.parametrize(
    ("argv", "code", "path"),
    [
        (["lint", "nope.yaml", "-o", "json"], 2, None),
        (["promote", "x", "--image", "bad", "-o", "json"], 2, "--image"),
        (["verify", "image", "ml/fraud:latest", "--key", "k.pub", "--output=json"], 2, "REFERENCE"),
    ],
    ids=["lint", "promote", "verify"],
)
def test_json_output_carries_an_error_object_on_failure(
    argv: list[str],
    code: int,
    path: str | None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)
    got, out, _ = _run(argv, capsys)
    assert got == code
    document = json.loads(out)
    if "error" in document:
        assert document["error"]["exitCode"] == code
        assert document["error"]["path"] == path
    else:  # lint reports every problem in its own JSON document
        assert document["errors"]
