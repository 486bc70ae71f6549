"""``kubectl`` against the real control plane as cluster admin, and a server-side-apply
dry run (strict field validation): the API server validates, defaults and admits objects
and persists nothing. Namespaced objects are mapped onto test namespaces."""

from __future__ import annotations

import subprocess
from typing import Any

import yaml

from controlplane.fixtures import TestBed

__all__ = ["FIELD_MANAGER", "apply_dry_run", "kubectl", "map_namespaces"]

FIELD_MANAGER = "mlrollout-dry-run"


def kubectl(cp: TestBed, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``kubectl ARGS`` with the control plane's admin kubeconfig."""
    kubeconfig = str(cp.session.plane.admin_kubeconfig)
    return subprocess.run(
        ["kubectl", f"--kubeconfig={kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def map_namespaces(docs: list[dict[str, Any]], mapping: dict[str, str]) -> list[dict[str, Any]]:
    """``docs`` with each namespace (of the object, of RBAC subjects) in ``mapping``
    replaced, in place; returns them."""
    for doc in docs:
        meta = doc["metadata"]
        if meta.get("namespace") in mapping:
            meta["namespace"] = mapping[meta["namespace"]]
        for subject in doc.get("subjects", []):
            if subject.get("namespace") in mapping:
                subject["namespace"] = mapping[subject["namespace"]]
    return docs


def apply_dry_run(
    cp: TestBed, docs: list[dict[str, Any]] | str, *, namespace: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``kubectl apply --server-side --dry-run=server --validate=strict`` of ``docs``
    (objects, or YAML text as a user's file holds it, parsed by kubectl itself); objects
    that name no namespace go to ``namespace`` if given."""
    return kubectl(
        cp,
        *(["--namespace", namespace] if namespace else []),
        "apply",
        "--server-side",
        "--dry-run=server",
        "--validate=strict",
        "--force-conflicts",
        f"--field-manager={FIELD_MANAGER}",
        "-f",
        "-",
        stdin=docs if isinstance(docs, str) else yaml.safe_dump_all(docs),
    )
