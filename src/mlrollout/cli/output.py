"""Rendering helpers shared by commands: the ``--output`` choice and JSON printing.

Part of the ``cli`` layer. Machine output is one JSON document on stdout; human output is
plain text; diagnostics go to stderr.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

import typer

__all__ = ["OutputFormat", "print_json"]


class OutputFormat(StrEnum):
    """``--output`` values."""

    TEXT = "text"
    JSON = "json"


def print_json(document: Any) -> None:
    """Print one JSON document (sorted keys, two-space indent) on stdout."""
    typer.echo(json.dumps(document, indent=2, sort_keys=True, default=str))
