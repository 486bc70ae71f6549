"""``KubeClient.fenced``: the guard runs right before every write request, reads pass, and
the client it came from (the one the Lease is written through) is not guarded. On the real
kube-apiserver (``ns``: a namespace of the test's own)."""

from __future__ import annotations

import pytest

from mlrollout.errors import LeaseLostError
from mlrollout.kube import KubeClient
from mlrollout.kube.fencing import LeaseFence
from mlrollout.kube.kinds import CONFIGMAPS


class _Lease:
    name = "mlrollout-controller"
    held = True


def _config_map(name: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {}}


def test_a_fenced_client_writes_only_while_the_lease_is_held(kube: KubeClient, ns: str) -> None:
    lease = _Lease()
    fenced = kube.fenced(LeaseFence(lease).check)
    fenced.create(CONFIGMAPS, _config_map("one"), ns)
    lease.held = False
    with pytest.raises(LeaseLostError, match="not writing create configmaps"):
        fenced.create(CONFIGMAPS, _config_map("two"), ns)
    stored = fenced.get(CONFIGMAPS, "one", ns)  # reads go on
    stored["data"] = {"k": "v"}
    with pytest.raises(LeaseLostError):
        fenced.replace(CONFIGMAPS, stored)
    with pytest.raises(LeaseLostError):
        fenced.delete(CONFIGMAPS, "one", ns)
    kube.create(CONFIGMAPS, _config_map("three"), ns)  # the original is not fenced
    names = {c["metadata"]["name"] for c in kube.list(CONFIGMAPS, ns)}
    assert {"one", "three"} <= names
    assert "two" not in names
