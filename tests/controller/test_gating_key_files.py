"""The controller's key-file permission reaches the gates as an argument, not through the
process environment: a rollout whose signature gate names ``publicKeys[].file`` is refused
when the controller does not allow key files (whatever ``MLROLLOUT_ALLOW_KEY_FILES`` says)
and verified when it does. On the real control plane, as the controller's ServiceAccount."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from controlplane.fixtures import TestBed
from controlplane.workloads import build_model
from mlrollout.controller.kubernetes import build_reconciler
from mlrollout.controller.loop import drive
from mlrollout.spec.status import Phase
from support.cluster import BriskClock, SignedRegistry, create_rollout

pytestmark = pytest.mark.controlplane


@pytest.mark.parametrize(
    ("allowed", "variable"),
    [(False, "true"), (True, "false")],
    ids=["refused-though-the-variable-allows", "read-though-the-variable-forbids"],
)
def test_the_verifier_takes_the_key_file_permission_it_is_given(
    cp: TestBed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, allowed: bool, variable: str
) -> None:
    monkeypatch.setenv("MLROLLOUT_SECRETS_DIR", str(tmp_path / "secrets"))
    monkeypatch.setenv("MLROLLOUT_ALLOW_KEY_FILES", variable)  # the argument wins
    registry = SignedRegistry(tmp_path / "secrets")
    key = tmp_path / "secrets" / "cosign-pub" / "cosign.pub"
    build_model(cp.admin, cp.namespace)
    gates = {"signature": {"publicKeys": [{"file": str(key)}]}}
    create_rollout(cp.admin, registry.image, namespace=cp.namespace, gates=gates)
    reconciler = build_reconciler(
        cp.controller_client(),
        namespace=cp.namespace,
        name="fraud-scorer",
        clock=BriskClock(),
        registry_factory=registry.client,
        allow_key_files=allowed,
    )
    final = drive(
        reconciler,
        timeout=timedelta(minutes=30),
        until=lambda s: s.status.phase not in {Phase.PENDING, Phase.VERIFYING},
    )
    if allowed:
        assert final.status.phase is not Phase.REFUSED, final.status.message
    else:
        assert final.status.phase is Phase.REFUSED
        assert "keys from files are not allowed" in (final.status.message or "")
