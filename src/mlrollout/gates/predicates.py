"""Judging predicates: SLSA provenance v1 and vulnerability-scan results against policy.

Pure; called by ``attestations`` with predicates from verified statements. Each function
returns ``None`` when the predicate passes, else the reason and a message. Anything
malformed or unrecognised fails closed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mlrollout.gates.policy import ProvenancePolicy, VulnerabilityPolicy
from mlrollout.gates.reasons import Reason

__all__ = ["SEVERITY_RANK", "assess_provenance", "assess_vulnerabilities"]

# ``NONE`` is only a limit (``maxSeverity: none``): every finding ranks above it.
SEVERITY_RANK = {
    "NONE": -1,
    "NEGLIGIBLE": 0,
    "LOW": 1,
    "MEDIUM": 2,
    "HIGH": 3,
    "UNKNOWN": 3,
    "CRITICAL": 4,
}
Verdict = tuple[Reason, str] | None


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def assess_provenance(predicate: Mapping[str, Any], policy: ProvenancePolicy) -> Verdict:
    """Builder on the allowlist, known external parameters only, allowed repository and ref.

    An empty ``source_refs`` allows any ref of an allowed repository (``sourceRefs`` unset);
    the builder and the repository are always pinned (``min_length=1`` in the spec)."""
    definition = _obj(predicate.get("buildDefinition"))
    builder = _obj(_obj(predicate.get("runDetails")).get("builder")).get("id")
    params = definition.get("externalParameters")
    if not isinstance(builder, str) or not isinstance(params, dict):
        missing = "runDetails.builder.id or buildDefinition.externalParameters"
        return Reason.ATTESTATION_INVALID, f"provenance lacks {missing}"
    if builder not in policy.builder_ids:
        return Reason.PROVENANCE_BUILDER, f"builder {builder!r} is not on the allowlist"
    unknown = sorted(params.keys() - policy.allowed_external_parameters)
    if unknown:
        return Reason.PROVENANCE_PARAMETERS, f"unknown externalParameters {unknown}"
    workflow = _obj(params.get("workflow"))
    repository, ref = workflow.get("repository"), workflow.get("ref")
    if repository not in policy.source_repositories:
        return Reason.PROVENANCE_SOURCE, f"source repository {repository!r} is not allowed"
    if policy.source_refs and ref not in policy.source_refs:
        return Reason.PROVENANCE_SOURCE, f"source ref {ref!r} is not allowed"
    return None


def _findings(result: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(id, severity) pairs from a Trivy JSON or Grype JSON report."""
    if isinstance(result.get("Results"), list):
        for target in result["Results"]:
            for vuln in _obj(target).get("Vulnerabilities") or []:
                yield str(_obj(vuln).get("VulnerabilityID")), str(_obj(vuln).get("Severity"))
    elif isinstance(result.get("matches"), list):
        for match in result["matches"]:
            vuln = _obj(_obj(match).get("vulnerability"))
            yield str(vuln.get("id")), str(vuln.get("severity"))
    else:
        raise ValueError("scanner.result is neither a Trivy nor a Grype report")


def assess_vulnerabilities(predicate: Mapping[str, Any], policy: VulnerabilityPolicy) -> Verdict:
    """No finding above ``policy.max_severity``; unknown severities count as HIGH."""
    limit = SEVERITY_RANK[policy.max_severity.upper()]
    result = _obj(_obj(predicate.get("scanner")).get("result"))
    try:
        above = [
            f"{vid} ({sev})"
            for vid, sev in _findings(result)
            if SEVERITY_RANK.get(sev.upper(), SEVERITY_RANK["UNKNOWN"]) > limit
        ]
    except ValueError as exc:
        return Reason.ATTESTATION_INVALID, str(exc)
    if above:
        shown = ", ".join(above[:5]) + (" …" if len(above) > 5 else "")
        message = f"{len(above)} finding(s) above {policy.max_severity}: {shown}"
        return Reason.VULNERABILITY_FOUND, message
    return None
