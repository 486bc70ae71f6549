"""The Verifying phase's gates for a rollout on Kubernetes: signatures, attestations, pod
security of the candidate's template, GPU capacity.

Part of the ``controller`` layer: maps the rollout's ``spec.gates`` onto the ``gates``
layer's policies (``gates.gate_spec``, shared with ``verify image --policy``), reads what it
needs (the candidate's Deployment, NetworkPolicies, nodes and pods) and returns one
``VerificationOutcome``. Every failure — including an unreachable registry — is a refusal:
the gates fail closed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from mlrollout.core.observation import VerificationOutcome
from mlrollout.errors import GateError, KubeError, NotFoundError, SpecError, TransientError
from mlrollout.gates import (
    PodSecurityPolicy,
    Reason,
    RegistryClient,
    assess_pod_template,
    decide_image_reference,
    decide_pod_security,
    fetch_verification,
)
from mlrollout.gates.capacity import CapacitySnapshot, fetch_gpu_capacity
from mlrollout.gates.gate_spec import compute_gate_policy
from mlrollout.kube import KubeClient
from mlrollout.kube.environments import GpuEnvironments
from mlrollout.kube.kinds import NETWORKPOLICIES
from mlrollout.kube.release_policies import fetch_governing_policies
from mlrollout.kube.rollouts import StoredRollout
from mlrollout.spec import ModelRollout
from mlrollout.spec.governance import compute_effective_gates
from mlrollout.spec.policy import Gates
from mlrollout.spec.strategy import RouterKind
from mlrollout.traffic.replica_math import compute_pods_to_place, compute_replica_plan

__all__ = ["KubeReleaseVerifier", "compute_candidate_pods", "decide_model_verifier"]


def decide_model_verifier(template: dict[str, Any]) -> str | None:
    """None when an init container of ``template`` runs ``mlrollout verify model``.

    The controller hands that container the signature's settings as environment variables
    (``kube.environments.compute_signature_env``); without one, nothing would check the
    model signature the rollout asks for. The command and arguments must hold ``verify``
    and ``model`` as consecutive items (a shell string does not count).
    """
    spec = template.get("spec") or {}
    for container in spec.get("initContainers") or []:
        words = [
            str(w) for w in [*(container.get("command") or []), *(container.get("args") or [])]
        ]
        if any(a == "verify" and b == "model" for a, b in itertools.pairwise(words)):
            return None
    return (
        "spec.release.model.signature is set but no init container of the candidate runs "
        "`mlrollout verify model`"
    )


def compute_candidate_pods(rollout: ModelRollout, replicas: int) -> int:
    """Candidate pods the cluster must find GPUs for while the release rolls out.

    Routers other than ``replicas`` run the candidate at full size (``replicas`` pods) next
    to stable; the ``replicas`` router grows it step by step (see ``replica_math``).
    """
    canary = rollout.spec.strategy.canary
    if canary is None or canary.traffic.router is not RouterKind.REPLICAS:
        return replicas
    weights = [s.set_weight for s in canary.steps if s.set_weight is not None] + [100.0]
    plans = [
        compute_replica_plan(target_bp=round(w * 100), replicas=replicas, mode=canary.capacity)
        for w in weights
    ]
    return compute_pods_to_place(plans, canary.capacity)


class KubeReleaseVerifier:
    """Runs every gate for a rollout's release against the cluster and the registry.

    ``deployments`` is the rollout's view of its two Deployments, built once per rollout
    and shared with the router and the effects. ``allow_key_files``: whether
    ``publicKeys[].file`` may be read (None: as ``MLROLLOUT_ALLOW_KEY_FILES`` says; the
    controller passes False unless that variable is set)."""

    def __init__(
        self,
        client: KubeClient,
        deployments: GpuEnvironments,
        *,
        registry_factory: Callable[[str], RegistryClient] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        capacity: CapacitySnapshot | None = None,
        allow_key_files: bool | None = None,
    ) -> None:
        self.client = client
        self.deployments = deployments
        self.registry_factory = registry_factory or (lambda host: RegistryClient(host))
        self.now = now
        self.capacity = capacity  # nodes and pods shared with other rollouts' checks
        self.allow_key_files = allow_key_files

    def verify(self, stored: StoredRollout) -> VerificationOutcome:
        """Cluster policy, signatures and attestations, pod security, GPU capacity; the
        first refusal wins. The gates run are the rollout's merged with the policy's. An
        API server that throttles or does not answer refuses nothing: that error propagates
        (the pass fails, nothing is deployed, and the next pass verifies again)."""
        release = stored.status.release
        assert release is not None
        try:
            gates = self._governed_gates(stored.rollout)
            if isinstance(gates, VerificationOutcome):
                return gates
            checks = (self._supply_chain, self._model_verifier, self._pod_security, self._capacity)
            for check in checks:
                refusal = check(stored.rollout, stored, gates)
                if refusal is not None:
                    return refusal
        except GateError as exc:
            return VerificationOutcome(release.image, False, exc.reason_code, str(exc))
        except TransientError:
            raise  # throttled, unavailable: not an answer; the pass fails and is retried
        except (SpecError, KubeError) as exc:
            return VerificationOutcome(release.image, False, "PREFLIGHT_ERROR", str(exc))
        return VerificationOutcome(release.image, True, None, "every gate passed")

    def _governed_gates(self, rollout: ModelRollout) -> Gates | VerificationOutcome:
        """The effective gates, or a ``POLICY`` refusal naming the policy and the field."""
        image = rollout.spec.release.image
        try:
            policies = fetch_governing_policies(self.client, rollout.namespace)
        except SpecError as exc:  # a policy that does not validate governs by refusing
            return VerificationOutcome(image, False, Reason.POLICY.value, str(exc))
        signed = rollout.spec.release.model.signature is not None
        governance = compute_effective_gates(rollout.spec.gates, policies, model_signed=signed)
        if governance.allowed:
            return governance.gates
        message = "; ".join(str(r) for r in governance.refusals)
        return VerificationOutcome(image, False, Reason.POLICY.value, message)

    def _supply_chain(
        self, rollout: ModelRollout, stored: StoredRollout, gates: Gates
    ) -> VerificationOutcome | None:
        image_text = rollout.spec.release.image
        policy = compute_gate_policy(gates, allow_key_files=self.allow_key_files)
        if policy is None:
            return None
        image = decide_image_reference(image_text)
        with self.registry_factory(image.registry) as registry:
            result = fetch_verification(image, policy, client=registry, now=self.now())
        if result.verified:
            return None
        assert result.reason is not None
        return VerificationOutcome(image_text, False, result.reason.value, result.message)

    def _model_verifier(
        self, rollout: ModelRollout, stored: StoredRollout, gates: Gates
    ) -> VerificationOutcome | None:
        if rollout.spec.release.model.signature is None:
            return None
        problem = decide_model_verifier(self._candidate_template(stored))
        if problem is None:
            return None
        code = Reason.MODEL_SIGNATURE_UNCHECKED.value
        return VerificationOutcome(rollout.spec.release.image, False, code, problem)

    def _candidate_template(self, stored: StoredRollout) -> dict[str, Any]:
        candidate = stored.status.candidate_env or "green"
        deployment = self.deployments.fetch(candidate)
        template: dict[str, Any] = deployment["spec"]["template"]
        return template

    def _pod_security(
        self, rollout: ModelRollout, stored: StoredRollout, gates: Gates
    ) -> VerificationOutcome | None:
        policy = compute_gate_policy(gates, allow_key_files=self.allow_key_files)
        pod_policy = (
            policy.pod_security
            if policy is not None
            else PodSecurityPolicy(
                level=gates.pod_security,
                require_egress_policy=gates.network_policy != "ignore",
                egress_policy_missing_is_error=gates.network_policy == "require",
            )
        )
        template = self._candidate_template(stored)
        try:
            policies = self.client.list(NETWORKPOLICIES, rollout.namespace)
        except NotFoundError:
            policies = []
        findings = assess_pod_template(
            template,
            pod_policy,
            network_policies=policies,
            model_uri=rollout.spec.release.model.uri,
        )
        result = decide_pod_security(stored.status.candidate_env or "candidate", findings)
        if result.verified:
            return None
        assert result.reason is not None
        return VerificationOutcome(
            rollout.spec.release.image, False, result.reason.value, result.message
        )

    def _capacity(
        self, rollout: ModelRollout, stored: StoredRollout, gates: Gates
    ) -> VerificationOutcome | None:
        if not gates.gpu_capacity:
            return None
        template = self._candidate_template(stored)
        active = stored.status.active_env or "blue"
        live = self.deployments.fetch(active)
        replicas = int(live.get("spec", {}).get("replicas") or 1)
        pods = compute_candidate_pods(rollout, replicas)
        assessment = fetch_gpu_capacity(
            self.client, pod_spec=template["spec"], replicas=pods, snapshot=self.capacity
        )
        assessment.raise_if_short()
        return None
