"""The two GPU environments (blue and green Deployments): release, scale, readiness, waits.

Part of the ``kube`` layer, beside ``client`` (the verbs it uses) and ``rollouts`` (the
ModelRollout it serves). The ``traffic`` routers read readiness and write replica counts
through it; ``gates.capacity`` reads per-pod GPU requests with ``compute_pod_gpus``.

Pure functions (``assess_readiness``, ``compute_pod_gpus``, ``compute_released``) take and
return Deployment dicts; ``GpuEnvironments`` does the I/O. Two refusals are ``RouterError``
(the error a traffic change that must not happen raises): changing the image of the live
environment in place (``apply_release`` with ``env == live_env``), and scaling down the only
healthy environment (``scale_down``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from mlrollout.clock import Clock
from mlrollout.errors import ConflictError, DeadlineError, RouterError, SpecError
from mlrollout.kube.client import KubeClient, PatchType
from mlrollout.kube.kinds import DEPLOYMENTS
from mlrollout.model import ImageRef, Sha256
from mlrollout.spec.rollout import ModelSignature
from mlrollout.spec.status import EnvName, other_env

__all__ = [
    "GPU_RESOURCE_PREFIX",
    "MODEL_SHA_ANNOTATION",
    "MODEL_SHA_ENV",
    "MODEL_URI_ENV",
    "GpuEnvironments",
    "Readiness",
    "assess_readiness",
    "compute_pod_gpus",
    "compute_released",
    "compute_signature_env",
    "model_container",
]

MODEL_SHA_ANNOTATION = "mlrollout.io/model-sha256"
MODEL_SHA_ENV = "MLROLLOUT_MODEL_SHA256"
MODEL_URI_ENV = "MLROLLOUT_MODEL_URI"
SIGNATURE_ENV = {
    "file": "MLROLLOUT_MODEL_SIGNATURE",
    "key": "MLROLLOUT_MODEL_SIGNATURE_KEY",
    "identity": "MLROLLOUT_MODEL_SIGNATURE_IDENTITY",
    "issuer": "MLROLLOUT_MODEL_SIGNATURE_ISSUER",
    "trusted_root": "MLROLLOUT_MODEL_TRUSTED_ROOT",
}
GPU_RESOURCE_PREFIX = "nvidia.com/"
_CONFLICT_ATTEMPTS = 3

Obj = dict[str, Any]


@dataclass(frozen=True)
class Readiness:
    """What a Deployment's status says about its rollout (see ``assess_readiness``)."""

    desired: int
    current: int
    updated: int
    available: int
    observed: bool
    deadline_exceeded: bool

    @property
    def rolled_out(self) -> bool:
        """Observed, every pod from the current template, all of them available, no extras."""
        want = self.desired
        return self.observed and self.current == self.updated == self.available == want

    @property
    def healthy(self) -> bool:
        """Rolled out with at least one available pod: it can take traffic."""
        return self.rolled_out and self.available > 0

    def describe(self) -> str:
        """A one-line account, e.g. ``2/4 available, 4/4 updated``."""
        text = f"{self.available}/{self.desired} available, {self.updated}/{self.desired} updated"
        if not self.observed:
            text += ", spec change not yet observed"
        if self.current > self.desired:
            text += f", {self.current - self.desired} old pod(s) terminating"
        return text


def assess_readiness(deployment: Mapping[str, Any]) -> Readiness:
    """Readiness of a Deployment dict, from its ``spec``, ``metadata`` and ``status``.

    Zero counts are omitted from a status, as the API server writes it::

        >>> d = {"metadata": {"generation": 3}, "spec": {"replicas": 2},
        ...      "status": {"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2,
        ...                 "availableReplicas": 1}}
        >>> r = assess_readiness(d)
        >>> (r.rolled_out, r.describe())
        (False, '1/2 available, 2/2 updated')
    """
    status = deployment.get("status") or {}
    generation = int((deployment.get("metadata") or {}).get("generation", 0))
    conditions = status.get("conditions") or []
    exceeded = any(
        c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded"
        for c in conditions
    )
    return Readiness(
        desired=int((deployment.get("spec") or {}).get("replicas", 1)),
        current=int(status.get("replicas", 0)),
        updated=int(status.get("updatedReplicas", 0)),
        available=int(status.get("availableReplicas", 0)),
        observed=int(status.get("observedGeneration", 0)) >= generation,
        deadline_exceeded=exceeded,
    )


def _container_request(container: Mapping[str, Any], resource: str) -> int:
    resources = container.get("resources") or {}
    # Extended resources cannot be overcommitted: requests default to limits and equal them.
    value = (resources.get("requests") or {}).get(resource)
    if value is None:
        value = (resources.get("limits") or {}).get(resource)
    return int(str(value)) if value is not None else 0


def compute_pod_gpus(pod_spec: Mapping[str, Any]) -> dict[str, int]:
    """GPU-like extended resources (``nvidia.com/*``) one pod of ``pod_spec`` requests.

    The effective request is the larger of the containers' sum and any one init
    container's (init containers run one at a time, before the others)::

        >>> compute_pod_gpus({"containers": [
        ...     {"resources": {"limits": {"nvidia.com/gpu": "2", "cpu": "4"}}},
        ...     {"resources": {"requests": {"nvidia.com/mig-1g.10gb": 1}}}]})
        {'nvidia.com/gpu': 2, 'nvidia.com/mig-1g.10gb': 1}
    """
    containers = list(pod_spec.get("containers") or [])
    inits = list(pod_spec.get("initContainers") or [])
    names = sorted(
        {
            name
            for c in containers + inits
            for part in ("requests", "limits")
            for name in ((c.get("resources") or {}).get(part) or {})
            if name.startswith(GPU_RESOURCE_PREFIX)
        }
    )
    totals = {}
    for name in names:
        running = sum(_container_request(c, name) for c in containers)
        first = max((_container_request(c, name) for c in inits), default=0)
        if max(running, first) > 0:
            totals[name] = max(running, first)
    return totals


def model_container(deployment: Mapping[str, Any], container: str | None) -> Obj:
    """The model's container in ``deployment``: the one named, or the only one."""
    name = deployment["metadata"]["name"]
    containers = deployment["spec"]["template"]["spec"].get("containers") or []
    if container is not None:
        for candidate in containers:
            if candidate.get("name") == container:
                return dict(candidate)
        raise SpecError(f"Deployment {name} has no container {container!r}")
    if len(containers) != 1:
        raise SpecError(
            f"Deployment {name} has {len(containers)} containers; name the model container "
            "in environments.<env>.container"
        )
    return dict(containers[0])


def compute_signature_env(signature: ModelSignature | None) -> dict[str, str]:
    """The variables ``mlrollout verify model`` reads for a model signature (none: {})."""
    if signature is None:
        return {}
    env = {SIGNATURE_ENV["file"]: signature.file}
    if signature.key is not None:
        env[SIGNATURE_ENV["key"]] = signature.key
    if signature.keyless is not None and signature.keyless.identity is not None:
        env[SIGNATURE_ENV["identity"]] = signature.keyless.identity
        env[SIGNATURE_ENV["issuer"]] = signature.keyless.issuer
    if signature.trusted_root is not None:
        env[SIGNATURE_ENV["trusted_root"]] = signature.trusted_root
    return env


def _with_env(container: Mapping[str, Any], ours: Mapping[str, str]) -> Obj:
    """``container`` with ``ours`` set, stale signature variables dropped, others kept."""
    drop = {*ours, *SIGNATURE_ENV.values()}
    kept = [e for e in container.get("env") or [] if e.get("name") not in drop]
    return {**container, "env": [*kept, *({"name": k, "value": v} for k, v in ours.items())]}


def compute_released(
    deployment: Mapping[str, Any],
    *,
    image: ImageRef,
    model_uri: str,
    model_sha256: Sha256,
    container: str | None = None,
    signature_env: Mapping[str, str] | None = None,
) -> Obj:
    """``deployment`` with the release in its pod template: image, model digest and URI.

    The digest goes into the template annotation ``mlrollout.io/model-sha256`` and, with the
    URI, into the model container's environment; other variables are kept. With a model
    signature (``signature_env``, from ``compute_signature_env``) those variables, the
    digest and the URI also go into every init container, where ``mlrollout verify model``
    checks the model before the server starts.
    """
    result = copy.deepcopy(dict(deployment))
    template = result["spec"]["template"]
    annotations = template.setdefault("metadata", {}).setdefault("annotations", {})
    annotations[MODEL_SHA_ANNOTATION] = model_sha256.hex
    chosen = model_container(result, container)
    ours = {MODEL_SHA_ENV: model_sha256.hex, MODEL_URI_ENV: model_uri, **(signature_env or {})}
    chosen = _with_env(chosen, ours)
    chosen["image"] = str(image)
    template["spec"]["containers"] = [
        chosen if c.get("name") == chosen.get("name") else c for c in template["spec"]["containers"]
    ]
    inits = template["spec"].get("initContainers")
    if signature_env and inits:
        template["spec"]["initContainers"] = [_with_env(c, ours) for c in inits]
    elif inits:
        stale = set(SIGNATURE_ENV.values())
        template["spec"]["initContainers"] = [
            {**c, "env": [e for e in c["env"] if e.get("name") not in stale]} if c.get("env") else c
            for c in inits
        ]
    return result


class GpuEnvironments:
    """The blue and green Deployments of one model Service in one namespace."""

    def __init__(
        self,
        client: KubeClient,
        *,
        namespace: str,
        deployments: Mapping[EnvName, str],
        containers: Mapping[EnvName, str | None] | None = None,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.deployments: dict[EnvName, str] = dict(deployments)
        self.containers: dict[EnvName, str | None] = dict(containers or {})

    def fetch(self, env: EnvName) -> Obj:
        """The Deployment of ``env`` as the API server has it."""
        return self.client.get(DEPLOYMENTS, self.deployments[env], self.namespace)

    def fetch_readiness(self, env: EnvName) -> Readiness:
        """The readiness of ``env``."""
        return assess_readiness(self.fetch(env))

    def apply_release(
        self,
        env: EnvName,
        *,
        live_env: EnvName,
        image: ImageRef,
        model_uri: str,
        model_sha256: Sha256,
        signature_env: Mapping[str, str] | None = None,
    ) -> Obj:
        """Write image and model into ``env``'s template in one resourceVersion-checked PUT.

        Refuses (``RouterError``) when ``env`` is the live environment: a release never
        replaces what is serving traffic in place.
        """
        if env == live_env:
            raise RouterError(
                f"refusing to change the image of the live environment {env} "
                f"({self.deployments[env]}) in place; release into {other_env(env)}"
            )
        attempts = 0
        while True:
            released = compute_released(
                self.fetch(env),
                image=image,
                model_uri=model_uri,
                model_sha256=model_sha256,
                container=self.containers.get(env),
                signature_env=signature_env,
            )
            try:
                return self.client.replace(DEPLOYMENTS, released)
            except ConflictError:
                attempts += 1
                if attempts >= _CONFLICT_ATTEMPTS:
                    raise

    def patch_replicas(
        self,
        env: EnvName,
        replicas: int,
        *,
        annotations: Mapping[str, str | None] | None = None,
    ) -> Obj:
        """Set ``env``'s replica count (and Deployment annotations; None removes) in one write."""
        if replicas < 0:
            raise ValueError(f"replicas must not be negative, got {replicas}")
        body: Obj = {"spec": {"replicas": replicas}}
        if annotations:
            body["metadata"] = {"annotations": dict(annotations)}
        return self.client.patch(
            DEPLOYMENTS, self.deployments[env], self.namespace, body, patch_type=PatchType.MERGE
        )

    def scale_down(self, env: EnvName) -> Obj:
        """Scale ``env`` to zero, unless it is healthy and the other environment is not."""
        mine, theirs = self.fetch_readiness(env), self.fetch_readiness(other_env(env))
        if mine.healthy and not theirs.healthy:
            raise RouterError(
                f"refusing to scale down {env} ({self.deployments[env]}): it is the only "
                f"healthy environment ({other_env(env)}: {theirs.describe()})"
            )
        return self.patch_replicas(env, 0)

    def wait_ready(
        self,
        env: EnvName,
        *,
        clock: Clock,
        deadline: timedelta,
        poll: timedelta = timedelta(seconds=1),
        probe: Callable[[], bool] | None = None,
    ) -> Readiness:
        """Wait until ``env`` is rolled out with pods and ``probe`` (a warm-up check) passes.

        Raises ``DeadlineError`` after ``deadline`` or as soon as the Deployment reports
        ``ProgressDeadlineExceeded``.
        """
        started = clock.monotonic()
        while True:
            readiness = self.fetch_readiness(env)
            if readiness.healthy and (probe is None or probe()):
                return readiness
            waited = clock.monotonic() - started
            if readiness.deadline_exceeded or waited >= deadline.total_seconds():
                why = "progress deadline exceeded" if readiness.deadline_exceeded else "timed out"
                warm = "" if not readiness.healthy else ", warm-up probe not passing"
                raise DeadlineError(
                    f"{env} ({self.deployments[env]}) not ready after {waited:.1f}s: {why}; "
                    f"{readiness.describe()}{warm}"
                )
            clock.sleep(min(poll.total_seconds(), deadline.total_seconds() - waited))
