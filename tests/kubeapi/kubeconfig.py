"""Client configuration pointing at a test API server: a kubeconfig file or an ApiClient.

Used by fixtures (``fixtures``) and by any test that runs mlrollout's ``kube`` layer or CLI
against a ``server.KubeApiServer``. The server does no authentication; the token is there
only because real kubeconfigs carry one.
"""

from __future__ import annotations

from pathlib import Path

import kubernetes
import yaml

__all__ = ["make_api_client", "write_kubeconfig"]


def write_kubeconfig(
    server_url: str,
    path: Path,
    *,
    namespace: str = "default",
    context: str = "kubeapi-test",
) -> Path:
    """Write a kubeconfig whose current context targets ``server_url``; returns ``path``."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": server_url}}],
        "users": [{"name": context, "user": {"token": "kubeapi-test-token"}}],
        "contexts": [
            {
                "name": context,
                "context": {"cluster": context, "user": context, "namespace": namespace},
            }
        ],
        "current-context": context,
        "preferences": {},
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def make_api_client(server_url: str) -> kubernetes.client.ApiClient:
    """A ``kubernetes.client.ApiClient`` talking to ``server_url`` (close it when done)."""
    configuration = kubernetes.client.Configuration()
    configuration.host = server_url
    return kubernetes.client.ApiClient(configuration)
