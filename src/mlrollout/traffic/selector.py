"""``ServiceSelectorRouter``: blue/green switch by pointing the Service's selector at one env.

Part of the ``traffic`` layer; implements ``port.TrafficRouter`` through ``kube``. All
traffic goes to one environment, so only 0 and 100 are expressible; the switch is one merge
patch of one selector key, so there is never a moment when the Service selects both or none.

The environment label is discovered from the two Deployments' pod template labels: the one
key present in both templates with different values (``env: blue`` / ``env: green``). If
there is no such key, or several, pass ``env_label`` explicitly (else ``SpecError``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from mlrollout.errors import RouterError, SpecError
from mlrollout.kube import PatchType
from mlrollout.kube.environments import assess_readiness
from mlrollout.kube.kinds import SERVICES
from mlrollout.spec.status import TOTAL_BASIS_POINTS, EnvName, TrafficSplit, other_env
from mlrollout.traffic.bound import ServiceRouter
from mlrollout.traffic.services import fetch_service_selector, pod_template_labels
from mlrollout.traffic.split import assess_destinations, assess_target

__all__ = ["ServiceSelectorRouter", "decide_env_label"]


def decide_env_label(blue: Mapping[str, str], green: Mapping[str, str]) -> str:
    """The label key whose value tells blue pods from green ones.

    >>> decide_env_label({"app": "m", "env": "b"}, {"app": "m", "env": "g"})
    'env'
    """
    keys = sorted(k for k in blue.keys() & green.keys() if blue[k] != green[k])
    if len(keys) != 1:
        found = ", ".join(keys) or "none"
        raise SpecError(
            "cannot tell the environment label from the blue and green pod template labels "
            f"(keys with different values: {found}); set the router's env_label"
        )
    return keys[0]


@dataclass(eq=False, kw_only=True)
class ServiceSelectorRouter(ServiceRouter):
    """Switches the Service ``service`` between the blue and green environments."""

    env_label: str | None = None
    _values: dict[EnvName, str] | None = field(default=None, init=False, repr=False)

    def ensure(self) -> None:
        """The Service exists, its selector names one env, and would match either's pods."""
        self._current_env()
        selector = self._selector()
        label = self._label()
        for env in ("blue", "green"):
            labels = pod_template_labels(self.environments.fetch(env))
            wanted = {**selector, label: self._env_values()[env]}
            if not wanted.items() <= labels.items():
                raise RouterError(
                    f"Service {self.namespace}/{self.service} selector {wanted} would not "
                    f"match the {env} pod template labels {labels}"
                )

    def observe(self, stable_env: EnvName) -> TrafficSplit:
        """100 % to whichever environment the selector names."""
        current = self._current_env()
        canary = other_env(stable_env)
        return TrafficSplit(
            stable_env=stable_env,
            canary_env=canary,
            canary_bp=TOTAL_BASIS_POINTS if current == canary else 0,
        )

    def shift(self, target: TrafficSplit) -> TrafficSplit:
        """Point the selector at the canary (weight 100) or the stable env (weight 0)."""
        assess_target(target)
        if target.canary_bp not in (0, TOTAL_BASIS_POINTS):
            raise RouterError(
                f"router 'service-selector' can only send 0 or 100% to the canary, "
                f"not {target.canary_percent:g}%"
            )
        destination = (
            target.canary_env if target.canary_bp == TOTAL_BASIS_POINTS else target.stable_env
        )
        if self._current_env() != destination:
            readiness = assess_readiness(self.environments.fetch(destination))
            assess_destinations(target, {destination: readiness.available})
            patch = {"spec": {"selector": {self._label(): self._env_values()[destination]}}}
            self.client.patch(
                SERVICES, self.service, self.namespace, patch, patch_type=PatchType.MERGE
            )
        return target

    def release(self, stable_env: EnvName) -> TrafficSplit:
        """Point the selector at ``stable_env``; the selector router has no extras."""
        return self.shift(
            TrafficSplit(stable_env=stable_env, canary_env=other_env(stable_env), canary_bp=0)
        )

    # -- reading -----------------------------------------------------------------------

    def _label(self) -> str:
        if self.env_label is None or self._values is None:
            blue = pod_template_labels(self.environments.fetch("blue"))
            green = pod_template_labels(self.environments.fetch("green"))
            label = self.env_label or decide_env_label(blue, green)
            if label not in blue or label not in green or blue[label] == green[label]:
                raise SpecError(f"label {label!r} does not tell blue pods from green ones")
            self.env_label, self._values = label, {"blue": blue[label], "green": green[label]}
        return self.env_label

    def _env_values(self) -> dict[EnvName, str]:
        self._label()
        assert self._values is not None
        return self._values

    def _selector(self) -> dict[str, str]:
        return fetch_service_selector(self.client, self.namespace, self.service)

    def _current_env(self) -> EnvName:
        selector = self._selector()
        value = selector.get(self._label())
        for env, expected in self._env_values().items():
            if value == expected:
                return env
        raise RouterError(
            f"Service {self.namespace}/{self.service} selector {selector} does not pick one "
            f"environment by label {self._label()!r}"
        )
