"""How a failed command reports itself: one line on stderr and, under ``-o json|yaml``, an
error object on stdout.

Part of the ``cli`` layer; called only by ``app.main``, the one place where an
``MlrolloutError`` becomes an exit code. The error object is
``{"error": {"code", "exitCode", "reason", "path", "source"}}``: ``code`` is the gate's
reason code for a refusal and the error class otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import typer

from mlrollout.errors import GateError, MlrolloutError, SpecError
from mlrollout.redaction import redact

__all__ = ["error_document", "report_failure", "requested_output"]

_OUTPUT_FLAGS = ("-o", "--output")


def requested_output(args: Sequence[Any]) -> str | None:
    """The value of ``-o``/``--output`` in ``args`` (last one wins), or None."""
    found: str | None = None
    items = [str(a) for a in args]
    for index, item in enumerate(items):
        if item in _OUTPUT_FLAGS and index + 1 < len(items):
            found = items[index + 1]
        elif item.startswith("--output="):
            found = item.removeprefix("--output=")
        elif item.startswith("-o") and len(item) > 2 and not item.startswith("--"):
            found = item[2:].removeprefix("=")
    return found


def error_document(exc: MlrolloutError) -> dict[str, Any]:
    """The machine-readable form of ``exc``."""
    body: dict[str, Any] = {
        "code": type(exc).__name__,
        "exitCode": exc.exit_code,
        "reason": redact(str(exc)),
        "path": None,
        "source": None,
    }
    if isinstance(exc, SpecError):
        body.update(reason=exc.reason, path=exc.path, source=exc.source)
    elif isinstance(exc, GateError):
        body["code"] = exc.reason_code
    return {"error": body}


def report_failure(exc: MlrolloutError, args: Sequence[Any]) -> int:
    """Print ``exc`` for people (stderr) and machines (stdout); return its exit code."""
    typer.echo(f"mlrollout: {' '.join(redact(str(exc)).split())}", err=True)
    output = requested_output(args)
    if output == "json":
        typer.echo(json.dumps(error_document(exc), indent=2, sort_keys=True))
    elif output == "yaml":
        import yaml

        typer.echo(yaml.safe_dump(error_document(exc), sort_keys=True), nl=False)
    return exc.exit_code
