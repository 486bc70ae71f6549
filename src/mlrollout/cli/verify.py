"""``mlrollout verify image|model``: the supply-chain gates for CI and init containers.

Top layer: parses options, calls ``gates.verify.fetch_verification`` (the same function
the controller's Verifying phase calls) or ``gates.modeldigest``, renders text or JSON.
Exit codes: 0 verified, 4 refused (``GateError``; with ``--output json|yaml`` the result
is printed and the exit is 4), 2 bad input (``SpecError``: a reference that is not
``repo@sha256:<hex>``, a missing key or policy file), 6 when the registry cannot be reached
(``RegistryUnavailableError``: an outage is not a verdict on the image).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from mlrollout.cli.output import OUTPUT_HELP, OutputFormat, print_document
from mlrollout.controller.gating import compute_gate_policy
from mlrollout.errors import ExitCode, GateError, RegistryUnavailableError, SpecError
from mlrollout.gates.modeldigest import fetch_model_verification
from mlrollout.gates.oci import RegistryClient
from mlrollout.gates.policy_file import load_policy_gates
from mlrollout.gates.reasons import Reason
from mlrollout.gates.registry_auth import Credentials
from mlrollout.gates.result import VerificationResult, describe_refusal
from mlrollout.gates.verify import decide_image_reference, fetch_verification
from mlrollout.model import Sha256

__all__ = ["register"]


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
    policy: Path | None = typer.Option(
        None, "--policy", help="Gate policy YAML: the schema of a rollout's spec.gates."
    ),
    plain_http: bool = typer.Option(
        False, "--plain-http", help="Allow plain HTTP to a non-loopback registry."
    ),
    username: str | None = typer.Option(None, envvar="MLROLLOUT_REGISTRY_USERNAME"),
    password: str | None = typer.Option(None, envvar="MLROLLOUT_REGISTRY_PASSWORD"),
    output: OutputFormat = typer.Option(OutputFormat.TEXT, "--output", "-o", help=OUTPUT_HELP),
) -> None:
    """Verify an image's cosign signature (and attestations the policy requires)."""
    try:
        image = decide_image_reference(reference)
    except GateError as exc:
        # Not a pinned reference at all: bad input, refused before any network call.
        raise SpecError(describe_refusal(exc), path="REFERENCE") from None
    gate_policy = compute_gate_policy(load_policy_gates(policy, key_paths=key))
    assert gate_policy is not None  # load_policy_gates always sets a signature gate
    credentials = Credentials(username, password or "") if username else None
    with RegistryClient(image.registry, credentials=credentials, plain_http=plain_http) as client:
        result = fetch_verification(image, gate_policy, client=client, now=datetime.now(UTC))
    if result.reason is Reason.REGISTRY_UNAVAILABLE:
        raise RegistryUnavailableError(f"registry {image.registry}: {result.message}")
    _emit(result, output)


@verify_app.command("model")
def model_command(
    path: Path = typer.Argument(..., help="Model file, or directory with a SHA256SUMS file."),
    sha256: str = typer.Option(..., "--sha256", help="Expected digest (of SHA256SUMS for a dir)."),
    output: OutputFormat = typer.Option(OutputFormat.TEXT, "--output", "-o", help=OUTPUT_HELP),
) -> None:
    """Verify a model artifact's SHA-256 (streamed; symlinks and traversal refused)."""
    try:
        expected = Sha256.parse(sha256.lower())
    except ValueError as exc:
        raise SpecError(str(exc), path="--sha256") from exc
    if not path.exists() and not path.is_symlink():
        raise SpecError("does not exist", source=str(path))
    _emit(fetch_model_verification(path, expected), output, subject="path")


def _emit(result: VerificationResult, output: OutputFormat, *, subject: str = "image") -> None:
    if output.machine:
        document: dict[str, Any] = result.to_dict()
        document[subject] = document.pop("image")
        print_document(document, output)
        if not result.verified:
            raise typer.Exit(ExitCode.REFUSED)
        return
    for check in result.checks:
        status = "ok" if check.passed else (check.reason.value if check.reason else "")
        typer.echo(f"  {check.kind} #{check.index}: {status}: {check.message}")
    if result.verified:
        typer.echo(f"verified: {result.image}: {result.message}")
    result.raise_if_refused()
