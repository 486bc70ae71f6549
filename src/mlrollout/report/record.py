"""The report record: one durable, schema-published JSON document per analysed run.

Part of the ``report`` layer (beside ``gates``, ``traffic`` and ``metrics``). ``collect``
builds and grows it from a rollout's status (and ``oneshot`` looks for ``analyze``);
``markdown`` and ``html`` render it; the CLI and the controller store it in a directory or
a ConfigMap. Every bounded list says its bound here, so a record has a known maximum size.
The published JSON Schema (``docs/report.schema.json``) is generated from these models.

Typed like the status: every time is a timezone-aware ``datetime`` (the status's
``Timestamp``: RFC 3339 in UTC with milliseconds and ``Z`` on the wire, any RFC 3339 time
read, a naive or malformed one refused naming the field), and every traffic weight is held
in integer basis points of a percent (``canary_bp``, ``weight_bp``: 0 to 10 000) taken from
the status's ``TrafficSplit`` as they are. The wire keeps its ``mlrollout.io/report/v1``
meaning: ``weight`` and ``canaryWeight`` stay percent, derived from the basis points on
write and read back into them, so records written before (string times, percent weights)
load unchanged and readers of the published schema see no change but the time's precision.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    PlainSerializer,
    SerializationInfo,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from mlrollout.model.analysis import AnalysisDecision
from mlrollout.spec.analysis import MetricVerdictRecord
from mlrollout.spec.base import SpecModel, Timestamp
from mlrollout.spec.status import BasisPoints, to_basis_points

__all__ = [
    "MAX_BUCKETS",
    "MAX_METRICS",
    "MAX_SERIES",
    "REPORT_SCHEMA",
    "DecisionRecord",
    "Distribution",
    "EvidencePoint",
    "Finding",
    "FindingKind",
    "GateRecord",
    "MetricReport",
    "Outcome",
    "ReleaseRecord",
    "ReportRecord",
    "RunKind",
    "RunRef",
    "SampleRatio",
    "StepRecord",
    "TimelineEntry",
    "TrafficPoint",
    "report_schema",
]

REPORT_SCHEMA = "mlrollout.io/report/v1"
MAX_SERIES = 120
"""Samples kept per metric's evidence series (and in the traffic series); thinned when full."""
MAX_METRICS = 64
MAX_BUCKETS = 512
"""Histogram buckets kept per variant (the reference model server exports about 200)."""
MAX_TIMELINE = 256

Text = Annotated[str, StringConstraints(max_length=4096)]
Short = Annotated[str, StringConstraints(max_length=256)]


def _percent_on_wire(bp: int, info: SerializationInfo) -> float | int:
    """Percent under the wire name; basis points under the Python name."""
    return bp / 100 if info.by_alias else bp


PercentOnWire = Annotated[
    BasisPoints,
    PlainSerializer(_percent_on_wire),
    WithJsonSchema(
        {
            "type": "number",
            "minimum": 0,
            "maximum": 100,
            "description": "A canary weight in percent, to the basis point (0.01 %).",
        }
    ),
]
"""A canary weight held in basis points (0-10 000) and written as percent under its alias."""


def _from_percent(data: Any, *, wire: str, field: str) -> Any:
    """``data`` with the percent under ``wire`` (as stored) turned into basis points."""
    if not isinstance(data, dict) or data.get(wire) is None:
        return data
    percent = data[wire]
    number = isinstance(percent, int | float) and not isinstance(percent, bool)
    if not number or not 0 <= percent <= 100:  # NaN is in no range
        raise ValueError(f"{wire} must be a percentage from 0 to 100, got {percent!r}")
    rest = {k: v for k, v in data.items() if k != wire}
    return {**rest, field: to_basis_points(percent)}


class RunKind(StrEnum):
    """What produced the record: a rollout (controller or ``promote``) or ``analyze``."""

    ROLLOUT = "rollout"
    ANALYSIS = "analysis"


class Outcome(StrEnum):
    """The run's outcome in one word, the first thing a reader sees."""

    PROMOTED = "promoted"
    ROLLED_BACK = "rolled-back"
    ABORTED = "aborted"
    FAILED = "failed"
    REFUSED = "refused"
    PAUSED = "paused"
    IN_PROGRESS = "in-progress"
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


class RunRef(SpecModel):
    """Which run: the rollout (namespace, name, generation) or the compared selectors."""

    namespace: Short = ""
    name: Short = ""
    generation: int | None = None
    uid: Short = ""
    service: Short = ""
    baseline: dict[Short, Text] = Field(default_factory=dict)
    canary: dict[Short, Text] = Field(default_factory=dict)
    start: Timestamp | None = None
    end: Timestamp | None = None


class GateRecord(SpecModel):
    """The supply-chain gates' verdict with its reason code (``status.verification``)."""

    verified: bool
    reason_code: Short | None = None
    message: Text = ""
    checked_at: Timestamp | None = None


class ReleaseRecord(SpecModel):
    """The release under analysis: image and model, pinned by digest."""

    image: Text
    model_uri: Text = ""
    model_sha256: Short = ""
    gates: GateRecord | None = None


class StepRecord(SpecModel):
    """One strategy step: what it does, its canary weight, and when it started (if it did).

    On the wire ``weight`` is percent to the basis point, as in every report/v1 record; the
    model holds integer basis points (``weight_bp``), writes the percent derived from them
    and reads a stored percent back into them.
    """

    index: int
    action: Literal["setWeight", "analyze", "pause", "preview", "promote"]
    weight_bp: PercentOnWire | None = Field(None, alias="weight")
    duration: Short = ""
    started_at: Timestamp | None = None

    @model_validator(mode="before")
    @classmethod
    def _weight_from_percent(cls, data: Any) -> Any:
        return _from_percent(data, wire="weight", field="weight_bp")

    @property
    def weight_percent(self) -> float | None:
        """The step's canary weight in percent, for people."""
        return None if self.weight_bp is None else self.weight_bp / 100


class TimelineEntry(SpecModel):
    """One decision the controller acted on (from ``status.history``)."""

    time: Timestamp
    phase: Short
    action: Short
    reason: Text = ""
    step: int | None = None


class TrafficPoint(SpecModel):
    """The applied canary weight from ``at`` on.

    On the wire ``canaryWeight`` is percent to the basis point, as in every report/v1 record
    and in the status's ``canaryWeight``; the model holds the status's integer basis points
    (``canary_bp``), writes the percent derived from them and reads a stored percent back.
    """

    at: Timestamp
    canary_bp: PercentOnWire = Field(alias="canaryWeight")

    @model_validator(mode="before")
    @classmethod
    def _weight_from_percent(cls, data: Any) -> Any:
        return _from_percent(data, wire="canaryWeight", field="canary_bp")

    @property
    def canary_percent(self) -> float:
        """The canary's share in percent, for people."""
        return self.canary_bp / 100


class EvidencePoint(SpecModel):
    """One metric at one look: effect, confidence sequence and both e-values."""

    at: Timestamp
    elapsed: float
    step: int | None = None
    estimate: float | None = None
    lower: float | None = None
    upper: float | None = None
    e_rollback: float | None = None
    e_promote: float | None = None


class Distribution(SpecModel):
    """Baseline and canary observations summed over the run, where the data exist.

    Latency: cumulative bucket counts at ``bounds`` (Prometheus ``le``) and totals; event
    metrics: events among exposure per variant.
    """

    bounds: list[float] = Field(default_factory=list, max_length=MAX_BUCKETS)
    baseline_counts: list[float] = Field(default_factory=list, max_length=MAX_BUCKETS)
    canary_counts: list[float] = Field(default_factory=list, max_length=MAX_BUCKETS)
    baseline_total: float = 0.0
    canary_total: float = 0.0
    baseline_events: float | None = None
    canary_events: float | None = None


class MetricReport(MetricVerdictRecord):
    """One metric: observation summary, effect with interval, evidence over time, verdict."""

    # The latest look's fields are status.analysis's; a report adds distribution and series.

    kind: Short
    unit: Short = ""
    reason: Text = ""
    distribution: Distribution | None = None
    series: list[EvidencePoint] = Field(default_factory=list, max_length=MAX_SERIES)


class SampleRatio(SpecModel):
    """Requests per variant against the router's share, and the mismatch test's e-value."""

    metric: Text
    canary_requests: float
    baseline_requests: float
    expected_share: float | None = None
    e_value: float
    mismatch: bool


class FindingKind(StrEnum):
    """Data-quality and integrity findings."""

    SAMPLE_RATIO_MISMATCH = "sample-ratio-mismatch"
    ERRORED_WINDOWS = "errored-windows"
    EMPTY_WINDOWS = "empty-windows"
    NO_DATA = "no-data"
    WAITING_FOR_BASELINE = "waiting-for-baseline"
    GATE_REFUSED = "gate-refused"
    SUMMARISED = "summarised"


class Finding(SpecModel):
    """One data-quality or integrity finding, naming the metric when it is about one."""

    kind: FindingKind
    metric: Text | None = None
    message: Text


class DecisionRecord(SpecModel):
    """The decision and why: outcome, the rollout's phase, the judge's last decision."""

    outcome: Outcome
    reason: Text
    phase: Short = ""
    analysis: AnalysisDecision | None = None
    analysis_reason: Text = ""
    failing: list[Text] = Field(default_factory=list, max_length=MAX_METRICS)
    next_steps: list[Text] = Field(default_factory=list, max_length=16)


class ReportRecord(SpecModel):
    """The durable analysis record of one run (one build of a rollout, or one ``analyze``)."""

    schema_: Literal["mlrollout.io/report/v1"] = Field("mlrollout.io/report/v1", alias="schema")
    kind: RunKind
    generated_at: Timestamp
    run: RunRef
    release: ReleaseRecord | None = None
    judge: Short = ""
    build: Text = ""
    strategy: Short = ""
    steps: list[StepRecord] = Field(default_factory=list, max_length=128)
    current_step: int | None = None
    timeline: list[TimelineEntry] = Field(default_factory=list, max_length=MAX_TIMELINE)
    traffic: list[TrafficPoint] = Field(default_factory=list, max_length=MAX_SERIES)
    metrics: list[MetricReport] = Field(default_factory=list, max_length=MAX_METRICS)
    sample_ratio: SampleRatio | None = None
    decision: DecisionRecord
    findings: list[Finding] = Field(default_factory=list, max_length=128)
    reproduce: list[Text] = Field(default_factory=list, max_length=8)

    def to_json(self) -> str:
        """The record as stored: camelCase JSON, absent values left out."""
        return self.model_dump_json(by_alias=True, exclude_none=True, indent=1)


def report_schema() -> dict[str, Any]:
    """The JSON Schema of the record (``docs/report.schema.json`` is this, checked in)."""
    schema = ReportRecord.model_json_schema(by_alias=True, mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": REPORT_SCHEMA,
        "title": "mlrollout analysis report",
        **schema,
    }
