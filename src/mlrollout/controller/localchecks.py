"""What the local platform honours of a ModelRollout, what it refuses, and its gates.

Part of the ``controller`` layer. ``check_local_rollout`` refuses, at load and naming the
field, every setting the local platform cannot honour: supply-chain gates that need a
registry (signature, provenance, SBOM, vulnerabilities), pod-level gates set to anything but their
defaults (pod security, NetworkPolicy, GPU capacity: there are no pods, so the defaults are
not checked either and a stricter setting cannot be honoured), Gateway API header routes
and mirroring, a blue-green preview Service, and OpenSSF model signatures (checked by an
init container on Kubernetes). ``LocalVerifier`` runs the gates the local platform does
have: the image is pinned by digest, and the model artifact — a model card file
(``local.modelcard``) — exists, is valid and has the SHA-256 the release pins; a verified
card is copied, content-addressed, into the state directory, and servers load that copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mlrollout.core.observation import VerificationOutcome
from mlrollout.errors import GateError, SpecError
from mlrollout.gates import decide_image_reference
from mlrollout.gates.reasons import Reason
from mlrollout.kube.rollouts import StoredRollout
from mlrollout.local.modelcard import compute_sha256, load_model_card, resolve_model_path
from mlrollout.spec import ModelRollout
from mlrollout.spec.policy import Gates

__all__ = ["LocalVerifier", "check_local_rollout", "stored_model_path"]

_REGISTRY_GATES = ("signature", "provenance", "sbom", "vulnerabilities")
_POD_GATES = ("pod_security", "network_policy", "gpu_capacity", "max_gpus_per_pod")
_ALIASES = {
    "pod_security": "podSecurity",
    "network_policy": "networkPolicy",
    "gpu_capacity": "gpuCapacity",
    "max_gpus_per_pod": "maxGpusPerPod",
}


def check_local_rollout(rollout: ModelRollout, *, source: str | None = None) -> None:
    """Refuse (``SpecError`` naming the field) what the local platform cannot honour."""
    spec = rollout.spec

    def refuse(path: str, why: str) -> SpecError:
        return SpecError(f"the local platform {why}", source=source, path=f"spec.{path}")

    gates = spec.gates
    defaults = Gates()
    for name in _REGISTRY_GATES:
        if getattr(gates, name):
            raise refuse(
                f"gates.{name}",
                "has no registry to check this gate against; remove it or use "
                "--platform kubernetes",
            )
    for name in _POD_GATES:
        if getattr(gates, name) != getattr(defaults, name):
            raise refuse(
                f"gates.{_ALIASES[name]}",
                "runs model servers as local processes, not pods; this gate cannot be checked",
            )
    strategy = spec.strategy
    traffic = (strategy.canary or strategy.blue_green).traffic  # type: ignore[union-attr]
    if traffic.header_route is not None:
        raise refuse("strategy.traffic.headerRoute", "proxy routes by weight only")
    if traffic.mirror:
        raise refuse("strategy.traffic.mirror", "proxy does not mirror traffic")
    if strategy.blue_green is not None and strategy.blue_green.preview_service is not None:
        raise refuse("strategy.blueGreen.previewService", "has no preview Service")
    if spec.release.model.signature is not None:
        raise refuse(
            "release.model.signature",
            "does not check OpenSSF model signatures (the model's SHA-256 is checked)",
        )
    for env in ("blue", "green"):
        if getattr(spec.environments, env).container is not None:
            raise refuse(f"environments.{env}.container", "runs no containers")
    try:
        resolve_model_path(spec.release.model.uri, base=Path("."))
    except ValueError as exc:
        raise refuse("release.model.uri", f"cannot load this model: {exc}") from None


def stored_model_path(models: Path, sha256: str) -> Path:
    """Where the verified model card with this SHA-256 is kept."""
    return models / f"{sha256}.json"


class LocalVerifier:
    """The ``Verifier`` port of the local platform (fails closed)."""

    def __init__(self, *, base: Path, models: Path) -> None:
        self.base = base
        self.models = models

    def verify(self, stored: StoredRollout) -> VerificationOutcome:
        """Check the image reference and the model card; a refusal is an outcome."""
        release = stored.status.release
        assert release is not None
        try:
            decide_image_reference(release.image)
            self._verify_model(release.model_uri, release.model_sha256)
        except GateError as exc:
            return VerificationOutcome(release.image, False, exc.reason_code, str(exc))
        except SpecError as exc:
            return VerificationOutcome(release.image, False, Reason.BUNDLE_INVALID.value, str(exc))
        return VerificationOutcome(
            release.image,
            True,
            None,
            f"image pinned by digest; model card sha256:{release.model_sha256[:12]}… verified",
        )

    def _verify_model(self, uri: str, sha256: str) -> None:
        try:
            path = resolve_model_path(uri, base=self.base)
            actual = compute_sha256(path)
        except (OSError, ValueError) as exc:
            raise GateError(Reason.MODEL_PATH_UNSAFE.value, f"model {uri}: {exc}") from None
        if actual != sha256:
            raise GateError(
                Reason.MODEL_DIGEST_MISMATCH.value,
                f"model {uri} has sha256 {actual}, the release pins {sha256}",
            )
        try:
            load_model_card(path)
        except (OSError, ValueError) as exc:
            raise GateError(Reason.BUNDLE_INVALID.value, f"model {uri}: {exc}") from None
        self.models.mkdir(parents=True, exist_ok=True)
        kept = stored_model_path(self.models, sha256)
        temporary = kept.with_suffix(".tmp")
        shutil.copyfile(path, temporary)
        if compute_sha256(temporary) != sha256:  # changed while copying
            temporary.unlink()
            raise GateError(Reason.MODEL_DIGEST_MISMATCH.value, f"model {uri} changed while read")
        temporary.replace(kept)
