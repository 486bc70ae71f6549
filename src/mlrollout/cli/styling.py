"""Whether the CLI may colour its output: not with the root ``--no-color`` flag, nor with
``NO_COLOR`` set (read through ``spec.environment``, never by writing the environment)."""

from __future__ import annotations

__all__ = ["colour_allowed", "set_no_color_flag"]

_flag = {"no_color": False}


def set_no_color_flag(value: bool) -> None:
    """Record the root ``--no-color`` flag of this invocation."""
    _flag["no_color"] = value


def colour_allowed() -> bool:
    """False when ``--no-color`` was given or ``NO_COLOR`` is set to a non-empty value."""
    from mlrollout.spec.environment import EnvironmentSettings

    return not (_flag["no_color"] or EnvironmentSettings.from_environment().no_color)
