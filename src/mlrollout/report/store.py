"""Where report records live: JSON files in a directory, and one ConfigMap per run.

Part of the ``report`` layer; encoding and decoding only (dicts in, dicts out), so the
controller's edge and the CLI do the API calls. A ConfigMap holds the record under
``report.json``, is owned by its ModelRollout (garbage-collected with it), labelled for
listing, and kept under ``MAX_CONFIGMAP_BYTES``: when a record is larger, its series and
timeline are thinned until it fits and a ``summarised`` finding says so.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mlrollout.errors import SpecError
from mlrollout.model import format_instant
from mlrollout.report.record import Finding, FindingKind, ReportRecord

__all__ = [
    "DATA_KEY",
    "MAX_CONFIGMAP_BYTES",
    "REPORT_LABEL",
    "ROLLOUT_LABEL",
    "config_map_name",
    "decode_config_map",
    "encode_config_map",
    "fit_record",
    "load_record",
    "record_file_name",
    "write_record",
]

DATA_KEY = "report.json"
MAX_CONFIGMAP_BYTES = 900 * 1024
REPORT_LABEL = "mlrollout.io/report"
ROLLOUT_LABEL = "mlrollout.io/rollout"


def config_map_name(rollout: str, build: str) -> str:
    """The run's ConfigMap: the rollout's name, ``-report-`` and a digest of the build."""
    digest = hashlib.sha256(build.encode()).hexdigest()[:10]
    return f"{rollout[:230]}-report-{digest}"


def record_file_name(record: ReportRecord) -> str:
    """A record's file name in a report directory (one file per run, rewritten as it grows)."""
    if record.run.name:
        build = record.build or format_instant(record.generated_at)
        digest = hashlib.sha256(build.encode()).hexdigest()[:10]
        return f"report-{record.run.namespace}-{record.run.name}-{digest}.json"
    return f"report-analysis-{record.generated_at.strftime('%Y-%m-%dT%H%M%SZ')}.json"


def fit_record(record: ReportRecord, *, limit: int = MAX_CONFIGMAP_BYTES) -> ReportRecord:
    """``record`` if it fits in ``limit`` bytes, else thinned (and saying so) until it does."""
    if len(record.to_json().encode()) <= limit:
        return record
    note = Finding(
        kind=FindingKind.SUMMARISED,
        message="the record was larger than a ConfigMap holds: series and timeline thinned",
    )
    current = record.model_copy(
        update={
            "findings": [
                note,
                *(f for f in record.findings if f.kind is not FindingKind.SUMMARISED),
            ]
        }
    )
    for _ in range(12):
        current = current.model_copy(
            update={
                "metrics": [
                    m.model_copy(update={"series": _halve(m.series)}) for m in current.metrics
                ],
                "timeline": current.timeline[len(current.timeline) // 2 :],
                "traffic": _halve(current.traffic),
            }
        )
        if len(current.to_json().encode()) <= limit:
            return current
    return current.model_copy(
        update={
            "metrics": [
                m.model_copy(update={"series": [], "distribution": None, "reason": m.reason[:200]})
                for m in current.metrics
            ]
        }
    )


def _halve(points: list[Any]) -> list[Any]:
    if len(points) <= 2:
        return points
    kept = points[::2]
    return kept if kept[-1] is points[-1] else [*kept, points[-1]]


def encode_config_map(
    record: ReportRecord, *, namespace: str, owner: dict[str, Any]
) -> dict[str, Any]:
    """The ConfigMap body for ``record``, owned by the rollout ``owner`` (its raw object)."""
    meta = owner["metadata"]
    fitted = fit_record(record)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": config_map_name(meta["name"], record.build),
            "namespace": namespace,
            "labels": {REPORT_LABEL: "true", ROLLOUT_LABEL: meta["name"][:63]},
            "ownerReferences": [
                {
                    "apiVersion": owner.get("apiVersion", "mlrollout.io/v1alpha1"),
                    "kind": "ModelRollout",
                    "name": meta["name"],
                    "uid": meta.get("uid", ""),
                    "blockOwnerDeletion": False,
                    "controller": False,
                }
            ],
        },
        "data": {DATA_KEY: fitted.to_json()},
    }


def decode_config_map(obj: dict[str, Any]) -> ReportRecord:
    """The record a ConfigMap holds (``SpecError`` naming it when there is none)."""
    name = (obj.get("metadata") or {}).get("name", "?")
    text = (obj.get("data") or {}).get(DATA_KEY)
    if text is None:
        raise SpecError(f"has no {DATA_KEY}", source=f"configmap/{name}")
    return _parse(text, source=f"configmap/{name}")


def _parse(text: str, *, source: str) -> ReportRecord:
    try:
        return ReportRecord.model_validate(json.loads(text))
    except (ValueError, ValidationError) as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) else None
        where = ".".join(str(p) for p in first["loc"]) if first else ""
        message = first["msg"] if first else str(exc).splitlines()[0]
        raise SpecError(f"not a report record: {message}", source=source, path=where) from None


def write_record(directory: Path, record: ReportRecord) -> Path:
    """Write (or rewrite) the run's record file in ``directory``; its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / record_file_name(record)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(record.to_json() + "\n", encoding="utf-8")
    temporary.replace(path)
    return path


def load_record(path: Path) -> ReportRecord:
    """A record from a file, or the newest ``report-*.json`` of a directory."""
    if path.is_dir():
        files = sorted(path.glob("report-*.json"), key=lambda p: p.stat().st_mtime)
        if not files:
            raise SpecError("no report-*.json record in the directory", source=str(path))
        path = files[-1]
    if path.stat().st_size > 16 * 1024 * 1024:
        raise SpecError("larger than 16 MiB: not a report record", source=str(path))
    return _parse(path.read_text(encoding="utf-8"), source=str(path))
