"""The ``ModelRollout`` resource: a model Service, its two GPU environments, and a release.

Part of the ``spec`` layer. This is the single source of truth for validation, the CRD's
openAPIV3Schema (``spec.crd``) and the editor JSON schema.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from mlrollout.spec.base import (
    DnsSubdomain,
    ImageReference,
    OneOf,
    Sha256Hex,
    SpecModel,
    StepDuration,
)
from mlrollout.spec.meta import ObjectMeta
from mlrollout.spec.policy import (
    AnalysisPolicy,
    Gates,
    KeylessIdentity,
    MetricsConfig,
    Notification,
    Webhook,
)
from mlrollout.spec.status import REVISION_LIMIT_MAX, RolloutStatus
from mlrollout.spec.strategy import Strategy

__all__ = [
    "Environment",
    "Environments",
    "ModelArtifact",
    "ModelRollout",
    "ModelRolloutSpec",
    "ModelSignature",
    "Release",
]

_MODEL_URI = r"^[a-z][a-z0-9+.-]*://\S+$"


class Environment(SpecModel):
    """One GPU environment: a Deployment the controller owns the image and replicas of."""

    deployment: DnsSubdomain
    container: DnsSubdomain | None = None


class Environments(SpecModel):
    """The two environments; one is live, the other idle."""

    blue: Environment
    green: Environment

    @model_validator(mode="after")
    def _distinct(self) -> Environments:
        if self.blue.deployment == self.green.deployment:
            raise ValueError(
                f"blue and green must be different Deployments, both are {self.blue.deployment!r}"
            )
        return self


PodPath = Annotated[str, StringConstraints(pattern=r"^/[^\x00]*$", max_length=4096)]


class ModelSignature(OneOf):
    """An OpenSSF model signature (``model-signing``) the environment checks at start-up.

    Paths are inside the verifying init container (``mlrollout verify model``), which the
    controller hands them to as environment variables; the release is refused unless the
    candidate's template has such an init container. Set exactly one of ``key`` (a PEM
    public key file) and ``keyless`` (an exact identity and issuer, with ``trustedRoot``).
    """

    one_of = ("key", "keyless")
    file: PodPath
    key: PodPath | None = None
    keyless: KeylessIdentity | None = None
    trusted_root: PodPath | None = None

    @model_validator(mode="after")
    def _keyless(self) -> ModelSignature:
        if self.keyless is not None:
            if self.keyless.identity is None:
                raise ValueError("keyless model signatures need an exact identity, not a regexp")
            if self.trusted_root is None:
                raise ValueError("keyless needs trustedRoot")
        elif self.trusted_root is not None:
            raise ValueError("trustedRoot is only used with keyless")
        return self


class ModelArtifact(SpecModel):
    """The model the image serves, pinned by SHA-256 and optionally signed."""

    uri: Annotated[str, StringConstraints(pattern=_MODEL_URI, max_length=2048)]
    sha256: Sha256Hex
    signature: ModelSignature | None = None


class Release(SpecModel):
    """What to roll out: an image pinned by digest and a model artifact pinned by SHA-256."""

    image: ImageReference
    model: ModelArtifact


class ModelRolloutSpec(SpecModel):
    """``spec`` of a ModelRollout."""

    service: DnsSubdomain
    environments: Environments
    release: Release
    strategy: Strategy
    analysis: AnalysisPolicy | None = None
    gates: Gates = Field(default_factory=Gates)
    webhooks: list[Webhook] = Field(default_factory=list, max_length=32)
    notifications: list[Notification] = Field(default_factory=list, max_length=16)
    metrics: MetricsConfig | None = None
    progress_deadline: StepDuration = timedelta(minutes=10)
    revision_history_limit: Annotated[int, Field(ge=1, le=REVISION_LIMIT_MAX)] = 10

    @model_validator(mode="after")
    def _analysis_needed(self) -> ModelRolloutSpec:
        canary = self.strategy.canary
        if canary is not None and self.analysis is None and any(s.analyze for s in canary.steps):
            raise ValueError("strategy has analyze steps but spec.analysis is not set")
        blue_green = self.strategy.blue_green
        if (
            blue_green is not None
            and self.analysis is None
            and (blue_green.pre_promotion_analysis or blue_green.post_promotion_analysis)
        ):
            raise ValueError("blueGreen asks for analysis but spec.analysis is not set")
        return self


class ModelRollout(SpecModel):
    """``ModelRollout`` (``mlrollout.io/v1alpha1``)."""

    api_version: Literal["mlrollout.io/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["ModelRollout"]
    metadata: ObjectMeta
    spec: ModelRolloutSpec
    status: RolloutStatus | None = None

    @property
    def name(self) -> str:
        """The rollout's name."""
        return self.metadata.name

    @property
    def namespace(self) -> str:
        """The rollout's namespace."""
        return self.metadata.namespace
