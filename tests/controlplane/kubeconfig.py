"""Kubeconfig files for the test control plane: client-certificate users (admin and the
components) and ServiceAccount-token users (the controller under test).

Part of the ``controlplane`` test package; ``cluster`` writes the component ones, the
fixtures the token ones.
"""

from __future__ import annotations

from pathlib import Path

import yaml

__all__ = ["write_cert_kubeconfig", "write_token_kubeconfig"]


def _write(
    path: Path, *, server: str, ca: Path, user: dict[str, str], namespace: str = "default"
) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "test", "cluster": {"server": server, "certificate-authority": str(ca)}}
        ],
        "users": [{"name": "test", "user": user}],
        "contexts": [
            {"name": "test", "context": {"cluster": "test", "user": "test", "namespace": namespace}}
        ],
        "current-context": "test",
        "preferences": {},
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


def write_cert_kubeconfig(
    path: Path, *, server: str, ca: Path, cert: Path, key: Path, namespace: str = "default"
) -> Path:
    """A kubeconfig authenticating with a client certificate (``namespace``: its context's)."""
    user = {"client-certificate": str(cert), "client-key": str(key)}
    return _write(path, server=server, ca=ca, user=user, namespace=namespace)


def write_token_kubeconfig(
    path: Path, *, server: str, ca: Path, token: str, namespace: str
) -> Path:
    """A kubeconfig authenticating with a bearer token (a ServiceAccount's)."""
    return _write(path, server=server, ca=ca, user={"token": token}, namespace=namespace)
