"""One streaming pass over the real audit log for the requests of one user, without keeping
the stored bodies: request counts by verb and resource, and each request's time and token.

Part of the ``controlplane`` test package, used by ``benchmarks/reliability_scale.py``
(``audit.AuditLog`` keeps every request with its body, which a run of a thousand rollouts
makes too big to hold), and how long the API server took to answer each request.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .audit import WRITE_VERBS

__all__ = ["Call", "UserRequests", "scan_user"]

CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"


@dataclass(frozen=True)
class Call:
    """One completed request of the user."""

    at: datetime  # stageTimestamp: when the API server completed it
    verb: str
    resource: str  # "deployments" or "modelrollouts/status"
    namespace: str
    name: str
    code: int
    credential: str  # the token's id ("JTI=…"), "" for other credentials
    took: float = 0.0  # seconds from requestReceivedTimestamp to stageTimestamp

    @property
    def write(self) -> bool:
        """Whether the request was a write."""
        return self.verb in WRITE_VERBS


@dataclass
class UserRequests:
    """Everything one user asked of the API server."""

    calls: list[Call] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Requests by ``verb resource``, most frequent first."""
        tally = Counter(f"{c.verb} {c.resource}" for c in self.calls)
        return dict(tally.most_common())


def scan_user(path: Path, user: str) -> UserRequests:
    """The completed requests ``user`` made, in the order the log has them."""
    out = UserRequests()
    needle = json.dumps(user).encode()
    with path.open("rb") as f:
        for line in f:
            if needle not in line:
                continue
            event = json.loads(line)
            if event.get("stage") != "ResponseComplete":
                continue
            who = event.get("user") or {}
            if who.get("username") != user:
                continue
            ref = event.get("objectRef") or {}
            resource = ref.get("resource", "") or event.get("requestURI", "")
            if ref.get("subresource"):
                resource = f"{resource}/{ref['subresource']}"
            credential = ((who.get("extra") or {}).get(CREDENTIAL_ID) or [""])[0]
            done = datetime.fromisoformat(event["stageTimestamp"])
            received = event.get("requestReceivedTimestamp")
            took = (done - datetime.fromisoformat(received)).total_seconds() if received else 0.0
            out.calls.append(
                Call(
                    at=done,
                    verb=event["verb"],
                    resource=resource,
                    namespace=ref.get("namespace", ""),
                    name=ref.get("name", ""),
                    code=int((event.get("responseStatus") or {}).get("code", 0)),
                    credential=credential,
                    took=took,
                )
            )
    return out
