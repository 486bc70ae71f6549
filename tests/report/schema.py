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


def assert_valid_report_writes(server: Any, *, at_least: int = 1) -> int:
    """Every version of every report ConfigMap written to the test API server is a valid
    record (``server`` is a ``kubeapi.KubeApiServer``); returns how many were checked."""
    checked = 0
    for record in server.history.records(kind="ConfigMap"):
        labels = (record.object.get("metadata") or {}).get("labels") or {}
        if labels.get("mlrollout.io/report") != "true":
            continue
        assert_valid_record(record.object["data"]["report.json"])
        checked += 1
    assert checked >= at_least, f"expected report records, found {checked}"
    return checked
