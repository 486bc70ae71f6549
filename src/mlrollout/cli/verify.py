"""``mlrollout verify image|blob|model``: the supply-chain gates for CI and init containers.

Top layer: parses options, calls ``gates.verify.fetch_verification`` (the same function
the controller's Verifying phase calls), ``gates.bundle.assess_blob`` (Sigstore bundles,
like ``cosign verify-blob --bundle``), ``gates.modeldigest`` or ``gates.modelsig``
(model-signing signatures), renders text or JSON.
Exit codes: 0 verified, 4 refused (``GateError``; with ``--output json`` the JSON result
is printed and the exit is 4), 2 bad input (``SpecError``).
"""

from __future__ import annotations

import hashlib
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import typer

from mlrollout.cli.output import OUTPUT, OutputFormat, print_document
from mlrollout.errors import ExitCode, GateError, RegistryUnavailableError, SpecError
from mlrollout.gates.bundle import assess_blob
from mlrollout.gates.modeldigest import fetch_model_verification
from mlrollout.gates.modelsig import fetch_model_signature
from mlrollout.gates.oci import RegistryClient
from mlrollout.gates.policy import KeylessIdentity, SignaturePolicy, TrustedKey
from mlrollout.gates.policy_file import load_gate_policy
from mlrollout.gates.reasons import Reason
from mlrollout.gates.registry_auth import Credentials
from mlrollout.gates.result import VerificationResult, describe_refusal
from mlrollout.gates.verify import decide_image_reference, fetch_verification
from mlrollout.model import Sha256
from mlrollout.redaction import register_secret
from mlrollout.spec.environment import EnvironmentSettings
from mlrollout.spec.yamlfile import read_regular_file

__all__ = ["fetch_password", "register"]

PASSWORD_ENV = "MLROLLOUT_REGISTRY_PASSWORD"


verify_app = typer.Typer(
    help="Verify a release (image signatures, attestations, model digests) before it runs.",
    no_args_is_help=True,
)


_KEYLESS_HELP = {
    "--certificate-identity": "Keyless: the certificate identity, exactly.",
    "--certificate-identity-regexp": "Keyless: a regexp the identity matches.",
    "--certificate-oidc-issuer": "Keyless: the OIDC issuer, exactly.",
    "--trusted-root": "trusted_root.json (Fulcio CAs, Rekor and CT log keys, TSAs): for "
    "keyless signatures and log entries.",
}

INSECURE_IGNORE_TLOG = typer.Option(
    False, "--insecure-ignore-tlog", help="With --key: accept a bundle with no log entry."
)


def _keyless(flag: str, *, envvar: str | None = None) -> Any:
    """One keyless flag of ``verify image|blob|model``: same name and help in each."""
    return typer.Option(None, flag, envvar=envvar, help=_KEYLESS_HELP[flag])


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
    identity: str | None = _keyless("--certificate-identity"),
    identity_regexp: str | None = _keyless("--certificate-identity-regexp"),
    issuer: str | None = _keyless("--certificate-oidc-issuer"),
    trusted_root: Path | None = _keyless("--trusted-root"),
    insecure_ignore_tlog: bool = INSECURE_IGNORE_TLOG,
    output: OutputFormat = OUTPUT,
) -> None:
    """Verify an image's cosign signatures -- legacy .sig and Sigstore bundles found as
    OCI referrers -- and the attestations the policy requires."""
    try:
        image = decide_image_reference(reference)
    except GateError as exc:
        # Not a pinned reference at all: bad input, refused before any network call.
        raise SpecError(describe_refusal(exc), path="REFERENCE") from None
    flags = KeylessIdentityOptions(identity, identity_regexp, issuer)
    gate_policy = load_gate_policy(
        policy,
        key_paths=key,
        identities=_identities(flags),
        trusted_root=trusted_root,
        require_tlog=False if insecure_ignore_tlog else None,
    )
    password = fetch_password(password_file)
    credentials = Credentials(username, password or "") if username else None
    with RegistryClient(image.registry, credentials=credentials, plain_http=plain_http) as client:
        result = fetch_verification(image, gate_policy, client=client, now=datetime.now(UTC))
    if result.reason is Reason.REGISTRY_UNAVAILABLE:  # an outage is not a verdict on the image
        raise RegistryUnavailableError(f"registry {image.registry}: {result.message}")
    _emit(result, output)


@verify_app.command("blob")
def blob_command(
    artifact: Path = typer.Argument(..., help="The signed file."),
    bundle: Path = typer.Option(..., "--bundle", help="Its Sigstore bundle (v0.1-v0.3)."),
    key: Path | None = typer.Option(None, "--key", help="Trusted public key (PEM, P-256)."),
    identity: str | None = _keyless("--certificate-identity"),
    identity_regexp: str | None = _keyless("--certificate-identity-regexp"),
    issuer: str | None = _keyless("--certificate-oidc-issuer"),
    trusted_root: Path | None = _keyless("--trusted-root"),
    insecure_ignore_tlog: bool = INSECURE_IGNORE_TLOG,
    output: OutputFormat = OUTPUT,
) -> None:
    """Verify a file against its Sigstore bundle (like ``cosign verify-blob --bundle``)."""
    policy = _blob_policy(
        key=key,
        identity=KeylessIdentityOptions(identity, identity_regexp, issuer),
        trusted_root=_read(trusted_root, "--trusted-root") if trusted_root else None,
        require_tlog=not insecure_ignore_tlog,
    )
    bundle_bytes = _read(bundle, "--bundle")
    digest = _hash(artifact)
    result = assess_blob(
        str(artifact), digest=digest, bundle=bundle_bytes, policy=policy, now=datetime.now(UTC)
    )
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
        secret = EnvironmentSettings.from_environment().registry_password
        value = secret.get_secret_value() if secret is not None else None
    register_secret(value)
    return value


@verify_app.command("model")
def model_command(
    path: Path = typer.Argument(..., help="Model file, or directory with a SHA256SUMS file."),
    sha256: str | None = typer.Option(
        None,
        "--sha256",
        envvar="MLROLLOUT_MODEL_SHA256",
        help="Expected digest (of SHA256SUMS for a dir).",
    ),
    signature: Path | None = typer.Option(
        None,
        "--signature",
        envvar="MLROLLOUT_MODEL_SIGNATURE",
        help="OpenSSF model signature (model-signing) of the directory.",
    ),
    key: Path | None = typer.Option(
        None,
        "--key",
        envvar="MLROLLOUT_MODEL_SIGNATURE_KEY",
        help="With --signature: trusted public key.",
    ),
    identity: str | None = _keyless(
        "--certificate-identity", envvar="MLROLLOUT_MODEL_SIGNATURE_IDENTITY"
    ),
    issuer: str | None = _keyless(
        "--certificate-oidc-issuer", envvar="MLROLLOUT_MODEL_SIGNATURE_ISSUER"
    ),
    trusted_root: Path | None = _keyless("--trusted-root", envvar="MLROLLOUT_MODEL_TRUSTED_ROOT"),
    output: OutputFormat = OUTPUT,
) -> None:
    """Verify a model: its SHA-256 pin (streamed; symlinks and traversal refused) and/or
    its model-signing signature (every file re-hashed and compared)."""
    if sha256 is None and signature is None:
        raise SpecError("give --sha256, --signature, or both")
    if not path.exists() and not path.is_symlink():
        raise SpecError("does not exist", source=str(path))
    result = VerificationResult(str(path), None, "no check requested")
    if sha256 is not None:
        try:
            expected = Sha256.parse(sha256.lower())
        except ValueError as exc:
            raise SpecError(str(exc), path="--sha256") from exc
        result = fetch_model_verification(path, expected)
    if signature is not None and result.verified:
        signed = _model_signature(
            path, signature, key=key, identity=(identity, issuer), trusted_root=trusted_root
        )
        result = signed if sha256 is None else result.combine(signed)
    _emit(result, output, subject="path")


def _model_signature(
    path: Path,
    signature: Path,
    *,
    key: Path | None,
    identity: tuple[str | None, str | None],
    trusted_root: Path | None,
) -> VerificationResult:
    if not signature.is_file():
        raise SpecError("model signature does not exist", source=str(signature))
    keyless = identity != (None, None)
    if (key is None) == (not keyless):
        raise SpecError("--signature needs --key or --certificate-identity with an issuer")
    if key is not None:
        _read(key, "--key")
        return fetch_model_signature(path, signature, key=key)
    name, oidc_issuer = identity
    if name is None or oidc_issuer is None:
        raise SpecError("keyless model verification needs both identity and issuer flags")
    if trusted_root is None:
        raise SpecError("keyless model verification needs --trusted-root (trusted_root.json)")
    root = _read(trusted_root, "--trusted-root")
    return fetch_model_signature(path, signature, identity=(name, oidc_issuer), trusted_root=root)


class KeylessIdentityOptions(NamedTuple):
    """The keyless flags as given: identity, identity regexp, issuer."""

    identity: str | None
    regexp: str | None
    issuer: str | None


def _blob_policy(
    *,
    key: Path | None,
    identity: KeylessIdentityOptions,
    trusted_root: bytes | None,
    require_tlog: bool,
) -> SignaturePolicy:
    keyless = any(v is not None for v in identity)
    if (key is None) == (not keyless):
        raise SpecError(
            "give either --key or --certificate-identity[-regexp] with --certificate-oidc-issuer"
        )
    if key is not None:
        try:
            trusted = TrustedKey.from_pem(_read(key, "--key"), name=key.name)
        except ValueError as exc:
            raise SpecError(f"cannot load public key: {exc}", source=str(key)) from exc
        return SignaturePolicy(
            keys=(trusted,), trusted_root=trusted_root, require_tlog=require_tlog
        )
    if trusted_root is None:
        raise SpecError("keyless verification needs --trusted-root (trusted_root.json)")
    return SignaturePolicy(keys=(), identities=_identities(identity), trusted_root=trusted_root)


def _identities(flags: KeylessIdentityOptions) -> tuple[KeylessIdentity, ...]:
    """The keyless identity the flags name (none when no keyless flag is given)."""
    if all(v is None for v in flags):
        return ()
    if flags.issuer is None:
        raise SpecError("keyless verification needs --certificate-oidc-issuer")
    try:
        return (KeylessIdentity(flags.issuer, flags.identity, flags.regexp),)
    except ValueError as exc:
        raise SpecError(str(exc), path="--certificate-identity") from exc


def _read(path: Path, option: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SpecError(f"cannot read {option}: {exc.strerror}", source=str(path)) from exc


def _hash(path: Path) -> Sha256:
    try:
        with path.open("rb") as handle:
            return Sha256(hashlib.file_digest(handle, "sha256").hexdigest())
    except OSError as exc:
        raise SpecError(f"cannot read the artifact: {exc.strerror}", source=str(path)) from exc


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
