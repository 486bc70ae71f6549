"""The policy sections of a rollout: analysis settings, gates, webhooks, notifications, metrics.

Part of the ``spec`` layer. These say *how* a release is judged and guarded; the layers that
act on them (``analysis``, ``gates``, ``controller``, ``metrics``) read them as frozen values.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from mlrollout.model.analysis import InconclusivePolicy
from mlrollout.spec.base import (
    CallTimeout,
    DnsLabel,
    DnsSubdomain,
    HttpUrl,
    LabelMap,
    OneOf,
    SpecModel,
    StepDuration,
)

__all__ = [
    "AnalysisPolicy",
    "Gates",
    "JudgeKind",
    "KayentaSettings",
    "KeylessIdentity",
    "MetricsConfig",
    "Notification",
    "OnErrorLimit",
    "PrometheusConfig",
    "PublicKeyRef",
    "SecretKeyRef",
    "TemplateRef",
    "ThresholdSettings",
    "TrustedRootRef",
    "Webhook",
    "WebhookType",
]


class JudgeKind(StrEnum):
    """Which judge decides: the anytime-valid default or a compatibility judge."""

    SEQUENTIAL = "sequential"
    KAYENTA = "kayenta"
    THRESHOLD = "threshold"


class OnErrorLimit(StrEnum):
    """What happens after ``consecutiveErrorLimit`` errored measurements."""

    ROLLBACK = "rollback"
    PAUSE = "pause"


class TemplateRef(SpecModel):
    """A reference to an ``AnalysisTemplate`` by name, with argument values.

    ``dryRun``: the template's metrics are measured, judged and reported (marked ``dryRun``
    in ``status.analysis``) but never decide — no rollback, no hold on promotion, no share
    of the α budget of the deciding metrics. Sequential judge only.
    """

    name: DnsSubdomain
    args: LabelMap = Field(default_factory=dict)
    dry_run: bool = False


class KayentaSettings(SpecModel):
    """Settings of the Kayenta-compatible judge."""

    confidence: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.98
    pass_score: Annotated[float, Field(ge=0.0, le=100.0)] = 75.0
    marginal_score: Annotated[float, Field(ge=0.0, le=100.0)] = 50.0
    interval: StepDuration = timedelta(minutes=20)
    intervals: Annotated[int, Field(ge=1, le=100)] = 3

    @model_validator(mode="after")
    def _scores(self) -> KayentaSettings:
        if self.marginal_score > self.pass_score:
            raise ValueError("marginalScore must not exceed passScore")
        return self


class ThresholdSettings(SpecModel):
    """Settings of the Flagger-compatible threshold judge."""

    interval: StepDuration = timedelta(minutes=1)
    failure_limit: Annotated[int, Field(ge=1, le=1000)] = 2
    checks: Annotated[int, Field(ge=1, le=1000)] = 10


class AnalysisPolicy(SpecModel):
    """Which templates run, which judge decides, error bounds and time limits."""

    templates: list[TemplateRef] = Field(min_length=1, max_length=32)
    judge: JudgeKind = JudgeKind.SEQUENTIAL
    alpha: Annotated[float, Field(gt=0.0, le=0.2)] = 0.01
    beta: Annotated[float, Field(gt=0.0, le=0.5)] = 0.05
    on_inconclusive: InconclusivePolicy = InconclusivePolicy.PAUSE
    max_duration: StepDuration = timedelta(hours=1)
    min_duration: StepDuration = timedelta(0)
    interval: StepDuration = timedelta(seconds=30)
    consecutive_error_limit: Annotated[int, Field(ge=1, le=1000)] = 4
    on_error_limit: OnErrorLimit = OnErrorLimit.ROLLBACK
    kayenta: KayentaSettings = Field(default_factory=KayentaSettings)
    threshold: ThresholdSettings = Field(default_factory=ThresholdSettings)

    @model_validator(mode="after")
    def _times(self) -> AnalysisPolicy:
        if self.min_duration > self.max_duration:
            raise ValueError("minDuration must not exceed maxDuration")
        if self.interval < timedelta(seconds=1) or self.interval > self.max_duration:
            raise ValueError("interval must be at least 1s and at most maxDuration")
        names = [t.name for t in self.templates]
        if len(set(names)) != len(names):
            raise ValueError(f"templates: each template may be referenced once, got {names}")
        return self._dry_run()

    def _dry_run(self) -> AnalysisPolicy:
        dry = [t.name for t in self.templates if t.dry_run]
        if dry and self.judge is not JudgeKind.SEQUENTIAL:
            raise ValueError(
                f"templates: dryRun is supported by the sequential judge only "
                f"(judge is {self.judge.value}; dry-run: {', '.join(dry)})"
            )
        if len(dry) == len(self.templates):
            raise ValueError("templates: every template is dryRun; at least one must decide")
        return self


SecretKeyName = Annotated[str, StringConstraints(pattern=r"^[-._a-zA-Z0-9]+$", max_length=253)]
"""The name of a key in a Secret."""

FilePath = Annotated[str, StringConstraints(min_length=1, max_length=4096)]
"""A local file path (of the controller's or the CLI's machine)."""


class SecretKeyRef(SpecModel):
    """A key of a Secret mounted into the controller (never read through the API)."""

    secret: DnsSubdomain
    key: SecretKeyName = "cosign.pub"


def _zoned(text: str) -> str:
    """An RFC 3339 timestamp with a timezone (``Z`` or an offset); naive times are refused,
    since comparing them with the aware clock is meaningless."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"must be an RFC 3339 timestamp, got {text[:64]!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"must carry a timezone (Z or +hh:mm), got {text[:64]!r}")
    return text


ZonedStamp = Annotated[str, StringConstraints(max_length=64), AfterValidator(_zoned)]
"""An RFC 3339 timestamp with a timezone."""


class PublicKeyRef(OneOf):
    """A trusted cosign public key: from a Secret, a file, or inline PEM."""

    one_of = ("secret", "file", "pem")
    secret: DnsSubdomain | None = None
    key: SecretKeyName = "cosign.pub"
    file: FilePath | None = None
    pem: Annotated[str, StringConstraints(max_length=16384)] | None = None
    not_before: ZonedStamp | None = None
    not_after: ZonedStamp | None = None

    @model_validator(mode="after")
    def _pem(self) -> PublicKeyRef:
        if self.pem is not None and "-----BEGIN PUBLIC KEY-----" not in self.pem:
            raise ValueError("pem must be a PEM public key (-----BEGIN PUBLIC KEY-----)")
        return self


class KeylessIdentity(OneOf):
    """A Fulcio certificate identity trusted for keyless (OIDC) signatures.

    Set exactly one of ``identity`` (the certificate's subject alternative name, exactly)
    and ``identityRegexp`` (a regular expression the whole name must match); ``issuer`` is
    the OIDC issuer, exactly (as ``cosign verify --certificate-oidc-issuer``).
    """

    one_of = ("identity", "identity_regexp")
    issuer: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    identity: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = None
    identity_regexp: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = None

    @model_validator(mode="after")
    def _regexp(self) -> KeylessIdentity:
        if self.identity_regexp is not None:
            try:
                re.compile(self.identity_regexp)
            except re.error as exc:
                raise ValueError(f"identityRegexp is not a regular expression: {exc}") from None
        return self


class TrustedRootRef(OneOf):
    """The Sigstore ``trusted_root.json`` (Fulcio CAs, Rekor and CT log keys, TSAs)."""

    one_of = ("secret", "file")
    secret: DnsSubdomain | None = None
    key: SecretKeyName = "trusted_root.json"
    file: FilePath | None = None


class SignatureGate(SpecModel):
    """Cosign signatures: trusted keys and keyless identities, how many must agree.

    Legacy ``.sig`` signatures and Sigstore bundles (cosign v3, found as OCI referrers) are
    both accepted. Keyless identities need ``trustedRoot``; a key-signed bundle must carry a
    transparency-log entry verified against it unless ``requireTransparencyLog`` is false.
    """

    public_keys: list[PublicKeyRef] = Field(default_factory=list, max_length=16)
    keyless: list[KeylessIdentity] = Field(default_factory=list, max_length=16)
    trusted_root: TrustedRootRef | None = None
    require_transparency_log: bool = True
    threshold: Annotated[int, Field(ge=1, le=16)] = 1
    identity_mirrors: LabelMap = Field(default_factory=dict)
    annotations: LabelMap = Field(default_factory=dict)

    @model_validator(mode="after")
    def _threshold(self) -> SignatureGate:
        signers = len(self.public_keys) + len(self.keyless)
        if not signers:
            raise ValueError("set at least one of publicKeys and keyless")
        if self.keyless and self.trusted_root is None:
            raise ValueError("keyless identities need trustedRoot")
        if self.threshold > signers:
            raise ValueError(
                f"threshold {self.threshold} exceeds the {signers} trusted keys and identities"
            )
        return self


Pattern = Annotated[str, StringConstraints(min_length=1, max_length=512)]


class ProvenanceGate(SpecModel):
    """SLSA provenance v1 policy."""

    builder_ids: list[Pattern] = Field(min_length=1)
    source_repos: list[Pattern] = Field(min_length=1)
    source_refs: list[Pattern] = Field(default_factory=list)
    # The only keys ``buildDefinition.externalParameters`` may hold.
    allowed_external_parameters: list[Pattern] = Field(
        default_factory=lambda: ["workflow", "inputs", "vars"], min_length=1, max_length=32
    )


class VulnerabilityGate(SpecModel):
    """A vulnerability-scan attestation, no finding above ``maxSeverity`` (none: no finding)."""

    max_severity: Literal["none", "negligible", "low", "medium", "high", "critical"] = "high"


class Gates(SpecModel):
    """Checks that must pass before any pod starts or traffic moves."""

    signature: SignatureGate | None = None
    provenance: ProvenanceGate | None = None
    sbom: bool = False
    vulnerabilities: VulnerabilityGate | None = None
    pod_security: Literal["restricted", "baseline"] = "restricted"
    network_policy: Literal["require", "warn", "ignore"] = "warn"
    gpu_capacity: bool = True
    max_gpus_per_pod: Annotated[int, Field(ge=1, le=64)] | None = None


class WebhookType(StrEnum):
    """When a webhook is called (and whether its answer gates the rollout)."""

    CONFIRM_ROLLOUT = "confirm-rollout"
    PRE_ROLLOUT = "pre-rollout"
    CONFIRM_TRAFFIC_INCREASE = "confirm-traffic-increase"
    CONFIRM_PROMOTION = "confirm-promotion"
    POST_ROLLOUT = "post-rollout"
    ROLLBACK = "rollback"
    EVENT = "event"


def _assess_headers(headers: dict[str, str]) -> None:
    """HTTP header names and values must be printable ASCII (no line breaks: no injection)."""
    for name, value in headers.items():
        for text in (name, value):
            if not all(" " <= ch <= "~" or ch == "\t" for ch in text):
                raise ValueError(f"headers: {name[:40]!r} must be printable ASCII")


def _check_sendable_headers(model: Any) -> Any:
    """The after-validator of every model with HTTP ``headers``."""
    _assess_headers(model.headers)
    return model


class Webhook(SpecModel):
    """An HTTP hook; gating types must answer 2xx for the rollout to go on."""

    name: DnsLabel | None = None
    type: WebhookType
    url: HttpUrl
    timeout: CallTimeout = timedelta(seconds=10)
    retries: Annotated[int, Field(ge=0, le=10)] = 2
    headers: LabelMap = Field(default_factory=dict)
    metadata: LabelMap = Field(default_factory=dict)
    insecure_skip_tls_verify: bool = False

    _sendable_headers = model_validator(mode="after")(_check_sendable_headers)


class Notification(SpecModel):
    """A Slack-compatible incoming webhook told of phase changes."""

    type: Literal["slack"] = "slack"
    url: HttpUrl
    channel: Annotated[str, StringConstraints(max_length=80)] | None = None
    on: list[
        Literal["Progressing", "Paused", "Succeeded", "RolledBack", "Aborted", "Failed", "Refused"]
    ] = Field(default_factory=list)


class PrometheusConfig(SpecModel):
    """How to reach Prometheus (environment variables may override the address)."""

    address: HttpUrl
    timeout: CallTimeout = timedelta(seconds=10)
    headers: LabelMap = Field(default_factory=dict)
    bearer_token: SecretKeyRef | None = None
    basic_auth: SecretKeyRef | None = None
    ca_file: FilePath | None = None
    insecure_skip_tls_verify: bool = False

    _sendable_headers = model_validator(mode="after")(_check_sendable_headers)


class MetricsConfig(SpecModel):
    """Metric providers available to this rollout's templates."""

    prometheus: PrometheusConfig | None = None
    selector_label: Annotated[
        str, StringConstraints(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$", max_length=128)
    ] = "environment"
