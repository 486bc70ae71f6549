"""A small Dockerfile reader: instructions grouped into build stages.

Enough of the Dockerfile syntax for the repository's own Dockerfile: comments and parser
directives, line continuations (backslash), exec-form (JSON) and shell-form arguments.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Instruction", "Stage", "parse_dockerfile"]


@dataclass(frozen=True)
class Instruction:
    """One instruction: its keyword (upper case), raw arguments and line number."""

    keyword: str
    args: str
    line: int

    def exec_form(self) -> list[str] | None:
        """The arguments as a JSON array (exec form), or None for shell form."""
        text = self.args.strip()
        if not text.startswith("["):
            return None
        value = json.loads(text)
        assert isinstance(value, list), self
        return [str(v) for v in value]

    def pairs(self) -> dict[str, str]:
        """``KEY=VALUE`` pairs of ENV, LABEL and ARG (``ARG NAME`` gives an empty value)."""
        out: dict[str, str] = {}
        for token in shlex.split(self.args):
            key, _, value = token.partition("=")
            out[key] = value
        return out


@dataclass
class Stage:
    """A build stage: its base image, optional name and instructions after FROM."""

    base: str
    name: str | None
    line: int
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        """Every instruction with ``keyword``."""
        return [i for i in self.instructions if i.keyword == keyword]


def _logical_lines(text: str) -> list[tuple[int, str]]:
    lines: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue  # comments (also inside continuations) and blank lines
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        lines.append((start, " ".join(p for p in pending if p)))
        pending = []
    assert not pending, "Dockerfile ends inside a line continuation"
    return lines


def parse_dockerfile(path: Path) -> list[Stage]:
    """The stages of ``path`` in order; instructions before the first FROM (global ARGs) are
    refused: this Dockerfile has none."""
    stages: list[Stage] = []
    for line, text in _logical_lines(path.read_text()):
        keyword, _, args = text.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = args.split()
            words = [w for w in words if not w.startswith("--")]  # --platform=...
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name, line))
            continue
        assert stages, f"{path}:{line}: {keyword} before the first FROM"
        stages[-1].instructions.append(Instruction(keyword, args.strip(), line))
    return stages
