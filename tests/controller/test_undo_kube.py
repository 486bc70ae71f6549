"""History and undo on the strict test API server: real client, real routers, real gates.

Three signed releases in a row, then ``undo --to-revision 1``: with the key still trusted
the release is verified again and re-released; with the key removed from trust in between
the undo is Refused with the gate's reason and nothing is deployed or shifted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from loop_fakes import ScriptedAnalyst

from gates.publish import push_image, push_signature
from kubeapi import KubeApiServer, assert_valid_history, write_kubeconfig
from mlrollout.cli.app import main
from mlrollout.controller.gating import KubeReleaseVerifier
from mlrollout.controller.kubernetes import build_reconciler
from mlrollout.controller.loop import Reconciler, drive
from mlrollout.controller.undo import select_revision, write_undo
from mlrollout.core.observation import VerificationOutcome
from mlrollout.kube import KubeClient, RolloutStore, StoredRollout
from mlrollout.kube.kinds import DEPLOYMENTS, MODELROLLOUTS
from mlrollout.model import ImageRef
from mlrollout.spec.status import Phase
from support.cluster import MODEL_URI, BriskClock, SignedRegistry, build_cluster, create_rollout

STEPS = [{"setWeight": 50}, {"analyze": {}}]


@dataclass
class CountingVerifier:
    """The real gates, counting the verifications per generation."""

    real: KubeReleaseVerifier
    calls: list[int] = field(default_factory=list)

    def verify(self, stored: StoredRollout) -> VerificationOutcome:
        self.calls.append(stored.generation)
        return self.real.verify(stored)


@dataclass
class Releases:
    kube: KubeClient
    registry: SignedRegistry
    images: list[str]
    reconciler: Reconciler
    verifier: CountingVerifier

    def drive(self) -> StoredRollout:
        return drive(
            self.reconciler,
            timeout=timedelta(hours=2),
            until=lambda s: (
                s.status.phase.terminal
                and (s.status.phase is not Phase.SUCCEEDED or s.status.scale_down is None)
            ),
        )

    def release(self, n: int) -> StoredRollout:
        """Put signed image ``n`` (0-based) in the spec and see it through."""
        if n:
            patch = {"spec": {"release": {"image": self.images[n]}}}
            self.kube.patch(MODELROLLOUTS, "fraud-scorer", "default", patch)
        return self.drive()

    def read(self) -> StoredRollout:
        return RolloutStore(self.kube).read("default", "fraud-scorer")


def signed_images(registry: SignedRegistry, count: int) -> list[str]:
    images = [registry.image]
    for n in range(1, count):
        digest = push_image(
            registry.registry, "ml/fraud-scorer", f"model-server v{43 + n}".encode()
        )
        images.append(f"registry.test/ml/fraud-scorer@{digest}")
        push_signature(registry.registry, ImageRef.parse(images[-1]), registry.signer)
    return images


@pytest.fixture
def releases(kube: KubeClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Releases:
    monkeypatch.setenv("MLROLLOUT_SECRETS_DIR", str(tmp_path / "secrets"))
    registry = SignedRegistry(tmp_path / "secrets")
    images = signed_images(registry, 12)
    build_cluster(kube)
    raw = create_rollout(kube, images[0])
    raw["spec"]["strategy"]["canary"]["steps"] = STEPS
    kube.replace(MODELROLLOUTS, raw)
    # One reconciler for every release: its verdict cache must not leak across generations.
    reconciler = build_reconciler(
        kube,
        namespace="default",
        name="fraud-scorer",
        analyst=ScriptedAnalyst(lambda step, n: "promote"),
        clock=BriskClock(),
        identity="mlrollout-cli-test-host-1",
    )
    verifier = CountingVerifier(KubeReleaseVerifier(kube, registry_factory=registry.client))
    reconciler.verifier = verifier
    return Releases(kube, registry, images, reconciler, verifier)


def _live_image(kube: KubeClient, env: str) -> str:
    deployment = kube.get(DEPLOYMENTS, f"fraud-scorer-{env}", "default")
    image: str = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    return image


@pytest.mark.slow
def test_three_releases_then_undo_to_revision_1_reverifies_and_rereleases_it(
    releases: Releases, kube_server: KubeApiServer
) -> None:
    for n in range(3):
        assert releases.release(n).status.phase is Phase.SUCCEEDED
    stored = releases.read()
    assert [r.number for r in stored.status.revisions] == [1, 2, 3]
    assert [r.image for r in stored.status.revisions] == releases.images[:3]
    assert all(r.verification.verified for r in stored.status.revisions)
    assert stored.status.revisions[0].driven_by == "mlrollout-cli-test-host-1"
    verified_before = list(releases.verifier.calls)

    kube = releases.kube
    undone = write_undo(kube, stored, revision=select_revision(stored, 1), skip_analysis=False)
    final = releases.drive()

    assert final.status.phase is Phase.SUCCEEDED
    assert releases.verifier.calls[len(verified_before) :] == [undone.generation]
    latest = final.status.revisions[-1]
    assert (latest.number, latest.image, latest.undo_of) == (4, releases.images[0], 1)
    assert latest.generation == undone.generation
    assert latest.verification.verified
    assert final.status.active_env is not None
    assert _live_image(kube, final.status.active_env) == releases.images[0]
    assert_valid_history(kube_server)


@pytest.mark.slow
def test_undo_of_a_release_whose_key_left_trust_is_refused_and_deploys_nothing(
    releases: Releases, kube_server: KubeApiServer, tmp_path: Path
) -> None:
    for n in range(3):
        assert releases.release(n).status.phase is Phase.SUCCEEDED
    stored = releases.read()
    live = stored.status.active_env
    assert live is not None
    # The signing key is removed from trust: the mounted key is now someone else's.
    (tmp_path / "secrets" / "cosign-pub" / "cosign.pub").write_bytes(
        SignedRegistry(tmp_path / "other").signer.public_pem
    )
    write_undo(releases.kube, stored, revision=select_revision(stored, 1), skip_analysis=True)
    kube_server.history.clear()

    final = releases.drive()

    assert final.status.phase is Phase.REFUSED
    verification = final.status.verification
    assert verification is not None
    assert verification.reason_code == "UNTRUSTED_KEY"
    assert "UNTRUSTED_KEY" in final.status.message
    writes = {(r.kind, r.actor) for r in kube_server.history.records()}
    # The refusal's report record (a ConfigMap owned by the rollout) is the only other write.
    assert writes <= {("ModelRollout", "client"), ("Event", "client"), ("ConfigMap", "client")}
    assert _live_image(releases.kube, live) == releases.images[2]
    assert [r.number for r in final.status.revisions] == [1, 2, 3]


@pytest.mark.slow
def test_history_after_12_releases_with_limit_10_shows_the_latest_10(
    releases: Releases,
    kube_server: KubeApiServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    patch = {"spec": {"revisionHistoryLimit": 10}}
    releases.kube.patch(MODELROLLOUTS, "fraud-scorer", "default", patch)
    for n in range(12):
        assert releases.release(n).status.phase is Phase.SUCCEEDED
    monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(kube_server.url, tmp_path / "kc")))
    with pytest.raises(SystemExit) as info:
        main(["history", "fraud-scorer", "-n", "default", "-o", "json"])
    assert info.value.code in (0, None)
    document = json.loads(capsys.readouterr().out)
    assert [r["number"] for r in document["revisions"]] == list(range(3, 13))
    assert [r["image"] for r in document["revisions"]] == releases.images[2:]
    assert {r["modelUri"] for r in document["revisions"]} == {MODEL_URI}
    with pytest.raises(SystemExit) as info:
        main(["history", "fraud-scorer", "-n", "default"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[1:-1]] == [*map(str, range(3, 12)), "12*"]
