"""Frozen runtime values shared by every layer: digests, image references, durations.

Bottom layer: depends on nothing but ``errors``. Each value type validates on
construction, so a value that exists is well formed.
"""

from __future__ import annotations

from mlrollout.model.digest import ImageRef, Sha256
from mlrollout.model.duration import format_duration, parse_duration

__all__ = ["ImageRef", "Sha256", "format_duration", "parse_duration"]
