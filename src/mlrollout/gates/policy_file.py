"""The CLI's policy file (YAML) validated with pydantic and turned into ``GatePolicy``.

Used by ``cli/verify.py``; the controller builds ``GatePolicy`` from the rollout spec
instead. Key paths are relative to the policy file. Every problem is a ``SpecError`` naming
the file and field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pydantic
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from mlrollout.errors import SpecError
from mlrollout.gates.policy import (
    AttestationPolicy,
    GatePolicy,
    KeylessIdentity,
    ProvenancePolicy,
    SignaturePolicy,
    TrustedKey,
    VulnerabilityPolicy,
)
from mlrollout.spec.yamlfile import parse_yaml_documents, read_regular_file

__all__ = ["load_gate_policy"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _Key(_Model):
    path: str
    name: str | None = None
    not_before: AwareDatetime | None = Field(None, alias="notBefore")
    not_after: AwareDatetime | None = Field(None, alias="notAfter")


class _Keyless(_Model):
    issuer: str = Field(min_length=1)
    identity: str | None = None
    identity_regexp: str | None = Field(None, alias="identityRegexp")


class _Signature(_Model):
    keys: list[_Key] = []
    keyless: list[_Keyless] = []
    trusted_root: str | None = Field(None, alias="trustedRoot")
    require_transparency_log: bool = Field(True, alias="requireTransparencyLog")
    threshold: int = Field(1, ge=1)
    identity_mirrors: dict[str, str] = Field({}, alias="identityMirrors")
    required_annotations: dict[str, str] = Field({}, alias="requiredAnnotations")


class _Provenance(_Model):
    builder_ids: list[str] = Field(alias="builderIds", min_length=1)
    source_repositories: list[str] = Field(alias="sourceRepositories", min_length=1)
    source_refs: list[str] = Field(alias="sourceRefs", min_length=1)
    allowed_external_parameters: list[str] = Field(
        ["workflow", "inputs", "vars"], alias="allowedExternalParameters"
    )


class _Vulnerabilities(_Model):
    max_severity: Literal["NEGLIGIBLE", "LOW", "MEDIUM", "HIGH", "CRITICAL"] = Field(
        "MEDIUM", alias="maxSeverity"
    )


class _Attestations(_Model):
    provenance: _Provenance | None = None
    sbom: bool = False
    vulnerabilities: _Vulnerabilities | None = None


class _PolicyFile(_Model):
    signature: _Signature = _Signature()
    attestations: _Attestations = _Attestations()


def _load_key(path: Path, *, name: str, entry: _Key | None = None) -> TrustedKey:
    try:
        pem = read_regular_file(path, limit=64 * 1024)
        return TrustedKey.from_pem(
            pem,
            name=name,
            not_before=entry.not_before if entry else None,
            not_after=entry.not_after if entry else None,
        )
    except (OSError, ValueError) as exc:
        raise SpecError(f"cannot load public key: {exc}", source=str(path)) from exc


def _read(policy_path: Path) -> _PolicyFile:
    source = str(policy_path)
    documents = parse_yaml_documents(read_regular_file(policy_path), source=source)
    if len(documents) > 1:
        raise SpecError("expected one YAML document", source=source)
    doc = documents[0] if documents else {}
    try:
        return _PolicyFile.model_validate(doc)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SpecError(first["msg"], source=str(policy_path), path=where) from exc


def load_gate_policy(
    policy_path: Path | None,
    *,
    key_paths: list[Path],
    identities: tuple[KeylessIdentity, ...] = (),
    trusted_root: bytes | None = None,
    require_tlog: bool | None = None,
) -> GatePolicy:
    """Build the policy from an optional file plus command-line keys, identities and root.

    Command-line values add to the file's (``trusted_root`` and ``require_tlog`` replace
    it); ``SpecError`` names the file and field of anything invalid.
    """
    spec = _read(policy_path) if policy_path else _PolicyFile()
    base = policy_path.parent if policy_path else Path.cwd()
    keys = [_load_key(p, name=p.name) for p in key_paths]
    keys += [_load_key(base / k.path, name=k.name or k.path, entry=k) for k in spec.signature.keys]
    wanted = identities + _identities(spec.signature, source=policy_path)
    root = trusted_root
    if root is None and spec.signature.trusted_root is not None:
        root = _read_root(base / spec.signature.trusted_root)
    if not keys and not wanted:
        raise SpecError(
            "at least one trusted key or keyless identity is needed "
            "(--key, --certificate-identity, signature.keys or signature.keyless)"
        )
    try:
        signature = SignaturePolicy(
            keys=tuple(keys),
            threshold=spec.signature.threshold,
            identity_mirrors=dict(spec.signature.identity_mirrors),
            required_annotations=dict(spec.signature.required_annotations),
            identities=wanted,
            trusted_root=root,
            require_tlog=spec.signature.require_transparency_log
            if require_tlog is None
            else require_tlog,
        )
    except ValueError as exc:
        raise SpecError(str(exc), source=str(policy_path), path="signature") from exc
    return GatePolicy(signature=signature, attestations=_attestations(spec.attestations))


def _identities(spec: _Signature, *, source: Path | None) -> tuple[KeylessIdentity, ...]:
    out = []
    for index, entry in enumerate(spec.keyless):
        try:
            out.append(KeylessIdentity(entry.issuer, entry.identity, entry.identity_regexp))
        except ValueError as exc:
            where = f"signature.keyless.{index}"
            raise SpecError(str(exc), source=str(source), path=where) from exc
    return tuple(out)


def _read_root(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SpecError(f"cannot read trusted root: {exc.strerror}", source=str(path)) from exc


def _attestations(spec: _Attestations) -> AttestationPolicy:
    provenance = None
    if spec.provenance:
        provenance = ProvenancePolicy(
            builder_ids=frozenset(spec.provenance.builder_ids),
            source_repositories=frozenset(spec.provenance.source_repositories),
            source_refs=frozenset(spec.provenance.source_refs),
            allowed_external_parameters=frozenset(spec.provenance.allowed_external_parameters),
        )
    vulnerabilities = None
    if spec.vulnerabilities:
        vulnerabilities = VulnerabilityPolicy(max_severity=spec.vulnerabilities.max_severity)
    return AttestationPolicy(
        provenance=provenance, require_sbom=spec.sbom, vulnerabilities=vulnerabilities
    )
