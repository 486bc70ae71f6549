"""``mlrollout verify image|model`` through ``register`` on a fresh typer app."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from mlrollout.cli.verify import register
from mlrollout.errors import GateError, SpecError
from mlrollout.gates import oci
from mlrollout.model import ImageRef

from .bundles import COSIGN_SIGN_PREDICATE, dsse_bundle, push_bundle, statement
from .fake_registry import FakeRegistry
from .publish import push_image, push_signature
from .signer import CosignTestSigner
from .vectors import VECTORS

HOST = "registry.test"
SIGNER = CosignTestSigner("ci")
RUNNER = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Root."""

    register(app)
    return app


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> FakeRegistry:
    fake = FakeRegistry()
    original = oci.RegistryClient.__init__

    def patched(self: oci.RegistryClient, registry: str, **kwargs: object) -> None:
        kwargs["transport"] = fake.transport
        kwargs["sleep"] = lambda _: None
        original(self, registry, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(oci.RegistryClient, "__init__", patched)
    return fake


def _key_file(tmp_path: Path) -> Path:
    path = tmp_path / "cosign.pub"
    path.write_bytes(SIGNER.public_pem)
    return path


def test_help_for_each_command() -> None:
    for args in (
        ["verify", "--help"],
        ["verify", "image", "--help"],
        ["verify", "model", "--help"],
    ):
        result = RUNNER.invoke(_app(), args)
        assert result.exit_code == 0
        assert "Usage" in result.output


def test_verified_image_exits_0_with_json(registry: FakeRegistry, tmp_path: Path) -> None:
    digest = push_image(registry, "ml/fraud", b"x")
    ref = f"{HOST}/ml/fraud@{digest}"
    push_signature(registry, ImageRef.parse(ref), SIGNER)
    args = ["verify", "image", ref, "--key", str(_key_file(tmp_path)), "--output", "json"]
    result = RUNNER.invoke(_app(), args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["verified"] is True


def test_unsigned_image_exits_4_with_reason_in_json(registry: FakeRegistry, tmp_path: Path) -> None:
    digest = push_image(registry, "ml/fraud", b"x")
    ref = f"{HOST}/ml/fraud@{digest}"
    args = ["verify", "image", ref, "--key", str(_key_file(tmp_path)), "--output", "json"]
    result = RUNNER.invoke(_app(), args)
    assert result.exit_code == 4
    assert json.loads(result.output)["reason"] == "UNSIGNED"


def test_refusal_in_text_mode_raises_gate_error(registry: FakeRegistry, tmp_path: Path) -> None:
    digest = push_image(registry, "ml/fraud", b"x")
    result = RUNNER.invoke(
        _app(), ["verify", "image", f"{HOST}/ml/fraud@{digest}", "--key", str(_key_file(tmp_path))]
    )
    assert isinstance(result.exception, GateError)
    assert result.exception.reason_code == "UNSIGNED"
    assert result.exception.exit_code == 4


def test_tag_only_reference_is_refused(tmp_path: Path) -> None:
    args = [
        "verify",
        "image",
        f"{HOST}/ml/fraud:latest",
        "--key",
        str(_key_file(tmp_path)),
        "--output",
        "json",
    ]
    result = RUNNER.invoke(_app(), args)
    # Not a pinned reference: bad input (exit 2), refused before any network call.
    assert isinstance(result.exception, SpecError), result.output
    assert result.exception.path == "REFERENCE"
    assert "not pinned by digest" in str(result.exception)


@pytest.mark.parametrize(
    "args",
    [
        ["verify", "image", f"{HOST}/ml/fraud@sha256:short", "--key", "KEY"],
        ["verify", "image", f"{HOST}/ml/fraud@sha256:" + "a" * 64, "--key", "MISSING"],
        ["verify", "image", f"{HOST}/ml/fraud@sha256:" + "a" * 64],
        [
            "verify",
            "image",
            f"{HOST}/ml/fraud@sha256:" + "a" * 64,
            "--key",
            "KEY",
            "--policy",
            "POLICY",
        ],
        ["verify", "model", "MISSING", "--sha256", "a" * 64],
        ["verify", "model", "KEY", "--sha256", "nothex"],
    ],
    ids=["bad-digest", "missing-key", "no-key", "bad-policy", "missing-model", "bad-sha256"],
)
def test_bad_input_is_a_spec_error(args: list[str], tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("signature:\n  threshold: 0\n")
    swap = {
        "KEY": str(_key_file(tmp_path)),
        "MISSING": str(tmp_path / "nope"),
        "POLICY": str(policy),
    }
    result = RUNNER.invoke(_app(), [swap.get(a, a) for a in args])
    assert isinstance(result.exception, SpecError), result.output
    assert result.exception.exit_code == 2


def test_policy_file_keys_and_required_annotation(registry: FakeRegistry, tmp_path: Path) -> None:
    _key_file(tmp_path)
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "signature:\n  keys: [{path: cosign.pub, name: ci}]\n"
        "  requiredAnnotations: {model_sha256: '" + "c" * 64 + "'}\n"
    )
    digest = push_image(registry, "ml/fraud", b"x")
    ref = f"{HOST}/ml/fraud@{digest}"
    push_signature(registry, ImageRef.parse(ref), SIGNER, optional={"model_sha256": "d" * 64})
    result = RUNNER.invoke(
        _app(), ["verify", "image", ref, "--policy", str(policy), "--output", "json"]
    )
    assert result.exit_code == 4
    assert json.loads(result.output)["reason"] == "POLICY_ANNOTATION"


def test_verify_model_file() -> None:
    path = VECTORS / "cosign.pub"
    good = hashlib.sha256(path.read_bytes()).hexdigest()
    assert RUNNER.invoke(_app(), ["verify", "model", str(path), "--sha256", good]).exit_code == 0
    result = RUNNER.invoke(
        _app(), ["verify", "model", str(path), "--sha256", "0" * 64, "--output", "json"]
    )
    assert result.exit_code == 4
    assert json.loads(result.output)["reason"] == "MODEL_DIGEST_MISMATCH"


@pytest.mark.parametrize(
    ("extra", "reason"),
    [([], "NO_LOG_EVIDENCE"), (["--insecure-ignore-tlog"], None)],
    ids=["log-required", "insecure-ignore-tlog"],
)
def test_v3_bundle_signature_through_the_cli(
    registry: FakeRegistry, tmp_path: Path, extra: list[str], reason: str | None
) -> None:
    digest = push_image(registry, "ml/fraud", b"x")
    size = len(registry.manifests[("ml/fraud", str(digest))][0])
    payload = statement(digest.hex, COSIGN_SIGN_PREDICATE, None)
    push_bundle(registry, "ml/fraud", (str(digest), size), dsse_bundle(SIGNER, payload))
    ref = f"{HOST}/ml/fraud@{digest}"
    args = ["verify", "image", ref, "--key", str(_key_file(tmp_path)), "-o", "json", *extra]
    result = RUNNER.invoke(_app(), args)
    assert result.exit_code == (0 if reason is None else 4), result.output
    assert json.loads(result.output)["reason"] == reason


def test_keyless_flags_need_an_issuer_and_a_trusted_root(tmp_path: Path) -> None:
    ref = f"{HOST}/ml/fraud@sha256:" + "a" * 64
    no_issuer = ["verify", "image", ref, "--certificate-identity", "x"]
    no_root = [*no_issuer, "--certificate-oidc-issuer", "https://issuer.test"]
    for args in (no_issuer, no_root):
        result = RUNNER.invoke(_app(), args)
        assert isinstance(result.exception, SpecError), result.output
