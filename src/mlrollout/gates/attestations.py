"""Attestations: verify each DSSE layer, then apply the provenance, SBOM and scan policies.

Pure; ``verify`` fetches the layers of the ``sha256-<hex>.att`` manifest. A layer counts
only if its envelope verified under a trusted key, its payload is an in-toto statement and
a subject names the image digest; its type is the verified ``predicateType``, exactly.
When a required type has no passing statement the refusal names why the candidates of that
type failed (e.g. SUBJECT_MISMATCH), or says the attestation is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from mlrollout.errors import GateError
from mlrollout.gates.cosign import BlobLayer, decide_blob_intact
from mlrollout.gates.dsse import decide_envelope
from mlrollout.gates.intoto import IN_TOTO_PAYLOAD_TYPE, Statement, parse_statement
from mlrollout.gates.policy import (
    SBOM_PREDICATE_TYPES,
    SLSA_PROVENANCE_V1,
    VULN_PREDICATE_TYPE,
    GatePolicy,
)
from mlrollout.gates.predicates import Verdict, assess_provenance, assess_vulnerabilities
from mlrollout.gates.reasons import Reason
from mlrollout.gates.result import Check, VerificationResult, describe_refusal
from mlrollout.model import ImageRef

__all__ = ["DSSE_MEDIA_TYPE", "assess_attestation_layer", "assess_attestations"]

DSSE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"
Judge = Callable[[Mapping[str, Any]], Verdict]


def assess_attestation_layer(
    layer: BlobLayer, *, index: int, image: ImageRef, policy: GatePolicy, now: datetime
) -> tuple[Check, Statement | None]:
    """Verify one layer; return its check and the statement when it is about ``image``."""
    if layer.media_type != DSSE_MEDIA_TYPE:
        msg = f"not an attestation (media type {layer.media_type!r})"
        return Check("attestation", index, Reason.ATTESTATION_MISSING, msg), None
    problem = decide_blob_intact(layer)
    if problem:
        return Check("attestation", index, Reason.BLOB_DIGEST_MISMATCH, problem), None
    try:
        verified = decide_envelope(layer.blob, keys=policy.signature.keys, now=now)
    except GateError as exc:
        reason = Reason(exc.reason_code)
        return Check("attestation", index, reason, describe_refusal(exc)), None
    if verified.payload_type != IN_TOTO_PAYLOAD_TYPE:
        msg = f"payloadType {verified.payload_type!r} is not in-toto"
        return Check("attestation", index, Reason.ATTESTATION_INVALID, msg), None
    try:
        statement = parse_statement(verified.body)
    except ValueError as exc:
        return Check("attestation", index, Reason.ATTESTATION_INVALID, str(exc)), None
    kind = statement.predicate_type
    if not statement.decide_about(image.digest):
        msg = f"no subject has digest {image.digest}"
        return Check("attestation", index, Reason.SUBJECT_MISMATCH, msg, predicate_type=kind), None
    key = ", ".join(k.name for k in verified.signers)
    return Check("attestation", index, None, "verified", key=key, predicate_type=kind), statement


def assess_attestations(
    *,
    image: ImageRef,
    layers: Sequence[BlobLayer],
    policy: GatePolicy,
    now: datetime,
    bundled: Sequence[tuple[Check, Statement | None]] = (),
) -> VerificationResult:
    """Verified when every required attestation exists, verifies and satisfies its policy.

    ``layers`` are legacy ``.att`` DSSE layers, verified here; ``bundled`` are the checks
    and verified statements of Sigstore-bundle attestations (``referrers``). Both face the
    same predicate judges: a new storage format never skips a predicate check.
    """
    checks: list[Check] = [c for c, _ in bundled]
    statements: list[Statement] = [s for _, s in bundled if s is not None]
    for index, layer in enumerate(layers):
        check, statement = assess_attestation_layer(
            layer, index=index, image=image, policy=policy, now=now
        )
        checks.append(check)
        if statement is not None:
            statements.append(statement)
    for types, judge, missing in _requirements(policy):
        verdict = _decide_requirement(statements, checks, types=types, judge=judge, missing=missing)
        if verdict is not None:
            return VerificationResult.refused(str(image), verdict[0], verdict[1], tuple(checks))
    return VerificationResult(str(image), None, "attestations satisfy policy", tuple(checks))


def _requirements(policy: GatePolicy) -> list[tuple[frozenset[str], Judge, Reason]]:
    wanted = policy.attestations
    out: list[tuple[frozenset[str], Judge, Reason]] = []
    if wanted.provenance is not None:
        rules = wanted.provenance
        out.append(_judged(SLSA_PROVENANCE_V1, lambda p: assess_provenance(p, rules)))
    if wanted.require_sbom:
        out.append((SBOM_PREDICATE_TYPES, lambda p: None, Reason.SBOM_MISSING))
    if wanted.vulnerabilities is not None:
        limits = wanted.vulnerabilities
        out.append(_judged(VULN_PREDICATE_TYPE, lambda p: assess_vulnerabilities(p, limits)))
    return out


def _judged(predicate_type: str, judge: Judge) -> tuple[frozenset[str], Judge, Reason]:
    """A requirement for one predicate type whose statements ``judge`` assesses."""
    return frozenset({predicate_type}), judge, Reason.ATTESTATION_MISSING


def _decide_requirement(
    statements: Sequence[Statement],
    checks: Sequence[Check],
    *,
    types: frozenset[str],
    judge: Judge,
    missing: Reason,
) -> Verdict:
    matching = [s for s in statements if s.predicate_type in types]
    if not matching:
        failed = [c for c in checks if c.predicate_type in types and c.reason is not None]
        if failed and failed[0].reason is not None:
            return failed[0].reason, failed[0].message
        return missing, f"no verified attestation of type {' or '.join(sorted(types))}"
    for statement in matching:
        verdict = judge(statement.predicate)
        if verdict is not None:
            return verdict
    return None
