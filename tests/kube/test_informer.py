"""``Informer``: a kind kept current by a list and a watch; None whenever it cannot be trusted
(before the first list, while relisting after an error, with a stalled watch)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from mlrollout.errors import ApiUnavailableError
from mlrollout.kube import KubeClient
from mlrollout.kube.informer import Informer
from mlrollout.kube.kinds import CONFIGMAPS, NODES

Obj = dict[str, Any]


def _until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _obj(name: str, version: str, **data: str) -> Obj:
    meta = {"name": name, "namespace": "a", "resourceVersion": version}
    return {"metadata": meta, "data": data}


class ScriptedClient:
    """Answers lists and watches from scripts; each watch stream is a list of events."""

    def __init__(self, lists: list[Any], watches: list[list[tuple[str, Obj]]]) -> None:
        self.lists, self.watches = lists, watches
        self.listed = 0
        self.watched_from: list[str] = []
        self.hold = threading.Event()  # a watch with no script left blocks until set

    def list_with_version(self, kind: Any, namespace: str | None) -> tuple[list[Obj], str]:
        self.listed += 1
        answer = self.lists.pop(0) if self.lists else ([], "99")
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[no-any-return]

    def watch(
        self, kind: Any, namespace: str | None, *, resource_version: str, timeout_seconds: int
    ) -> Iterator[tuple[str, Obj]]:
        self.watched_from.append(resource_version)
        if not self.watches:
            self.hold.wait()
            return
        yield from self.watches.pop(0)


def _names(informer: Informer) -> set[str] | None:
    items = informer.items()
    return None if items is None else {o["metadata"]["name"] for o in items}


def test_events_update_the_items_and_a_watch_resumes_from_the_last_version() -> None:
    client = ScriptedClient(
        lists=[([_obj("one", "1"), _obj("two", "2")], "2")],
        watches=[
            [("ADDED", _obj("three", "3")), ("DELETED", _obj("one", "4"))],
            [("MODIFIED", _obj("two", "5", k="v"))],
        ],
    )
    informer = Informer(client, CONFIGMAPS, pause=0.01)  # type: ignore[arg-type]
    assert informer.items() is None  # not started: nothing to trust
    informer.start()
    try:
        _until(lambda: len(client.watched_from) == 3)
        assert _names(informer) == {"two", "three"}
        items = informer.items()
        assert items is not None
        assert next(o for o in items if o["metadata"]["name"] == "two")["data"] == {"k": "v"}
        assert client.watched_from == ["2", "4", "5"]
        assert client.listed == 1
    finally:
        informer.stop()
        client.hold.set()


def test_an_error_event_or_a_failed_list_lists_again_and_is_not_trusted_meanwhile() -> None:
    gone = {"kind": "Status", "code": 410, "message": "too old resource version"}
    client = ScriptedClient(
        lists=[([_obj("one", "1")], "1"), ApiUnavailableError("down"), ([_obj("two", "7")], "7")],
        watches=[[("ERROR", gone)]],
    )
    informer = Informer(client, CONFIGMAPS, pause=0.01)  # type: ignore[arg-type]
    informer.start()
    try:
        _until(lambda: client.listed == 3 and len(client.watched_from) == 2)
        assert _names(informer) == {"two"}  # the relist replaced what the first list held
        assert client.watched_from == ["1", "7"]
    finally:
        informer.stop()
        client.hold.set()


def test_a_stalled_watch_is_not_trusted() -> None:
    now = [0.0]
    client = ScriptedClient(lists=[([_obj("one", "1")], "1")], watches=[])
    informer = Informer(
        client,  # type: ignore[arg-type]
        CONFIGMAPS,
        watch_timeout=60,
        grace=15,
        monotonic=lambda: now[0],
    )
    informer.start()
    try:
        _until(lambda: client.watched_from == ["1"])
        assert _names(informer) == {"one"}
        now[0] = 74.0
        assert _names(informer) == {"one"}
        now[0] = 76.0  # the watch should have ended and started again by now
        assert informer.items() is None
    finally:
        informer.stop()
        client.hold.set()


def test_on_the_real_api_server_namespaced_and_cluster_scoped_kinds(
    kube: KubeClient, ns: str
) -> None:
    maps = Informer(kube, CONFIGMAPS, watch_timeout=5).start()
    nodes = Informer(kube, NODES, watch_timeout=5).start()
    try:
        _until(lambda: maps.items() is not None and nodes.items() is not None)
        node = f"informed-{ns}"  # no GPUs, deleted below: no other test's gate counts it
        kube.create(NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}})
        _until(lambda: node in {n["metadata"]["name"] for n in nodes.items() or []})
        kube.delete(NODES, node)
        _until(lambda: node not in {n["metadata"]["name"] for n in nodes.items() or []})
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "watched"}}
        kube.create(CONFIGMAPS, {**body, "data": {"k": "1"}}, ns)

        def held() -> list[Obj]:
            return [
                o
                for o in maps.items() or []
                if o["metadata"]["name"] == "watched" and o["metadata"]["namespace"] == ns
            ]

        _until(lambda: len(held()) == 1)
        stored = kube.get(CONFIGMAPS, "watched", ns)
        stored["data"] = {"k": "2"}
        kube.replace(CONFIGMAPS, stored)
        _until(lambda: [o["data"] for o in held()] == [{"k": "2"}])
        kube.delete(CONFIGMAPS, "watched", ns)
        _until(lambda: not held())
        time.sleep(6)  # past one watch timeout: the watch started again and stays current
        assert maps.items() is not None
    finally:
        maps.stop()
        nodes.stop()
