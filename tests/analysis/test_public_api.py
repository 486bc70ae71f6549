"""The analysis package's public API and its purity (imports)."""

from __future__ import annotations

import ast
import pathlib

import mlrollout.analysis as analysis

ALLOWED_ROOTS = {"numpy", "scipy", "mlrollout", "__future__"}
STDLIB = {
    "math",
    "importlib",
    "bisect",
    "functools",
    "collections",
    "dataclasses",
    "enum",
    "typing",
    "itertools",
    "statistics",
}


def test_all_names_exist_and_are_sorted() -> None:
    assert sorted(analysis.__all__) == analysis.__all__
    for name in analysis.__all__:
        assert getattr(analysis, name).__doc__


def test_analysis_imports_only_numpy_scipy_errors_model_and_itself() -> None:
    root = pathlib.Path(analysis.__file__).parent
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top in ALLOWED_ROOTS | STDLIB, f"{path.name} imports {name}"
                if top == "mlrollout":
                    assert name.split(".")[1] in {"analysis", "errors", "lazy", "model"}, name
