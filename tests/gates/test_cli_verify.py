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


@pytest.mark.parametrize("reference", [f"{HOST}/ml/fraud:latest", "garbage!!"])
def test_unpinned_or_garbage_reference_is_bad_input(reference: str, tmp_path: Path) -> None:
    args = ["verify", "image", reference, "--key", str(_key_file(tmp_path)), "-o", "json"]
    result = RUNNER.invoke(_app(), args)
    assert isinstance(result.exception, SpecError), result.output
    assert result.exception.exit_code == 2
    assert "not pinned by digest" in str(result.exception)


def test_model_json_names_the_path() -> None:
    path = VECTORS / "cosign.pub"
    good = hashlib.sha256(path.read_bytes()).hexdigest()
    result = RUNNER.invoke(_app(), ["verify", "model", str(path), "--sha256", good, "-o", "json"])
    document = json.loads(result.output)
    assert (result.exit_code, document["path"], "image" in document) == (0, str(path), False)


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
    # The schema of spec.gates: publicKeys[].file (relative to the policy), annotations.
    policy.write_text(
        "signature:\n  publicKeys: [{file: cosign.pub}]\n"
        "  annotations: {model_sha256: '" + "c" * 64 + "'}\n"
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
    ("text", "path"),
    [
        ("signature:\n  keys: [{path: cosign.pub}]\n", "signature.keys"),
        (
            "provenance:\n  builderIds: [b]\n  sourceRepositories: [r]\n",
            "provenance.sourceRepositories",
        ),
        ("signature:\n  publicKeys: [{file: cosign.pub}]\n  threshold: 2\n", "signature"),
        ("vulnerabilities: {maxSeverity: extreme}\n", "vulnerabilities.maxSeverity"),
    ],
    ids=["old-keys-field", "old-provenance-field", "threshold-above-keys", "bad-severity"],
)
def test_policy_errors_name_the_field(text: str, path: str, tmp_path: Path) -> None:
    _key_file(tmp_path)
    policy = tmp_path / "policy.yaml"
    policy.write_text(text)
    ref = f"{HOST}/ml/fraud@sha256:" + "a" * 64
    result = RUNNER.invoke(
        _app(), ["verify", "image", ref, "--key", str(_key_file(tmp_path)), "--policy", str(policy)]
    )
    assert isinstance(result.exception, SpecError), result.output
    assert result.exception.path is not None
    assert result.exception.path.startswith(path), str(result.exception)


def test_policy_file_loads_through_the_gates_model(tmp_path: Path) -> None:
    from mlrollout.gates.policy_file import load_policy_gates
    from mlrollout.spec.policy import Gates

    _key_file(tmp_path)
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "signature:\n  publicKeys: [{file: cosign.pub}]\n"
        "provenance:\n  builderIds: [b]\n  sourceRepos: [r]\n"
    )
    gates = load_policy_gates(policy, key_paths=[])
    assert isinstance(gates, Gates)
    assert gates.signature is not None
    assert gates.signature.public_keys[0].file == str(tmp_path / "cosign.pub")
    assert gates.provenance is not None
    assert gates.provenance.source_repos == ["r"]
