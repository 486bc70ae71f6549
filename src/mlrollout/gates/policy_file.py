"""The policy file of ``mlrollout verify image --policy``: the same schema as ``spec.gates``.

Used by ``cli/verify.py``. The file is a ``spec.gates`` document (``signature.publicKeys``,
``threshold``, ``identityMirrors``, ``annotations``, ``provenance.builderIds``,
``sourceRepos``, ``sourceRefs``, ``sbom``, ``vulnerabilities.maxSeverity``) validated by the
one ``Gates`` model, so a policy tried with ``verify`` can be pasted into a rollout
unchanged. A ``publicKeys[].file`` is relative to the policy file; ``--key`` files are added
as more trusted keys. Every problem is a ``SpecError`` naming the file and field.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from mlrollout.errors import SpecError
from mlrollout.spec.loader import translate_validation_error
from mlrollout.spec.policy import Gates, PublicKeyRef, SignatureGate
from mlrollout.spec.yamlfile import parse_yaml_documents

__all__ = ["load_policy_gates"]


def _read(policy_path: Path) -> Gates:
    source = str(policy_path)
    try:
        text = policy_path.read_bytes()
    except FileNotFoundError:
        raise SpecError("no such file", source=source) from None
    except OSError as exc:
        raise SpecError(f"cannot read policy: {exc.strerror}", source=source) from None
    documents = parse_yaml_documents(text, source=source)
    if len(documents) > 1:
        raise SpecError(f"expected one document, found {len(documents)}", source=source)
    try:
        return Gates.model_validate(documents[0] if documents else {})
    except ValidationError as exc:
        errors = translate_validation_error(exc, source=source)
        # A misspelt or old field name (keys, sourceRepositories) explains the rest: first.
        unknown = [e for e in errors if e.reason == "unknown field"]
        raise (unknown or errors)[0] from None


def _resolve(ref: PublicKeyRef, base: Path) -> PublicKeyRef:
    if ref.file is None or Path(ref.file).is_absolute():
        return ref
    return ref.model_copy(update={"file": str(base / ref.file)})


def load_policy_gates(policy_path: Path | None, *, key_paths: list[Path]) -> Gates:
    """The gates to verify against: the policy file's, plus ``--key`` files as trusted keys."""
    gates = _read(policy_path) if policy_path else Gates()
    base = policy_path.parent if policy_path else Path.cwd()
    for path in key_paths:
        if not path.is_file():
            raise SpecError("no such file", source=str(path), path="--key")
    signature = gates.signature
    keys = [_resolve(k, base) for k in (signature.public_keys if signature else [])]
    keys += [PublicKeyRef(file=str(p)) for p in key_paths]
    if not keys:
        raise SpecError(
            "at least one trusted key is needed (--key or signature.publicKeys in --policy)",
            path="signature.publicKeys",
        )
    try:
        merged = SignatureGate(
            public_keys=keys,
            threshold=signature.threshold if signature else 1,
            identity_mirrors=dict(signature.identity_mirrors) if signature else {},
            annotations=dict(signature.annotations) if signature else {},
        )
    except ValidationError as exc:
        error = translate_validation_error(exc, source=str(policy_path or "--key"))[0]
        raise SpecError(error.reason, source=error.source, path=f"signature.{error.path}") from None
    return gates.model_copy(update={"signature": merged})
