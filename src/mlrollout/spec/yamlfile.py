"""Reading YAML safely: regular files only, size and depth limits, UTF-8 only, no duplicate
keys, no aliases, no numbers beyond Python's digit limit.

Part of the ``spec`` layer; the loader's first step, also used for the CLI's policy file.
Every failure is a ``SpecError`` that names the file (and document) and says what was
expected.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml

from mlrollout.errors import SpecError

__all__ = ["MAX_BYTES", "MAX_DEPTH", "nesting_depth", "parse_yaml_documents", "read_regular_file"]

MAX_BYTES = 1 << 20
MAX_DEPTH = 64


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and aliases (no billion laughs, no surprises)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.constructor.ConstructorError(
                None, None, "YAML aliases (*name) are not supported", None
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, "mapping keys must be strings", key_node.start_mark
                ) from None
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# YAML 1.2 booleans only: `on:`, `yes`, `no` stay strings, as a reader of the file expects.
_StrictLoader.yaml_implicit_resolvers = {
    first: [r for r in resolvers if r[0] != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def read_regular_file(path: str | Path, *, limit: int = MAX_BYTES) -> bytes:
    """Up to ``limit + 1`` bytes of a regular file; a FIFO, device or directory is refused
    without blocking (opened non-blocking, checked with ``fstat`` before reading)."""
    source = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise SpecError("no such file", source=source) from None
    except IsADirectoryError:
        raise SpecError("is a directory, expected a file", source=source) from None
    except OSError as exc:
        raise SpecError(f"cannot read: {exc.strerror}", source=source) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise SpecError("is a directory, expected a file", source=source)
        raise SpecError("is not a regular file (a FIFO, socket or device)", source=source)
    with os.fdopen(fd, "rb") as handle:
        try:
            return handle.read(limit + 1)
        except OSError as exc:
            raise SpecError(f"cannot read: {exc.strerror}", source=source) from None


def parse_yaml_documents(data: bytes | str, *, source: str) -> list[Any]:
    """Parse every document of a YAML stream; empty documents are dropped."""
    if isinstance(data, bytes):
        if len(data) > MAX_BYTES:
            raise SpecError(f"file is larger than {MAX_BYTES} bytes", source=source)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise SpecError(
                f"not valid UTF-8 at line {line}: expected a UTF-8 YAML file",
                source=source,
            ) from None
    else:
        text = data
        if len(text) > MAX_BYTES:
            raise SpecError(f"file is larger than {MAX_BYTES} bytes", source=source)
    try:
        documents = [d for d in yaml.load_all(text, Loader=_StrictLoader) if d is not None]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "malformed YAML"
        raise SpecError(f"invalid YAML{where}: {problem}", source=source) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"invalid YAML: {exc}", source=source) from None
    except RecursionError:
        raise SpecError(f"nesting deeper than {MAX_DEPTH} levels", source=source) from None
    except ValueError as exc:  # int() beyond sys.get_int_max_str_digits(), bad timestamps
        raise SpecError(f"invalid YAML value: {str(exc)[:200]}", source=source) from None
    for index, document in enumerate(documents):
        if nesting_depth(document) > MAX_DEPTH:
            number = index + 1 if len(documents) > 1 else None
            raise SpecError(
                f"nesting deeper than {MAX_DEPTH} levels", source=source, document=number
            )
    return documents


def nesting_depth(value: Any) -> int:
    """How deeply dicts and lists nest in a decoded document (a scalar is 1), counted without
    recursion; past ``MAX_DEPTH`` it stops and returns the first level beyond it."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            return level
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return deepest
