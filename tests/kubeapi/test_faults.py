"""Fault injection seen through the official client: 409, 429 + Retry-After, 500, resets,
delays, and the n-th-call counting."""

from __future__ import annotations

import json
import time

import kubernetes
import pytest
import urllib3
from kubernetes.client import ApiClient, ApiException

from .server import KubeApiServer

ROUTES = r"/apis/gateway\.networking\.k8s\.io/v1/namespaces/ml/httproutes/fraud$"
ROUTE = {
    "apiVersion": "gateway.networking.k8s.io/v1",
    "kind": "HTTPRoute",
    "metadata": {"name": "fraud"},
    "spec": {"rules": [{"backendRefs": [{"name": "blue", "port": 80, "weight": 100}]}]},
}
ARGS = ("gateway.networking.k8s.io", "v1", "ml", "httproutes")


def _patch_weight(client: ApiClient, weight: int) -> dict[str, object]:
    custom = kubernetes.client.CustomObjectsApi(client)
    body = {"spec": {"rules": [{"backendRefs": [{"name": "blue", "port": 80, "weight": weight}]}]}}
    result: dict[str, object] = custom.patch_namespaced_custom_object(*ARGS, "fraud", body)
    return result


@pytest.fixture
def route(kube_client: ApiClient) -> None:
    kubernetes.client.CustomObjectsApi(kube_client).create_namespaced_custom_object(*ARGS, ROUTE)


@pytest.mark.usefixtures("route")
@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (409, "Conflict"),
        (429, "TooManyRequests"),
        (500, "InternalError"),
        (503, "ServiceUnavailable"),
    ],
)
def test_injected_status_reaches_the_client_and_writes_nothing(
    kube_client: ApiClient, kube_server: KubeApiServer, status: int, reason: str
) -> None:
    fault = kube_server.faults.add(verb="PATCH", path_regex=ROUTES, status=status)
    writes_before = len(kube_server.history)
    with pytest.raises(ApiException) as caught:
        _patch_weight(kube_client, 50)
    assert caught.value.status == status
    body = json.loads(caught.value.body)
    assert (body["kind"], body["status"], body["reason"], body["code"]) == (
        "Status",
        "Failure",
        reason,
        status,
    )
    assert len(kube_server.history) == writes_before
    assert (fault.matched, fault.fired) == (1, 1)
    assert _patch_weight(kube_client, 50)["spec"] is not None, "only the first call is faulted"


@pytest.mark.usefixtures("route")
def test_429_carries_retry_after_and_counts_the_nth_call(
    kube_client: ApiClient, kube_server: KubeApiServer
) -> None:
    fault = kube_server.faults.add(
        verb="PATCH", path_regex=ROUTES, nth=2, times=2, status=429, retry_after=2
    )
    _patch_weight(kube_client, 90)
    for _ in range(2):
        with pytest.raises(ApiException) as throttled:
            _patch_weight(kube_client, 80)
        assert throttled.value.status == 429
        assert throttled.value.headers["Retry-After"] == "2"
    _patch_weight(kube_client, 70)
    assert (fault.matched, fault.fired) == (4, 2)
    weights = [
        r.object["spec"]["rules"][0]["backendRefs"][0]["weight"]
        for r in kube_server.history.records(kind="HTTPRoute")
    ]
    assert weights == [100, 90, 70]


@pytest.mark.usefixtures("route")
def test_connection_reset_on_a_patch_surfaces_as_a_protocol_error(
    kube_client: ApiClient, kube_server: KubeApiServer
) -> None:
    kube_server.faults.add(verb="PATCH", path_regex=ROUTES, reset=True)
    with pytest.raises(urllib3.exceptions.ProtocolError):
        _patch_weight(kube_client, 10)
    assert _patch_weight(kube_client, 10)["spec"] is not None


@pytest.mark.usefixtures("route")
def test_connection_reset_on_a_get_is_retried_by_urllib3(
    kube_client: ApiClient, kube_server: KubeApiServer
) -> None:
    fault = kube_server.faults.add(verb="GET", path_regex=ROUTES, reset=True)
    custom = kubernetes.client.CustomObjectsApi(kube_client)
    assert custom.get_namespaced_custom_object(*ARGS, "fraud")["metadata"]["name"] == "fraud"
    assert (fault.matched, fault.fired) == (2, 1), "urllib3 retried the idempotent GET once"


@pytest.mark.usefixtures("route")
def test_delay_then_serve_and_client_timeout(
    kube_client: ApiClient, kube_server: KubeApiServer
) -> None:
    kube_server.faults.add(verb="PATCH", path_regex=ROUTES, delay=0.3, times=None)
    started = time.monotonic()
    _patch_weight(kube_client, 40)
    assert time.monotonic() - started >= 0.3
    custom = kubernetes.client.CustomObjectsApi(kube_client)
    body = {"spec": {"hostnames": ["fraud.example.com"]}}
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        custom.patch_namespaced_custom_object(*ARGS, "fraud", body, _request_timeout=0.1)


def test_fault_configuration_is_checked(kube_server: KubeApiServer) -> None:
    with pytest.raises(ValueError, match="needs a status"):
        kube_server.faults.add(verb="GET")
    with pytest.raises(ValueError, match="4xx or 5xx"):
        kube_server.faults.add(status=200)
