"""``GatewayApiRouter``: weighted ``backendRefs`` in a Gateway API HTTPRoute.

Part of the ``traffic`` layer; implements ``port.TrafficRouter`` with the pure route maths
of ``httproute`` and readiness from ``kube.environments``. Every write is one PUT of the
whole HTTPRoute with the resourceVersion it read (a 409 re-reads and recomputes, bounded),
so both weights and the extras change together or not at all.

Each environment needs its own Service selecting only its pods. Naming convention (override
with ``backend_services``): ``<service>-blue`` and ``<service>-green``, in the rollout's
namespace; the port is the Service's first port unless ``port`` is given. A route in
another namespace gets namespaced ``backendRefs`` (the cluster then needs a ReferenceGrant).

Extras (``headers`` for a header-match rule to the canary, ``mirror`` for a RequestMirror of
the stable traffic to the canary) are written while the canary has available replicas and
less than 100 %, and removed by ``release``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlrollout.errors import ConflictError, NotFoundError, RouterError
from mlrollout.kube.environments import assess_readiness
from mlrollout.kube.kinds import HTTPROUTES, SERVICES
from mlrollout.spec.status import EnvName, TrafficSplit, other_env
from mlrollout.traffic.bound import ServiceRouter
from mlrollout.traffic.httproute import (
    Backend,
    Extras,
    assess_route_weights,
    compute_routed,
)
from mlrollout.traffic.split import (
    TOTAL_BASIS_POINTS,
    assess_destinations,
    assess_target,
    compute_split,
)

__all__ = ["GatewayApiRouter"]

_CONFLICT_ATTEMPTS = 3
Obj = dict[str, Any]


@dataclass(eq=False, kw_only=True)
class GatewayApiRouter(ServiceRouter):
    """Writes canary weights into one rule of one HTTPRoute."""

    route: str
    route_namespace: str | None = None
    rule: int = 0
    headers: Mapping[str, str] | None = None
    mirror: bool = False
    backend_services: Mapping[EnvName, str] | None = None
    port: int | None = None
    services: dict[EnvName, str] = field(init=False)
    _backends: dict[EnvName, Backend] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.route_namespace = self.route_namespace or self.namespace
        self.headers = dict(self.headers) if self.headers else None
        self.services = dict(
            self.backend_services
            or {"blue": f"{self.service}-blue", "green": f"{self.service}-green"}
        )

    # -- the port ----------------------------------------------------------------------

    def ensure(self) -> None:
        """The route, its rule and both Services exist; the rule names both Services."""
        backends = self._fetch_backends()
        route = self._fetch_route()
        rules = (route.get("spec") or {}).get("rules") or []
        refs = rules[self.rule].get("backendRefs") or [] if self.rule < len(rules) else []
        named = {r.get("name") for r in refs}
        if {b.name for b in backends.values()} <= named:
            assess_route_weights(route, rule=self.rule, backends=backends)
            return
        live = [env for env, b in backends.items() if b.name in named]
        if len(live) != 1 or len(named) != 1:
            raise RouterError(
                f"HTTPRoute {self.route_namespace}/{self.route} rule {self.rule} must send "
                f"traffic to {backends['blue'].name} and/or {backends['green'].name}, "
                f"found {sorted(n or '?' for n in named) or 'no backends'}"
            )
        self._write(
            TrafficSplit(stable_env=live[0], canary_env=other_env(live[0]), canary_bp=0),
            extras=False,
        )

    def observe(self, stable_env: EnvName) -> TrafficSplit:
        """The split the managed rule's weights express."""
        weights = assess_route_weights(
            self._fetch_route(), rule=self.rule, backends=self._fetch_backends()
        )
        canary_env = other_env(stable_env)
        total = weights["blue"] + weights["green"]
        return compute_split(
            stable_env=stable_env,
            canary_env=canary_env,
            canary_bp=round(TOTAL_BASIS_POINTS * weights[canary_env] / total),
        )

    def shift(self, target: TrafficSplit) -> TrafficSplit:
        """Write ``target`` (weights and extras) in one request."""
        return self._write(target, extras=True)

    def release(self, stable_env: EnvName) -> TrafficSplit:
        """All weight to ``stable_env``; header rule and mirror removed."""
        target = TrafficSplit(stable_env=stable_env, canary_env=other_env(stable_env), canary_bp=0)
        return self._write(target, extras=False)

    # -- plumbing ----------------------------------------------------------------------

    def _write(self, target: TrafficSplit, *, extras: bool) -> TrafficSplit:
        assess_target(target)
        canary_bp = target.canary_bp
        available: dict[EnvName, int] = {
            env: assess_readiness(self.environments.fetch(env)).available
            for env in (target.stable_env, target.canary_env)
        }
        assess_destinations(target, available)
        canary_up = available[target.canary_env] > 0 and canary_bp < TOTAL_BASIS_POINTS
        wanted = Extras(
            headers=self.headers if extras and canary_up else None,
            mirror=self.mirror and extras and canary_up,
        )
        backends = self._fetch_backends()
        attempts = 0
        while True:
            route = self._fetch_route()
            routed = compute_routed(
                route,
                rule=self.rule,
                backends=backends,
                canary_env=target.canary_env,
                canary_bp=canary_bp,
                extras=wanted,
            )
            if routed.get("spec") == route.get("spec"):
                return target
            try:
                self.client.replace(HTTPROUTES, routed)
                return target
            except ConflictError:
                attempts += 1
                if attempts >= _CONFLICT_ATTEMPTS:
                    raise

    def _fetch_route(self) -> Obj:
        try:
            return self.client.get(HTTPROUTES, self.route, self.route_namespace)
        except NotFoundError as exc:
            raise RouterError(f"HTTPRoute {self.route_namespace}/{self.route} not found") from exc

    def _fetch_backends(self) -> dict[EnvName, Backend]:
        if self._backends is None:
            foreign = self.namespace if self.route_namespace != self.namespace else None
            self._backends = {
                env: Backend(name, self._port_of(name), foreign)
                for env, name in self.services.items()
            }
        return self._backends

    def _port_of(self, name: str) -> int:
        try:
            service = self.client.get(SERVICES, name, self.namespace)
        except NotFoundError as exc:
            raise RouterError(
                f"router 'gateway-api' needs a Service {self.namespace}/{name} selecting "
                "only that environment's pods"
            ) from exc
        if self.port is not None:
            return self.port
        ports = (service.get("spec") or {}).get("ports") or []
        if not ports:
            raise RouterError(f"Service {self.namespace}/{name} has no ports")
        return int(ports[0]["port"])
