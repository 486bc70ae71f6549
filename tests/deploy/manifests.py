"""The manifests under ``examples/``: every Kubernetes object, by file, and what
``examples/deploy/kustomization.yaml`` puts together."""

from __future__ import annotations

import copy
import functools
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

__all__ = [
    "DEPLOY",
    "EXAMPLES",
    "documents",
    "flag",
    "kustomization_files",
    "manifest_files",
    "named",
    "objects",
    "of_kind",
]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
DEPLOY = EXAMPLES / "deploy"
KUSTOMIZATION = "kustomization.yaml"
# Not Kubernetes objects: CI pipelines.
NOT_MANIFESTS = ("ci",)
# Single files under examples/ that are other formats: `verify image --policy` reads a
# rollout's spec.gates (tests/gates checks it against the same model).
NOT_MANIFEST_FILES = ("policy/verify-image.yaml",)


def manifest_files() -> list[Path]:
    """Every YAML file of Kubernetes objects under examples/ (kustomizations excluded)."""
    return sorted(
        p
        for p in EXAMPLES.rglob("*.y*ml")
        if p.name != KUSTOMIZATION
        and p.relative_to(EXAMPLES).parts[0] not in NOT_MANIFESTS
        and p.relative_to(EXAMPLES).as_posix() not in NOT_MANIFEST_FILES
    )


@functools.cache
def _parsed(path: Path) -> tuple[dict[str, Any], ...]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the CRDs are large
    return tuple(d for d in yaml.load_all(path.read_text(), Loader=loader) if d is not None)


def documents(path: Path) -> list[dict[str, Any]]:
    """The objects of one (multi-document) file (parsed once; each call gets its own copy)."""
    return copy.deepcopy(list(_parsed(path)))


def kustomization_files(directory: Path) -> list[Path]:
    """The files a kustomization (resources only) takes, directories followed."""
    spec = yaml.safe_load((directory / KUSTOMIZATION).read_text())
    unsupported = set(spec) - {"apiVersion", "kind", "resources", "images"}
    assert not unsupported, f"{directory / KUSTOMIZATION}: {sorted(unsupported)}"
    out: list[Path] = []
    for entry in spec["resources"]:
        path = (directory / entry).resolve()
        assert path.exists(), f"{directory / KUSTOMIZATION}: {entry} does not exist"
        out += kustomization_files(path) if path.is_dir() else [path]
    return out


def objects(directory: Path = DEPLOY) -> list[dict[str, Any]]:
    """Every object of the kustomization in ``directory``, as listed (no image rewrite)."""
    return [doc for path in kustomization_files(directory) for doc in documents(path)]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The objects of ``kind``."""
    return [d for d in docs if d["kind"] == kind]


def named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """The one object of ``kind`` called ``name``."""
    [found] = [d for d in of_kind(docs, kind) if d["metadata"]["name"] == name]
    return found


def flag(args: list[str], name: str) -> str:
    """The value of ``--name=value`` in ``args``."""
    [value] = [m[1] for a in args if (m := re.fullmatch(rf"--{name}=(.*)", a))]
    return value


def require_kubectl() -> None:
    """Skip without kubectl, except under CI, where a skip would hide the test: fail there."""
    if shutil.which("kubectl") is None:
        message = "kubectl is not installed (it renders `kubectl apply -k examples/deploy`)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run the deploy tests")
        pytest.skip(message)
