"""The ``verify image --policy FILE`` policy: a YAML file holding a rollout's ``spec.gates``.

Used by ``cli/verify.py``. The file is validated by the same pydantic model as a rollout's
``spec.gates`` (``spec.policy.Gates``) and mapped to ``GatePolicy`` by the same function as
the controller's (``gates.gate_spec``); key and trusted-root ``file`` paths are relative to
the policy file. Command-line keys, identities and trusted root join the file's before
validation. The fields about pods (``podSecurity``, ``networkPolicy``, ``gpuCapacity``,
``maxGpusPerPod``) are checked by the controller on the candidate's pod template, which
``verify image`` does not have: setting one is refused. Every problem is a ``SpecError``
naming the file and field (``policy.yaml: signature.publicKeys[0].file: ...``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlrollout.errors import SpecError
from mlrollout.gates.gate_spec import compute_gate_policy
from mlrollout.gates.policy import GatePolicy, KeylessIdentity
from mlrollout.spec.loader import validate_model
from mlrollout.spec.policy import Gates
from mlrollout.spec.yamlfile import parse_yaml_documents, read_regular_file

__all__ = ["load_gate_policy"]

# Checked on the candidate's pod template by the controller; nothing to check on an image.
_POD_FIELDS = {
    "pod_security": "podSecurity",
    "network_policy": "networkPolicy",
    "gpu_capacity": "gpuCapacity",
    "max_gpus_per_pod": "maxGpusPerPod",
}


def _read(policy_path: Path) -> dict[str, Any]:
    source = str(policy_path)
    documents = parse_yaml_documents(read_regular_file(policy_path), source=source)
    if len(documents) > 1:
        raise SpecError("expected one YAML document (a spec.gates object)", source=source)
    doc = documents[0] if documents else {}
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise SpecError("must be a mapping (a spec.gates object)", source=source)
    return dict(doc)


def _with_flags(
    doc: dict[str, Any],
    *,
    key_paths: list[Path],
    identities: tuple[KeylessIdentity, ...],
    trusted_root: Path | None,
    require_tlog: bool | None,
) -> dict[str, Any]:
    """``doc`` with the command-line trust added to ``signature`` (the root and
    ``requireTransparencyLog`` replace the file's)."""
    if not (key_paths or identities or trusted_root or require_tlog is not None):
        return doc
    signature = doc.get("signature")
    if signature is None:
        signature = {}
    if not isinstance(signature, dict):
        return doc  # validation names the field
    signature = dict(signature)
    if key_paths:
        keys = signature.get("publicKeys")
        given = keys if isinstance(keys, list) else []
        signature["publicKeys"] = [*given, *({"file": str(p.absolute())} for p in key_paths)]
    if identities:
        keyless = signature.get("keyless")
        given = keyless if isinstance(keyless, list) else []
        flags = [
            {"issuer": i.issuer, "identity": i.identity}
            if i.identity is not None
            else {"issuer": i.issuer, "identityRegexp": i.identity_regexp}
            for i in identities
        ]
        signature["keyless"] = [*given, *flags]
    if trusted_root is not None:
        signature["trustedRoot"] = {"file": str(trusted_root.absolute())}
    if require_tlog is not None:
        signature["requireTransparencyLog"] = require_tlog
    return {**doc, "signature": signature}


def _validate(doc: dict[str, Any], source: str) -> Gates:
    gates = validate_model(Gates, doc, source=source, index=None)
    for name, alias in _POD_FIELDS.items():
        if name in gates.model_fields_set:
            raise SpecError(
                "checked by the controller on the candidate's pod template; "
                "`verify image` has no pods to check (leave it out of the policy file)",
                source=source,
                path=alias,
            )
    return gates


def load_gate_policy(
    policy_path: Path | None,
    *,
    key_paths: list[Path],
    identities: tuple[KeylessIdentity, ...] = (),
    trusted_root: Path | None = None,
    require_tlog: bool | None = None,
) -> GatePolicy:
    """The policy of an optional ``spec.gates`` file plus command-line keys, identities
    and trusted root; ``SpecError`` names the file and field of anything invalid."""
    source = str(policy_path) if policy_path else "command line"
    doc = _read(policy_path) if policy_path else {}
    signature = doc.get("signature")
    keys = signature.get("publicKeys") if isinstance(signature, dict) else None
    file_keys = len(keys) if isinstance(keys, list) else 0
    doc = _with_flags(
        doc,
        key_paths=key_paths,
        identities=identities,
        trusted_root=trusted_root,
        require_tlog=require_tlog,
    )
    if doc.get("signature") is None:
        raise SpecError(
            "at least one trusted key or keyless identity is needed "
            "(--key, --certificate-identity, signature.publicKeys or signature.keyless)",
            source=str(policy_path) if policy_path else None,
        )
    gates = _validate(doc, source)
    base = policy_path.parent if policy_path else Path.cwd()
    try:
        # The user of `verify` names these files (the scope limits what a rollout names).
        policy = compute_gate_policy(gates, prefix="", base=base, allow_key_files=True)
    except SpecError as exc:
        path = _flag_for(exc.path or "", file_keys=file_keys, trusted_root=trusted_root)
        raise SpecError(exc.reason, source=source, path=path) from None
    assert policy is not None  # a signature section is present
    return policy


def _flag_for(path: str, *, file_keys: int, trusted_root: Path | None) -> str:
    """The command-line flag a problem came from, else the file's field ``path``."""
    if trusted_root is not None and path.startswith("signature.trustedRoot"):
        return "--trusted-root"
    prefix = "signature.publicKeys["
    if path.startswith(prefix):
        index = path[len(prefix) :].split("]", 1)[0]
        if index.isdigit() and int(index) >= file_keys:
            return "--key"
    return path
