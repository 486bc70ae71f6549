"""``ReplicasRouter``: a canary weight made of replica counts while the Service selects both.

Part of the ``traffic`` layer; implements ``port.TrafficRouter`` with the pure maths of
``replica_math`` and the Deployment writes of ``kube.environments``. The Service sends each
request to one of the ready pods of either environment, so the weight in force is the
share of available pods (``observe``), and an environment with no available pod gets
nothing: this router can never route to zero available replicas.

A shift scales up first, then scales down (SAFETY.md §4), so capacity only grows while
pods move. A scale-down that would leave the Service with no available pod at all is
deferred (not written) and the split achieved so far is returned; the next ``shift`` with
the same target finishes it once the other side has available pods. ``shift`` returns the
weight the written replica counts give once every pod is ready.

The stable environment's full replica count N is its ``spec.replicas`` until the router
first shrinks it; from then on the stable Deployment carries the annotation
``mlrollout.io/stable-replicas: "N"``, written in the same request as each stable scale and
removed when the canary is back to zero (canary writes always remove it), so a restarted
controller recomputes the same plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlrollout.errors import RouterError
from mlrollout.kube.environments import (
    assess_readiness,
    compute_pod_gpus,
)
from mlrollout.spec.status import EnvName, TrafficSplit, other_env
from mlrollout.spec.strategy import CapacityMode
from mlrollout.traffic.bound import ServiceRouter
from mlrollout.traffic.replica_math import ReplicaPlan, compute_canary_bp, compute_replica_plan
from mlrollout.traffic.services import fetch_service_selector, pod_template_labels
from mlrollout.traffic.split import assess_target, compute_split

__all__ = ["STABLE_REPLICAS_ANNOTATION", "ReplicasRouter"]

STABLE_REPLICAS_ANNOTATION = "mlrollout.io/stable-replicas"


def _template(deployment: Mapping[str, Any]) -> dict[str, Any]:
    return dict((deployment.get("spec") or {}).get("template") or {})


def _gpus_per_pod(deployment: Mapping[str, Any]) -> int:
    # Units of the GPU budget: all nvidia.com/* resources of a pod (1 for a pod without any).
    return max(1, sum(compute_pod_gpus(_template(deployment).get("spec") or {}).values()))


def _full_replicas(stable: Mapping[str, Any]) -> int:
    annotations = (stable.get("metadata") or {}).get("annotations") or {}
    recorded = annotations.get(STABLE_REPLICAS_ANNOTATION)
    if recorded is not None and str(recorded).isdigit():
        return int(recorded)
    return int((stable.get("spec") or {}).get("replicas", 1))


@dataclass(eq=False, kw_only=True)
class ReplicasRouter(ServiceRouter):
    """Splits traffic by the number of pods each environment runs."""

    capacity: CapacityMode = CapacityMode.SURGE

    def ensure(self) -> None:
        """The Service exists and its selector matches both environments' pod templates."""
        selector = fetch_service_selector(self.client, self.namespace, self.service)
        for env in ("blue", "green"):
            labels = pod_template_labels(self.environments.fetch(env))
            if not selector or not selector.items() <= labels.items():
                raise RouterError(
                    f"router 'replicas' needs Service {self.namespace}/{self.service} to select "
                    f"both environments; its selector {selector} does not match the {env} pod "
                    f"template labels {labels}"
                )

    def observe(self, stable_env: EnvName) -> TrafficSplit:
        """The share of available pods each environment has right now."""
        canary_env = other_env(stable_env)
        stable = assess_readiness(self.environments.fetch(stable_env)).available
        canary = assess_readiness(self.environments.fetch(canary_env)).available
        if stable + canary == 0:
            raise RouterError(
                f"Service {self.namespace}/{self.service} has no available pod in either "
                "environment: no split is in force"
            )
        return compute_split(
            stable_env=stable_env,
            canary_env=canary_env,
            canary_bp=compute_canary_bp(stable, canary),
        )

    def shift(self, target: TrafficSplit) -> TrafficSplit:
        """Scale towards ``target`` (up first, then down); the split the writes give."""
        deployments, plan = self._plan(target)
        written = self._apply(target, plan, deployments)
        return compute_split(
            stable_env=target.stable_env,
            canary_env=target.canary_env,
            canary_bp=compute_canary_bp(written[target.stable_env], written[target.canary_env]),
        )

    def nearest(self, target: TrafficSplit) -> TrafficSplit:
        """The split whole pods give for ``target`` once every planned pod is ready."""
        _, plan = self._plan(target)
        return compute_split(
            stable_env=target.stable_env, canary_env=target.canary_env, canary_bp=plan.canary_bp
        )

    def release(self, stable_env: EnvName) -> TrafficSplit:
        """Stable back to its full count, canary to zero (deferred while stable has no pods)."""
        return self.shift(
            TrafficSplit(stable_env=stable_env, canary_env=other_env(stable_env), canary_bp=0)
        )

    # -- planning and writing ----------------------------------------------------------

    def _plan(self, target: TrafficSplit) -> tuple[dict[EnvName, Any], ReplicaPlan]:
        """Both Deployments as they are, and the replica counts that give ``target``."""
        assess_target(target)
        deployments = {
            target.stable_env: self.environments.fetch(target.stable_env),
            target.canary_env: self.environments.fetch(target.canary_env),
        }
        stable = deployments[target.stable_env]
        return deployments, compute_replica_plan(
            target_bp=target.canary_bp,
            replicas=_full_replicas(stable),
            mode=self.capacity,
            stable_gpus=_gpus_per_pod(stable),
            canary_gpus=_gpus_per_pod(deployments[target.canary_env]),
        )

    def _apply(
        self, target: TrafficSplit, plan: ReplicaPlan, deployments: Mapping[EnvName, Any]
    ) -> dict[EnvName, int]:
        stable_env, canary_env = target.stable_env, target.canary_env
        wanted: dict[EnvName, int] = {stable_env: plan.stable, canary_env: plan.canary}
        written = {env: int(d["spec"].get("replicas", 1)) for env, d in deployments.items()}
        available = {env: assess_readiness(d).available for env, d in deployments.items()}
        full = str(_full_replicas(deployments[stable_env]))
        notes: dict[EnvName, dict[str, str | None]] = {
            stable_env: {STABLE_REPLICAS_ANNOTATION: full if plan.canary else None},
            canary_env: {STABLE_REPLICAS_ANNOTATION: None},
        }
        for env in (stable_env, canary_env):  # scale up first
            if wanted[env] > written[env]:
                self.environments.patch_replicas(env, wanted[env], annotations=notes[env])
                written[env] = wanted[env]
        for env in (canary_env, stable_env):  # then scale down, never to no pod at all
            other = other_env(env)
            stranded = wanted[env] == 0 and min(written[other], available[other]) == 0
            if wanted[env] < written[env] and not stranded:
                self.environments.patch_replicas(env, wanted[env], annotations=notes[env])
                written[env] = wanted[env]
        return written
