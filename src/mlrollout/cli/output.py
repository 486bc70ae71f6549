"""Rendering helpers shared by commands: the ``--output`` choice, documents and progress.

Part of the ``cli`` layer. Machine output is one JSON or YAML document on stdout; human
output is plain text; diagnostics and progress go to stderr. Progress redraws one line
when stderr is a terminal and prints plain lines otherwise (CI logs, pipes).
"""

from __future__ import annotations

import json
import sys
import time
from enum import StrEnum
from typing import Any, TextIO

import typer

__all__ = ["OUTPUT", "OUTPUT_HELP", "OutputFormat", "Progress", "print_document", "print_json"]

OUTPUT_HELP = "text for people; json or yaml for machines."


class OutputFormat(StrEnum):
    """``--output`` values."""

    TEXT = "text"
    JSON = "json"
    YAML = "yaml"

    @property
    def machine(self) -> bool:
        """True for the formats that print one document for programs."""
        return self is not OutputFormat.TEXT


OUTPUT = typer.Option(OutputFormat.TEXT, "--output", "-o", help=OUTPUT_HELP)
"""The ``--output``/``-o`` option of every command that prints a status-like document."""


def print_json(document: Any) -> None:
    """Print one JSON document (sorted keys, two-space indent) on stdout."""
    typer.echo(json.dumps(document, indent=2, sort_keys=True, default=str))


def print_document(document: Any, output: OutputFormat) -> None:
    """Print ``document`` as JSON or YAML (the same data: YAML is dumped from its JSON form)."""
    if output is OutputFormat.YAML:
        import yaml

        plain = json.loads(json.dumps(document, default=str))
        typer.echo(yaml.safe_dump(plain, sort_keys=True), nl=False)
    else:
        print_json(document)


class Progress:
    """Progress of a long-running command on stderr: one redrawn line in a terminal."""

    def __init__(self, label: str, *, total: int, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.live = self.stream.isatty()
        self.started = time.monotonic()

    def update(self, done: int) -> None:
        """Report ``done`` of ``total`` units."""
        elapsed = time.monotonic() - self.started
        text = f"{self.label}: {done}/{self.total} ({elapsed:.0f}s)"
        if self.live:
            self.stream.write("\r" + text)
            if done >= self.total:
                self.stream.write("\n")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
