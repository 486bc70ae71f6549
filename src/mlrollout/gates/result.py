"""The outcome of a verification: verified or refused, the reason code, and every check.

Returned by ``cosign.assess_signatures``, the attestation checks and ``verify`` (the
library entry point for the controller); rendered by ``cli/verify.py``. A refusal is a
value here; ``raise_if_refused`` turns it into ``GateError`` at the CLI/controller edge.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from mlrollout.errors import GateError
from mlrollout.gates.reasons import Reason

__all__ = ["Check", "VerificationResult", "describe_refusal"]


def describe_refusal(error: GateError) -> str:
    """The message of a ``GateError`` without its reason-code prefix."""
    return str(error).removeprefix(f"{error.reason_code}: ")


@dataclass(frozen=True)
class Check:
    """One signature or attestation examined: ``reason`` is ``None`` when it passed."""

    kind: str
    index: int
    reason: Reason | None
    message: str
    key: str | None = None
    predicate_type: str | None = None

    @property
    def passed(self) -> bool:
        """True when this signature or attestation satisfied every rule."""
        return self.reason is None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "kind": self.kind,
            "index": self.index,
            "passed": self.passed,
            "reason": self.reason.value if self.reason else None,
            "message": self.message,
            "key": self.key,
            "predicateType": self.predicate_type,
        }


@dataclass(frozen=True)
class VerificationResult:
    """Verified (``reason is None``) or refused with one reason code, plus the details."""

    image: str
    reason: Reason | None
    message: str
    checks: tuple[Check, ...] = ()

    @classmethod
    def refused(
        cls, image: str, reason: Reason, message: str, checks: tuple[Check, ...] = ()
    ) -> VerificationResult:
        """A refusal with ``reason``."""
        return cls(image, reason, message, checks)

    @property
    def verified(self) -> bool:
        """True when every gate passed."""
        return self.reason is None

    def combine(self, other: VerificationResult) -> VerificationResult:
        """This result followed by ``other``: the first refusal wins, checks accumulate."""
        checks = self.checks + other.checks
        if not self.verified:
            return replace(self, checks=checks)
        return replace(other, image=self.image, checks=checks)

    def raise_if_refused(self) -> None:
        """Raise ``GateError(reason_code, message)`` when refused; return otherwise."""
        if self.reason is not None:
            raise GateError(self.reason.value, self.message)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view for ``--output json`` and the rollout status."""
        return {
            "image": self.image,
            "verified": self.verified,
            "reason": self.reason.value if self.reason else None,
            "message": self.message,
            "checks": [c.to_dict() for c in self.checks],
        }
