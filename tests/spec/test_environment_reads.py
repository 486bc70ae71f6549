"""``src/`` reads (or writes) the process environment only in ``spec.environment``: every
other module takes ``EnvironmentSettings`` fields, so each variable is declared, typed and
documented once."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "mlrollout"
SETTINGS = SRC / "spec" / "environment.py"
NAMES = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}


def _uses(tree: ast.AST) -> list[int]:
    """Lines that name ``os.environ``/``os.getenv``/… or import one of them from ``os``."""

    def names_one(node: ast.Attribute | ast.ImportFrom) -> bool:
        if isinstance(node, ast.Attribute):
            return node.attr in NAMES
        return node.module == "os" and any(alias.name in NAMES for alias in node.names)

    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute | ast.ImportFrom) and names_one(node)
    ]


def test_only_the_settings_module_reads_the_environment() -> None:
    found = {
        f"{path.relative_to(SRC)}:{line}"
        for path in sorted(SRC.rglob("*.py"))
        if path != SETTINGS
        for line in _uses(ast.parse(path.read_text(encoding="utf-8")))
    }
    assert found == set()


def test_the_check_sees_each_way_of_reading() -> None:
    for text in (
        "import os\nos.environ.get('X')",
        "import os\nos.getenv('X')",
        "from os import environ",
        "from os import getenv as g",
        "import os\nos.environ['X'] = '1'",
    ):
        assert _uses(ast.parse(text)) == [len(text.splitlines())], text
    assert _uses(ast.parse(SETTINGS.read_text(encoding="utf-8")))  # the one reader is seen
