"""in-toto Statements (v1 and v0.1): strict parsing and the subject-digest rule.

Used by ``attestations`` on payloads ``dsse`` verified, and by ``bundle`` on DSSE bundle
payloads (a subject's ``annotations`` carry cosign v3's ``sign -a`` values).
``predicateType`` is taken from the verified statement only (never from a layer
annotation: CVE-2022-35929).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from mlrollout.gates.strictjson import expect_keys, expect_object, expect_string, load_strict_json
from mlrollout.model import Sha256

__all__ = ["IN_TOTO_PAYLOAD_TYPE", "STATEMENT_TYPES", "Statement", "parse_statement"]

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPES = frozenset(
    {"https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1"}
)
_SUBJECT_OPTIONAL = frozenset({"name", "uri", "annotations", "downloadLocation", "mediaType"})


@dataclass(frozen=True)
class Statement:
    """What an attestation claims: its predicate type and predicate, about which digests."""

    predicate_type: str
    subject_sha256: frozenset[str]
    predicate: Mapping[str, Any]
    subject_annotations: Mapping[str, Mapping[str, str]] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def decide_about(self, digest: Sha256) -> bool:
        """True when one subject's sha256 is ``digest``."""
        return digest.hex in self.subject_sha256

    def annotations_of(self, digest: Sha256) -> Mapping[str, str]:
        """The string annotations of the subject with ``digest`` (cosign v3's ``-a``)."""
        return self.subject_annotations.get(digest.hex, MappingProxyType({}))


def parse_statement(body: bytes) -> Statement:
    """Parse a verified statement; ``ValueError`` names the first structural problem."""
    doc = expect_object(load_strict_json(body), "statement")
    expect_keys(
        doc,
        "statement",
        required={"_type", "subject", "predicateType"},
        optional=frozenset({"predicate"}),
    )
    kind = expect_string(doc["_type"], "_type")
    if kind not in STATEMENT_TYPES:
        raise ValueError(f"_type {kind!r} is not an in-toto Statement v1 or v0.1")
    subjects = doc["subject"]
    if not isinstance(subjects, list) or not subjects:
        raise ValueError("subject must be a non-empty list")
    digests = [_subject_sha256(s, i) for i, s in enumerate(subjects)]
    return Statement(
        predicate_type=expect_string(doc["predicateType"], "predicateType"),
        subject_sha256=frozenset(digests),
        predicate=expect_object(doc.get("predicate", {}), "predicate"),
        subject_annotations=MappingProxyType(
            {d: _string_annotations(s) for d, s in zip(digests, subjects, strict=True)}
        ),
    )


def _string_annotations(subject: Mapping[str, Any]) -> Mapping[str, str]:
    found = subject.get("annotations")
    if not isinstance(found, dict):
        return MappingProxyType({})
    return MappingProxyType({k: v for k, v in found.items() if isinstance(v, str)})


def _subject_sha256(value: Any, index: int) -> str:
    where = f"subject[{index}]"
    obj = expect_object(value, where)
    expect_keys(obj, where, required={"digest"}, optional=_SUBJECT_OPTIONAL)
    digest = expect_object(obj["digest"], f"{where}.digest")
    hex_value = expect_string(digest.get("sha256"), f"{where}.digest.sha256")
    return Sha256(hex_value.lower()).hex
