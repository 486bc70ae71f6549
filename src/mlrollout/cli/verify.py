"""``mlrollout verify image|model``: the supply-chain gates for CI and init containers.

Top layer: parses options, calls ``gates.verify.fetch_verification`` (the same function
the controller's Verifying phase calls) or ``gates.modeldigest``, renders text or JSON.
Exit codes: 0 verified, 4 refused (``GateError``; with ``--output json`` the JSON result
is printed and the exit is 4), 2 bad input (``SpecError``).
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import typer

from mlrollout.errors import ExitCode, GateError, SpecError
from mlrollout.gates.modeldigest import fetch_model_verification
from mlrollout.gates.oci import RegistryClient
from mlrollout.gates.policy_file import load_gate_policy
from mlrollout.gates.reasons import Reason
from mlrollout.gates.registry_auth import Credentials
from mlrollout.gates.result import VerificationResult, describe_refusal
from mlrollout.gates.verify import decide_image_reference, fetch_verification
from mlrollout.model import Sha256
from mlrollout.redaction import register_secret
from mlrollout.spec.yamlfile import read_regular_file

__all__ = ["fetch_password", "register"]

PASSWORD_ENV = "MLROLLOUT_REGISTRY_PASSWORD"


class Output(StrEnum):
    """Rendering of a verification result."""

    text = "text"
    json = "json"


verify_app = typer.Typer(
    help="Verify a release (image signatures, attestations, model digests) before it runs.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the ``verify`` command group to ``app``."""
    app.add_typer(verify_app, name="verify")


@verify_app.command("image")
def image_command(
    reference: str = typer.Argument(..., help="The image, pinned: registry/repo@sha256:<hex>."),
    key: list[Path] = typer.Option([], "--key", help="Trusted cosign.pub (repeatable)."),
    policy: Path | None = typer.Option(None, "--policy", help="Gate policy YAML file."),
    plain_http: bool = typer.Option(
        False, "--plain-http", help="Allow plain HTTP to a non-loopback registry."
    ),
    username: str | None = typer.Option(None, envvar="MLROLLOUT_REGISTRY_USERNAME"),
    password_file: str | None = typer.Option(
        None,
        "--password-file",
        help=f"File holding the registry password ('-': stdin); else ${PASSWORD_ENV}.",
    ),
    output: Output = typer.Option(Output.text, "--output", help="text or json."),
) -> None:
    """Verify an image's cosign signature (and attestations the policy requires)."""
    try:
        image = decide_image_reference(reference)
    except GateError as exc:
        _emit(
            VerificationResult.refused(reference, Reason(exc.reason_code), describe_refusal(exc)),
            output,
        )
        return
    gate_policy = load_gate_policy(policy, key_paths=key)
    password = fetch_password(password_file)
    credentials = Credentials(username, password or "") if username else None
    with RegistryClient(image.registry, credentials=credentials, plain_http=plain_http) as client:
        result = fetch_verification(image, gate_policy, client=client, now=datetime.now(UTC))
    _emit(result, output)


def fetch_password(source: str | None) -> str | None:
    """The registry password from a file, stdin (``-``) or the environment — never from a
    command-line argument, which other users of the machine can read in the process list."""
    if source == "-":
        value: str | None = sys.stdin.readline().strip()
    elif source is not None:
        raw = read_regular_file(source, limit=64 * 1024)
        try:
            value = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise SpecError("the password file is not UTF-8", source=source) from None
    else:
        value = os.environ.get(PASSWORD_ENV)
    register_secret(value)
    return value


@verify_app.command("model")
def model_command(
    path: Path = typer.Argument(..., help="Model file, or directory with a SHA256SUMS file."),
    sha256: str = typer.Option(..., "--sha256", help="Expected digest (of SHA256SUMS for a dir)."),
    output: Output = typer.Option(Output.text, "--output", help="text or json."),
) -> None:
    """Verify a model artifact's SHA-256 (streamed; symlinks and traversal refused)."""
    try:
        expected = Sha256.parse(sha256.lower())
    except ValueError as exc:
        raise SpecError(str(exc), path="--sha256") from exc
    if not path.exists() and not path.is_symlink():
        raise SpecError("does not exist", source=str(path))
    _emit(fetch_model_verification(path, expected), output)


def _emit(result: VerificationResult, output: Output) -> None:
    if output is Output.json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        if not result.verified:
            raise typer.Exit(ExitCode.REFUSED)
        return
    for check in result.checks:
        status = "ok" if check.passed else (check.reason.value if check.reason else "")
        typer.echo(f"  {check.kind} #{check.index}: {status}: {check.message}")
    if result.verified:
        typer.echo(f"verified: {result.image}: {result.message}")
    result.raise_if_refused()
