"""The ``AnalysisTemplate`` resource: metrics, their kind, margin, criticality and queries.

Part of the ``spec`` layer. A template declares *what* to measure and how large a regression
is tolerated; the ``analysis`` layer decides which statistical test a kind gets, and the
``metrics`` layer fills the query placeholders. Placeholders are checked here, at load.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from mlrollout.model.analysis import MetricKind, MetricRole
from mlrollout.spec.base import HttpUrl, LabelMap, OneOf, SpecModel
from mlrollout.spec.meta import ObjectMeta

__all__ = [
    "PLACEHOLDERS",
    "REQUIRED_QUERIES",
    "AnalysisTemplate",
    "AnalysisTemplateSpec",
    "Margin",
    "MetricKind",
    "MetricRole",
    "MetricSpec",
    "PrometheusQueries",
    "TemplateArg",
    "ThresholdRange",
    "WebQuery",
]

PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
PLACEHOLDERS = ("selector", "window", "namespace", "service", "variant")
"""Built-in placeholders; user arguments are written ``{{args.NAME}}``."""


REQUIRED_QUERIES: dict[MetricKind, tuple[frozenset[str], frozenset[str]]] = {
    # kind: (required query names, optional query names)
    MetricKind.ERRORS: (frozenset({"events", "total"}), frozenset()),
    MetricKind.ACCURACY: (frozenset({"events", "total"}), frozenset()),
    MetricKind.LATENCY_TAIL: (frozenset({"buckets"}), frozenset({"sum", "count"})),
    MetricKind.LATENCY_BODY: (frozenset({"buckets"}), frozenset({"sum", "count"})),
    MetricKind.ANOMALIES: (frozenset({"events"}), frozenset({"sources"})),
    MetricKind.GPU_HEALTH: (frozenset({"events"}), frozenset()),
    MetricKind.THRESHOLD: (frozenset({"value"}), frozenset()),
}

DEFAULT_MARGINS: dict[MetricKind, tuple[Literal["relative", "points"], float]] = {
    MetricKind.ERRORS: ("relative", 0.20),
    MetricKind.ACCURACY: ("points", 0.5),
    MetricKind.LATENCY_TAIL: ("relative", 0.05),
    MetricKind.LATENCY_BODY: ("relative", 0.05),
    MetricKind.ANOMALIES: ("relative", 0.0),
    MetricKind.GPU_HEALTH: ("relative", 0.0),
}

Query = Annotated[str, StringConstraints(min_length=1, max_length=8192)]


class TemplateArg(SpecModel):
    """A template argument; without ``value`` every rollout must supply it."""

    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")]
    value: Annotated[str, StringConstraints(max_length=1024)] | None = None


class Margin(OneOf):
    """The tolerated regression: ``relative`` (0.05 = 5% worse) or accuracy ``points``."""

    one_of = ("relative", "points")
    relative: Annotated[float, Field(ge=0.0, le=10.0)] | None = None
    points: Annotated[float, Field(ge=0.0, le=50.0)] | None = None


class ThresholdRange(SpecModel):
    """Accepted range of a scalar (Flagger-style threshold checks)."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> ThresholdRange:
        if self.min is None and self.max is None:
            raise ValueError("set min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        return self


class PrometheusQueries(SpecModel):
    """PromQL per query name (``events``, ``total``, ``buckets``, ``sum``, ``count``, ...)."""

    queries: dict[Annotated[str, StringConstraints(pattern=r"^[a-z]+$")], Query] = Field(
        min_length=1
    )


class WebQuery(SpecModel):
    """A JSON endpoint (model evaluation service) and where each number lives in the answer."""

    url: HttpUrl
    method: Literal["GET", "POST"] = "GET"
    headers: LabelMap = Field(default_factory=dict)
    body: Annotated[str, StringConstraints(max_length=65536)] | None = None
    fields: dict[Annotated[str, StringConstraints(pattern=r"^[a-z]+$")], Query] = Field(
        min_length=1, description="query name -> JSON field path such as $.canary.misclassified"
    )


class MetricProvider(OneOf):
    """Where a metric's numbers come from: exactly one provider."""

    one_of = ("prometheus", "web")
    prometheus: PrometheusQueries | None = None
    web: WebQuery | None = None

    def query_names(self) -> set[str]:
        """Names of the queries this provider answers."""
        if self.prometheus is not None:
            return set(self.prometheus.queries)
        assert self.web is not None
        return set(self.web.fields)

    def texts(self) -> list[tuple[str, str]]:
        """``(field path, text)`` of every string that may hold placeholders."""
        if self.prometheus is not None:
            return [(f"prometheus.queries.{k}", v) for k, v in self.prometheus.queries.items()]
        assert self.web is not None
        out = [("web.url", self.web.url)]
        out += [(f"web.headers.{k}", v) for k, v in self.web.headers.items()]
        if self.web.body is not None:
            out.append(("web.body", self.web.body))
        return out


DEFAULT_WINDOW_CAP = 1000.0
"""Largest factor one window may add to a count test's e-value (``windowCap`` default)."""

DEFAULT_HOLD_WINDOWS = 8
"""Recent windows a tripwire guard looks at to hold promotion (``holdWindows`` default)."""


class MetricSpec(SpecModel):
    """One metric: its kind, margin, role, criticality, weights and provider.

    Statistics settings, with their defaults (docs in the README's statistics section):

    - ``role``: ``gate`` (must be shown within its margin to promote) or ``guard`` (can
      only roll back). Default ``guard`` for tripwire kinds (anomalies, gpu-health) and
      threshold checks, which can never be shown within a margin, ``gate`` otherwise.
    - ``alphaWeight``: this critical metric's share of the critical α (weighted
      Bonferroni); default 1.
    - ``windowCap``: the largest factor one window may contribute to a count-based
      e-process (bursty windows cannot decide alone); default 1000 for errors, accuracy
      and latency-tail, none for tripwires (a burst must trip at once).
    - ``holdWindows``: for tripwire guards, how many recent windows with canary events
      above the background hold promotion; default 8.
    """

    name: Annotated[
        str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)
    ]
    kind: MetricKind
    critical: bool = False
    weight: Annotated[float, Field(gt=0.0, le=100.0)] = 1.0
    margin: Margin | None = None
    promote_margin: Margin | None = None
    quantile: Annotated[float, Field(gt=0.5, lt=1.0)] | None = None
    range: ThresholdRange | None = None
    role: MetricRole | None = None
    alpha_weight: Annotated[float, Field(gt=0.0, le=100.0)] = 1.0
    window_cap: Annotated[float, Field(ge=1.0, le=1e12)] | None = None
    hold_windows: Annotated[int, Field(ge=1, le=1000)] | None = None
    provider: MetricProvider

    @model_validator(mode="after")
    def _kind_rules(self) -> MetricSpec:
        if self.kind is MetricKind.THRESHOLD:
            if self.range is None:
                raise ValueError("kind 'threshold' needs range: {min, max}")
            if self.margin is not None or self.promote_margin is not None:
                raise ValueError("kind 'threshold' takes range, not margin")
        else:
            if self.range is not None:
                raise ValueError(f"range applies to kind 'threshold' only, not '{self.kind}'")
            unit = DEFAULT_MARGINS[self.kind][0]
            for label, margin in (("margin", self.margin), ("promoteMargin", self.promote_margin)):
                if margin is not None and getattr(margin, unit) is None:
                    raise ValueError(f"{label} of kind '{self.kind}' must be given as {unit}")
        never_gate = self.kind.tripwire or self.kind is MetricKind.THRESHOLD
        if self.role is MetricRole.GATE and never_gate:
            raise ValueError(
                f"role 'gate' is not possible for kind '{self.kind}': it can never be shown "
                "within a margin (use role 'guard')"
            )
        if self.hold_windows is not None and not self.kind.tripwire:
            raise ValueError("holdWindows applies to kinds 'anomalies' and 'gpu-health' only")
        if self.window_cap is not None and self.kind in (
            MetricKind.LATENCY_BODY,
            MetricKind.THRESHOLD,
        ):
            raise ValueError(f"windowCap applies to count-based kinds, not '{self.kind}'")
        if self.quantile is not None and self.kind is not MetricKind.LATENCY_TAIL:
            raise ValueError("quantile applies to kind 'latency-tail' only")
        required, optional = REQUIRED_QUERIES[self.kind]
        names = self.provider.query_names()
        if missing := sorted(required - names):
            raise ValueError(f"kind '{self.kind}' needs queries {missing}, got {sorted(names)}")
        if unknown := sorted(names - required - optional):
            allowed = sorted(required | optional)
            raise ValueError(
                f"unknown queries {unknown} for kind '{self.kind}' (allowed: {allowed})"
            )
        return self

    def effective_role(self) -> MetricRole:
        """The role, with the kind's default when not set."""
        if self.role is not None:
            return self.role
        never_gate = self.kind.tripwire or self.kind is MetricKind.THRESHOLD
        return MetricRole.GUARD if never_gate else MetricRole.GATE

    def effective_window_cap(self) -> float | None:
        """The per-window evidence cap, the kind's default when not set."""
        if self.window_cap is not None:
            return self.window_cap
        capped = (MetricKind.ERRORS, MetricKind.ACCURACY, MetricKind.LATENCY_TAIL)
        return DEFAULT_WINDOW_CAP if self.kind in capped else None

    def effective_margin(self) -> tuple[str, float] | None:
        """``(unit, value)`` of the rollback margin, the kind's default when not set."""
        if self.kind is MetricKind.THRESHOLD:
            return None
        unit, default = DEFAULT_MARGINS[self.kind]
        if self.margin is None:
            return unit, default
        value = getattr(self.margin, unit)
        return unit, float(value)


class AnalysisTemplateSpec(SpecModel):
    """Arguments and metrics of a template."""

    args: list[TemplateArg] = Field(default_factory=list, max_length=64)
    metrics: list[MetricSpec] = Field(min_length=1, max_length=64)

    @model_validator(mode="after")
    def _names_and_placeholders(self) -> AnalysisTemplateSpec:
        _unique([a.name for a in self.args], "args")
        _unique([m.name for m in self.metrics], "metrics")
        declared = {a.name for a in self.args}
        for i, metric in enumerate(self.metrics):
            for path, text in metric.provider.texts():
                for name in PLACEHOLDER.findall(text):
                    _check_placeholder(name, declared, f"metrics[{i}].provider.{path}")
        return self


def _check_placeholder(name: str, declared: set[str], where: str) -> None:
    if name in PLACEHOLDERS:
        return
    if name.startswith("args.") and name[5:] in declared:
        return
    known = ", ".join([*PLACEHOLDERS, *(f"args.{a}" for a in sorted(declared))])
    raise ValueError(f"{where}: unknown placeholder {{{{{name}}}}} (known: {known})")


def _unique(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{what}: duplicate name {name!r}")
        seen.add(name)


class AnalysisTemplate(SpecModel):
    """``AnalysisTemplate`` (``mlrollout.io/v1alpha1``): a reusable set of metrics."""

    api_version: Literal["mlrollout.io/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["AnalysisTemplate"]
    metadata: ObjectMeta
    spec: AnalysisTemplateSpec

    @property
    def name(self) -> str:
        """The template's name."""
        return self.metadata.name
