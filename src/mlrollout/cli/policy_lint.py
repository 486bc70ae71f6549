"""``mlrollout lint --policy FILE``: what ClusterReleasePolicies would refuse, offline.

Part of the ``cli`` layer, beside ``lint``: loads the policy files and runs the same pure
``spec.governance.compute_effective_gates`` as the controller on every rollout given. A
file has no namespace labels, so every policy is applied to every rollout (as if its
namespace were governed). Each refusal is a ``SpecError`` naming the rollout's file, the
field and the policy.
"""

from __future__ import annotations

from pathlib import Path

from mlrollout.errors import SpecError
from mlrollout.spec import LoadResult, ModelRollout
from mlrollout.spec.governance import compute_effective_gates
from mlrollout.spec.release_policy import ClusterReleasePolicy, load_release_policies

__all__ = ["load_policy_files", "policy_refusals"]


def load_policy_files(paths: list[Path]) -> list[ClusterReleasePolicy]:
    """Every ClusterReleasePolicy in ``paths``, in name order; a bad file is a SpecError."""
    policies: list[ClusterReleasePolicy] = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            reason = "no such file" if isinstance(exc, FileNotFoundError) else exc.strerror
            raise SpecError(str(reason), source=str(path)) from None
        policies += load_release_policies(data, source=str(path))
    return sorted(policies, key=lambda p: p.name)


def policy_refusals(result: LoadResult, policies: list[ClusterReleasePolicy]) -> list[SpecError]:
    """One error per requirement a rollout in ``result`` breaks."""
    errors: list[SpecError] = []
    for doc in result.rollouts:
        assert isinstance(doc.resource, ModelRollout)
        spec = doc.resource.spec
        signed = spec.release.model.signature is not None
        governance = compute_effective_gates(spec.gates, policies, model_signed=signed)
        errors += [
            SpecError(
                f"{r.message} (ClusterReleasePolicy {r.policy})",
                source=doc.source,
                document=doc.index,
                path=r.field,
            )
            for r in governance.refusals
        ]
    return errors
