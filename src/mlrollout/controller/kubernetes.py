"""The Kubernetes platform behind the controller's ports.

Part of the ``controller`` layer: binds one ModelRollout to the ``kube`` state store, its two
GPU Deployments (``kube.environments``), its traffic router (``traffic.factory``) and the
gates (``gating``), so ``loop.Reconciler`` can drive it. Nothing here decides anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from mlrollout.clock import Clock, SystemClock
from mlrollout.controller.effects import Edge, crash_from_environment
from mlrollout.controller.gating import KubeReleaseVerifier
from mlrollout.controller.loop import Reconciler
from mlrollout.controller.ports import Analyst
from mlrollout.controller.reports import ConfigMapReports
from mlrollout.core.actions import Deploy, Emit, Notify
from mlrollout.core.observation import EnvState
from mlrollout.gates import RegistryClient
from mlrollout.gates.capacity import CapacitySnapshot
from mlrollout.hooks.notify import send_notifications
from mlrollout.hooks.webhooks import WebhookConfirmer, send_informational
from mlrollout.kube import EventRecorder, KubeClient, RolloutStore, StoredRollout
from mlrollout.kube.environments import (
    MODEL_SHA_ANNOTATION,
    GpuEnvironments,
    assess_readiness,
    compute_signature_env,
    model_container,
)
from mlrollout.model import ImageRef, Sha256
from mlrollout.spec import ModelRollout
from mlrollout.spec.status import EnvName, other_env
from mlrollout.traffic.factory import build_environments, build_router
from mlrollout.traffic.selector import ServiceSelectorRouter

__all__ = ["KubeEnvironments", "build_reconciler", "send_hooks"]

log = logging.getLogger("mlrollout.controller")


class KubeEnvironments:
    """The ``Environments`` port over the two Deployments of a rollout."""

    def __init__(
        self, client: KubeClient, rollout: ModelRollout, deployments: GpuEnvironments
    ) -> None:
        self.client = client
        self.rollout = rollout
        self.deployments = deployments

    def observe(self) -> dict[EnvName, EnvState]:
        """Release and readiness of both Deployments."""
        return {env: self._observe(env) for env in ("blue", "green")}

    def _observe(self, env: EnvName) -> EnvState:
        """Release and readiness of one Deployment (one read)."""
        deployment = self.deployments.fetch(env)
        readiness = assess_readiness(deployment)
        template = deployment["spec"]["template"]
        annotations = (template.get("metadata") or {}).get("annotations") or {}
        container = model_container(deployment, self.deployments.containers.get(env))
        return EnvState(
            name=env,
            image=container.get("image"),
            model_sha256=annotations.get(MODEL_SHA_ANNOTATION),
            replicas=readiness.desired,
            ready_replicas=readiness.available,
            rolled_out=readiness.rolled_out,
        )

    def deploy(self, action: Deploy) -> None:
        """Write the release into the candidate's template (never the live one)."""
        current = self._observe(action.env)  # the candidate only: one read, not two
        if not current.runs(action.image, action.model_sha256):
            self.deployments.apply_release(
                action.env,
                live_env=other_env(action.env),
                image=ImageRef.parse(action.image),
                model_uri=action.model_uri,
                model_sha256=Sha256(action.model_sha256),
                signature_env=compute_signature_env(self.rollout.spec.release.model.signature),
            )
        if action.replicas is not None and current.replicas != action.replicas:
            self.deployments.patch_replicas(action.env, action.replicas)

    def scale(self, env: EnvName, replicas: int) -> None:
        """Scale; scaling to zero refuses the only healthy environment."""
        if replicas == 0:
            self.deployments.scale_down(env)
        else:
            self.deployments.patch_replicas(env, replicas)

    def set_preview(self, env: EnvName) -> None:
        """Point the blue-green preview Service at ``env``."""
        strategy = self.rollout.spec.strategy.blue_green
        if strategy is None or strategy.preview_service is None:
            return
        router = ServiceSelectorRouter(
            self.client,
            namespace=self.rollout.namespace,
            service=strategy.preview_service,
            environments=self.deployments,
        )
        router.shift(router.observe(other_env(env)).model_copy(update={"canary_weight": 100.0}))


def _emit(recorder: EventRecorder, stored: StoredRollout, event: Emit) -> None:
    error = recorder.emit(stored.raw, type=event.type, reason=event.reason, message=event.message)
    if error is not None:
        log.warning("event not recorded: %s", error)


def send_hooks(stored: StoredRollout, note: Notify) -> None:
    """Send the notifications and informational webhooks of ``note`` (failures logged)."""
    rollout = stored.rollout
    failures = send_notifications(
        rollout.spec.notifications,
        rollout=f"{rollout.namespace}/{rollout.name}",
        phase=note.phase.value,
        reason=note.reason,
        image=rollout.spec.release.image,
    )
    failures += send_informational(stored, phase=note.phase.value, reason=note.reason)
    for failure in failures:
        log.warning("notification failed: %s", failure)


def build_reconciler(
    client: KubeClient,
    *,
    namespace: str,
    name: str,
    analyst: Analyst | None = None,
    clock: Clock | None = None,
    edge_options: dict[str, Any] | None = None,
    identity: str | None = None,
    capacity: CapacitySnapshot | None = None,
    registry_factory: Callable[[str], RegistryClient] | None = None,
    allow_key_files: bool | None = None,
) -> Reconciler:
    """A reconciler for one rollout on the cluster ``client`` talks to, with Events,
    notifications and (for tests) the crash hook of ``MLROLLOUT_CRASH_AT`` wired in;
    ``capacity`` shares the GPU capacity gate's view of the cluster with other rollouts;
    ``registry_factory`` and ``allow_key_files`` go to the gates (``KubeReleaseVerifier``)."""
    store = RolloutStore(client)
    rollout = store.read(namespace, name).rollout
    # One view of the two Deployments per rollout, shared by the router, effects and gates.
    deployments = build_environments(client, rollout)
    router = build_router(client, rollout, deployments)
    router.ensure()
    recorder = EventRecorder(client)
    clock = clock or SystemClock()
    options: dict[str, Any] = {
        "record": ConfigMapReports(client, now=clock.now),
        "crash": crash_from_environment(),
        "emit": lambda stored, event: _emit(recorder, stored, event),
        "notify": send_hooks,
        **(edge_options or {}),
    }
    edge = Edge(
        state=store,
        namespace=namespace,
        name=name,
        environments=KubeEnvironments(client, rollout, deployments),
        router=router,
        **options,
    )
    return Reconciler(
        confirmer=WebhookConfirmer(),
        edge=edge,
        verifier=KubeReleaseVerifier(
            client,
            deployments,
            registry_factory=registry_factory,
            capacity=capacity,
            allow_key_files=allow_key_files,
        ),
        clock=clock,
        analyst=analyst,
        identity=identity,
    )
