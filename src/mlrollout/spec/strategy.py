"""Release strategies: canary steps and blue-green switching, with their traffic routing.

Part of the ``spec`` layer. Weights are percentages with at most two decimals; the rules that
depend on the router (which weights it can express) are checked here so a rollout that a
router cannot carry out is refused at load, not half-way through a release.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import Field, model_validator

from mlrollout.spec.base import (
    DnsLabel,
    DnsSubdomain,
    LabelMap,
    OneOf,
    SpecModel,
    StepDuration,
    WaitDuration,
)
from mlrollout.spec.status import to_basis_points

__all__ = [
    "AnalyzeStep",
    "BlueGreenStrategy",
    "CanaryStrategy",
    "CapacityMode",
    "HttpRouteRef",
    "PauseStep",
    "PhaseAnalysis",
    "RouterKind",
    "Step",
    "Strategy",
    "TrafficRouting",
]


class RouterKind(StrEnum):
    """How traffic is split between the stable and candidate environments."""

    REPLICAS = "replicas"
    SERVICE_SELECTOR = "service-selector"
    GATEWAY_API = "gateway-api"


FRACTIONAL_ROUTERS = frozenset({RouterKind.GATEWAY_API})
"""Routers that can express weights finer than one percent."""


class CapacityMode(StrEnum):
    """``surge`` adds canary GPUs on top of stable; ``constant`` shrinks stable as canary grows."""

    SURGE = "surge"
    CONSTANT = "constant"


class HttpRouteRef(SpecModel):
    """A Gateway API HTTPRoute the router writes weighted ``backendRefs`` into."""

    name: DnsSubdomain
    namespace: DnsLabel | None = None
    rule: Annotated[int, Field(ge=0, le=63)] = 0


class HeaderRoute(SpecModel):
    """Send requests carrying these header values to the canary, whatever the weight."""

    headers: LabelMap = Field(min_length=1)


class TrafficRouting(SpecModel):
    """The traffic router and its objects."""

    router: RouterKind = RouterKind.REPLICAS
    http_route: HttpRouteRef | None = None
    header_route: HeaderRoute | None = None
    mirror: bool = False

    @model_validator(mode="after")
    def _router_rules(self) -> TrafficRouting:
        gateway = self.router is RouterKind.GATEWAY_API
        if gateway and self.http_route is None:
            raise ValueError("router 'gateway-api' needs httpRoute: {name: ...}")
        if not gateway:
            for label, value in (
                ("httpRoute", self.http_route),
                ("headerRoute", self.header_route),
                ("mirror", self.mirror or None),
            ):
                if value is not None:
                    raise ValueError(f"{label} needs router 'gateway-api', got '{self.router}'")
        return self


class AnalyzeStep(SpecModel):
    """Analyse at the current weight until a decision or ``maxDuration``."""

    max_duration: StepDuration | None = None
    min_duration: StepDuration | None = None


class PauseStep(SpecModel):
    """Hold the weight for ``duration``, or until ``mlrollout promote`` when no duration."""

    duration: WaitDuration | None = None


Weight = Annotated[float, Field(ge=0.0, le=100.0, multiple_of=0.01)]


class Step(OneOf):
    """One canary step: exactly one of ``setWeight``, ``analyze``, ``pause``."""

    one_of = ("set_weight", "analyze", "pause")
    set_weight: Weight | None = None
    analyze: AnalyzeStep | None = None
    pause: PauseStep | None = None

    @property
    def weight_bp(self) -> int | None:
        """``setWeight`` in basis points: the spec speaks percent, the controller and the
        routers basis points."""
        return None if self.set_weight is None else to_basis_points(self.set_weight)


class CanaryStrategy(SpecModel):
    """Shift traffic to the candidate environment in steps, analysing as it goes."""

    traffic: TrafficRouting = Field(default_factory=TrafficRouting)
    capacity: CapacityMode = CapacityMode.SURGE
    steps: list[Step] = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _weights(self) -> CanaryStrategy:
        previous = 0.0
        router = self.traffic.router
        for i, step in enumerate(self.steps):
            weight = step.set_weight
            if weight is None:
                continue
            where = f"steps[{i}].setWeight"
            if weight < previous:
                raise ValueError(
                    f"{where}: weights must not decrease ({weight:g} after {previous:g})"
                )
            if weight != int(weight) and router not in FRACTIONAL_ROUTERS:
                raise ValueError(
                    f"{where}: fractional weight {weight:g} needs router 'gateway-api'; "
                    f"router '{router}' supports whole percentages only"
                )
            if router is RouterKind.SERVICE_SELECTOR and weight not in (0.0, 100.0):
                raise ValueError(
                    f"{where}: router 'service-selector' switches all traffic at once; "
                    f"weights must be 0 or 100, got {weight:g}"
                )
            previous = weight
        return self


class PhaseAnalysis(AnalyzeStep):
    """Analysis run before or after a blue-green switch."""


class BlueGreenStrategy(SpecModel):
    """Deploy to the idle environment, preview, switch all traffic, keep the old one warm."""

    preview_service: DnsLabel | None = None
    traffic: TrafficRouting = Field(
        default_factory=lambda: TrafficRouting(router=RouterKind.SERVICE_SELECTOR)
    )
    pre_promotion_analysis: PhaseAnalysis | None = None
    post_promotion_analysis: PhaseAnalysis | None = None
    auto_promotion_enabled: bool = True
    auto_promotion_delay: WaitDuration | None = None
    scale_down_delay: StepDuration = timedelta(seconds=30)

    @model_validator(mode="after")
    def _rules(self) -> BlueGreenStrategy:
        if self.traffic.router is RouterKind.REPLICAS:
            raise ValueError("blueGreen.traffic.router must be 'service-selector' or 'gateway-api'")
        if (
            self.pre_promotion_analysis is not None
            and self.preview_service is None
            and not (self.traffic.mirror)
        ):
            raise ValueError(
                "prePromotionAnalysis needs previewService (or traffic.mirror with gateway-api) "
                "so the candidate receives traffic before the switch"
            )
        if self.auto_promotion_delay is not None and not self.auto_promotion_enabled:
            raise ValueError("autoPromotionDelay needs autoPromotionEnabled: true")
        return self


class Strategy(OneOf):
    """Exactly one of ``canary`` and ``blueGreen``."""

    one_of = ("canary", "blue_green")
    canary: CanaryStrategy | None = None
    blue_green: BlueGreenStrategy | None = None

    @property
    def traffic(self) -> TrafficRouting:
        """The traffic routing of whichever strategy is set."""
        chosen = self.canary or self.blue_green
        assert chosen is not None
        return chosen.traffic
