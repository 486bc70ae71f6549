"""OpenSSF model signatures (``model-signing``): verify a model directory against its
signature with a trusted key or a keyless identity.

Used by ``mlrollout verify model --signature`` (and through it the init container); the
plain SHA-256 pin stays in ``modeldigest``. The ``model_signing`` library does the work:
it checks the signature (a Sigstore bundle over an in-toto manifest of every file's
digest), re-hashes the model with the recorded settings and compares file by file, so
one changed byte, a missing or an extra file is a mismatch.

Keyless verification hands the library a client trust configuration built from the
operator's ``trusted_root.json`` (the library takes no bare trusted root); it accepts an
exact identity only. Every failure of the library is ``MODEL_SIGNATURE_INVALID``.
"""

from __future__ import annotations

import json
import tempfile
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

from model_signing import verifying

from mlrollout.gates.reasons import Reason
from mlrollout.gates.result import Check, VerificationResult

__all__ = ["TRUST_CONFIG_MEDIA_TYPE", "compute_trust_config", "fetch_model_signature"]

TRUST_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
_SIGNING_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.signingconfig.v0.2+json"


def compute_trust_config(trusted_root: bytes) -> bytes:
    """A client trust configuration holding ``trusted_root`` (verification needs no more)."""
    doc = {
        "mediaType": TRUST_CONFIG_MEDIA_TYPE,
        "trustedRoot": json.loads(trusted_root),
        "signingConfig": {"mediaType": _SIGNING_CONFIG_MEDIA_TYPE},
    }
    return json.dumps(doc).encode()


def _new_config() -> verifying.Config:
    return verifying.Config()  # type: ignore[no-untyped-call]  # untyped __init__ upstream


def _verify(config: verifying.Config, model: Path, signature: Path) -> None:
    with redirect_stdout(StringIO()):  # the library prints format warnings to stdout
        config.verify(model, signature)


def fetch_model_signature(
    model: Path,
    signature: Path,
    *,
    key: Path | None = None,
    identity: tuple[str, str] | None = None,
    trusted_root: bytes | None = None,
) -> VerificationResult:
    """Verify ``model`` against ``signature``: with ``key`` (PEM) or ``identity``
    (certificate identity, OIDC issuer) checked against ``trusted_root``."""
    try:
        if key is not None:
            signer = key.name
            _verify(_new_config().use_elliptic_key_verifier(public_key=key), model, signature)
        else:
            assert identity is not None
            assert trusted_root is not None
            signer = f"{identity[0]} @ {identity[1]}"
            _verify_keyless(model, signature, identity=identity, trusted_root=trusted_root)
    except Exception as exc:  # the library raises ValueError, sigstore and crypto errors
        message = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
        reason = Reason.MODEL_SIGNATURE_INVALID
        check = Check("model-signature", 0, reason, message)
        return VerificationResult.refused(str(model), reason, message, (check,))
    check = Check("model-signature", 0, None, "valid", key=signer)
    return VerificationResult(str(model), None, f"model signed by {signer}", (check,))


def _verify_keyless(
    model: Path, signature: Path, *, identity: tuple[str, str], trusted_root: bytes
) -> None:
    with tempfile.TemporaryDirectory(prefix="mlrollout-trust-") as scratch:
        trust = Path(scratch) / "trust_config.json"
        trust.write_bytes(compute_trust_config(trusted_root))
        config = _new_config().use_sigstore_verifier(
            identity=identity[0], oidc_issuer=identity[1], trust_config=trust
        )
        _verify(config, model, signature)
