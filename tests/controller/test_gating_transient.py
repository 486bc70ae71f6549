"""A throttled or unavailable API server during verification refuses nothing: the error
propagates (the pass fails and is retried); an answer that is a refusal still refuses."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from controller_world import rollout_from

from mlrollout.controller.gating import KubeReleaseVerifier
from mlrollout.errors import ApiUnavailableError, ForbiddenError, KubeError, ThrottledError
from mlrollout.kube.rollouts import StoredRollout, parse_stored
from mlrollout.traffic.factory import build_environments


class Failing:
    """A client whose every request fails with ``error``."""

    def __init__(self, error: KubeError) -> None:
        self.error = error

    def __getattr__(self, name: str) -> Any:
        def fail(*args: Any, **kwargs: Any) -> Any:
            raise self.error

        return fail


def _verifying() -> StoredRollout:
    raw: dict[str, Any] = copy.deepcopy(rollout_from("gateway-canary.yaml"))
    raw["metadata"].update(namespace="default", generation=1, resourceVersion="1")
    spec = raw["spec"]
    release = {
        "image": spec["release"]["image"],
        "modelUri": spec["release"]["model"]["uri"],
        "modelSha256": spec["release"]["model"]["sha256"].removeprefix("sha256:"),
    }
    raw["status"] = {"phase": "Verifying", "release": release}
    return parse_stored(raw)


def _verifier(error: KubeError) -> KubeReleaseVerifier:
    client: Any = Failing(error)
    return KubeReleaseVerifier(client, build_environments(client, _verifying().rollout))


@pytest.mark.parametrize(
    "error",
    [ThrottledError("get deployments: HTTP 429", status=429), ApiUnavailableError("no answer")],
)
def test_a_transient_error_propagates_instead_of_refusing(error: KubeError) -> None:
    verifier = _verifier(error)
    with pytest.raises(type(error)):
        verifier.verify(_verifying())


def test_a_forbidden_read_still_refuses() -> None:
    verifier = _verifier(ForbiddenError("list: forbidden", status=403))
    outcome = verifier.verify(_verifying())
    assert not outcome.passed
    assert outcome.reason_code == "PREFLIGHT_ERROR"
