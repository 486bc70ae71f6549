"""The admission decision: every image pinned by digest and verified under each policy.

Part of the ``admission`` package, between ``review`` (what is asked) and ``server``
(HTTP). For a namespace no ClusterReleasePolicy governs, everything is allowed. Otherwise
each image must be ``repo@sha256:<hex>`` and pass the gates of every governing policy
(``spec.governance.compute_policy_gates``, verified by the same ``gates.fetch_verification``
the controller runs); verified digests are cached (``cache``). Any failure — a refusal, an
unreachable registry, a policy that cannot be read — denies: admission fails closed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from mlrollout.admission.cache import VerifiedCache
from mlrollout.admission.review import ImageUse, ReviewRequest
from mlrollout.errors import GateError, MlrolloutError, SpecError
from mlrollout.gates import GatePolicy, RegistryClient, decide_image_reference, fetch_verification
from mlrollout.gates.gate_spec import compute_gate_policy
from mlrollout.kube import KubeClient
from mlrollout.kube.release_policies import fetch_namespace_labels, fetch_release_policies
from mlrollout.model import ImageRef
from mlrollout.spec.governance import compute_policy_gates, select_policies
from mlrollout.spec.release_policy import ClusterReleasePolicy

__all__ = ["AdmissionVerdict", "ImageChecker", "KubePolicySource", "PolicySource"]


@dataclass(frozen=True)
class AdmissionVerdict:
    """Allowed, or denied with a one-line reason."""

    allowed: bool
    message: str


class PolicySource(Protocol):
    """Where the governing policies of a namespace come from."""

    def governing(self, namespace: str) -> list[ClusterReleasePolicy]:
        """The policies governing ``namespace``, in name order."""
        ...


class KubePolicySource:
    """Policies and namespace labels read from the cluster, kept for ``ttl`` seconds."""

    def __init__(
        self,
        client: KubeClient,
        *,
        ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._policies: tuple[float, list[ClusterReleasePolicy]] | None = None
        self._labels: dict[str, tuple[float, dict[str, str]]] = {}

    def warm_up(self, namespace: str = "default") -> None:
        """Read once before serving: the first use of the client's API classes is slow."""
        fetch_release_policies(self.client)
        fetch_namespace_labels(self.client, namespace)

    def governing(self, namespace: str) -> list[ClusterReleasePolicy]:
        """The policies whose selector matches ``namespace`` (errors propagate)."""
        now = self._clock()
        with self._lock:
            cached = self._policies
            labels = self._labels.get(namespace)
        if cached is None or now - cached[0] >= self.ttl:
            cached = (now, fetch_release_policies(self.client))
            with self._lock:
                self._policies = cached
        if not cached[1]:
            return []
        if labels is None or now - labels[0] >= self.ttl:
            labels = (now, fetch_namespace_labels(self.client, namespace))
            with self._lock:
                self._labels[namespace] = labels
                if len(self._labels) > 4096:
                    self._labels.pop(next(iter(self._labels)))
        return select_policies(cached[1], labels[1])


class ImageChecker:
    """Decides one review; safe to call from several threads."""

    def __init__(
        self,
        source: PolicySource,
        *,
        registry_factory: Callable[[str], RegistryClient] | None = None,
        cache: VerifiedCache | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.source = source
        self.registry_factory = registry_factory or (lambda host: RegistryClient(host))
        self.cache = cache or VerifiedCache()
        self.now = now

    def review(self, request: ReviewRequest) -> AdmissionVerdict:
        """Allow or deny ``request``; never raises for bad input or unreachable services."""
        if not request.checked:
            return AdmissionVerdict(True, f"{request.operation or 'operation'} is not reviewed")
        try:
            policies = self.source.governing(request.namespace)
        except MlrolloutError as exc:
            return AdmissionVerdict(False, f"cannot read ClusterReleasePolicies: {exc}")
        if not policies:
            return AdmissionVerdict(True, f"namespace {request.namespace!r} is not governed")
        if request.problem is not None:
            return AdmissionVerdict(False, request.problem)
        pinned: list[tuple[ImageUse, ImageRef]] = []
        for use in request.images:
            try:
                pinned.append((use, decide_image_reference(use.image)))
            except GateError as exc:
                return AdmissionVerdict(False, f"{use.field}: {exc}")
            except SpecError as exc:
                return AdmissionVerdict(False, f"{use.field}: {exc.reason}")
        for policy in policies:
            denial = self._under_policy(policy, pinned)
            if denial is not None:
                return denial
        names = ", ".join(p.name for p in policies)
        return AdmissionVerdict(True, f"every image verified (ClusterReleasePolicy {names})")

    def _under_policy(
        self, policy: ClusterReleasePolicy, pinned: list[tuple[ImageUse, ImageRef]]
    ) -> AdmissionVerdict | None:
        suffix = f"(ClusterReleasePolicy {policy.name})"
        gates = compute_policy_gates(policy)
        if gates is None:
            return AdmissionVerdict(False, f"the policy trusts no key or identity {suffix}")
        try:
            gate_policy = compute_gate_policy(gates)
        except MlrolloutError as exc:
            return AdmissionVerdict(False, f"cannot load the policy's trust: {exc} {suffix}")
        assert gate_policy is not None
        fingerprint = policy.model_dump_json()
        for use, image in pinned:
            key = (fingerprint, str(image.repository), str(image.digest))
            if self.cache.contains(key):
                continue
            denial = self._verify(use, image, gate_policy)
            if denial is not None:
                return AdmissionVerdict(False, f"{denial} {suffix}")
            self.cache.add(key)
        return None

    def _verify(self, use: ImageUse, image: ImageRef, policy: GatePolicy) -> str | None:
        with self.registry_factory(image.registry) as registry:
            result = fetch_verification(image, policy, client=registry, now=self.now())
        if result.verified:
            return None
        assert result.reason is not None
        return f"{use.field}: {result.reason.value}: {result.message}"
