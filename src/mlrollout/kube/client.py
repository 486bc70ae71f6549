"""``KubeClient``: the official ``kubernetes`` client behind a small dict-in, dict-out API.

Part of the ``kube`` layer, the only importer of the client. Objects are plain dicts as the
API server sends them (the rest of mlrollout never sees client model classes); every call is
translated by ``translate.kube_errors`` and retried per a named policy from ``retry``.
Conflicts (409) are not retried here: the caller re-reads and recomputes. Each thread's time
spent waiting for the API server is summed (``api_wait_seconds``).
"""

from __future__ import annotations

import builtins
import copy
import json
import threading
import time
from collections.abc import Callable, Iterator
from enum import StrEnum
from typing import Any

import kubernetes
import urllib3

from mlrollout.errors import ApiUnavailableError, SpecError
from mlrollout.kube.kinds import Kind
from mlrollout.kube.translate import kube_errors
from mlrollout.retry import API_READ, API_WRITE, RetryPolicy, call_with_retry

__all__ = ["KubeClient", "PatchType", "api_wait_seconds", "connect"]

Obj = dict[str, Any]


class PatchType(StrEnum):
    """Content types of PATCH requests."""

    MERGE = "application/merge-patch+json"
    STRATEGIC = "application/strategic-merge-patch+json"
    JSON = "application/json-patch+json"


def connect(
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    in_cluster: bool | None = None,
    timeout: float = 10.0,
) -> KubeClient:
    """A client from a kubeconfig (default rules) or the in-cluster service account."""
    configuration = kubernetes.client.Configuration()
    try:
        if in_cluster or (in_cluster is None and kubeconfig is None and _in_cluster()):
            kubernetes.config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration
            )
        else:
            kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, context=context, client_configuration=configuration
            )
    except (kubernetes.config.ConfigException, OSError, ValueError) as exc:
        where = kubeconfig or "the default kubeconfig"
        raise SpecError(f"cannot load Kubernetes configuration: {exc}", source=where) from exc
    except (TypeError, AttributeError, KeyError) as exc:
        # The client's loader indexes the parsed YAML as a dict: a file that parses to a
        # string or a list (not a kubeconfig at all) surfaces as one of these.
        where = kubeconfig or "the default kubeconfig"
        raise SpecError(
            f"not a kubeconfig (expected a mapping with clusters, contexts, users): {exc}",
            source=where,
        ) from exc
    # Retries are ours (named policies), never urllib3's hidden ones.
    configuration.retries = urllib3.util.Retry(total=0, redirect=0, raise_on_status=False)
    return KubeClient(kubernetes.client.ApiClient(configuration), timeout=timeout)


def _in_cluster() -> bool:
    from mlrollout.spec.environment import EnvironmentSettings

    return EnvironmentSettings.from_environment().in_cluster


class KubeClient:
    """Generic verbs over the resources in ``kinds``; dicts in, dicts out."""

    def __init__(
        self,
        api_client: Any,
        *,
        timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_client = api_client
        self.timeout = timeout
        self.sleep = sleep
        self._apis: dict[str, Any] = {}
        # Called with the action right before every write request (and every retry of one).
        self.write_guard: Callable[[str], None] | None = None

    def fenced(self, guard: Callable[[str], None]) -> KubeClient:
        """This client (same connections) with ``guard`` called right before every write
        request, retries included: the in-cluster manager's Lease fence, checked as late as
        possible, so a process paused mid-pass cannot resume into a write once its Lease is
        gone. The Lease's own writes go through the unfenced client."""
        other = copy.copy(self)
        other.write_guard = guard
        return other

    def close(self) -> None:
        """Close the connection pool."""
        self.api_client.close()

    # -- verbs -----------------------------------------------------------------------------

    def get(self, kind: Kind, name: str, namespace: str | None = None) -> Obj:
        """Read one object (``NotFoundError`` when absent)."""
        action = f"get {kind.plural} {_ref(namespace, name)}"
        if kind.custom:
            return self._custom(action, API_READ, "get", kind, namespace, name)
        return self._typed(action, API_READ, kind, "read", name, namespace)

    def list(
        self, kind: Kind, namespace: str | None = None, *, label_selector: str | None = None
    ) -> builtins.list[Obj]:
        """List objects in a namespace, or in all namespaces when ``namespace`` is None."""
        return self.list_with_version(kind, namespace, label_selector=label_selector)[0]

    def list_with_version(
        self, kind: Kind, namespace: str | None = None, *, label_selector: str | None = None
    ) -> tuple[builtins.list[Obj], str]:
        """List objects and the list's resourceVersion (to start a watch from)."""
        action = f"list {kind.plural} in {namespace or 'all namespaces'}"
        extra = {"label_selector": label_selector} if label_selector else {}
        if kind.custom:
            if namespace is None or not kind.namespaced:
                result = self._call(
                    action,
                    API_READ,
                    "list_cluster_custom_object",
                    kind.group,
                    kind.version,
                    kind.plural,
                    **extra,
                )
            else:
                result = self._call(
                    action,
                    API_READ,
                    "list_namespaced_custom_object",
                    *self._gvp(kind, namespace),
                    **extra,
                )
        elif not kind.namespaced:
            result = self._api_call(action, API_READ, kind, f"list_{kind.stem}", **extra)
        elif namespace is None:
            result = self._api_call(
                action, API_READ, kind, f"list_{kind.stem}_for_all_namespaces", **extra
            )
        else:
            result = self._api_call(
                action, API_READ, kind, f"list_namespaced_{kind.stem}", namespace, **extra
            )
        version = str(result.get("metadata", {}).get("resourceVersion", ""))
        return list(result.get("items", [])), version

    def create(self, kind: Kind, obj: Obj, namespace: str | None = None) -> Obj:
        """Create an object (``ConflictError`` when it already exists)."""
        name = obj.get("metadata", {}).get("name", "?")
        namespace = namespace or obj.get("metadata", {}).get("namespace")
        action = f"create {kind.plural} {_ref(namespace, name)}"
        if kind.custom:
            return self._custom(action, API_WRITE, "create", kind, namespace, obj)
        return self._typed(action, API_WRITE, kind, "create", None, namespace, obj)

    def replace(self, kind: Kind, obj: Obj, *, status: bool = False) -> Obj:
        """PUT the whole object; its ``metadata.resourceVersion`` is the precondition."""
        meta = obj.get("metadata", {})
        name, namespace = meta["name"], meta.get("namespace")
        suffix = "/status" if status else ""
        action = f"update {kind.plural}{suffix} {_ref(namespace, name)}"
        if kind.custom:
            method = "replace_namespaced_custom_object" + ("_status" if status else "")
            return self._call(action, API_WRITE, method, *self._gvp(kind, namespace), name, obj)
        verb = "replace"
        return self._typed(
            action,
            API_WRITE,
            kind,
            verb,
            name,
            namespace,
            obj,
            subresource="status" if status else None,
        )

    def patch(
        self,
        kind: Kind,
        name: str,
        namespace: str | None,
        patch: Obj | builtins.list[Obj],
        *,
        patch_type: PatchType = PatchType.MERGE,
        subresource: str | None = None,
    ) -> Obj:
        """PATCH an object or its ``scale`` / ``status`` subresource."""
        suffix = f"/{subresource}" if subresource else ""
        action = f"patch {kind.plural}{suffix} {_ref(namespace, name)}"
        if kind.custom:
            method = "patch_namespaced_custom_object" + (f"_{subresource}" if subresource else "")
            return self._call(
                action,
                API_WRITE,
                method,
                *self._gvp(kind, namespace),
                name,
                patch,
                _content_type=patch_type.value,
            )
        return self._typed(
            action,
            API_WRITE,
            kind,
            "patch",
            name,
            namespace,
            patch,
            subresource=subresource,
            _content_type=patch_type.value,
        )

    def delete(self, kind: Kind, name: str, namespace: str | None = None) -> None:
        """Delete an object (``NotFoundError`` when absent)."""
        action = f"delete {kind.plural} {_ref(namespace, name)}"
        if kind.custom:
            self._call(
                action,
                API_WRITE,
                "delete_namespaced_custom_object",
                *self._gvp(kind, namespace),
                name,
            )
            return
        self._typed(action, API_WRITE, kind, "delete", name, namespace)

    def watch(
        self,
        kind: Kind,
        namespace: str | None,
        *,
        resource_version: str,
        timeout_seconds: int = 30,
    ) -> Iterator[tuple[str, Obj]]:
        """Stream ``(event type, object)`` from ``resource_version`` for ``timeout_seconds``."""
        action = f"watch {kind.plural} in {namespace or 'all namespaces'}"
        watcher = kubernetes.watch.Watch()  # type: ignore[no-untyped-call]
        func: Callable[..., Any]
        args: tuple[str, ...]
        if kind.custom:
            api = self._api("CustomObjectsApi")
            if namespace is None:
                func, args = api.list_cluster_custom_object, (kind.group, kind.version, kind.plural)
            else:
                func, args = api.list_namespaced_custom_object, self._gvp(kind, namespace)
        else:
            api = self._api(str(kind.api))
            if not kind.namespaced:
                func, args = getattr(api, f"list_{kind.stem}"), ()
            elif namespace is None:
                func, args = getattr(api, f"list_{kind.stem}_for_all_namespaces"), ()
            else:
                func, args = getattr(api, f"list_namespaced_{kind.stem}"), (namespace,)
        with kube_errors(action):
            for event in watcher.stream(  # type: ignore[no-untyped-call]
                func,
                *args,
                resource_version=resource_version,
                timeout_seconds=timeout_seconds,
                deserialize=False,
                allow_watch_bookmarks=False,
            ):
                yield str(event["type"]), dict(event["object"])

    # -- plumbing --------------------------------------------------------------------------

    def _api(self, name: str) -> Any:
        if name not in self._apis:
            self._apis[name] = getattr(kubernetes.client, name)(self.api_client)
        return self._apis[name]

    @staticmethod
    def _gvp(kind: Kind, namespace: str | None) -> tuple[str, str, str, str]:
        return kind.group, kind.version, namespace or "default", kind.plural

    def _typed(
        self,
        action: str,
        policy: RetryPolicy,
        kind: Kind,
        verb: str,
        name: str | None,
        namespace: str | None,
        *rest: Any,
        subresource: str | None = None,
        **kwargs: Any,
    ) -> Obj:
        scope = "namespaced_" if kind.namespaced else ""
        method = f"{verb}_{scope}{kind.stem}" + (f"_{subresource}" if subresource else "")
        args = [a for a in (name, namespace if kind.namespaced else None) if a is not None]
        return self._api_call(action, policy, kind, method, *args, *rest, **kwargs)

    def _api_call(
        self,
        action: str,
        policy: RetryPolicy,
        kind: Kind,
        method: str,
        *args: Any,
        **kwargs: Any,
    ) -> Obj:
        return self._invoke(
            action, policy, getattr(self._api(str(kind.api)), method), *args, **kwargs
        )

    def _custom(
        self,
        action: str,
        policy: RetryPolicy,
        verb: str,
        kind: Kind,
        namespace: str | None,
        *args: Any,
    ) -> Obj:
        """``<verb>_namespaced_custom_object``, or ``<verb>_cluster_custom_object`` for a
        cluster-scoped kind."""
        if kind.namespaced:
            method = f"{verb}_namespaced_custom_object"
            return self._call(action, policy, method, *self._gvp(kind, namespace), *args)
        method = f"{verb}_cluster_custom_object"
        return self._call(action, policy, method, kind.group, kind.version, kind.plural, *args)

    def _call(
        self, action: str, policy: RetryPolicy, method: str, *args: Any, **kwargs: Any
    ) -> Obj:
        return self._invoke(
            action, policy, getattr(self._api("CustomObjectsApi"), method), *args, **kwargs
        )

    def _invoke(
        self, action: str, policy: RetryPolicy, func: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Obj:
        def once() -> Obj:
            if policy is API_WRITE and self.write_guard is not None:
                self.write_guard(action)
            with kube_errors(action):
                response = func(
                    *args, _preload_content=False, _request_timeout=self.timeout, **kwargs
                )
                data = response.data
            try:
                return json.loads(data) if data else {}
            except ValueError as exc:
                raise ApiUnavailableError(f"{action}: answer is not JSON") from exc

        started = time.monotonic()
        try:
            return call_with_retry(once, policy=policy, sleep=self.sleep)
        finally:
            _waited.seconds = api_wait_seconds() + time.monotonic() - started


_waited = threading.local()


def api_wait_seconds() -> float:
    """Seconds the calling thread has spent in requests to the API server so far, retries
    and the pauses between them included (the controller subtracts it from a pass's time)."""
    return float(getattr(_waited, "seconds", 0.0))


def _ref(namespace: str | None, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name
