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


POLICY_ERRORS = [
    pytest.param(
        "signature:\n  keys: [{path: cosign.pub}]\n",
        "signature.keys: unknown field",
        id="old-schema-keys",
    ),
    pytest.param(
        "signature:\n  publicKeys: [{file: cosign.pub, secret: cosign-pub}]\n",
        "signature.publicKeys[0]: set exactly one of secret, file, pem",
        id="key-two-sources",
    ),
    pytest.param(
        "signature:\n  publicKeys: [{secret: no-such-secret}]\n",
        "signature.publicKeys[0].secret: cannot read public key",
        id="secret-not-mounted",
    ),
    pytest.param(
        "signature:\n  publicKeys: [{file: missing.pub}]\n",
        "signature.publicKeys[0].file: cannot read public key",
        id="missing-key-file",
    ),
    pytest.param(
        "signature:\n  keyless: [{issuer: https://issuer.test, identity: ci}]\n",
        "signature: keyless identities need trustedRoot",
        id="keyless-without-root",
    ),
    pytest.param(
        "signature:\n  publicKeys: [{file: cosign.pub}]\n"
        "  keyless: [{issuer: https://issuer.test, identity: ci}]\n"
        "  trustedRoot: {file: missing.json}\n",
        "signature.trustedRoot.file: cannot read trusted root",
        id="missing-trusted-root",
    ),
    pytest.param(
        "signature:\n  publicKeys: [{file: cosign.pub}]\n"
        "provenance: {builderIds: [b], sourceRepositories: [r]}\n",
        "provenance.sourceRepos: required field is missing",
        id="old-provenance-field",
    ),
    pytest.param(
        "signature:\n  publicKeys: [{file: cosign.pub}]\nvulnerabilities: {maxSeverity: HIGH}\n",
        "vulnerabilities.maxSeverity: must be one of",
        id="severity-case",
    ),
    pytest.param(
        "signature:\n  publicKeys: [{file: cosign.pub}]\npodSecurity: baseline\n",
        "podSecurity: checked by the controller on the candidate's pod template",
        id="pod-field-refused",
    ),
    pytest.param("provenance: {builderIds: [b], sourceRepos: [r]}\n", "--key", id="no-signer"),
]


@pytest.mark.parametrize(("content", "message"), POLICY_ERRORS)
def test_policy_file_errors_name_the_spec_gates_field(
    content: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _key_file(tmp_path)
    monkeypatch.setenv("MLROLLOUT_SECRETS_DIR", str(tmp_path / "secrets"))
    policy = tmp_path / "policy.yaml"
    policy.write_text(content)
    args = ["verify", "image", f"{HOST}/ml/fraud@sha256:" + "a" * 64, "--policy", str(policy)]
    result = RUNNER.invoke(_app(), args)
    assert isinstance(result.exception, SpecError), result.output
    assert result.exception.exit_code == 2
    assert str(result.exception).startswith(f"{policy}: "), result.exception
    assert message in str(result.exception)


def test_a_command_line_key_problem_names_the_flag(tmp_path: Path) -> None:
    _key_file(tmp_path)
    policy = tmp_path / "policy.yaml"
    policy.write_text("signature:\n  publicKeys: [{file: cosign.pub}]\n")
    ref = f"{HOST}/ml/fraud@sha256:" + "a" * 64
    args = ["verify", "image", ref, "--policy", str(policy), "--key", str(tmp_path / "nope")]
    result = RUNNER.invoke(_app(), args)
    assert isinstance(result.exception, SpecError), result.output
    assert result.exception.path == "--key"


def test_a_policy_file_key_from_a_mounted_secret(
    registry: FakeRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same ``publicKeys[].secret`` a rollout names, read where the controller reads it."""
    mounted = tmp_path / "secrets" / "cosign-pub"
    mounted.mkdir(parents=True)
    (mounted / "cosign.pub").write_bytes(SIGNER.public_pem)
    monkeypatch.setenv("MLROLLOUT_SECRETS_DIR", str(tmp_path / "secrets"))
    policy = tmp_path / "policy.yaml"
    policy.write_text("signature:\n  publicKeys: [{secret: cosign-pub}]\n")
    digest = push_image(registry, "ml/fraud", b"x")
    ref = f"{HOST}/ml/fraud@{digest}"
    push_signature(registry, ImageRef.parse(ref), SIGNER)
    result = RUNNER.invoke(_app(), ["verify", "image", ref, "--policy", str(policy), "-o", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["verified"] is True


def test_the_shipped_policy_example_loads_like_a_rollouts_gates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``examples/policy/verify-image.yaml`` is a ``spec.gates`` object: the keys it names
    are read where the controller reads them, and its fields are the rollout's."""
    from mlrollout.gates.policy_file import load_gate_policy
    from mlrollout.spec.policy import Gates
    from mlrollout.spec.yamlfile import parse_yaml_documents

    mounted = tmp_path / "cosign-pub"
    mounted.mkdir()
    (mounted / "cosign.pub").write_bytes(SIGNER.public_pem)
    monkeypatch.setenv("MLROLLOUT_SECRETS_DIR", str(tmp_path))
    example = Path(__file__).resolve().parents[2] / "examples" / "policy" / "verify-image.yaml"
    [doc] = parse_yaml_documents(example.read_text(), source=str(example))
    gates = Gates.model_validate(doc)
    policy = load_gate_policy(example, key_paths=[])
    assert [k.key_id for k in policy.signature.keys] == [SIGNER.trusted().key_id]
    provenance = policy.attestations.provenance
    assert gates.provenance is not None
    assert provenance is not None
    assert provenance.source_repositories == frozenset(gates.provenance.source_repos)
    assert provenance.source_refs == frozenset(gates.provenance.source_refs)


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
