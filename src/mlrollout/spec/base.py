"""Building blocks shared by the spec models: the strict base model and validated field types.

Part of the ``spec`` layer (validated input). Everything here is declarative: each type says
what it accepts and what it generates in the JSON schema, so the CRD and the editor schema
come from the same definitions as validation.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic.alias_generators import to_camel

from mlrollout.model import (
    ImageRef,
    Sha256,
    format_duration,
    format_instant,
    parse_duration,
    to_millis,
)
from mlrollout.model.duration import HINT as DURATION_HINT

__all__ = [
    "API_GROUP",
    "API_VERSION",
    "CallTimeout",
    "DnsLabel",
    "DnsSubdomain",
    "Duration",
    "FreeForm",
    "HttpUrl",
    "ImageReference",
    "IntentStamp",
    "LabelMap",
    "OneOf",
    "Sha256Hex",
    "SpecModel",
    "StepDuration",
    "Timestamp",
    "WaitDuration",
    "format_intent_stamp",
]

API_GROUP = "mlrollout.io"
API_VERSION = f"{API_GROUP}/v1alpha1"

_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"


class SpecModel(BaseModel):
    """Strict, frozen, camelCase-aliased base of every spec model: unknown fields are errors."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        strict=False,
        validate_default=False,
        hide_input_in_errors=True,
    )


class OneOf(SpecModel):
    """A spec model whose fields named in ``one_of`` are alternatives: exactly one is set."""

    one_of: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        chosen = [to_camel(n) for n in self.one_of if getattr(self, n) is not None]
        if len(chosen) != 1:
            names = ", ".join(to_camel(n) for n in self.one_of)
            raise ValueError(f"set exactly one of {names} (got {chosen or 'none'})")
        return self


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    return parse_duration(value)


Duration = Annotated[
    timedelta,
    BeforeValidator(_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": _DURATION_PATTERN, "description": DURATION_HINT}),
]
"""A Kubernetes-style duration string (``30s``, ``10m``, ``1h30m``) held as ``timedelta``."""


def _at_most(limit: timedelta) -> tuple[Any, ...]:
    """The metadata of a ``Duration`` of at most ``limit``: parsed, checked at load,
    serialised, and with the same JSON schema as ``Duration`` (the CRD stays as it is)."""

    def check(value: timedelta) -> timedelta:
        if value > limit:
            raise ValueError(
                f"must be at most {format_duration(limit)}, got {format_duration(value)}"
            )
        return value

    return (
        BeforeValidator(_duration),
        AfterValidator(check),
        PlainSerializer(format_duration, return_type=str),
        WithJsonSchema(
            {"type": "string", "pattern": _DURATION_PATTERN, "description": DURATION_HINT}
        ),
    )


MAX_CALL_TIMEOUT = timedelta(minutes=1)
MAX_STEP_DURATION = timedelta(hours=24)
MAX_WAIT = timedelta(days=7)

CallTimeout = Annotated[timedelta, *_at_most(MAX_CALL_TIMEOUT)]
"""The total deadline of one outbound call (webhook, provider): at most one minute."""

StepDuration = Annotated[timedelta, *_at_most(MAX_STEP_DURATION)]
"""An analysis duration, interval or deadline: at most 24 hours."""

WaitDuration = Annotated[timedelta, *_at_most(MAX_WAIT)]
"""A pause or a promotion delay: at most 7 days."""

DnsLabel = Annotated[
    str, StringConstraints(min_length=1, max_length=63, pattern=_DNS_LABEL, strict=True)
]
"""An RFC 1123 label: a Service or Deployment name."""

DnsSubdomain = Annotated[
    str, StringConstraints(min_length=1, max_length=253, pattern=_DNS_SUBDOMAIN, strict=True)
]
"""An RFC 1123 subdomain: an object name."""


def _image(value: Any) -> str:
    if isinstance(value, ImageRef):
        return str(value)
    return str(ImageRef.parse(value))


ImageReference = Annotated[
    str,
    BeforeValidator(_image),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^[^@\s]+@sha256:[0-9a-f]{64}$",
            "description": "An image pinned by digest: registry/repo@sha256:<64 hex>.",
        }
    ),
]
"""An image reference pinned by digest; a tag alone is refused."""


def _sha256(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be 64 lowercase hex characters, got {type(value).__name__}")
    return Sha256.parse(value).hex


Sha256Hex = Annotated[
    str,
    BeforeValidator(_sha256),
    WithJsonSchema({"type": "string", "pattern": r"^(sha256:)?[0-9a-f]{64}$"}),
]
"""A SHA-256 digest, 64 lowercase hex characters (a ``sha256:`` prefix is accepted)."""


def _http_url(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be an http(s) URL, got {type(value).__name__}")
    if not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", value) or len(value) > 2048:
        raise ValueError(f"must be an http:// or https:// URL, got {value[:80]!r}")
    return value


HttpUrl = Annotated[
    str,
    AfterValidator(_http_url),
    WithJsonSchema({"type": "string", "pattern": r"^https?://"}),
]
"""An absolute http(s) URL."""

LabelMap = dict[
    Annotated[str, StringConstraints(max_length=317)],
    Annotated[str, StringConstraints(max_length=4096)],
]
"""A map of strings (labels, headers, arguments)."""

Timestamp = Annotated[
    AwareDatetime,
    AfterValidator(to_millis),
    PlainSerializer(format_instant, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""A status time: timezone-aware, held in UTC to the millisecond, written as RFC 3339 with
milliseconds and ``Z`` (``2026-11-30T18:16:05.123Z``). Any RFC 3339 time is read, so a status
written with whole seconds loads."""


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def format_intent_stamp(moment: datetime) -> str:
    """The annotation value of an intent requested at ``moment`` (UTC, microseconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


IntentStamp = Annotated[
    AwareDatetime,
    AfterValidator(_utc),
    PlainSerializer(format_intent_stamp, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""When a user asked for an intent: the value of its annotation, to the microsecond, as the
CLI writes it (``2026-11-30T18:16:05.123456Z``); it identifies the request, so it is kept
exactly."""


FreeForm = Annotated[
    dict[str, Any],
    WithJsonSchema({"type": "object", "x-kubernetes-preserve-unknown-fields": True}),
]
"""A JSON object whose shape belongs to another layer (analysis evidence)."""
