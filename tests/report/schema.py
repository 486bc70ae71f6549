"""Validation of report records against the published schema (docs/report.schema.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = ROOT / "docs" / "report.schema.json"


def published_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(PUBLISHED.read_text())
    return schema


def assert_valid_record(text: str) -> dict[str, Any]:
    """Parse a stored record and validate it against the published schema."""
    document: dict[str, Any] = json.loads(text)
    jsonschema.Draft202012Validator(published_schema()).validate(document)
    return document
