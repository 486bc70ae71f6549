"""Check an ``mlrollout`` command line against the real CLI's parser, without running it.

Used for the command lines written into manifests and the CI workflow example: the command
and subcommand exist, every option is one the command has (with the right number of values),
enumerated values are among the choices, and required arguments are present.
"""

from __future__ import annotations

import enum
import typing
from typing import Any

from typer import _click as click  # typer vendors click: its Context type
from typer._click.exceptions import UsageError
from typer.core import TyperGroup as Group

from mlrollout.cli.app import load_command

__all__ = ["check_command_line"]


def _enum_of(annotation: Any) -> type[enum.Enum] | None:
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, enum.Enum):
            return candidate
    return None


def check_command_line(argv: list[str]) -> None:
    """``AssertionError`` naming what in ``argv`` (the words after ``mlrollout``) the CLI
    would refuse."""
    assert argv, "no command"
    name, *rest = argv
    command = load_command(name)
    assert command is not None, f"mlrollout has no command {name!r}"
    words = [name]
    while isinstance(command, Group):
        assert rest, f"mlrollout {' '.join(words)} needs a subcommand"
        sub, *rest = rest
        found = command.get_command(click.Context(command), sub)
        assert found is not None, f"mlrollout {' '.join(words)} has no subcommand {sub!r}"
        words.append(sub)
        command = found
    context = click.Context(command, info_name=" ".join(words))
    try:
        values, extra, _ = command.make_parser(context).parse_args(list(rest))
    except UsageError as exc:
        raise AssertionError(f"mlrollout {' '.join(words)}: {exc}") from exc
    assert not extra, f"mlrollout {' '.join(words)}: unexpected arguments {extra}"
    for param in command.params:
        value = values.get(param.name)
        if param.required:
            assert value is not None, f"mlrollout {' '.join(words)}: {param.name} missing"
        choices = _enum_of(param.type_descriptor.annotation)  # type: ignore[attr-defined]
        if choices is None or value is None:
            continue
        allowed = {str(c.value) for c in choices}
        for item in value if isinstance(value, list | tuple) else [value]:
            assert item in allowed, (
                f"mlrollout {' '.join(words)} {param.opts[0]}: {item!r} not in {sorted(allowed)}"
            )
