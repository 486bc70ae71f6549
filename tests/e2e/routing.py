"""Pure routing of the e2e data plane: which environment serves one request.

Part of the e2e test bed (``tests/e2e``), below ``dataplane`` (which watches the test API
server and keeps the current ``Routing``) and ``load`` (which sends requests by it).
``compute_routing`` turns a ``ClusterView`` (a snapshot of the objects) into a ``Routing``:

- when the configured HTTPRoute exists, its rules, as a Gateway would apply them: the most
  specific matching rule wins (exact path, longest prefix, method, most header matches;
  ties go to the earlier rule), its ``backendRefs`` split by weight (default 1), and a
  ``RequestMirror`` filter (on the rule or on the chosen backendRef) copies the request to
  its backend. An environment is the backend Service named for it (``<service>-blue``...).
  A backend whose Service has no ready endpoint, or a name that is no environment's, is a
  failed request ("no endpoints"), as a real gateway answers 503/500: weight is not moved.
- else the model Service's selector, as kube-proxy would: each environment whose pod
  template labels the selector matches takes a share proportional to its *ready* pods
  (owned by its Deployment, directly or through its ReplicaSet; Ready=True; labels selected),
  so an environment with no ready pod never gets a request. No ready pod at all: every
  request fails ("no endpoints").

Weights are percent per environment over the backends of the rule a plain ``POST
/predict`` takes; they sum to 100, or to 0 when no request can be served.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "PLAIN_REQUEST",
    "Backend",
    "ClusterView",
    "Destination",
    "Match",
    "Mirror",
    "Request",
    "Routing",
    "Rule",
    "Topology",
    "compute_routing",
    "decide_destination",
]

Obj = dict[str, Any]
Source = Literal["httproute", "service"]


@dataclass(frozen=True)
class Topology:
    """Which objects stand for what: the model Service, the route and each environment's
    Deployment and backend Service (by name, in ``namespace``)."""

    namespace: str
    service: str
    deployments: Mapping[str, str]
    backend_services: Mapping[str, str]
    http_route: str | None = None

    @property
    def envs(self) -> tuple[str, ...]:
        """The environments, in a stable order."""
        return tuple(self.deployments)


@dataclass(frozen=True)
class ClusterView:
    """The objects of one namespace that decide routing (copies, read at one moment)."""

    services: Mapping[str, Obj]
    deployments: Mapping[str, Obj]
    pods: Sequence[Obj]
    route: Obj | None = None


@dataclass(frozen=True)
class Request:
    """What the routing of one request depends on (header names are case-insensitive)."""

    method: str = "POST"
    path: str = "/predict"
    headers: Mapping[str, str] = field(default_factory=dict)


PLAIN_REQUEST = Request()


@dataclass(frozen=True)
class Match:
    """One HTTPRoute match: path, method and header conditions, all of which must hold."""

    path_type: str = "PathPrefix"
    path: str = "/"
    method: str | None = None
    headers: tuple[tuple[str, str, str], ...] = ()  # (type, lower-case name, value)
    query_params: int = 0  # the load sends no query string: such a match never accepts

    def accepts(self, request: Request) -> bool:
        """Whether ``request`` satisfies every condition."""
        if self.query_params or (self.method and self.method != request.method):
            return False
        headers = {k.lower(): v for k, v in request.headers.items()}
        for kind, name, value in self.headers:
            actual = headers.get(name)
            if actual is None or not _string_matches(kind, value, actual):
                return False
        return _path_matches(self.path_type, self.path, request.path)

    def rank(self) -> tuple[int, int, int, int]:
        """Gateway API precedence: exact path, prefix length, method, header count."""
        exact = self.path_type == "Exact"
        prefix = len(self.path) if self.path_type == "PathPrefix" else 0
        return int(exact), prefix, int(self.method is not None), len(self.headers)


def _string_matches(kind: str, pattern: str, actual: str) -> bool:
    if kind == "RegularExpression":
        return re.fullmatch(pattern, actual) is not None
    return pattern == actual


def _path_matches(kind: str, pattern: str, path: str) -> bool:
    if kind == "Exact":
        return path == pattern
    if kind == "RegularExpression":
        return re.fullmatch(pattern, path) is not None
    prefix = pattern.rstrip("/")
    return path == prefix or path.startswith(prefix + "/") or not prefix


@dataclass(frozen=True)
class Mirror:
    """Copy a ``fraction`` of requests to ``env`` (None: a backend that is no environment)."""

    env: str | None
    fraction: float = 1.0


@dataclass(frozen=True)
class Backend:
    """One weighted destination of a rule (``env`` None: not an environment's Service)."""

    env: str | None
    weight: int
    mirrors: tuple[Mirror, ...] = ()


@dataclass(frozen=True)
class Rule:
    """Matches (any one suffices) and the weighted backends of one rule."""

    matches: tuple[Match, ...]
    backends: tuple[Backend, ...]
    mirrors: tuple[Mirror, ...] = ()

    def rank(self, request: Request) -> tuple[int, int, int, int] | None:
        """The rank of the best match accepting ``request`` (None: the rule does not apply)."""
        ranks = [m.rank() for m in self.matches if m.accepts(request)]
        return max(ranks) if ranks else None


@dataclass(frozen=True)
class Destination:
    """Where one request goes: ``env`` (None: nowhere), whether it has a ready endpoint, and
    the environments that receive a mirrored copy."""

    env: str | None
    reachable: bool
    mirrors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Routing:
    """The routing table in force: its source, rules and each environment's ready endpoints."""

    source: Source
    rules: tuple[Rule, ...]
    ready: Mapping[str, int]

    def rule_for(self, request: Request) -> Rule | None:
        """The rule that takes ``request`` (None: no rule matches)."""
        best: tuple[tuple[int, int, int, int], Rule] | None = None
        for rule in self.rules:
            rank = rule.rank(request)
            if rank is not None and (best is None or rank > best[0]):
                best = (rank, rule)
        return best[1] if best else None

    def weights(self, request: Request = PLAIN_REQUEST) -> dict[str, float]:
        """Percent of ``request``-like requests each environment is sent (every env named)."""
        shares = dict.fromkeys(self.ready, 0.0)
        rule = self.rule_for(request)
        total = sum(b.weight for b in rule.backends) if rule else 0
        if rule is None or total <= 0:
            return shares
        for backend in rule.backends:
            if backend.env is not None:
                shares[backend.env] = shares.get(backend.env, 0.0) + 100.0 * backend.weight / total
        return shares


def decide_destination(
    routing: Routing, request: Request, *, pick: float, mirror_pick: float
) -> Destination:
    """The destination of ``request`` given two uniform draws in [0, 1)."""
    rule = routing.rule_for(request)
    total = sum(b.weight for b in rule.backends) if rule else 0
    if rule is None or total <= 0:
        return Destination(env=None, reachable=False)
    threshold = pick * total
    chosen = rule.backends[-1]
    for backend in rule.backends:
        if threshold < backend.weight:
            chosen = backend
            break
        threshold -= backend.weight
    mirrors = tuple(
        m.env
        for m in (*rule.mirrors, *chosen.mirrors)
        if m.env is not None and mirror_pick < m.fraction and routing.ready.get(m.env, 0) > 0
    )
    reachable = chosen.env is not None and routing.ready.get(chosen.env, 0) > 0
    return Destination(env=chosen.env, reachable=reachable, mirrors=mirrors)


# -- building the table --------------------------------------------------------------------


def _labels(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def _selector(service: Mapping[str, Any] | None) -> dict[str, str]:
    return dict(((service or {}).get("spec") or {}).get("selector") or {})


def _is_ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _owner(pod: Mapping[str, Any]) -> str | None:
    """The Deployment a pod belongs to: its controller when that is the Deployment (the test
    API server), or its ReplicaSet ``<deployment>-<pod-template-hash>`` (a real cluster)."""
    meta = pod.get("metadata") or {}
    refs = [r for r in meta.get("ownerReferences") or [] if r.get("controller")]
    for ref in refs:
        if ref.get("kind") == "Deployment":
            return str(ref.get("name"))
        suffix = "-" + str((meta.get("labels") or {}).get("pod-template-hash", ""))
        name = str(ref.get("name", ""))
        if ref.get("kind") == "ReplicaSet" and len(suffix) > 1 and name.endswith(suffix):
            return name.removesuffix(suffix)
    return None


def _selected(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    # A Service without a selector gets no endpoints from pods at all.
    return bool(selector) and selector.items() <= labels.items()


def _ready_pods(
    pods: Sequence[Obj], selector: Mapping[str, str], *, owner: str | None = None
) -> int:
    return sum(
        1
        for pod in pods
        if _is_ready(pod)
        and _selected(selector, _labels(pod))
        and (owner is None or _owner(pod) == owner)
    )


def _template_labels(deployment: Mapping[str, Any] | None) -> dict[str, str]:
    template = ((deployment or {}).get("spec") or {}).get("template") or {}
    return dict((template.get("metadata") or {}).get("labels") or {})


def _service_routing(view: ClusterView, topology: Topology) -> Routing:
    selector = _selector(view.services.get(topology.service))
    ready: dict[str, int] = {}
    for env, name in topology.deployments.items():
        chosen = _selected(selector, _template_labels(view.deployments.get(name)))
        ready[env] = _ready_pods(view.pods, selector, owner=name) if chosen else 0
    backends = tuple(Backend(env, count) for env, count in ready.items() if count > 0)
    return Routing("service", (Rule(matches=(Match(),), backends=backends),), ready)


def _match(raw: Mapping[str, Any]) -> Match:
    path = raw.get("path") or {}
    headers = tuple(
        (h.get("type", "Exact"), str(h["name"]).lower(), str(h["value"]))
        for h in raw.get("headers") or []
    )
    return Match(
        path_type=path.get("type", "PathPrefix"),
        path=path.get("value", "/"),
        method=raw.get("method"),
        headers=headers,
        query_params=len(raw.get("queryParams") or []),
    )


def _mirrors(filters: Sequence[Mapping[str, Any]], envs: Mapping[str, str]) -> tuple[Mirror, ...]:
    mirrors = []
    for item in filters:
        mirror = item.get("requestMirror") or {}
        if item.get("type") != "RequestMirror" or not mirror:
            continue
        fraction = mirror.get("fraction")
        share = (
            fraction["numerator"] / fraction.get("denominator", 100)
            if fraction
            else mirror.get("percent", 100) / 100
        )
        mirrors.append(Mirror(envs.get((mirror.get("backendRef") or {}).get("name", "")), share))
    return tuple(mirrors)


def _backend(ref: Mapping[str, Any], envs: Mapping[str, str]) -> Backend:
    is_service = ref.get("kind", "Service") == "Service" and ref.get("group", "") == ""
    env = envs.get(ref.get("name", "")) if is_service else None
    return Backend(env, int(ref.get("weight", 1)), _mirrors(ref.get("filters") or [], envs))


def _route_routing(view: ClusterView, route: Obj, topology: Topology) -> Routing:
    envs = {name: env for env, name in topology.backend_services.items()}
    rules = tuple(
        Rule(
            matches=tuple(_match(m) for m in raw.get("matches") or [{}]),
            backends=tuple(_backend(r, envs) for r in raw.get("backendRefs") or []),
            mirrors=_mirrors(raw.get("filters") or [], envs),
        )
        for raw in (route.get("spec") or {}).get("rules") or []
    )
    ready = {
        env: _ready_pods(view.pods, _selector(view.services.get(name)))
        for env, name in topology.backend_services.items()
    }
    return Routing("httproute", rules, ready)


def compute_routing(view: ClusterView, topology: Topology) -> Routing:
    """The routing table ``view`` implies: the HTTPRoute's when it exists, else the Service's."""
    if topology.http_route is not None and view.route is not None:
        return _route_routing(view, view.route, topology)
    return _service_routing(view, topology)
