"""The Pod Security Standards, one row per control: each violation is found at the level it
belongs to, with the standard's field path; ``baseline`` ignores restricted-only controls;
``gates.podSecurity`` picks the level the gate applies."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from mlrollout.gates.gate_spec import compute_gate_policy
from mlrollout.gates.pss import CONTROLS, Level, assess_pss
from mlrollout.spec.policy import Gates

C = "spec.containers[0]"
SC = f"{C}.securityContext"


def _template() -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "fraud"}},
        "spec": {
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "server",
                    "image": "registry.example.com/fraud@sha256:" + "a" * 64,
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
            "volumes": [{"name": "tmp", "emptyDir": {}}],
        },
    }


def _sc(t: dict[str, Any]) -> dict[str, Any]:
    sc: dict[str, Any] = t["spec"]["containers"][0]["securityContext"]
    return sc


def _pod_sc(t: dict[str, Any]) -> dict[str, Any]:
    sc: dict[str, Any] = t["spec"]["securityContext"]
    return sc


Mutation = Callable[[dict[str, Any]], Any]

# (control, level, mutation, expected field path)
ROWS: list[tuple[str, Level, Mutation, str]] = [
    (
        "host-process",
        Level.BASELINE,
        lambda t: _sc(t).update(windowsOptions={"hostProcess": True}),
        f"{SC}.windowsOptions.hostProcess",
    ),
    ("host-namespaces", Level.BASELINE, lambda t: t["spec"].update(hostIPC=True), "spec.hostIPC"),
    ("privileged", Level.BASELINE, lambda t: _sc(t).update(privileged=True), f"{SC}.privileged"),
    (
        "capabilities-baseline",
        Level.BASELINE,
        lambda t: _sc(t)["capabilities"].update(add=["SYS_ADMIN"]),
        f"{SC}.capabilities.add",
    ),
    (
        "host-path",
        Level.BASELINE,
        lambda t: t["spec"]["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
        "spec.volumes[1].hostPath",
    ),
    (
        "host-ports",
        Level.BASELINE,
        lambda t: t["spec"]["containers"][0].update(ports=[{"containerPort": 1, "hostPort": 8}]),
        f"{C}.ports[0].hostPort",
    ),
    (
        "apparmor",
        Level.BASELINE,
        lambda t: _sc(t).update(appArmorProfile={"type": "Unconfined"}),
        f"{SC}.appArmorProfile.type",
    ),
    (
        "selinux",
        Level.BASELINE,
        lambda t: _pod_sc(t).update(seLinuxOptions={"type": "spc_t"}),
        "spec.securityContext.seLinuxOptions.type",
    ),
    (
        "proc-mount",
        Level.BASELINE,
        lambda t: _sc(t).update(procMount="Unmasked"),
        f"{SC}.procMount",
    ),
    (
        "seccomp-unconfined",
        Level.BASELINE,
        lambda t: _pod_sc(t).update(seccompProfile={"type": "Unconfined"}),
        "spec.securityContext.seccompProfile.type",
    ),
    (
        "sysctls",
        Level.BASELINE,
        lambda t: _pod_sc(t).update(sysctls=[{"name": "kernel.msgmax", "value": "65536"}]),
        "spec.securityContext.sysctls[0].name",
    ),
    (
        "volume-types",
        Level.RESTRICTED,
        lambda t: t["spec"]["volumes"].append({"name": "g", "gitRepo": {"repository": "x"}}),
        "spec.volumes[1]",
    ),
    (
        "allow-privilege-escalation",
        Level.RESTRICTED,
        lambda t: _sc(t).pop("allowPrivilegeEscalation"),
        f"{SC}.allowPrivilegeEscalation",
    ),
    (
        "run-as-non-root",
        Level.RESTRICTED,
        lambda t: _pod_sc(t).pop("runAsNonRoot"),
        f"{SC}.runAsNonRoot",
    ),
    (
        "run-as-user",
        Level.RESTRICTED,
        lambda t: _sc(t).update(runAsUser=0),
        f"{SC}.runAsUser",
    ),
    (
        "seccomp",
        Level.RESTRICTED,
        lambda t: _pod_sc(t).pop("seccompProfile"),
        f"{SC}.seccompProfile.type",
    ),
    (
        "capabilities",
        Level.RESTRICTED,
        lambda t: _sc(t)["capabilities"].update(add=["NET_RAW"]),
        f"{SC}.capabilities.add",
    ),
]


def test_every_control_of_the_standard_has_a_row() -> None:
    assert sorted(c.rule for c in CONTROLS) == sorted(row[0] for row in ROWS)
    assert {c.rule: c.level for c in CONTROLS} == {row[0]: row[1] for row in ROWS}


def test_a_compliant_template_passes_both_levels() -> None:
    assert assess_pss(_template(), Level.RESTRICTED) == []
    assert assess_pss(_template(), Level.BASELINE) == []


@pytest.mark.parametrize(("rule", "level", "mutate", "path"), ROWS, ids=[r[0] for r in ROWS])
def test_each_control_is_enforced_at_its_level(
    rule: str, level: Level, mutate: Mutation, path: str
) -> None:
    template = copy.deepcopy(_template())
    mutate(template)
    restricted = {(f.rule, f.path) for f in assess_pss(template, Level.RESTRICTED)}
    baseline = {(f.rule, f.path) for f in assess_pss(template, Level.BASELINE)}
    assert (rule, path) in restricted
    assert ((rule, path) in baseline) is (level is Level.BASELINE)


@pytest.mark.parametrize(
    ("mutate", "allowed"),
    [
        (lambda t: _pod_sc(t).update(sysctls=[{"name": "net.ipv4.tcp_keepalive_time"}]), True),
        (lambda t: _pod_sc(t).update(seLinuxOptions={"type": "container_init_t"}), True),
        (lambda t: _pod_sc(t).update(seLinuxOptions={"user": "system_u"}), False),
        (lambda t: _sc(t).update(procMount="Default"), True),
        (lambda t: _sc(t).update(appArmorProfile={"type": "Localhost"}), True),
        (
            lambda t: t["metadata"].update(
                annotations={"container.apparmor.security.beta.kubernetes.io/server": "unconfined"}
            ),
            False,
        ),
        (lambda t: _sc(t)["capabilities"].update(add=["CHOWN"]), True),
    ],
    ids=[
        "safe-sysctl",
        "selinux-init-type",
        "selinux-user",
        "procmount-default",
        "apparmor-localhost",
        "apparmor-annotation",
        "default-capability",
    ],
)
def test_allowed_values_of_baseline(mutate: Mutation, allowed: bool) -> None:
    template = copy.deepcopy(_template())
    mutate(template)
    assert (assess_pss(template, Level.BASELINE) == []) is allowed


@pytest.mark.parametrize("level", ["baseline", "restricted"])
def test_gates_pod_security_sets_the_level(level: str) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    gates = Gates.model_validate(
        {"signature": {"publicKeys": [{"pem": pem}]}, "podSecurity": level}
    )
    policy = compute_gate_policy(gates)
    assert policy is not None
    assert policy.pod_security.level == level
