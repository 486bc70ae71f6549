"""``spec.gates`` turned into the gates layer's ``GatePolicy``: the one mapping both the
controller (a rollout's ``spec.gates``) and ``mlrollout verify image --policy FILE`` (a file
holding the same object) use.

Reads what the spec refers to: public keys and ``trusted_root.json`` from a Secret mounted
at ``$MLROLLOUT_SECRETS_DIR/<secret>/<key>``, from a file (relative paths resolved against
``base``: the policy file's directory for ``verify``), or inline. Every problem is a
``SpecError`` whose path is ``prefix`` plus the field (``spec.gates.signature.publicKeys[0]``
for a rollout, ``signature.publicKeys[0]`` for a policy file).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from mlrollout.errors import SpecError
from mlrollout.gates.policy import (
    AttestationPolicy,
    GatePolicy,
    KeylessIdentity,
    PodSecurityPolicy,
    ProvenancePolicy,
    SignaturePolicy,
    TrustedKey,
    VulnerabilityPolicy,
)
from mlrollout.spec.environment import EnvironmentSettings
from mlrollout.spec.policy import Gates, PublicKeyRef, SignatureGate, TrustedRootRef
from mlrollout.spec.scope import ENV_ALLOW_KEY_FILES
from mlrollout.spec.yamlfile import read_regular_file

__all__ = ["SPEC_PREFIX", "compute_gate_policy", "load_trusted_key", "load_trusted_root"]

SPEC_PREFIX = "spec.gates"


def _field(prefix: str, rest: str) -> str:
    return f"{prefix}.{rest}" if prefix else rest


def _secret_path(secret: str, key: str) -> Path:
    return EnvironmentSettings.from_environment().secret_path(secret, key)


def _file_path(file: str, base: Path | None) -> Path:
    path = Path(file)
    return path if base is None or path.is_absolute() else base / path


def load_trusted_key(
    ref: PublicKeyRef,
    index: int,
    *,
    prefix: str = SPEC_PREFIX,
    base: Path | None = None,
    allow_files: bool | None = None,
) -> TrustedKey:
    """A trusted key from a mounted secret, a file, or inline PEM. ``allow_files``: whether
    ``file`` may be read (None: as ``MLROLLOUT_ALLOW_KEY_FILES`` says)."""
    where = _field(prefix, f"signature.publicKeys[{index}]")
    if ref.pem is not None:
        pem, name = ref.pem.encode(), f"publicKeys[{index}] (inline)"
    else:
        if ref.secret is not None:
            path = _secret_path(ref.secret, ref.key)
        else:
            assert ref.file is not None
            if allow_files is None:
                allow_files = EnvironmentSettings.from_environment().allow_key_files
            if not allow_files:
                raise SpecError(
                    f"keys from files are not allowed here ({ENV_ALLOW_KEY_FILES}); use a "
                    "mounted Secret or inline pem",
                    path=f"{where}.file",
                )
            path = _file_path(ref.file, base)
        try:
            pem = read_regular_file(path, limit=64 * 1024)
        except SpecError as exc:
            raise SpecError(
                f"cannot read public key {path}: {exc.reason}",
                path=f"{where}.{'secret' if ref.secret is not None else 'file'}",
            ) from None
        name = str(path)
    try:
        return TrustedKey.from_pem(
            pem, name=name, not_before=_time(ref.not_before), not_after=_time(ref.not_after)
        )
    except ValueError as exc:
        raise SpecError(str(exc), path=where) from None


def load_trusted_root(
    ref: TrustedRootRef, *, prefix: str = SPEC_PREFIX, base: Path | None = None
) -> bytes:
    """The bytes of ``trusted_root.json`` from a mounted secret or a file."""
    if ref.secret is not None:
        path, field = _secret_path(ref.secret, ref.key), "secret"
    else:
        assert ref.file is not None
        path, field = _file_path(ref.file, base), "file"
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SpecError(
            f"cannot read trusted root {path}: {exc.strerror}",
            path=_field(prefix, f"signature.trustedRoot.{field}"),
        ) from None


def _signature_policy(
    gate: SignatureGate, *, prefix: str, base: Path | None, allow_files: bool | None
) -> SignaturePolicy:
    identities = tuple(
        KeylessIdentity(issuer=k.issuer, identity=k.identity, identity_regexp=k.identity_regexp)
        for k in gate.keyless
    )
    keys = tuple(
        load_trusted_key(k, i, prefix=prefix, base=base, allow_files=allow_files)
        for i, k in enumerate(gate.public_keys)
    )
    root = gate.trusted_root
    try:
        return SignaturePolicy(
            keys=keys,
            threshold=gate.threshold,
            identity_mirrors=dict(gate.identity_mirrors),
            required_annotations=dict(gate.annotations),
            identities=identities,
            trusted_root=load_trusted_root(root, prefix=prefix, base=base) if root else None,
            require_tlog=gate.require_transparency_log,
        )
    except ValueError as exc:  # e.g. two entries naming one key: threshold over distinct keys
        raise SpecError(str(exc), path=_field(prefix, "signature")) from None


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def compute_gate_policy(
    gates: Gates,
    *,
    prefix: str = SPEC_PREFIX,
    base: Path | None = None,
    allow_key_files: bool | None = None,
) -> GatePolicy | None:
    """The gates layer's policy for ``spec.gates``; None when no signature gate is set.
    ``allow_key_files`` as ``load_trusted_key``'s ``allow_files``."""
    if gates.signature is None:
        return None
    signature = _signature_policy(
        gates.signature, prefix=prefix, base=base, allow_files=allow_key_files
    )
    provenance = None
    if gates.provenance is not None:
        provenance = ProvenancePolicy(
            builder_ids=frozenset(gates.provenance.builder_ids),
            source_repositories=frozenset(gates.provenance.source_repos),
            source_refs=frozenset(gates.provenance.source_refs),
            allowed_external_parameters=frozenset(gates.provenance.allowed_external_parameters),
        )
    vulnerabilities = None
    if gates.vulnerabilities is not None:
        vulnerabilities = VulnerabilityPolicy(
            max_severity=gates.vulnerabilities.max_severity.upper()
        )
    pod_security = PodSecurityPolicy(
        level=gates.pod_security,
        max_gpus=gates.max_gpus_per_pod or PodSecurityPolicy().max_gpus,
        require_egress_policy=gates.network_policy != "ignore",
        egress_policy_missing_is_error=gates.network_policy == "require",
    )
    return GatePolicy(
        signature=signature,
        attestations=AttestationPolicy(
            provenance=provenance, require_sbom=gates.sbom, vulnerabilities=vulnerabilities
        ),
        pod_security=pod_security,
    )
