"""Reports for on-call: the durable analysis record and its Markdown and HTML renderings.

A layer beside ``gates``, ``traffic`` and ``metrics``: ``record`` is the typed record with its
published JSON Schema; ``collect`` grows a rollout's record from its status look by look,
``oneshot`` builds the record of ``mlrollout analyze``; ``advice`` says what to do next;
``store`` encodes records for a directory or a ConfigMap; ``markdown`` and ``html`` (with
``plots``, which imports matplotlib lazily) render them. The controller and the CLI call it.
"""

from __future__ import annotations

from mlrollout.report.collect import collect_rollout
from mlrollout.report.markdown import render_markdown
from mlrollout.report.record import Outcome, ReportRecord, report_schema
from mlrollout.report.store import (
    config_map_name,
    decode_config_map,
    encode_config_map,
    load_record,
    write_record,
)

__all__ = [
    "Outcome",
    "ReportRecord",
    "collect_rollout",
    "config_map_name",
    "decode_config_map",
    "encode_config_map",
    "load_record",
    "render_markdown",
    "report_schema",
    "write_record",
]
