"""What the ``gateway-api`` router writes into an HTTPRoute, and how it reads a split back.

Pure; used by ``gateway`` (the I/O). The managed rule (``spec.rules[rule]``) carries both
environments' Services as weighted ``backendRefs`` in one rule, with weights in basis
points that always sum to ``TOTAL_BASIS_POINTS`` (9950/50 is a 0.5 % canary). Extras the
router owns, recognised so they can be removed again:

- a header rule named ``mlrollout-canary-header``, appended after the user's rules, whose
  matches are the managed rule's matches plus the configured headers (Gateway API ranks
  header matches above the rest, so matching requests go to the canary whatever the weight);
- a ``RequestMirror`` filter on the managed rule whose backend is an environment Service
  (mirrored traffic for pre-promotion analysis; responses from the mirror are discarded).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlrollout.errors import RouterError
from mlrollout.spec.status import EnvName
from mlrollout.traffic.split import TOTAL_BASIS_POINTS

__all__ = [
    "HEADER_RULE_NAME",
    "Backend",
    "Extras",
    "assess_route_weights",
    "compute_routed",
    "has_extras",
]

HEADER_RULE_NAME = "mlrollout-canary-header"
Obj = dict[str, Any]


@dataclass(frozen=True)
class Backend:
    """An environment's Service as a ``backendRef`` target."""

    name: str
    port: int
    namespace: str | None = None

    def ref(self, weight: int | None = None) -> Obj:
        """The ``backendRef`` (with ``weight`` when given)."""
        ref: Obj = {"name": self.name, "port": self.port}
        if self.namespace is not None:
            ref["namespace"] = self.namespace
        if weight is not None:
            ref["weight"] = weight
        return ref


@dataclass(frozen=True)
class Extras:
    """The canary extras to write: header matches and/or a mirror (None/False: none)."""

    headers: Mapping[str, str] | None = None
    mirror: bool = False


def _managed_rule(route: Mapping[str, Any], index: int) -> Obj:
    rules = (route.get("spec") or {}).get("rules") or []
    name = (route.get("metadata") or {}).get("name", "?")
    if not 0 <= index < len(rules) or rules[index].get("name") == HEADER_RULE_NAME:
        raise RouterError(f"HTTPRoute {name} has no rule {index} to manage")
    return dict(rules[index])


def assess_route_weights(
    route: Mapping[str, Any], *, rule: int, backends: Mapping[EnvName, Backend]
) -> dict[EnvName, int]:
    """Each environment's ``backendRef`` weight in the managed rule (absent: 0).

    A weight left out means 1 (Gateway API's default). Another backend in the rule, or no
    weight at all, means the split cannot be read: ``RouterError``.
    """
    by_name = {b.name: env for env, b in backends.items()}
    weights: dict[EnvName, int] = {"blue": 0, "green": 0}
    for ref in _managed_rule(route, rule).get("backendRefs") or []:
        env = by_name.get(ref.get("name", ""))
        if env is None or ref.get("kind", "Service") != "Service":
            raise RouterError(
                f"rule {rule} sends traffic to {ref.get('name')!r}, which is neither "
                f"environment's Service ({', '.join(sorted(by_name))})"
            )
        weights[env] += int(ref.get("weight", 1))
    if sum(weights.values()) <= 0:
        raise RouterError(f"rule {rule} gives no weight to either environment")
    return weights


def _is_our_mirror(item: Mapping[str, Any], names: set[str]) -> bool:
    target = (item.get("requestMirror") or {}).get("backendRef") or {}
    return item.get("type") == "RequestMirror" and target.get("name") in names


def _header_rule(managed: Obj, canary: Backend, headers: Mapping[str, str]) -> Obj:
    wanted = [{"type": "Exact", "name": k, "value": v} for k, v in sorted(headers.items())]
    matches = [
        {**m, "headers": [*(m.get("headers") or []), *wanted]}
        for m in managed.get("matches") or [{}]
    ]
    rule = {k: v for k, v in managed.items() if k not in ("backendRefs", "matches", "name")}
    return {"name": HEADER_RULE_NAME, **rule, "matches": matches, "backendRefs": [canary.ref()]}


def compute_routed(
    route: Mapping[str, Any],
    *,
    rule: int,
    backends: Mapping[EnvName, Backend],
    canary_env: EnvName,
    canary_bp: int,
    extras: Extras,
) -> Obj:
    """``route`` with the managed rule's weights set and the router's extras as given.

    Both ``backendRefs`` (blue first) are written, the zero-weight one too, so the rule
    always names both environments and the weights sum to ``TOTAL_BASIS_POINTS``.
    """
    if not 0 <= canary_bp <= TOTAL_BASIS_POINTS:
        raise RouterError(f"canary weight {canary_bp / 100:g}% is outside 0..100")
    result = copy.deepcopy(dict(route))
    names = {b.name for b in backends.values()}
    managed = _managed_rule(result, rule)
    weights = {
        env: canary_bp if env == canary_env else TOTAL_BASIS_POINTS - canary_bp
        for env in ("blue", "green")
    }
    managed["backendRefs"] = [backends[env].ref(weights[env]) for env in ("blue", "green")]
    filters = [f for f in managed.get("filters") or [] if not _is_our_mirror(f, names)]
    if extras.mirror:
        filters.append(
            {"type": "RequestMirror", "requestMirror": {"backendRef": backends[canary_env].ref()}}
        )
    managed.pop("filters", None)
    if filters:
        managed["filters"] = filters
    rules = [r for r in result["spec"]["rules"] if r.get("name") != HEADER_RULE_NAME]
    rules[rule] = managed
    if extras.headers:
        clean = {k: v for k, v in managed.items() if k != "filters"}
        clean["filters"] = [f for f in filters if not _is_our_mirror(f, names)]
        if not clean["filters"]:
            del clean["filters"]
        rules.append(_header_rule(clean, backends[canary_env], extras.headers))
    result["spec"]["rules"] = rules
    return result


def has_extras(route: Mapping[str, Any], *, backends: Mapping[EnvName, Backend]) -> bool:
    """Whether the route still carries a header rule or a mirror of this router."""
    names = {b.name for b in backends.values()}
    for rule in (route.get("spec") or {}).get("rules") or []:
        if rule.get("name") == HEADER_RULE_NAME:
            return True
        if any(_is_our_mirror(f, names) for f in rule.get("filters") or []):
            return True
    return False
