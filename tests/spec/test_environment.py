"""The environment settings: every variable parsed in one place, bad values named."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlrollout.errors import SpecError
from mlrollout.spec.environment import VARIABLES, EnvironmentSettings
from mlrollout.spec.scope import CredentialScope


def test_unset_and_empty_variables_give_the_defaults() -> None:
    blank = dict.fromkeys(set(VARIABLES) - {"KUBERNETES_SERVICE_HOST"}, "")
    empty = EnvironmentSettings.from_environment(blank)
    assert empty == EnvironmentSettings.from_environment({})
    assert (empty.kubeconfig, empty.no_color, empty.xdg_state_home) == (None, False, None)
    assert not empty.in_cluster
    assert empty.secrets_dir == Path("/etc/mlrollout/secrets")
    assert (empty.allow_key_files, empty.lease_seconds, empty.crash_at) == (True, None, "")


@pytest.mark.parametrize(
    ("variable", "value", "field", "expected"),
    [
        ("MLROLLOUT_SECRETS_DIR", "/run/s", "secrets_dir", Path("/run/s")),
        ("MLROLLOUT_PROMETHEUS_URL", "http://prom:9090", "prometheus_url", "http://prom:9090"),
        ("MLROLLOUT_ALLOWED_SECRETS", " a, b ,,*", "allowed_secrets", ("a", "b", "*")),
        ("MLROLLOUT_CREDENTIAL_HOSTS", "p.example:9090", "credential_hosts", ("p.example:9090",)),
        ("MLROLLOUT_ALLOWED_HOSTS", "*.svc", "allowed_hosts", ("*.svc",)),
        ("MLROLLOUT_ALLOW_KEY_FILES", "false", "allow_key_files", False),
        ("MLROLLOUT_ALLOW_KEY_FILES", "no", "allow_key_files", False),
        ("MLROLLOUT_ALLOW_KEY_FILES", "1", "allow_key_files", True),
        ("MLROLLOUT_LEASE_SECONDS", "2.5", "lease_seconds", 2.5),
        ("MLROLLOUT_CRASH_AT", "after-status-write:2", "crash_at", "after-status-write:2"),
        ("KUBECONFIG", "/a:/b", "kubeconfig", "/a:/b"),
        ("NO_COLOR", "1", "no_color", True),
        ("NO_COLOR", "false", "no_color", True),  # any non-empty value, as no-color.org says
        ("XDG_STATE_HOME", "/var/st", "xdg_state_home", Path("/var/st")),
        ("KUBERNETES_SERVICE_HOST", "10.0.0.1", "in_cluster", True),
        ("KUBERNETES_SERVICE_HOST", "", "in_cluster", True),  # set at all counts
    ],
    ids=lambda v: str(v) if isinstance(v, str) else None,
)
def test_each_variable_reaches_its_field(
    variable: str, value: str, field: str, expected: object
) -> None:
    assert getattr(EnvironmentSettings.from_environment({variable: value}), field) == expected


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MLROLLOUT_LEASE_SECONDS", "soon"),
        ("MLROLLOUT_LEASE_SECONDS", "0.5"),
        ("MLROLLOUT_ALLOW_KEY_FILES", "maybe"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SpecError) as info:
        EnvironmentSettings.from_environment({variable: value})
    assert info.value.path == variable
    assert repr(value) in str(info.value)


def test_the_token_never_shows_in_a_rendering() -> None:
    settings = EnvironmentSettings.from_environment({"MLROLLOUT_PROMETHEUS_TOKEN": "s3cr3t"})
    assert "s3cr3t" not in repr(settings) + str(settings)
    assert settings.prometheus_token is not None
    assert settings.prometheus_token.get_secret_value() == "s3cr3t"


def test_the_credential_scope_is_built_from_the_settings() -> None:
    env = {
        "MLROLLOUT_ALLOWED_SECRETS": "prom-auth,*",
        "MLROLLOUT_PROMETHEUS_URL": "http://prom.monitoring:9090",
        "MLROLLOUT_ALLOW_KEY_FILES": "false",
    }
    scope = CredentialScope.from_environment(env)
    assert scope.any_secret
    assert scope.allowed_secrets == frozenset({"prom-auth"})
    assert scope.credential_hosts == ("prom.monitoring:9090",)
    assert scope.allowed_hosts is None
    assert not scope.allow_key_files


@pytest.mark.parametrize(
    ("environ", "default", "expected"),
    [
        ({}, False, False),
        ({}, True, True),
        ({"MLROLLOUT_ALLOW_KEY_FILES": "true"}, False, True),
        ({"MLROLLOUT_ALLOW_KEY_FILES": "false"}, True, False),
        ({"MLROLLOUT_ALLOW_KEY_FILES": ""}, False, False),
    ],
)
def test_key_files_follow_the_variable_else_the_callers_default(
    environ: dict[str, str], default: bool, expected: bool
) -> None:
    settings = EnvironmentSettings.from_environment(environ)
    assert settings.key_files_allowed(default=default) is expected
