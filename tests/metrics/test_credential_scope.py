"""Credential scope: the controller-wide Prometheus token goes only to addresses the
controller configured, never to one a rollout names; a rollout's own credentials need an
allowed Secret and an allowed host; no credential appears in an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlrollout.errors import ProviderError, SpecError
from mlrollout.metrics import PrometheusProvider
from mlrollout.metrics.promapi import QueryOrigin
from mlrollout.retry import RetryPolicy
from mlrollout.spec.policy import PrometheusConfig

from .canned import Answer, canned_prometheus, vector

TOKEN = "controller-token-9f8e7d"
ORIGIN = QueryOrigin("t", "m", "q")


def _query(config: PrometheusConfig, environ: dict[str, str]) -> None:
    provider = PrometheusProvider.from_config(
        config, environ=environ, retry=RetryPolicy(attempts=1), sleep=lambda s: None
    )
    try:
        provider.api.fetch_vector("up", at=0.0, origin=ORIGIN)
    finally:
        provider.close()


def _auth(headers: dict[str, str]) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == "authorization"), None)


def test_the_controller_token_never_reaches_an_address_a_rollout_names() -> None:
    with canned_prometheus(Answer(200, vector(({}, "1")))) as prom:
        config = PrometheusConfig.model_validate({"address": prom.url})
        _query(config, {"MLROLLOUT_PROMETHEUS_TOKEN": TOKEN})
    [headers] = prom.headers
    assert _auth(headers) is None


@pytest.mark.parametrize("how", ["controller-url", "credential-hosts"])
def test_the_controller_token_goes_to_controller_configured_addresses(how: str) -> None:
    with canned_prometheus(Answer(200, vector(({}, "1")))) as prom:
        host = prom.url.removeprefix("http://")
        environ = {"MLROLLOUT_PROMETHEUS_TOKEN": TOKEN}
        if how == "controller-url":
            environ["MLROLLOUT_PROMETHEUS_URL"] = prom.url
        else:
            environ["MLROLLOUT_CREDENTIAL_HOSTS"] = f"prom.example, {host}"
        config = PrometheusConfig.model_validate({"address": prom.url})
        _query(config, environ)
    assert _auth(prom.headers[0]) == f"Bearer {TOKEN}"


def _secret(tmp_path: Path, name: str, value: str) -> dict[str, str]:
    (tmp_path / name).mkdir()
    (tmp_path / name / "token").write_text(value + "\n")
    return {"MLROLLOUT_SECRETS_DIR": str(tmp_path)}


def test_a_rollout_cannot_name_a_secret_the_controller_did_not_allow(tmp_path: Path) -> None:
    environ = _secret(tmp_path, "prom-token", "rollout-secret")
    config = PrometheusConfig.model_validate(
        {
            "address": "http://prom.example:9090",
            "bearerToken": {"secret": "prom-token", "key": "token"},
        }
    )
    with pytest.raises(SpecError, match=r"metrics\.prometheus\.bearerToken: Secret 'prom-token'"):
        PrometheusProvider.from_config(config, environ=environ)
    environ["MLROLLOUT_ALLOWED_SECRETS"] = "prom-token"
    with pytest.raises(SpecError, match=r"credentials may not be sent to prom\.example"):
        PrometheusProvider.from_config(config, environ=environ)


def test_an_allowed_secret_goes_to_an_allowed_host_and_never_into_errors(
    tmp_path: Path,
) -> None:
    environ = _secret(tmp_path, "prom-token", "rollout-secret-5150")
    with canned_prometheus(Answer(401, {"status": "error", "error": "bad token"})) as prom:
        environ["MLROLLOUT_ALLOWED_SECRETS"] = "prom-token"
        environ["MLROLLOUT_CREDENTIAL_HOSTS"] = prom.url.removeprefix("http://")
        config = PrometheusConfig.model_validate(
            {"address": prom.url, "bearerToken": {"secret": "prom-token", "key": "token"}}
        )
        with pytest.raises(ProviderError) as caught:
            _query(config, environ)
    assert _auth(prom.headers[0]) == "Bearer rollout-secret-5150"
    assert "rollout-secret-5150" not in str(caught.value)


@pytest.mark.parametrize(
    ("allowed", "address", "ok"),
    [
        (None, "http://169.254.169.254/latest", False),
        (None, "http://prom.monitoring.svc:9090", True),
        ("*.monitoring.svc", "http://prom.monitoring.svc:9090", True),
        ("*.monitoring.svc", "http://evil.example", False),
        ("prom.example:9090", "http://prom.example:9091", False),
    ],
    ids=["metadata-refused", "default-any", "wildcard", "not-listed", "port-mismatch"],
)
def test_allowed_hosts_govern_the_address(allowed: str | None, address: str, ok: bool) -> None:
    environ = {} if allowed is None else {"MLROLLOUT_ALLOWED_HOSTS": allowed}
    config = PrometheusConfig.model_validate({"address": address})
    if ok:
        PrometheusProvider.from_config(config, environ=environ).close()
    else:
        with pytest.raises(SpecError, match=r"metrics\.prometheus\.address"):
            PrometheusProvider.from_config(config, environ=environ)


def test_the_controller_refuses_key_files_named_by_a_rollout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlrollout.gates.gate_spec import load_trusted_key
    from mlrollout.spec.policy import PublicKeyRef

    target = tmp_path / "controller-file"
    target.write_text("not a key")
    ref = PublicKeyRef.model_validate({"file": str(target)})
    monkeypatch.setenv("MLROLLOUT_ALLOW_KEY_FILES", "false")
    with pytest.raises(SpecError, match=r"publicKeys\[0\]\.file: keys from files are not allowed"):
        load_trusted_key(ref, 0)
    monkeypatch.setenv("MLROLLOUT_ALLOW_KEY_FILES", "true")
    with pytest.raises(SpecError, match=r"PEM|key"):
        load_trusted_key(ref, 0)
