"""History and undo on the real control plane: one reconciler for every release, as the
controller's ServiceAccount with the shipped RBAC, real routers, real gates.

Three signed releases in a row, then ``undo --to-revision 1``: the release is verified
again (once, for the undo's generation: the reconciler's verdict cache does not leak
across generations) and re-released. Twelve releases with ``revisionHistoryLimit: 10``:
``mlrollout history`` shows the latest ten. The undo refused after its key left trust, with
nothing deployed on the audit log, is ``tests/controlplane/test_undo.py``'s.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from loop_fakes import ScriptedAnalyst

from controlplane.fixtures import TestBed
from controlplane.rollouts import check_audit
from controlplane.workloads import build_model
from gates.publish import push_image, push_signature
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
from support.cluster import MODEL_URI, BriskClock, SignedRegistry, create_rollout

pytestmark = [pytest.mark.controlplane, pytest.mark.slow]

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
    cp: TestBed
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
            self.cp.admin.patch(MODELROLLOUTS, "fraud-scorer", self.cp.namespace, patch)
        return self.drive()

    def read(self) -> StoredRollout:
        return RolloutStore(self.cp.admin).read(self.cp.namespace, "fraud-scorer")


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
def releases(cp: TestBed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Releases:
    monkeypatch.setenv("MLROLLOUT_SECRETS_DIR", str(tmp_path / "secrets"))
    registry = SignedRegistry(tmp_path / "secrets")
    images = signed_images(registry, 12)
    build_model(cp.admin, cp.namespace)
    raw = create_rollout(cp.admin, images[0], namespace=cp.namespace)
    raw["spec"]["strategy"]["canary"]["steps"] = STEPS
    cp.admin.replace(MODELROLLOUTS, raw)
    kube = cp.controller_client()
    # One reconciler for every release: its verdict cache must not leak across generations.
    reconciler = build_reconciler(
        kube,
        namespace=cp.namespace,
        name="fraud-scorer",
        analyst=ScriptedAnalyst(lambda step, n: "promote"),
        clock=BriskClock(),
        identity="mlrollout-cli-test-host-1",
        registry_factory=registry.client,
    )
    assert isinstance(reconciler.verifier, KubeReleaseVerifier)
    verifier = CountingVerifier(reconciler.verifier)
    reconciler.verifier = verifier
    return Releases(cp, kube, registry, images, reconciler, verifier)


def _live_image(releases: Releases, env: str) -> str:
    deployment = releases.cp.admin.get(DEPLOYMENTS, f"fraud-scorer-{env}", releases.cp.namespace)
    image: str = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    return image


def test_three_releases_then_undo_to_revision_1_reverifies_and_rereleases_it(
    releases: Releases,
) -> None:
    for n in range(3):
        assert releases.release(n).status.phase is Phase.SUCCEEDED
    stored = releases.read()
    assert [r.number for r in stored.status.revisions] == [1, 2, 3]
    assert [r.image for r in stored.status.revisions] == releases.images[:3]
    assert all(r.verification.verified for r in stored.status.revisions)
    assert stored.status.revisions[0].driven_by == "mlrollout-cli-test-host-1"
    verified_before = list(releases.verifier.calls)

    undone = write_undo(
        releases.cp.admin, stored, revision=select_revision(stored, 1), skip_analysis=False
    )
    final = releases.drive()

    assert final.status.phase is Phase.SUCCEEDED
    assert releases.verifier.calls[len(verified_before) :] == [undone.generation]
    latest = final.status.revisions[-1]
    assert (latest.number, latest.image, latest.undo_of) == (4, releases.images[0], 1)
    assert latest.generation == undone.generation
    assert latest.verification.verified
    assert final.status.active_env is not None
    assert _live_image(releases, final.status.active_env) == releases.images[0]
    check_audit(
        releases.cp.audit, namespace=releases.cp.namespace, user=releases.cp.controller_user
    )


def test_history_after_12_releases_with_limit_10_shows_the_latest_10(
    releases: Releases, capsys: pytest.CaptureFixture[str]
) -> None:
    cp = releases.cp
    cp.admin.patch(
        MODELROLLOUTS, "fraud-scorer", cp.namespace, {"spec": {"revisionHistoryLimit": 10}}
    )
    for n in range(12):
        assert releases.release(n).status.phase is Phase.SUCCEEDED
    kubeconfig = ["--kubeconfig", str(cp.session.plane.admin_kubeconfig)]
    with pytest.raises(SystemExit) as info:
        main(["history", "fraud-scorer", "-n", cp.namespace, "-o", "json", *kubeconfig])
    assert info.value.code in (0, None)
    document = json.loads(capsys.readouterr().out)
    assert [r["number"] for r in document["revisions"]] == list(range(3, 13))
    assert [r["image"] for r in document["revisions"]] == releases.images[2:]
    assert {r["modelUri"] for r in document["revisions"]} == {MODEL_URI}
    with pytest.raises(SystemExit) as info:
        main(["history", "fraud-scorer", "-n", cp.namespace, *kubeconfig])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[1:-1]] == [*map(str, range(3, 12)), "12*"]
