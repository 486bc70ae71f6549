"""The standard variables keep their meaning now that ``spec.environment`` reads them:
``XDG_STATE_HOME`` places the default state directory, ``KUBECONFIG`` is the one
``--kubeconfig`` the local platform accepts, ``KUBERNETES_SERVICE_HOST`` means in a Pod."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlrollout.cli.promote_local import refuse_cluster_options
from mlrollout.errors import SpecError
from mlrollout.kube.client import _in_cluster
from mlrollout.local.statedir import default_state_dir


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"MLROLLOUT_STATE_DIR": "/m", "XDG_STATE_HOME": "/x"}, Path("/m")),
        ({"XDG_STATE_HOME": "/x"}, Path("/x/mlrollout")),
        ({"XDG_STATE_HOME": ""}, Path.home() / ".local" / "state" / "mlrollout"),
        ({}, Path.home() / ".local" / "state" / "mlrollout"),
    ],
)
def test_the_default_state_directory(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], expected: Path
) -> None:
    for name in ("MLROLLOUT_STATE_DIR", "XDG_STATE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert default_state_dir() == expected


def test_the_local_platform_accepts_only_the_kubeconfig_of_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KUBECONFIG", "/home/u/kube.yaml")
    options = {"context": None, "lease_namespace": None, "wait": True}
    refuse_cluster_options(kubeconfig="/home/u/kube.yaml", **options)  # type: ignore[arg-type]
    with pytest.raises(SpecError) as info:
        refuse_cluster_options(kubeconfig="/elsewhere.yaml", **options)  # type: ignore[arg-type]
    assert info.value.path == "--kubeconfig"


@pytest.mark.parametrize(("value", "inside"), [(None, False), ("", True), ("10.0.0.1", True)])
def test_a_pod_is_known_by_kubernetes_service_host(
    monkeypatch: pytest.MonkeyPatch, value: str | None, inside: bool
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    if value is not None:
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", value)
    assert _in_cluster() is inside
