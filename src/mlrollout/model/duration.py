"""Kubernetes-style durations (``500ms``, ``30s``, ``10m``, ``1h30m``) to ``timedelta`` and back."""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["format_duration", "parse_duration"]

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h))+")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
HINT = "a duration such as 30s, 10m, 1h or 1h30m"


def parse_duration(text: str) -> timedelta:
    """Parse a Go/Kubernetes duration string; raise ``ValueError`` naming the expected form."""
    if not isinstance(text, str):
        raise ValueError(f"must be {HINT} (a string), got {type(text).__name__} {text!r}")
    if len(text) > 64 or not _WHOLE.fullmatch(text):
        shown = text if len(text) <= 64 else text[:61] + "..."
        raise ValueError(f"must be {HINT}, got {shown!r}")
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(text))
    if seconds > 366 * 24 * 3600:
        raise ValueError(f"must be at most one year, got {text!r}")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """Format as the shortest Kubernetes-style string (``90s`` → ``1m30s``)."""
    millis = round(value.total_seconds() * 1000)
    if millis == 0:
        return "0s"
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, ms = divmod(rest, 1000)
    out = ""
    if hours:
        out += f"{hours}h"
    if minutes:
        out += f"{minutes}m"
    if seconds:
        out += f"{seconds}s"
    if ms:
        out += f"{ms}ms"
    return out
