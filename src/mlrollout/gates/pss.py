"""The Kubernetes Pod Security Standards, control by control, at the ``baseline`` and
``restricted`` levels.

Pure; part of the ``gates`` layer, used by ``podsecurity`` (the pod-security gate) and
through it by ``hardening.assess_pod_template``. ``CONTROLS`` is the table of the standard:
one entry per control, its level and its check over a pod template (a plain dict, as the
kube layer fetched it). ``restricted`` includes every ``baseline`` control. Field paths in
findings follow the standard's own (``spec.containers[0].securityContext.procMount``).

Baseline: HostProcess, host namespaces, privileged, capabilities (the default set only),
hostPath volumes, host ports, AppArmor, SELinux, /proc mount type, seccomp (not
Unconfined), sysctls (the safe set). Restricted adds: volume types, privilege escalation,
running as non-root, non-root user, seccomp (RuntimeDefault or Localhost), capabilities
(drop ALL, add only NET_BIND_SERVICE).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["CONTROLS", "Control", "Finding", "Level", "assess_pss", "iter_containers"]


class Level(StrEnum):
    """A Pod Security Standards level (``privileged`` is the absence of checks)."""

    BASELINE = "baseline"
    RESTRICTED = "restricted"


@dataclass(frozen=True)
class Finding:
    """One rule a template breaks: where, which rule, why; ``error`` or ``warning``."""

    path: str
    rule: str
    message: str
    severity: str = "error"


Obj = Mapping[str, Any]
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")

BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
        "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_wmem",
    }
)
SELINUX_TYPES = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)
ALLOWED_VOLUME_TYPES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "image",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
_PROFILE_TYPES = frozenset({"RuntimeDefault", "Localhost"})
_APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
_SECCOMP_ANNOTATIONS = (
    "seccomp.security.alpha.kubernetes.io/pod",
    "container.seccomp.security.alpha.kubernetes.io/",
)


def _obj(value: Any) -> Obj:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def iter_containers(spec: Obj) -> Iterator[tuple[str, Obj]]:
    """``(field path, container)`` for every init, app and ephemeral container."""
    for key in _CONTAINER_LISTS:
        for index, container in enumerate(_list(spec.get(key))):
            yield f"spec.{key}[{index}]", _obj(container)


@dataclass(frozen=True)
class _Pod:
    """The parts of a pod template the controls read."""

    spec: Obj
    pod_sc: Obj
    annotations: Obj

    @classmethod
    def of(cls, template: Obj) -> _Pod:
        spec = _obj(template.get("spec"))
        annotations = _obj(_obj(template.get("metadata")).get("annotations"))
        return cls(spec, _obj(spec.get("securityContext")), annotations)

    def contexts(self) -> Iterator[tuple[str, Obj]]:
        """``(path, securityContext)`` of every container."""
        for path, container in iter_containers(self.spec):
            yield f"{path}.securityContext", _obj(container.get("securityContext"))

    def with_pod(self) -> Iterator[tuple[str, Obj]]:
        """The pod's securityContext, then every container's."""
        yield "spec.securityContext", self.pod_sc
        yield from self.contexts()


Check = Callable[[_Pod], Iterator[Finding]]


@dataclass(frozen=True)
class Control:
    """One control of the standard: its rule name, level and check."""

    rule: str
    level: Level
    check: Check


def _host_process(pod: _Pod) -> Iterator[Finding]:
    for where, sc in pod.with_pod():
        if _obj(sc.get("windowsOptions")).get("hostProcess") is True:
            yield Finding(f"{where}.windowsOptions.hostProcess", "host-process", "must not be true")


def _host_namespaces(pod: _Pod) -> Iterator[Finding]:
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.spec.get(field) is True:
            yield Finding(f"spec.{field}", "host-namespaces", f"{field} must not be true")


def _privileged(pod: _Pod) -> Iterator[Finding]:
    for where, sc in pod.contexts():
        if sc.get("privileged") is True:
            yield Finding(f"{where}.privileged", "privileged", "must not be privileged")


def _baseline_capabilities(pod: _Pod) -> Iterator[Finding]:
    for where, sc in pod.contexts():
        added = {str(c) for c in _list(_obj(sc.get("capabilities")).get("add"))}
        if added - BASELINE_CAPABILITIES:
            bad = sorted(added - BASELINE_CAPABILITIES)
            yield Finding(
                f"{where}.capabilities.add",
                "capabilities-baseline",
                f"adds {bad}, beyond the default set",
            )


def _host_path(pod: _Pod) -> Iterator[Finding]:
    for index, volume in enumerate(_list(pod.spec.get("volumes"))):
        if "hostPath" in _obj(volume):
            yield Finding(
                f"spec.volumes[{index}].hostPath", "host-path", "hostPath volumes are forbidden"
            )


def _host_ports(pod: _Pod) -> Iterator[Finding]:
    for path, container in iter_containers(pod.spec):
        for index, port in enumerate(_list(container.get("ports"))):
            if _obj(port).get("hostPort") not in (None, 0):
                yield Finding(
                    f"{path}.ports[{index}].hostPort", "host-ports", "hostPort must not be set"
                )


def _apparmor(pod: _Pod) -> Iterator[Finding]:
    for where, sc in pod.with_pod():
        kind = _obj(sc.get("appArmorProfile")).get("type")
        if kind is not None and kind not in _PROFILE_TYPES:
            yield Finding(
                f"{where}.appArmorProfile.type",
                "apparmor",
                f"must be RuntimeDefault or Localhost, got {kind!r}",
            )
    for key, value in pod.annotations.items():
        allowed = value == "runtime/default" or str(value).startswith("localhost/")
        if str(key).startswith(_APPARMOR_ANNOTATION) and not allowed:
            yield Finding(
                f"metadata.annotations[{key}]",
                "apparmor",
                f"must be runtime/default or localhost/*, got {value!r}",
            )


def _selinux(pod: _Pod) -> Iterator[Finding]:
    for where, sc in pod.with_pod():
        options = _obj(sc.get("seLinuxOptions"))
        kind = options.get("type")
        if kind is not None and kind not in SELINUX_TYPES:
            yield Finding(
                f"{where}.seLinuxOptions.type",
                "selinux",
                f"must be one of {sorted(SELINUX_TYPES - {''})}, got {kind!r}",
            )
        for field in ("user", "role"):
            if options.get(field) not in (None, ""):
                yield Finding(f"{where}.seLinuxOptions.{field}", "selinux", "must not be set")


def _proc_mount(pod: _Pod) -> Iterator[Finding]:
    for where, sc in pod.contexts():
        if sc.get("procMount") not in (None, "Default"):
            yield Finding(
                f"{where}.procMount", "proc-mount", f"must be Default, got {sc['procMount']!r}"
            )


def _seccomp_not_unconfined(pod: _Pod) -> Iterator[Finding]:
    for where, sc in pod.with_pod():
        if _obj(sc.get("seccompProfile")).get("type") == "Unconfined":
            yield Finding(
                f"{where}.seccompProfile.type", "seccomp-unconfined", "must not be Unconfined"
            )
    for key, value in pod.annotations.items():
        if str(key).startswith(_SECCOMP_ANNOTATIONS) and value == "unconfined":
            yield Finding(
                f"metadata.annotations[{key}]", "seccomp-unconfined", "must not be unconfined"
            )


def _sysctls(pod: _Pod) -> Iterator[Finding]:
    for index, sysctl in enumerate(_list(pod.pod_sc.get("sysctls"))):
        name = _obj(sysctl).get("name")
        if name not in SAFE_SYSCTLS:
            yield Finding(
                f"spec.securityContext.sysctls[{index}].name",
                "sysctls",
                f"{name!r} is not in the safe set",
            )


def _volume_types(pod: _Pod) -> Iterator[Finding]:
    for index, volume in enumerate(_list(pod.spec.get("volumes"))):
        kinds = set(_obj(volume)) - {"name", "hostPath"}
        if kinds - ALLOWED_VOLUME_TYPES:
            bad = ", ".join(sorted(kinds - ALLOWED_VOLUME_TYPES))
            yield Finding(
                f"spec.volumes[{index}]", "volume-types", f"volume type {bad} is not allowed"
            )


def _privilege_escalation(pod: _Pod) -> Iterator[Finding]:
    for where, sc in pod.contexts():
        if sc.get("allowPrivilegeEscalation") is not False:
            yield Finding(
                f"{where}.allowPrivilegeEscalation",
                "allow-privilege-escalation",
                "must be set to false",
            )


def _effective(sc: Obj, pod_sc: Obj, key: str) -> Any:
    return sc[key] if key in sc else pod_sc.get(key)


def _run_as_non_root(pod: _Pod) -> Iterator[Finding]:
    for where, sc in pod.contexts():
        if _effective(sc, pod.pod_sc, "runAsNonRoot") is not True:
            yield Finding(f"{where}.runAsNonRoot", "run-as-non-root", "must be true")


def _run_as_user(pod: _Pod) -> Iterator[Finding]:
    for where, sc in pod.with_pod():
        if sc.get("runAsUser") == 0 and not isinstance(sc.get("runAsUser"), bool):
            yield Finding(f"{where}.runAsUser", "run-as-user", "must not be 0")
    for where, sc in pod.contexts():
        if "runAsUser" not in sc and pod.pod_sc.get("runAsUser") == 0:
            yield Finding(f"{where}.runAsUser", "run-as-user", "must not be 0 (from the pod)")


def _seccomp(pod: _Pod) -> Iterator[Finding]:
    for where, sc in pod.contexts():
        kind = _obj(_effective(sc, pod.pod_sc, "seccompProfile")).get("type")
        if kind not in _PROFILE_TYPES:
            yield Finding(
                f"{where}.seccompProfile.type",
                "seccomp",
                f"must be RuntimeDefault or Localhost, got {kind!r}",
            )


def _restricted_capabilities(pod: _Pod) -> Iterator[Finding]:
    for where, sc in pod.contexts():
        caps = _obj(sc.get("capabilities"))
        if "ALL" not in _list(caps.get("drop")):
            yield Finding(f"{where}.capabilities.drop", "capabilities", "must drop ALL")
        added = {str(c) for c in _list(caps.get("add"))} - {"NET_BIND_SERVICE"}
        if added:
            yield Finding(
                f"{where}.capabilities.add",
                "capabilities",
                f"may add only NET_BIND_SERVICE, adds {sorted(added)}",
            )


CONTROLS: tuple[Control, ...] = (
    Control("host-process", Level.BASELINE, _host_process),
    Control("host-namespaces", Level.BASELINE, _host_namespaces),
    Control("privileged", Level.BASELINE, _privileged),
    Control("capabilities-baseline", Level.BASELINE, _baseline_capabilities),
    Control("host-path", Level.BASELINE, _host_path),
    Control("host-ports", Level.BASELINE, _host_ports),
    Control("apparmor", Level.BASELINE, _apparmor),
    Control("selinux", Level.BASELINE, _selinux),
    Control("proc-mount", Level.BASELINE, _proc_mount),
    Control("seccomp-unconfined", Level.BASELINE, _seccomp_not_unconfined),
    Control("sysctls", Level.BASELINE, _sysctls),
    Control("volume-types", Level.RESTRICTED, _volume_types),
    Control("allow-privilege-escalation", Level.RESTRICTED, _privilege_escalation),
    Control("run-as-non-root", Level.RESTRICTED, _run_as_non_root),
    Control("run-as-user", Level.RESTRICTED, _run_as_user),
    Control("seccomp", Level.RESTRICTED, _seccomp),
    Control("capabilities", Level.RESTRICTED, _restricted_capabilities),
)


def assess_pss(template: Obj, level: Level) -> list[Finding]:
    """Every violation of ``level`` (restricted includes baseline) in a pod template."""
    pod = _Pod.of(template)
    wanted = {Level.BASELINE} if level is Level.BASELINE else {Level.BASELINE, Level.RESTRICTED}
    return [finding for c in CONTROLS if c.level in wanted for finding in c.check(pod)]
