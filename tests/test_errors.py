"""The error tree: exit codes per class, the transient marker, and message rendering."""

from __future__ import annotations

import inspect

import pytest

import mlrollout
from mlrollout import errors
from mlrollout.errors import (
    ConflictError,
    ExitCode,
    GateError,
    MlrolloutError,
    SpecError,
    TransientError,
)


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (errors.SpecError, 2),
        (errors.QueryError, 2),
        (errors.GateError, 4),
        (errors.DeadlineError, 5),
        (errors.KubeError, 6),
        (errors.ProviderError, 6),
        (errors.RouterError, 6),
        (errors.WebhookError, 6),
        (errors.RegistryError, 6),
    ],
)
def test_each_class_has_its_exit_code(cls: type[MlrolloutError], code: int) -> None:
    assert cls.exit_code == code


def test_only_marked_classes_are_transient() -> None:
    transient = {
        name
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, TransientError) and cls is not TransientError
    }
    assert transient == {
        "ConflictError",
        "ThrottledError",
        "ApiUnavailableError",
        "ProviderUnavailableError",
        "WebhookUnavailableError",
        "RegistryUnavailableError",
    }


def test_every_error_class_is_drawn_in_the_module_docstring() -> None:
    doc = errors.__doc__ or ""
    for name, cls in inspect.getmembers(errors, inspect.isclass):
        if issubclass(cls, MlrolloutError):
            assert name in doc, f"{name} missing from the tree in errors.py's docstring"


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"source": "r.yaml", "path": "spec.x"}, "r.yaml: spec.x: bad"),
        ({"source": "r.yaml", "document": 2, "path": "spec.x"}, "r.yaml#2: spec.x: bad"),
        ({"source": "r.yaml"}, "r.yaml: bad"),
        ({"path": "--output"}, "--output: bad"),
        ({}, "bad"),
    ],
)
def test_spec_error_names_file_document_and_path(kwargs: dict[str, object], text: str) -> None:
    assert str(SpecError("bad", **kwargs)) == text  # type: ignore[arg-type]


def test_gate_error_carries_reason_code() -> None:
    exc = GateError("UNSIGNED", "no signature for the image")
    assert exc.reason_code == "UNSIGNED"
    assert str(exc) == "UNSIGNED: no signature for the image"
    assert exc.exit_code == ExitCode.REFUSED


def test_conflict_is_a_kube_error_and_transient() -> None:
    exc = ConflictError("stale", status=409)
    assert isinstance(exc, errors.KubeError)
    assert isinstance(exc, TransientError)
    assert exc.status == 409


def test_public_api_matches_all() -> None:
    public = {
        name
        for name in vars(mlrollout)
        if not name.startswith("_")
        and not inspect.ismodule(getattr(mlrollout, name))
        and name != "annotations"
    }
    assert set(mlrollout.__all__) == public | {"__version__"}
    for name in errors.__all__:
        assert hasattr(errors, name), name
