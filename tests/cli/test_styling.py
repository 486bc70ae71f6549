"""Colour in the live view: on for a terminal, off with ``NO_COLOR`` (any non-empty value)
or the root ``--no-color`` flag; the flag holds for its own invocation only and is never
written into the process environment."""

from __future__ import annotations

import io
import os

import pytest

from mlrollout.cli.app import main
from mlrollout.cli.liveview import LiveView


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _run(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2  # `lint --bogus`: a usage error, after the root options


@pytest.mark.parametrize(
    ("value", "coloured"), [(None, True), ("", True), ("1", False), ("false", False)]
)
def test_no_color_turns_the_live_view_colour_off(
    monkeypatch: pytest.MonkeyPatch, value: str | None, coloured: bool
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    if value is not None:
        monkeypatch.setenv("NO_COLOR", value)
    assert LiveView(Terminal()).colour is coloured
    assert LiveView(io.StringIO()).colour is False  # not a terminal: never


def test_the_no_color_flag_holds_for_its_invocation_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    _run(["--no-color", "lint", "--bogus"])
    assert "NO_COLOR" not in os.environ
    assert LiveView(Terminal()).colour is False
    _run(["lint", "--bogus"])
    assert LiveView(Terminal()).colour is True
