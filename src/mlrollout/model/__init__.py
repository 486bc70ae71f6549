"""Frozen runtime values shared by every layer: digests, image references, durations,
instants.

Bottom layer: depends on nothing but ``errors``. Each value type validates on
construction, so a value that exists is well formed.
"""

from __future__ import annotations

from mlrollout.model.digest import ImageRef, Sha256
from mlrollout.model.duration import format_duration, parse_duration
from mlrollout.model.instant import format_instant, to_millis

__all__ = [
    "ImageRef",
    "Sha256",
    "format_duration",
    "format_instant",
    "parse_duration",
    "to_millis",
]
