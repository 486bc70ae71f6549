"""History and undo on the real control plane (issue 18), judged by its audit log.

Three signed releases in a row, driven by the controller's reconciler as its ServiceAccount
with the shipped RBAC; then ``mlrollout undo --to-revision 1`` (the CLI, as an operator):
with the key still trusted, revision 1 is verified again, released through its steps and
recorded as revision 4; with the signing key out of trust, the CLI's own drive refuses it
``UNTRUSTED_KEY`` (exit 4) even with ``--skip-analysis``, and the audit log shows nothing
deployed. Images live in the real docker-registry, signed in cosign's legacy format.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from gates.publish import RegistryPusher, push_image, push_signature
from gates.real_registry import start_registry
from gates.signer import CosignTestSigner
from mlrollout.cli.app import main
from mlrollout.controller.kubernetes import build_reconciler
from mlrollout.controller.loop import drive
from mlrollout.kube import KubeClient, RolloutStore, StoredRollout
from mlrollout.kube.kinds import DEPLOYMENTS, MODELROLLOUTS
from mlrollout.model import ImageRef
from mlrollout.spec.status import Phase
from support.cluster import BriskClock, create_rollout

from .fixtures import TestBed
from .rollouts import ScriptAnalyst, check_audit, settled
from .workloads import build_model

pytestmark = [pytest.mark.controlplane, pytest.mark.registry]

NAME = "fraud-scorer"
STEPS = [{"setWeight": 50}, {"analyze": {}}]
# What a refused undo may write: the rollout and its status, Events, its report record
# (a ConfigMap it owns) and the CLI's Lease while it drives.
_REFUSAL_WRITES = {"modelrollouts", "events", "configmaps", "leases"}
# What deploys or moves traffic (kube-controller-manager and kwok may still write pod and
# ReplicaSet status after the last release settled; nobody may write these specs).
_DEPLOYING = {"deployments", "services", "httproutes"}


@dataclass
class Releases:
    """The test's rollout, three signed images in the real registry, and the trusted key."""

    cp: TestBed
    images: list[str]
    key: Path
    controller: KubeClient = field(init=False)

    def __post_init__(self) -> None:
        self.controller = self.cp.controller_client()

    def drive(self) -> StoredRollout:
        """The controller's reconciler (ServiceAccount, shipped RBAC) until settled."""
        client = self.controller
        built = build_reconciler(
            client,
            namespace=self.cp.namespace,
            name=NAME,
            analyst=ScriptAnalyst(),
            clock=BriskClock(),
            identity="controlplane-test",
        )  # the verifier asks the real registry on loopback
        return drive(built, timeout=timedelta(hours=2), until=settled)

    def release(self, n: int) -> StoredRollout:
        """Put image ``n`` (0-based) in the spec and see it through."""
        if n:
            patch = {"spec": {"release": {"image": self.images[n]}}}
            self.cp.admin.patch(MODELROLLOUTS, NAME, self.cp.namespace, patch)
        return self.drive()

    def read(self) -> StoredRollout:
        return RolloutStore(self.cp.admin).read(self.cp.namespace, NAME)

    def live_image(self, env: str) -> str:
        deployment = self.cp.admin.get(DEPLOYMENTS, f"{NAME}-{env}", self.cp.namespace)
        image: str = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        return image

    def undo(self, *args: str) -> int:
        """``mlrollout undo NAME --to-revision 1 ARGS`` as cluster admin; its exit code."""
        kubeconfig = str(self.cp.session.plane.admin_kubeconfig)
        argv = ["undo", NAME, "-n", self.cp.namespace, "--to-revision", "1", *args]
        with pytest.raises(SystemExit) as info:
            main([*argv, "--kubeconfig", kubeconfig])
        return int(info.value.code or 0)


@pytest.fixture
def releases(cp: TestBed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Releases]:
    signer = CosignTestSigner()
    key = tmp_path / "secrets" / "cosign-pub" / "cosign.pub"
    key.parent.mkdir(parents=True)
    key.write_bytes(signer.public_pem)
    monkeypatch.setenv("MLROLLOUT_SECRETS_DIR", str(key.parent.parent))
    (tmp_path / "registry").mkdir()
    with start_registry(tmp_path / "registry") as host, RegistryPusher(f"http://{host}") as push:
        images = []
        for n in range(3):
            digest = push_image(push, "ml/fraud-scorer", f"model-server v{43 + n}".encode())
            images.append(f"{host}/ml/fraud-scorer@{digest}")
            push_signature(push, ImageRef.parse(images[-1]), signer)
        build_model(cp.admin, cp.namespace)
        raw = create_rollout(cp.admin, images[0], namespace=cp.namespace)
        raw["spec"]["strategy"]["canary"]["steps"] = STEPS
        cp.admin.replace(MODELROLLOUTS, raw)
        yield Releases(cp, images, key)


def _three_releases(releases: Releases) -> StoredRollout:
    for n in range(3):
        final = releases.release(n)
        assert final.status.phase is Phase.SUCCEEDED, final.status.message
    stored = releases.read()
    assert [r.number for r in stored.status.revisions] == [1, 2, 3]
    assert [r.image for r in stored.status.revisions] == releases.images
    return stored


def test_undo_to_revision_1_reverifies_and_records_revision_4(
    releases: Releases, capsys: pytest.CaptureFixture[str]
) -> None:
    _three_releases(releases)
    assert releases.undo("--no-wait") == 0
    assert "releasing revision 1 " in capsys.readouterr().out
    undone = releases.read()
    assert undone.rollout.spec.release.image == releases.images[0]

    final = releases.drive()

    assert final.status.phase is Phase.SUCCEEDED, final.status.message
    latest = final.status.revisions[-1]
    assert (latest.number, latest.image, latest.undo_of) == (4, releases.images[0], 1)
    assert latest.generation == undone.generation
    assert latest.verification.verified
    assert final.status.active_env is not None
    assert releases.live_image(final.status.active_env) == releases.images[0]
    check_audit(
        releases.cp.audit, namespace=releases.cp.namespace, user=releases.cp.controller_user
    )


def test_undo_after_the_key_left_trust_is_refused_and_deploys_nothing(
    releases: Releases, capsys: pytest.CaptureFixture[str]
) -> None:
    stored = _three_releases(releases)
    live = stored.status.active_env
    assert live is not None
    # The signing key is removed from trust: the mounted key is now someone else's.
    releases.key.write_bytes(CosignTestSigner().public_pem)
    cp = releases.cp
    before = len(cp.audit.writes(namespace=cp.namespace))

    assert releases.undo("--skip-analysis", "--timeout", "5m") == 4
    capsys.readouterr()

    final = releases.read()
    assert final.status.phase is Phase.REFUSED
    assert final.status.verification is not None
    assert final.status.verification.reason_code == "UNTRUSTED_KEY"
    assert "UNTRUSTED_KEY" in (final.status.message or "")
    assert [r.number for r in final.status.revisions] == [1, 2, 3]
    assert releases.live_image(live) == releases.images[2]
    writes = cp.audit.writes(namespace=cp.namespace)[before:]
    admin = [w for w in writes if w.user == "admin"]
    assert {w.resource for w in admin} <= _REFUSAL_WRITES, admin
    assert "modelrollouts" in {w.resource for w in admin}  # the undo itself was written
    assert not [w for w in writes if w.resource in _DEPLOYING and not w.subresource], writes
    check_audit(cp.audit, namespace=cp.namespace, user=cp.controller_user)
