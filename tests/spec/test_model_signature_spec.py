"""``spec.release.model.signature``: exactly one of key and keyless, paths in the pod."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from mlrollout.spec.rollout import ModelSignature

ID = {"issuer": "https://issuer", "identity": "ci@example.com"}
CASES = [
    ("key", {"file": "/m/model.sig", "key": "/k.pub"}, None),
    ("keyless", {"file": "/m/s", "keyless": ID, "trustedRoot": "/t.json"}, None),
    ("neither", {"file": "/m/s"}, "set exactly one of key, keyless"),
    ("both", {"file": "/m/s", "key": "/k", "keyless": ID, "trustedRoot": "/t"}, "exactly one"),
    ("keyless-no-root", {"file": "/m/s", "keyless": ID}, "keyless needs trustedRoot"),
    ("root-with-key", {"file": "/m/s", "key": "/k", "trustedRoot": "/t"}, "only used with keyless"),
    (
        "regexp",
        {"file": "/m/s", "keyless": {"issuer": "i", "identityRegexp": ".*"}, "trustedRoot": "/t"},
        "exact identity",
    ),
    ("relative-path", {"file": "model.sig", "key": "/k"}, "pattern"),
]


@pytest.mark.parametrize(("doc", "error"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_model_signature(doc: dict[str, Any], error: str | None) -> None:
    if error is None:
        ModelSignature.model_validate(doc)
        return
    with pytest.raises(ValidationError, match=error):
        ModelSignature.model_validate(doc)
