"""``mlrollout verify model --signature``: models signed with the real ``model-signing``
library (an EC key generated here) verify; one changed byte, a missing or extra file, or
the wrong key is refused with MODEL_SIGNATURE_INVALID (exit 4); bad input exits 2.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from model_signing import signing

from mlrollout.cli.app import main
from mlrollout.gates.modelsig import compute_trust_config


def _keypair(directory: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    private = directory / f"{name}.key"
    public = directory / f"{name}.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


@pytest.fixture
def signed_model(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    """(model dir, signature, trusted public key, another public key)."""
    model = tmp_path / "model"
    (model / "tokenizer").mkdir(parents=True)
    (model / "weights.safetensors").write_bytes(bytes(range(256)) * 64)
    (model / "config.json").write_text('{"layers": 4}')
    (model / "tokenizer" / "vocab.txt").write_text("a\nb\nc\n")
    keys = tmp_path / "keys"
    keys.mkdir()
    private, public = _keypair(keys, "signer")
    _, other = _keypair(keys, "other")
    signature = tmp_path / "model.sig"
    config = signing.Config().use_elliptic_key_signer(private_key=private)  # type: ignore[no-untyped-call]
    config.sign(model, signature)
    return model, signature, public, other


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    with pytest.raises(SystemExit) as exited:
        main(["verify", "model", *args])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    code = exited.value.code
    assert isinstance(code, int)
    return code, (json.loads(out.out) if out.out.startswith("{") else {})


def _tamper(model: Path, case: str) -> None:
    weights = model / "weights.safetensors"
    if case == "changed-byte":
        data = bytearray(weights.read_bytes())
        data[1000] ^= 0x01
        weights.write_bytes(bytes(data))
    elif case == "missing-file":
        (model / "tokenizer" / "vocab.txt").unlink()
    elif case == "extra-file":
        (model / "backdoor.py").write_text("import os\n")


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("intact", 0),
        ("changed-byte", 4),
        ("missing-file", 4),
        ("extra-file", 4),
        ("wrong-key", 4),
    ],
    ids=lambda v: str(v),
)
def test_model_signature_verdicts(
    case: str,
    expected: int,
    signed_model: tuple[Path, Path, Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    model, signature, public, other = signed_model
    _tamper(model, case)
    key = other if case == "wrong-key" else public
    code, verdict = _run(
        [str(model), "--signature", str(signature), "--key", str(key), "-o", "json"], capsys
    )
    assert code == expected
    assert verdict["reason"] == (None if expected == 0 else "MODEL_SIGNATURE_INVALID")


def test_signature_and_sha256_pin_together(
    signed_model: tuple[Path, Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    model, signature, public, _ = signed_model
    weights = model / "weights.safetensors"
    pin = hashlib.sha256(weights.read_bytes()).hexdigest()
    args = [str(weights), "--sha256", pin, "--signature", str(signature), "--key", str(public)]
    code, verdict = _run([*args, "-o", "json"], capsys)
    # the signature covers the directory, not a single file: refused, not crashed
    assert (code, verdict["reason"]) == (4, "MODEL_SIGNATURE_INVALID")


def test_a_key_signature_is_not_a_keyless_one(
    signed_model: tuple[Path, Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, signature, _, _ = signed_model
    root = (
        Path(__file__).parent.parent
        / "data"
        / "sigstore-conformance"
        / "public-good-trusted_root.json"
    )
    args = [str(model), "--signature", str(signature), "--trusted-root", str(root)]
    args += [
        "--certificate-identity",
        "ci@example.com",
        "--certificate-oidc-issuer",
        "https://issuer.test",
    ]
    code, verdict = _run([*args, "-o", "json"], capsys)
    assert (code, verdict["reason"]) == (4, "MODEL_SIGNATURE_INVALID")


def test_trust_config_wraps_the_trusted_root() -> None:
    root = (
        Path(__file__).parent.parent
        / "data"
        / "sigstore-conformance"
        / "public-good-trusted_root.json"
    )
    doc = json.loads(compute_trust_config(root.read_bytes()))
    assert doc["trustedRoot"] == json.loads(root.read_bytes())


@pytest.mark.parametrize(
    "case",
    [
        "no-check",
        "missing-signature",
        "no-key",
        "key-and-identity",
        "keyless-no-root",
        "keyless-no-issuer",
    ],
)
def test_bad_input_exits_2(
    case: str, signed_model: tuple[Path, Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    model, signature, public, _ = signed_model
    sig = ["--signature", str(signature)]
    who = ["--certificate-identity", "ci@example.com"]
    args = {
        "no-check": [],
        "missing-signature": ["--signature", str(model / "nope.sig"), "--key", str(public)],
        "no-key": sig,
        "key-and-identity": [*sig, "--key", str(public), *who],
        "keyless-no-root": [*sig, *who, "--certificate-oidc-issuer", "https://issuer.test"],
        "keyless-no-issuer": [*sig, *who, "--trusted-root", str(public)],
    }[case]
    code, _ = _run([str(model), *args], capsys)
    assert code == 2


@pytest.mark.parametrize("tampered", [False, True], ids=["intact", "changed-byte"])
def test_init_container_form_reads_the_controllers_environment(
    signed_model: tuple[Path, Path, Path, Path],
    tampered: bool,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``mlrollout verify model DIR`` with only the variables the controller writes."""
    model, signature, public, _ = signed_model
    monkeypatch.setenv("MLROLLOUT_MODEL_SIGNATURE", str(signature))
    monkeypatch.setenv("MLROLLOUT_MODEL_SIGNATURE_KEY", str(public))
    if tampered:
        _tamper(model, "changed-byte")
    code, report = _run([str(model), "-o", "json"], capsys)
    assert code == (4 if tampered else 0)
    assert report["reason"] == ("MODEL_SIGNATURE_INVALID" if tampered else None)
