"""The cross-check table: real cosign v3 and ``mlrollout verify image`` on the same cases.

Images live in the real docker-registry (Debian, distribution 2.8: no referrers API, so
cosign's bundles are found through the ``sha256-<hex>`` tag schema). cosign signs and
attests each in both formats -- legacy (``.sig``/``.att``) and Sigstore bundle -- with a
key and no transparency log; attacks are made by pushing what a registry writer could.
Every case must get the same verdict from both tools, except the divergences listed in
``DIVERGENT``, where mlrollout is stricter by design; those are asserted exactly, so a
change on either side shows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from mlrollout.cli.app import main

from .cosign_cli import CosignWorld, cosign_binary
from .real_registry import start_registry
from .referrers_proxy import ReferrersProxy

pytestmark = [pytest.mark.registry, pytest.mark.cosign]

BUILDER = "https://github.com/actions/runner"
PINNED_MODEL = {"model_sha256": "ab" * 32}


def _provenance(builder: str) -> dict[str, object]:
    return {
        "buildDefinition": {
            "buildType": "https://actions.github.io/buildtypes/workflow/v1",
            "externalParameters": {
                "workflow": {
                    "repository": "https://github.com/acme/fraud",
                    "ref": "refs/heads/main",
                    "path": ".github/workflows/build.yml",
                }
            },
            "resolvedDependencies": [],
        },
        "runDetails": {"builder": {"id": builder}, "metadata": {}},
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CosignWorld]:
    binary = cosign_binary()
    with start_registry(tmp_path_factory.mktemp("registry")) as host:
        directory = tmp_path_factory.mktemp("cosign")
        (directory / "builder.cue").write_text(f'predicate: runDetails: builder: id: "{BUILDER}"\n')
        (directory / "policy.yaml").write_text(
            "signature:\n  publicKeys: [{file: trusted.pub}]\n  requireTransparencyLog: false\n"
            "provenance:\n"
            f"  builderIds: ['{BUILDER}']\n"
            "  sourceRepos: ['https://github.com/acme/fraud']\n"
            "  sourceRefs: ['refs/heads/main']\n"
        )
        (directory / "annotations.yaml").write_text(
            "signature:\n  publicKeys: [{file: trusted.pub}]\n  requireTransparencyLog: false\n"
            f"  annotations: {json.dumps(PINNED_MODEL)}\n"
        )
        world = CosignWorld(binary, host, directory)
        yield world
        world.http.close()


@dataclass(frozen=True)
class Case:
    """What to verify and how: ``attestation`` cases use verify-attestation and a policy."""

    ref: str
    key: str = "trusted"
    attestation: bool = False
    annotations: bool = False


Build = Callable[[CosignWorld, str, str], Case]


def _valid(w: CosignWorld, fmt: str, seed: str) -> Case:
    ref = w.image(seed.encode())
    w.sign(ref, fmt)
    return Case(ref)


def _wrong_key(w: CosignWorld, fmt: str, seed: str) -> Case:
    ref = w.image(seed.encode())
    w.sign(ref, fmt, key="stranger")
    return Case(ref)


def _unsigned(w: CosignWorld, fmt: str, seed: str) -> Case:
    return Case(w.image(seed.encode()))


def _tampered_manifest(w: CosignWorld, fmt: str, seed: str) -> Case:
    signed = w.image(seed.encode())
    w.sign(signed, fmt)
    tampered = w.image(seed.encode() + b" with a backdoor")
    w.copy_signatures(signed, tampered, fmt)
    return Case(tampered)


def _replayed(w: CosignWorld, fmt: str, seed: str) -> Case:
    other = w.image(seed.encode() + b" (signed release)")
    w.sign(other, fmt)
    target = w.image(seed.encode())
    w.copy_signatures(other, target, fmt)
    return Case(target)


def _forged_payload(w: CosignWorld, fmt: str, seed: str) -> Case:
    ref = w.image(seed.encode())
    w.sign(ref, fmt)
    w.alter_signed_payload(ref, fmt)
    return Case(ref)


def _tag_only(w: CosignWorld, fmt: str, seed: str) -> Case:
    ref = w.image(seed.encode(), tag=f"tag-{fmt}")
    w.sign(ref, fmt)
    return Case(ref.rsplit("@", 1)[0] + f":tag-{fmt}")


def _missing_referrer(w: CosignWorld, fmt: str, seed: str) -> Case:
    """The signed image copied to another repository without its signatures/referrers."""
    signed = w.image(seed.encode())
    w.sign(signed, fmt)
    return Case(w.image(seed.encode(), repo="ml/mirror"))


def _provenance_case(builder: str | None) -> Build:
    def build(w: CosignWorld, fmt: str, seed: str) -> Case:
        ref = w.image(seed.encode())
        w.sign(ref, fmt)
        if builder is not None:
            w.attest(ref, fmt, _provenance(builder))
        return Case(ref, attestation=True)

    return build


def _annotated(signed: dict[str, str]) -> Build:
    def build(w: CosignWorld, fmt: str, seed: str) -> Case:
        ref = w.image(seed.encode())
        w.sign(ref, fmt, annotations=signed)
        return Case(ref, annotations=True)

    return build


def _attestation_only(w: CosignWorld, fmt: str, seed: str) -> Case:
    ref = w.image(seed.encode())
    w.attest(ref, fmt, _provenance(BUILDER))
    return Case(ref)


CASES: dict[str, tuple[Build, tuple[str, ...], str | None]] = {
    # name: (build, formats, mlrollout's reason; None = verified)
    "valid": (_valid, ("legacy", "bundle"), None),
    "wrong-key": (_wrong_key, ("legacy", "bundle"), "UNTRUSTED_KEY"),
    "unsigned": (_unsigned, ("legacy",), "UNSIGNED"),
    "tampered-manifest": (_tampered_manifest, ("legacy", "bundle"), "MANIFEST_DIGEST_MISMATCH"),
    "replayed-signature": (_replayed, ("legacy", "bundle"), "MANIFEST_DIGEST_MISMATCH"),
    "forged-payload": (_forged_payload, ("legacy", "bundle"), "UNTRUSTED_KEY"),
    # Not a pinned reference: bad input (exit 2), refused before any network call.
    "tag-only-reference": (_tag_only, ("legacy", "bundle"), "SpecError:REFERENCE"),
    "missing-referrer": (_missing_referrer, ("legacy", "bundle"), "UNSIGNED"),
    "provenance-allowed-builder": (_provenance_case(BUILDER), ("legacy", "bundle"), None),
    "provenance-wrong-builder": (
        _provenance_case("https://evil.example/builder"),
        ("legacy", "bundle"),
        "PROVENANCE_BUILDER",
    ),
    "provenance-missing": (_provenance_case(None), ("legacy", "bundle"), "ATTESTATION_MISSING"),
    "attestation-only-as-signature": (_attestation_only, ("legacy", "bundle"), "UNSIGNED"),
    "required-annotation-signed": (_annotated(PINNED_MODEL), ("legacy", "bundle"), None),
    "required-annotation-differs": (
        _annotated({"model_sha256": "cd" * 32}),
        ("legacy", "bundle"),
        "POLICY_ANNOTATION",
    ),
}
# Where the verdicts differ on purpose: mlrollout refuses what cosign accepts.
DIVERGENT = {
    # cosign resolves the tag at verification time; mlrollout verifies digests only
    ("tag-only-reference", "legacy"): "cosign verifies a tag; mlrollout needs a digest",
    ("tag-only-reference", "bundle"): "cosign verifies a tag; mlrollout needs a digest",
    # cosign v3.1.3 `verify` accepts a provenance attestation bundle as a signature
    ("attestation-only-as-signature", "bundle"): "cosign counts an attestation as a signature",
}
# A bundle names the image in its in-toto subject, a legacy payload in its simple-signing
# claims: the same attack gets the reason of its format.
REASON_BY_FORMAT = {
    ("tampered-manifest", "bundle"): "SUBJECT_MISMATCH",
    ("replayed-signature", "bundle"): "SUBJECT_MISMATCH",
}
ROWS = [(name, fmt) for name, (_, formats, _) in CASES.items() for fmt in formats]


def _mlrollout(
    world: CosignWorld, case: Case, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str | None]:
    args = ["verify", "image", case.ref, "-o", "json"]
    if case.attestation:
        args += ["--policy", str(world.directory / "policy.yaml")]
    elif case.annotations:
        args += ["--policy", str(world.directory / "annotations.yaml")]
    else:
        args += ["--key", str(world.key(case.key)), "--insecure-ignore-tlog"]
    with pytest.raises(SystemExit) as exited:
        main(args)
    out = capsys.readouterr().out
    code = exited.value.code
    assert isinstance(code, int)
    document = json.loads(out)
    if "error" in document:  # bad input: the error object, not a verdict
        return code, f"{document['error']['code']}:{document['error']['path']}"
    return code, document["reason"]


@pytest.mark.parametrize(("name", "fmt"), ROWS, ids=[f"{f}-{n}" for n, f in ROWS])
def test_cosign_and_mlrollout_agree(
    world: CosignWorld, name: str, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _check(world, name, fmt, capsys)


# Through a registry with the referrers API, cosign writes no sha256-<hex> tag: the
# bundles are found by GET /v2/<name>/referrers/<digest> alone.
API_CASES = [
    "valid",
    "wrong-key",
    "unsigned",
    "tag-only-reference",
    "missing-referrer",
    "provenance-allowed-builder",
    "provenance-wrong-builder",
    "provenance-missing",
    "attestation-only-as-signature",
]


@pytest.fixture(scope="module")
def api_world(world: CosignWorld) -> Iterator[tuple[CosignWorld, ReferrersProxy]]:
    proxy = ReferrersProxy(world.host)
    with proxy.serve() as host:
        api = CosignWorld(world.cosign, host, world.directory, repo="ml/api")
        yield api, proxy
        api.http.close()


@pytest.mark.parametrize("name", API_CASES)
def test_cosign_and_mlrollout_agree_over_the_referrers_api(
    api_world: tuple[CosignWorld, ReferrersProxy],
    name: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    world, proxy = api_world
    calls = proxy.api_calls
    _check(world, name, "bundle", capsys)
    assert proxy.api_calls > calls
    tags = world.http.get("/v2/ml/api/tags/list").json().get("tags") or []
    assert not [t for t in tags if t.startswith("sha256-")], "cosign fell back to tags"


def _check(world: CosignWorld, name: str, fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    build, _, reason = CASES[name]
    case = build(world, fmt, f"{name} {fmt}")
    if case.attestation:
        cosign_code = world.verify_attestation(case.ref, world.directory / "builder.cue")
    else:
        wanted = PINNED_MODEL if case.annotations else None
        cosign_code = world.verify(case.ref, key=case.key, annotations=wanted)
    code, got = _mlrollout(world, case, capsys)
    expected = REASON_BY_FORMAT.get((name, fmt), reason)
    exit_code = 0 if expected is None else 2 if expected.startswith("SpecError") else 4
    assert (code, got) == (exit_code, expected)
    if (name, fmt) in DIVERGENT:
        assert cosign_code == 0, DIVERGENT[(name, fmt)]
        assert code != 0, DIVERGENT[(name, fmt)]
    else:
        assert (cosign_code == 0) == (code == 0), f"cosign exit {cosign_code}, mlrollout {code}"


def test_the_table_is_large_enough() -> None:
    assert len(ROWS) >= 12
    assert {fmt for _, fmt in ROWS} == {"legacy", "bundle"}


@pytest.mark.parametrize(
    ("case", "reason"),
    [("valid", None), ("changed-file", "ARTIFACT_MISMATCH"), ("wrong-key", "UNTRUSTED_KEY")],
    ids=["valid", "changed-file", "wrong-key"],
)
def test_verify_blob_agrees_with_cosign_verify_blob(
    world: CosignWorld, case: str, reason: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    artifact = world.directory / f"model-{case}.bin"
    artifact.write_bytes(b"weights " * 1000)
    bundle = world.sign_blob(artifact)
    if case == "changed-file":
        artifact.write_bytes(b"weights " * 999 + b"weighTs ")
    key = "stranger" if case == "wrong-key" else "trusted"
    cosign_code = world.verify_blob(artifact, bundle, key=key)
    args = ["verify", "blob", str(artifact), "--bundle", str(bundle), "--key", str(world.key(key))]
    with pytest.raises(SystemExit) as exited:
        main([*args, "--insecure-ignore-tlog", "-o", "json"])
    verdict = json.loads(capsys.readouterr().out)
    assert (exited.value.code, verdict["reason"]) == ((0, None) if reason is None else (4, reason))
    assert (cosign_code == 0) == (reason is None)
