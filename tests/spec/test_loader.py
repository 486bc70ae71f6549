"""Loading rollouts and templates: examples, invalid fixtures, references, Kubernetes objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mlrollout.errors import SpecError
from mlrollout.spec import (
    AnalysisTemplate,
    ModelRollout,
    check_references,
    load_file,
    load_object,
    load_paths,
    load_rollout,
    load_text,
)
from mlrollout.spec.strategy import RouterKind
from mlrollout.spec.yamlfile import parse_yaml_documents

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
ANALYSES = sorted((ROOT / "analyses").glob("*.yaml"))
INVALID = sorted((ROOT / "tests" / "data" / "invalid").glob("*.yaml"))


def _library() -> dict[str, AnalysisTemplate]:
    return load_paths(ANALYSES).templates


@pytest.mark.parametrize("path", EXAMPLES + ANALYSES, ids=lambda p: p.name)
def test_shipped_files_load_clean(path: Path) -> None:
    result = load_paths([path])
    assert result.errors == []
    assert check_references(result.rollouts, _library()) == []


def test_examples_cover_both_strategies_and_every_router() -> None:
    rollouts = [load_rollout(p, templates=_library()) for p in EXAMPLES]
    assert any(r.spec.strategy.canary for r in rollouts)
    assert any(r.spec.strategy.blue_green for r in rollouts)
    routers = {r.spec.strategy.traffic.router for r in rollouts}
    assert routers == set(RouterKind)


def test_library_has_the_five_template_families() -> None:
    assert set(_library()) == {"latency", "errors", "accuracy", "security-anomalies", "gpu-health"}


def _expected(path: Path) -> str:
    first = path.read_bytes().split(b"\n", 1)[0].decode()
    assert first.startswith("# expect: "), f"{path.name} lacks its '# expect:' line"
    return first.removeprefix("# expect: ")


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_fixture_gives_its_exact_message(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    result = load_paths([path.relative_to(ROOT)])
    errors = [*result.errors, *check_references(result.rollouts, _library())]
    assert errors, f"{path.name} loaded without error"
    assert str(errors[0]) == _expected(path)


def test_defaults_are_applied() -> None:
    rollout = load_rollout(ROOT / "examples" / "blue-green.yaml", templates=_library())
    assert rollout.spec.analysis is not None
    assert rollout.spec.analysis.alpha == 0.01
    assert rollout.spec.analysis.beta == 0.05
    assert rollout.spec.gates.pod_security == "restricted"
    assert rollout.spec.strategy.blue_green is not None
    assert rollout.spec.strategy.blue_green.scale_down_delay.total_seconds() == 600


def test_multi_document_errors_name_the_document() -> None:
    good = (ROOT / "analyses" / "errors.yaml").read_text()
    bad = good.replace("kind: errors", "kind: error-rate")
    with pytest.raises(SpecError) as info:
        load_text(good + "\n---\n" + bad, source="both.yaml")
    assert str(info.value).startswith("both.yaml#2: spec.metrics[0].kind: must be one of")


def test_a_rollout_file_may_carry_its_own_templates(tmp_path: Path) -> None:
    rollout = (ROOT / "examples" / "canary.yaml").read_text()
    own = (
        (ROOT / "analyses" / "errors.yaml")
        .read_text()
        .replace("name: errors", "name: my-errors", 1)
    )
    path = tmp_path / "r.yaml"
    path.write_text(rollout.replace("- name: errors", "- name: my-errors") + "---\n" + own)
    loaded = load_rollout(path, templates=_library())
    assert loaded.spec.analysis is not None
    assert "my-errors" in [t.name for t in loaded.spec.analysis.templates]


def test_template_arguments_are_checked(tmp_path: Path) -> None:
    text = (
        (ROOT / "examples" / "canary.yaml")
        .read_text()
        .replace("- name: gpu-health", "- name: gpu-health\n        args: {threshold: '3'}")
    )
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(
        SpecError,
        match=r"templates\[4\]\.args\.threshold: template "
        r"'gpu-health' has no argument 'threshold'",
    ):
        load_rollout(path, templates=_library())


def test_required_template_argument_must_be_given(tmp_path: Path) -> None:
    template = yaml.safe_load((ROOT / "analyses" / "errors.yaml").read_text())
    template["spec"]["args"] = [{"name": "route"}]
    library = {
        "errors": AnalysisTemplate.model_validate(template),
        **{k: v for k, v in _library().items() if k != "errors"},
    }
    with pytest.raises(SpecError, match="template 'errors' needs argument 'route'"):
        load_rollout(ROOT / "examples" / "canary.yaml", templates=library)


def _canary_object() -> dict[str, Any]:
    text = (ROOT / "examples" / "canary.yaml").read_text()
    [obj] = parse_yaml_documents(text, source="canary.yaml")
    assert isinstance(obj, dict)
    return obj


def test_kubernetes_object_with_server_fields_loads() -> None:
    obj = _canary_object()
    obj["metadata"].update(
        {
            "uid": "1234",
            "resourceVersion": "77",
            "generation": 3,
            "creationTimestamp": "2026-11-26T10:00:00Z",
            "managedFields": [{"manager": "kubectl"}],
        }
    )
    obj["status"] = {
        "phase": "Progressing",
        "currentStep": 2,
        "activeEnv": "blue",
        "traffic": {"applied": {"stableEnv": "blue", "canaryEnv": "green", "canaryWeight": 5}},
    }
    rollout = load_object(obj, source="modelrollout/ml-prod/fraud-scorer")
    assert isinstance(rollout, ModelRollout)
    assert rollout.metadata.resource_version == "77"
    assert rollout.status is not None
    assert rollout.status.traffic.applied is not None
    assert rollout.status.traffic.applied.stable_weight == 95


def test_kubernetes_object_errors_name_the_object() -> None:
    obj = _canary_object()
    obj["spec"]["release"]["image"] = "fraud:latest"
    with pytest.raises(SpecError) as info:
        load_object(obj, source="modelrollout/ml-prod/fraud-scorer")
    assert str(info.value) == (
        "modelrollout/ml-prod/fraud-scorer: spec.release.image: must be pinned by digest "
        "(repo@sha256:<64 hex>), got 'fraud:latest'"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no documents"),
        ("[1, 2]", "expected a mapping"),
        ("a: &x 1\nb: *x\n", "aliases"),
        ("{1: 2}", "must be"),
        ("x" * (1 << 21), "larger than"),
        ("[" * 100 + "]" * 100, "nesting deeper"),
    ],
    ids=["empty", "list", "alias", "int-key", "huge", "deep"],
)
def test_malformed_streams_are_spec_errors(text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        load_text(text, source="x.yaml")


def test_missing_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such file"):
        load_file(tmp_path / "absent.yaml")
    with pytest.raises(SpecError, match="is a directory"):
        load_file(tmp_path)


def test_yaml_one_one_booleans_stay_strings() -> None:
    # The example quotes "on" for kubectl (YAML 1.1); mlrollout reads it bare as well.
    text = (ROOT / "examples" / "canary.yaml").read_text().replace('"on": [Paused', "on: [Paused")
    assert "\n      on: [Paused" in text
    docs = load_text(text, source="canary.yaml")
    assert isinstance(docs[0].resource, ModelRollout)
    assert docs[0].resource.spec.notifications[0].on == [
        "Paused",
        "Succeeded",
        "RolledBack",
        "Refused",
    ]
