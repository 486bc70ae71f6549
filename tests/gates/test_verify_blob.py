"""``mlrollout verify blob``: keyless identity rules, key-signed bundles, bad input."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from mlrollout.cli.app import main

from .bundles import dsse_bundle, message_bundle, statement
from .signer import CosignTestSigner

SUITE = Path(__file__).parent.parent / "data" / "sigstore-conformance"
HAPPY = SUITE / "happy-path-v0.3" / "bundle.sigstore.json"
ROOT = SUITE / "public-good-trusted_root.json"
IDENTITY = (
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
    ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
)
ISSUER = "https://token.actions.githubusercontent.com"
SIGNER = CosignTestSigner("ci")
OTHER = CosignTestSigner("other")


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    with pytest.raises(SystemExit) as exited:
        main(["verify", "blob", *args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    code = exited.value.code
    assert isinstance(code, int)
    return code, (json.loads(captured.out) if captured.out.startswith("{") else {})


def _keyless(*extra: str) -> list[str]:
    return [str(SUITE / "a.txt"), "--bundle", str(HAPPY), "--trusted-root", str(ROOT), *extra]


@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        (["--certificate-identity", IDENTITY, "--certificate-oidc-issuer", ISSUER], None),
        (
            [
                "--certificate-identity-regexp",
                r"https://github\.com/sigstore-conformance/.*@refs/heads/main",
                "--certificate-oidc-issuer",
                ISSUER,
            ],
            None,
        ),
        (
            ["--certificate-identity", IDENTITY + "x", "--certificate-oidc-issuer", ISSUER],
            "CERT_IDENTITY_MISMATCH",
        ),
        (
            # anchored: a regexp matching only part of the identity is not enough
            [
                "--certificate-identity-regexp",
                "sigstore-conformance",
                "--certificate-oidc-issuer",
                ISSUER,
            ],
            "CERT_IDENTITY_MISMATCH",
        ),
        (
            [
                "--certificate-identity",
                IDENTITY,
                "--certificate-oidc-issuer",
                "https://accounts.google.com",
            ],
            "CERT_ISSUER_MISMATCH",
        ),
    ],
    ids=["exact", "regexp", "wrong-identity", "regexp-unanchored-part", "wrong-issuer"],
)
def test_keyless_identity_rules(
    flags: list[str], reason: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, verdict = _run([*_keyless(*flags), "-o", "json"], capsys)
    assert code == (0 if reason is None else 4)
    assert verdict["reason"] == reason


def test_keyless_bundle_without_log_evidence_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads(HAPPY.read_text())
    doc["verificationMaterial"]["tlogEntries"] = []
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(doc))
    args = [str(SUITE / "a.txt"), "--bundle", str(bundle), "--trusted-root", str(ROOT)]
    flags = ["--certificate-identity", IDENTITY, "--certificate-oidc-issuer", ISSUER, "-o", "json"]
    code, verdict = _run([*args, *flags], capsys)
    assert (code, verdict["reason"]) == (4, "NO_LOG_EVIDENCE")


def _write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("valid", None),
        ("wrong-key", "UNTRUSTED_KEY"),
        ("changed-artifact", "ARTIFACT_MISMATCH"),
        ("no-tlog-required", "NO_LOG_EVIDENCE"),
        ("dsse-valid", None),
        ("dsse-other-subject", "SUBJECT_MISMATCH"),
        ("dsse-not-in-toto", "ATTESTATION_INVALID"),
    ],
    ids=lambda v: str(v),
)
def test_key_signed_bundles(
    case: str, reason: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    artifact = b"model weights\n"
    digest = hashlib.sha256(artifact).hexdigest()
    bundle = {
        "valid": message_bundle(SIGNER, artifact),
        "wrong-key": message_bundle(OTHER, artifact),
        "changed-artifact": message_bundle(SIGNER, artifact + b"!"),
        "no-tlog-required": message_bundle(SIGNER, artifact),
        "dsse-valid": dsse_bundle(SIGNER, statement(digest, "https://example.com/p", {})),
        "dsse-other-subject": dsse_bundle(SIGNER, statement("0" * 64, "https://example.com/p", {})),
        "dsse-not-in-toto": dsse_bundle(SIGNER, b"hello", payload_type="text/plain"),
    }[case]
    args = [
        _write(tmp_path, "artifact", artifact),
        "--bundle",
        _write(tmp_path, "bundle.json", bundle),
        "--key",
        _write(tmp_path, "cosign.pub", SIGNER.public_pem),
        "-o",
        "json",
    ]
    if case != "no-tlog-required":
        args.append("--insecure-ignore-tlog")
    code, verdict = _run(args, capsys)
    assert code == (0 if reason is None else 4)
    assert verdict["reason"] == reason


def test_conformance_managed_key_with_the_wrong_key_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = SUITE / "managed-key-and-trusted-root"
    args = [str(SUITE / "a.txt"), "--bundle", str(case / "bundle.sigstore.json")]
    args += ["--trusted-root", str(case / "trusted_root.json")]
    args += ["--key", _write(tmp_path, "other.pub", OTHER.public_pem), "-o", "json"]
    code, verdict = _run(args, capsys)
    assert (code, verdict["reason"]) == (4, "UNTRUSTED_KEY")


def test_conformance_managed_key_needs_the_trusted_root_for_its_log_entry(
    capsys: pytest.CaptureFixture[str],
) -> None:
    case = SUITE / "managed-key-and-trusted-root"
    args = [str(SUITE / "a.txt"), "--bundle", str(case / "bundle.sigstore.json")]
    code, verdict = _run([*args, "--key", str(case / "key.pub"), "-o", "json"], capsys)
    assert (code, verdict["reason"]) == (4, "TRUST_ROOT_INVALID")


@pytest.mark.parametrize(
    "args",
    [
        [
            str(SUITE / "a.txt"),
            "--bundle",
            "/nonexistent/bundle.json",
            "--key",
            str(SUITE / "managed-key-and-trusted-root" / "key.pub"),
        ],
        [
            str(SUITE / "missing.txt"),
            "--bundle",
            str(HAPPY),
            "--key",
            str(SUITE / "managed-key-and-trusted-root" / "key.pub"),
        ],
        _keyless(
            "--key",
            str(SUITE / "managed-key-and-trusted-root" / "key.pub"),
            "--certificate-identity",
            IDENTITY,
            "--certificate-oidc-issuer",
            ISSUER,
        ),
        _keyless("--certificate-identity", IDENTITY),
        _keyless(
            "--certificate-identity",
            IDENTITY,
            "--certificate-identity-regexp",
            ".*",
            "--certificate-oidc-issuer",
            ISSUER,
        ),
        _keyless("--certificate-identity-regexp", "(", "--certificate-oidc-issuer", ISSUER),
        [
            str(SUITE / "a.txt"),
            "--bundle",
            str(HAPPY),
            "--certificate-identity",
            IDENTITY,
            "--certificate-oidc-issuer",
            ISSUER,
        ],
        [str(SUITE / "a.txt"), "--bundle", str(HAPPY)],
        [str(SUITE / "a.txt"), "--bundle", str(HAPPY), "--key", str(HAPPY)],
    ],
    ids=[
        "missing-bundle",
        "missing-artifact",
        "key-and-identity",
        "no-issuer",
        "identity-and-regexp",
        "bad-regexp",
        "keyless-without-trusted-root",
        "neither-key-nor-identity",
        "key-not-pem",
    ],
)
def test_bad_input_exits_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = _run(args, capsys)
    assert code == 2


def test_insecure_ignore_tlog_skips_a_log_entry_it_cannot_check(
    capsys: pytest.CaptureFixture[str],
) -> None:
    case = SUITE / "managed-key-and-trusted-root"
    args = [str(SUITE / "a.txt"), "--bundle", str(case / "bundle.sigstore.json")]
    args += ["--key", str(case / "key.pub"), "--insecure-ignore-tlog", "-o", "json"]
    code, verdict = _run(args, capsys)
    assert (code, verdict["verified"]) == (0, True)
