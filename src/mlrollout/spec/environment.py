"""The environment settings of the controller and the CLI: one model, parsed in one place.

Part of the ``spec`` layer (validated configuration). This is the only module of ``src/``
that reads the process environment (``tests/spec/test_environment_reads.py`` holds it so).
Every ``MLROLLOUT_*`` variable that is not also a command-line flag is declared here, with
its type, default and checks, and so are the standard variables the CLI honours
(``KUBECONFIG``, ``NO_COLOR``, ``XDG_STATE_HOME``, ``KUBERNETES_SERVICE_HOST``); the
consumers (``spec.scope``, ``metrics.settings``, ``gates.gate_spec``, the effects' crash
hook, ``promote``'s lease, ``verify image``'s registry password, the local platform's
state directory, the live view's colour, the Kubernetes client's in-cluster choice) read
the fields of :class:`EnvironmentSettings` rather than the environment. A variable set to
the empty string counts as unset, except ``KUBERNETES_SERVICE_HOST``, whose presence alone
counts (as it always has). A bad value is a ``SpecError`` whose path is the variable's name.
``docs/configuration.md`` lists them for users.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError

from mlrollout.errors import SpecError

__all__ = ["DEFAULT_SECRETS_DIR", "VARIABLES", "EnvironmentSettings"]

DEFAULT_SECRETS_DIR = "/etc/mlrollout/secrets"


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


_Csv = Annotated[tuple[str, ...], BeforeValidator(_split_csv)]
_Set = Annotated[bool, BeforeValidator(lambda value: bool(value))]  # any non-empty value

_PRESENCE_COUNTS = frozenset({"KUBERNETES_SERVICE_HOST"})


class EnvironmentSettings(BaseModel):
    """The environment's settings: each field reads ``MLROLLOUT_`` and its name in capitals,
    except the standard variables, which keep their own names."""

    model_config = ConfigDict(
        frozen=True,
        extra="ignore",
        populate_by_name=True,
        alias_generator=lambda name: f"MLROLLOUT_{name.upper()}",
    )

    secrets_dir: Path = Field(
        Path(DEFAULT_SECRETS_DIR),
        description="where Secrets named in a spec are mounted, as <dir>/<secret>/<key>",
    )
    prometheus_url: str | None = Field(
        None, description="Prometheus base URL; overrides spec.metrics.prometheus.address"
    )
    prometheus_token: SecretStr | None = Field(None, description="bearer token for Prometheus")
    allowed_secrets: _Csv = Field((), description="Secrets a rollout may use as credentials")
    credential_hosts: _Csv = Field((), description="hosts credentials may be sent to")
    allowed_hosts: _Csv = Field((), description="hosts a rollout may name at all")
    allow_key_files: bool = Field(True, description="publicKeys[].file may be read")
    lease_seconds: float | None = Field(None, ge=1, description="promote's Lease duration")
    registry_password: SecretStr | None = Field(
        None, description="registry password of verify image (without --password-file)"
    )
    state_dir: Path | None = Field(
        None, description="the local platform's state directory when --state-dir is not given"
    )
    crash_at: str = Field("", description="testing aid: point[:n] to SIGKILL at")
    kubeconfig: str | None = Field(
        None, alias="KUBECONFIG", description="kubeconfig path(s), os.pathsep-separated"
    )
    no_color: _Set = Field(False, alias="NO_COLOR", description="no colour in the live view")
    xdg_state_home: Path | None = Field(
        None, alias="XDG_STATE_HOME", description="base of the default local state directory"
    )
    kubernetes_service_host: str | None = Field(
        None, alias="KUBERNETES_SERVICE_HOST", description="set in a Pod: use its service account"
    )

    @property
    def in_cluster(self) -> bool:
        """Whether the process runs in a Pod (``KUBERNETES_SERVICE_HOST`` is set at all)."""
        return self.kubernetes_service_host is not None

    def key_files_allowed(self, *, default: bool) -> bool:
        """``MLROLLOUT_ALLOW_KEY_FILES`` when it is set, else ``default`` (the controller
        passes False: a rollout may not make it read files by path)."""
        return self.allow_key_files if "allow_key_files" in self.model_fields_set else default

    def secret_path(self, secret: str, key: str) -> Path:
        """Where the key ``key`` of the mounted Secret ``secret`` is."""
        return self.secrets_dir / secret / key

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> EnvironmentSettings:
        """The settings of ``environ`` (the process environment by default)."""
        env = os.environ if environ is None else environ
        given = {
            name: env[name]
            for name in VARIABLES
            if env.get(name) or (name in _PRESENCE_COUNTS and name in env)
        }
        try:
            return cls.model_validate(given)
        except ValidationError as exc:
            error = exc.errors()[0]
            name = str(error["loc"][0]) if error["loc"] else "environment"
            raise SpecError(f"{error['msg']}, got {given.get(name)!r}", path=name) from None
            # (no secret field can fail validation: they are plain strings)


VARIABLES: tuple[str, ...] = tuple(
    str(info.alias) for info in EnvironmentSettings.model_fields.values() if info.alias
)
"""Every variable :class:`EnvironmentSettings` reads."""
