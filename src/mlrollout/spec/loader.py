"""Loading ModelRollouts and AnalysisTemplates from YAML files and Kubernetes objects.

Part of the ``spec`` layer; the one boundary where pydantic's errors become ``SpecError``s
naming the file, the document, the field path and what was expected. Cross-document rules
(referenced templates exist, their arguments are supplied) are checked in ``check_references``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from mlrollout.errors import SpecError
from mlrollout.spec.rollout import ModelRollout
from mlrollout.spec.template import AnalysisTemplate
from mlrollout.spec.yamlfile import parse_yaml_documents, read_regular_file

__all__ = [
    "KINDS",
    "Document",
    "LoadResult",
    "Resource",
    "check_api_version",
    "check_references",
    "load_file",
    "load_object",
    "load_paths",
    "load_rollout",
    "load_text",
    "validate_model",
]

Resource = ModelRollout | AnalysisTemplate
KINDS: dict[str, type[ModelRollout] | type[AnalysisTemplate]] = {
    "ModelRollout": ModelRollout,
    "AnalysisTemplate": AnalysisTemplate,
}
API_VERSION = "mlrollout.io/v1alpha1"
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Document:
    """A validated resource and where it came from."""

    source: str
    index: int | None
    resource: Resource


@dataclass
class LoadResult:
    """Every document that validated and every error found, across files."""

    documents: list[Document] = field(default_factory=list)
    errors: list[SpecError] = field(default_factory=list)

    @property
    def rollouts(self) -> list[Document]:
        """Documents holding a ModelRollout."""
        return [d for d in self.documents if isinstance(d.resource, ModelRollout)]

    @property
    def templates(self) -> dict[str, AnalysisTemplate]:
        """AnalysisTemplates by name (the first one wins)."""
        out: dict[str, AnalysisTemplate] = {}
        for d in self.documents:
            if isinstance(d.resource, AnalysisTemplate):
                out.setdefault(d.resource.name, d.resource)
        return out


def load_object(obj: Any, *, source: str, index: int | None = None) -> Resource:
    """Validate one decoded document (a YAML document or a Kubernetes object)."""
    if not isinstance(obj, Mapping):
        raise SpecError(
            f"expected a mapping with apiVersion and kind, got {_type_name(obj)}",
            source=source,
            document=index,
        )
    check_api_version(obj, source=source, index=index)
    kind = obj.get("kind")
    model = KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        allowed = ", ".join(KINDS)
        raise SpecError(
            f"must be one of {allowed}, got {_short(kind)}",
            source=source,
            document=index,
            path="kind",
        )
    return validate_model(model, obj, source=source, index=index)


def check_api_version(obj: Mapping[str, Any], *, source: str, index: int | None) -> None:
    """Refuse a document whose ``apiVersion`` is not this project's."""
    api_version = obj.get("apiVersion")
    if api_version != API_VERSION:
        raise SpecError(
            f"must be {API_VERSION!r}, got {_short(api_version)}",
            source=source,
            document=index,
            path="apiVersion",
        )


def validate_model(model: type[M], obj: Mapping[str, Any], *, source: str, index: int | None) -> M:
    """``obj`` validated as ``model``; the first problem is a ``SpecError`` naming the field."""
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        raise _translate(exc, source=source, index=index)[0] from None
    except RecursionError:
        raise SpecError("nesting too deep", source=source, document=index) from None


def validation_errors(obj: Any, *, source: str, index: int | None) -> list[SpecError]:
    """Every problem of one document (for ``lint``), or an empty list."""
    try:
        load_object(obj, source=source, index=index)
    except SpecError as first:
        kind = obj.get("kind") if isinstance(obj, Mapping) else None
        model = KINDS.get(kind) if isinstance(kind, str) else None
        if model is None or first.path in ("apiVersion", "kind"):
            return [first]
        try:
            model.model_validate(obj)
        except ValidationError as exc:
            return _translate(exc, source=source, index=index)
        return [first]
    return []


def load_text(data: bytes | str, *, source: str) -> list[Document]:
    """Load every document of a YAML stream; the first problem raises ``SpecError``."""
    raw = parse_yaml_documents(data, source=source)
    if not raw:
        raise SpecError("no documents: expected a ModelRollout or AnalysisTemplate", source=source)
    multi = len(raw) > 1
    out = []
    for i, obj in enumerate(raw):
        index = i + 1 if multi else None
        out.append(Document(source, index, load_object(obj, source=source, index=index)))
    return out


def load_file(path: str | Path) -> list[Document]:
    """Load a YAML file; a missing or unreadable file is a ``SpecError`` too."""
    return load_text(_read(path), source=str(path))


def load_paths(paths: Iterable[str | Path]) -> LoadResult:
    """Load many files, collecting every error instead of stopping at the first."""
    result = LoadResult()
    for path in paths:
        source = str(path)
        try:
            raw = parse_yaml_documents(_read(path), source=source)
        except SpecError as exc:
            result.errors.append(exc)
            continue
        if not raw:
            result.errors.append(
                SpecError(
                    "no documents: expected a ModelRollout or AnalysisTemplate", source=source
                )
            )
        multi = len(raw) > 1
        for i, obj in enumerate(raw):
            index = i + 1 if multi else None
            problems = validation_errors(obj, source=source, index=index)
            if problems:
                result.errors.extend(problems)
            else:
                result.documents.append(
                    Document(source, index, load_object(obj, source=source, index=index))
                )
    return result


def load_rollout(path: str | Path, *, templates: Mapping[str, AnalysisTemplate]) -> ModelRollout:
    """Load a file holding exactly one ModelRollout (templates may sit beside it)."""
    documents = load_file(path)
    rollouts = [d for d in documents if isinstance(d.resource, ModelRollout)]
    if len(rollouts) != 1:
        raise SpecError(
            f"expected exactly one ModelRollout, found {len(rollouts)}", source=str(path)
        )
    local = {
        d.resource.name: d.resource for d in documents if isinstance(d.resource, AnalysisTemplate)
    }
    errors = check_references(rollouts, {**templates, **local})
    if errors:
        raise errors[0]
    rollout = rollouts[0].resource
    assert isinstance(rollout, ModelRollout)
    return rollout


def check_references(
    rollouts: Iterable[Document], templates: Mapping[str, AnalysisTemplate]
) -> list[SpecError]:
    """Referenced templates exist and receive every argument they need, and no others."""
    errors: list[SpecError] = []
    for doc in rollouts:
        rollout = doc.resource
        assert isinstance(rollout, ModelRollout)
        refs = rollout.spec.analysis.templates if rollout.spec.analysis else []
        for i, ref in enumerate(refs):
            for suffix, message in _reference_problems(ref.name, set(ref.args), templates):
                errors.append(
                    SpecError(
                        message,
                        source=doc.source,
                        document=doc.index,
                        path=f"spec.analysis.templates[{i}].{suffix}",
                    )
                )
    return errors


def _reference_problems(
    name: str, given: set[str], templates: Mapping[str, AnalysisTemplate]
) -> list[tuple[str, str]]:
    """``(path suffix, message)`` for one template reference."""
    template = templates.get(name)
    if template is None:
        known = ", ".join(sorted(templates)) or "none loaded"
        return [("name", f"analysis template {name!r} not found (known: {known})")]
    declared = {a.name: a for a in template.spec.args}
    listing = ", ".join(sorted(declared)) or "none"
    problems = [
        (f"args.{arg}", f"template {name!r} has no argument {arg!r} (declared: {listing})")
        for arg in sorted(given - set(declared))
    ]
    problems += [
        ("args", f"template {name!r} needs argument {arg!r}")
        for arg, spec in sorted(declared.items())
        if spec.value is None and arg not in given
    ]
    return problems


def _read(path: str | Path) -> bytes:
    return read_regular_file(path, limit=MAX_READ)


MAX_READ = 1 << 20


def _translate(exc: ValidationError, *, source: str, index: int | None) -> list[SpecError]:
    out = []
    for error in exc.errors(include_url=False, include_input=True):
        path, message = _describe(error)
        out.append(SpecError(message, source=source, document=index, path=path or None))
    return out


def _describe(error: Mapping[str, Any]) -> tuple[str, str]:
    loc = tuple(error["loc"])
    kind = error["type"]
    msg: str = error["msg"]
    # Drop pydantic's union/tag markers so the path reads like the document.
    parts = [p for p in loc if not (isinstance(p, str) and ("[" in p or p.startswith("function")))]
    path = _join_path(parts)
    if kind == "value_error":
        msg = msg.removeprefix("Value error, ")
        if msg.startswith(("spec.", "steps[", "metrics[")) and ": " in msg:
            inner, msg = msg.split(": ", 1)
            path = f"{path}.{inner}" if path else inner
        return path, msg
    got = _short(error.get("input"))
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return path, "required field is missing"
    if kind == "extra_forbidden":
        return path, "unknown field"
    if kind in _BOUNDS:
        return path, f"must be {_BOUNDS[kind]} {_number(ctx)}, got {got}"
    if kind in _TYPES:
        return path, f"must be {_TYPES[kind]}, got {_type_name(error.get('input'))} {got}"
    if kind in ("literal_error", "enum"):
        return path, f"must be one of {ctx.get('expected', '?')}, got {got}"
    if kind == "string_pattern_mismatch":
        return path, f"{_pattern_hint(path)}, got {got}"
    if kind in ("string_too_long", "too_long"):
        return path, f"must have at most {ctx.get('max_length')} {_unit(kind)}"
    if kind in ("string_too_short", "too_short"):
        return path, f"must have at least {ctx.get('min_length')} {_unit(kind)}"
    return path, f"{_lower_first(msg)}, got {got}"


_BOUNDS = {
    "less_than_equal": "at most",
    "greater_than_equal": "at least",
    "less_than": "less than",
    "greater_than": "greater than",
    "multiple_of": "a multiple of",
}
_TYPES = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "int_from_float": "an integer",
}


def _number(ctx: Mapping[str, Any]) -> str:
    for key in ("le", "ge", "lt", "gt", "multiple_of"):
        if key in ctx:
            value = ctx[key]
            return f"{value:g}" if isinstance(value, float) else str(value)
    return "?"


def _unit(kind: str) -> str:
    return "characters" if kind.startswith("string") else "items"


def _pattern_hint(path: str) -> str:
    leaf = path.rsplit(".", 1)[-1]
    if (
        leaf in {"name", "service", "deployment", "namespace", "secret", "previewService"}
        or "[" in leaf
    ):
        return "must be a lowercase RFC 1123 name (a-z, 0-9, '-')"
    return "does not match the expected format"


def _join_path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _type_name(value: Any) -> str:
    return {
        list: "a list",
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "a boolean",
    }.get(type(value), type(value).__name__)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"
