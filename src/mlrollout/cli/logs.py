"""The controller's log on stderr, in the ``--output`` format it was asked for.

Part of the ``cli`` layer. ``text``: one line per record for people (time, level, logger,
message). ``json``: one JSON object per line (JSON Lines: ``time``, ``level``, ``logger``,
``message``, and ``exception`` when there is one) for log collectors. ``yaml``: one YAML
document per record (a ``---`` stream). Credentials are redacted before any format runs.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO

from mlrollout.cli.output import OutputFormat
from mlrollout.redaction import install_log_redaction

__all__ = ["LOG_HELP", "RecordFormatter", "logging_to_stderr"]

LOG_HELP = (
    "Log format on stderr: text lines for people; json (one object per line) or yaml "
    "(one document per record) for log collectors."
)

_TEXT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class RecordFormatter(logging.Formatter):
    """Each record as one machine document (JSON on one line, or a YAML document)."""

    def __init__(self, output: OutputFormat) -> None:
        super().__init__()
        self.output = output

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        if self.output is OutputFormat.YAML:
            import yaml

            text: str = yaml.safe_dump(document, sort_keys=False, explicit_start=True)
            return text.rstrip("\n")
        return json.dumps(document, sort_keys=False)


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is when a record is emitted."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


@contextmanager
def logging_to_stderr(output: OutputFormat, *, level: int = logging.INFO) -> Iterator[None]:
    """While the block runs, the root logger's records go to stderr in ``output``'s format,
    redacted; afterwards the handler is removed and the level restored."""
    handler = _StderrHandler()
    if output.machine:
        handler.setFormatter(RecordFormatter(output))
    else:
        handler.setFormatter(logging.Formatter(_TEXT))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(level)
    install_log_redaction()
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
