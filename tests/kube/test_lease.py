"""Leader election on a Lease: one winner, takeover after expiry, loss within the deadline.

On the real kube-apiserver; the ones that inject faults through the fault proxy in front of
it (``tests/kube/conftest.py``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from controlplane.faults import FaultProxy
from mlrollout.kube import KubeClient, LeaseLock, LeaseSettings
from mlrollout.kube.kinds import LEASES

SETTINGS = LeaseSettings(
    lease_duration=timedelta(seconds=15),
    renew_deadline=timedelta(seconds=10),
    retry_period=timedelta(seconds=2),
)


class Ticker:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _lock(kube: KubeClient, identity: str, clock: Ticker, ns: str) -> LeaseLock:
    return LeaseLock(
        kube,
        name="mlrollout-controller",
        namespace=ns,
        identity=identity,
        settings=SETTINGS,
        monotonic=clock,
    )


def test_only_one_of_two_candidates_acquires(kube: KubeClient, ns: str) -> None:
    clock = Ticker()
    a, b = _lock(kube, "a", clock, ns), _lock(kube, "b", clock, ns)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    assert a.held
    assert not b.held
    lease = kube.get(LEASES, "mlrollout-controller", ns)
    assert lease["spec"]["holderIdentity"] == "a"


def test_racing_writes_leave_one_holder(kube: KubeClient, ns: str, faults: FaultProxy) -> None:
    clock = Ticker()
    a, b = _lock(kube, "a", clock, ns), _lock(kube, "b", clock, ns)
    assert a.try_acquire_or_renew()
    # Both see the same expired record; both try to write it; the resourceVersion decides.
    clock.t += 16
    assert not b.try_acquire_or_renew()  # first observation of the record starts b's timer
    clock.t += 16
    faults.add(verb="PUT", path=r"/leases/mlrollout-controller$", status=409)
    assert not b.try_acquire_or_renew()  # lost the race (409)
    assert a.try_acquire_or_renew()
    assert kube.get(LEASES, "mlrollout-controller", ns)["spec"]["holderIdentity"] == "a"


def test_takeover_only_after_observing_expiry(kube: KubeClient, ns: str) -> None:
    clock = Ticker()
    a, b = _lock(kube, "a", clock, ns), _lock(kube, "b", clock, ns)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    clock.t += 14  # a stops renewing; b has observed the record for 14 s < 15 s
    assert not b.try_acquire_or_renew()
    clock.t += 2
    assert b.try_acquire_or_renew()
    lease = kube.get(LEASES, "mlrollout-controller", ns)
    assert lease["spec"]["holderIdentity"] == "b"
    assert lease["spec"]["leaseTransitions"] == 1
    assert not a.try_acquire_or_renew()
    assert not a.held


def test_loss_is_detected_within_the_renew_deadline(
    kube: KubeClient, ns: str, faults: FaultProxy
) -> None:
    clock = Ticker()
    a = _lock(kube, "a", clock, ns)
    assert a.try_acquire_or_renew()
    faults.add(path=r"/leases/", times=None, status=500)
    for _ in range(4):  # renewals every retry period fail
        clock.t += 2
        a.try_acquire_or_renew()
        assert a.held
    clock.t += 2  # 10 s without a successful renewal: the renew deadline
    assert not a.try_acquire_or_renew()
    assert not a.held


def test_a_renewal_counts_from_when_it_was_sent(
    kube: KubeClient, ns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Ticker()
    a = _lock(kube, "a", clock, ns)
    assert a.try_acquire_or_renew()
    replace = kube.replace

    def slow_replace(*args: Any, **kwargs: Any) -> Any:
        answer = replace(*args, **kwargs)
        clock.t += 9  # the answer arrives 9 s after the request was sent
        return answer

    monkeypatch.setattr(kube, "replace", slow_replace)
    clock.t += 2
    assert a.try_acquire_or_renew()  # renewed, 9 s ago by the time the answer came
    clock.t += 1.5  # 10.5 s since it was sent: past the renew deadline (10 s)
    assert not a.held


def test_release_lets_a_successor_in_quickly(kube: KubeClient, ns: str) -> None:
    clock = Ticker()
    a, b = _lock(kube, "a", clock, ns), _lock(kube, "b", clock, ns)
    assert a.try_acquire_or_renew()
    a.release()
    assert not a.held
    assert b.try_acquire_or_renew()  # no need to wait out the lease duration
    assert kube.get(LEASES, "mlrollout-controller", ns)["spec"]["holderIdentity"] == "b"
