"""Instants as the status stores them: timezone-aware UTC, milliseconds, RFC 3339 with ``Z``.

Bottom layer (``model``): pure functions over ``datetime``, no clock.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["format_instant", "to_millis"]


def to_millis(moment: datetime) -> datetime:
    """``moment`` in UTC, truncated to whole milliseconds (what the wire form keeps).

    A naive ``datetime`` is refused: a status time is never in an unknown zone.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"must carry a timezone, got {moment.isoformat()}")
    utc = moment.astimezone(UTC)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


def format_instant(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds and a ``Z``: ``2026-11-30T18:16:05.123Z``."""
    utc = to_millis(moment)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
