"""The local platform's model artifact: a small JSON "model card" a model server loads.

Part of the ``local`` sandbox. On the local platform a release's ``model.uri`` names a file
(``file:///abs/path.json``, or ``local://path.json`` relative to the rollout file) holding
the reference model server's settings — the seed of its synthetic training data, its base
latency and any regressions it carries — and ``model.sha256`` pins the file's bytes,
checked before the release runs (``controller.local``). The demo writes such files for its
releases; the ``examples/local`` rollout ships two. Format::

    {"kind": "LocalModel", "seed": 2, "baseLatencyMs": 20,
     "regressions": {"error_rate": 0.05, "latency_factor": 1.0}}
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from mlrollout.local.regressions import Regressions

__all__ = [
    "MAX_CARD_BYTES",
    "ModelCard",
    "compute_sha256",
    "load_model_card",
    "resolve_model_path",
]

KIND = "LocalModel"
MAX_CARD_BYTES = 64 * 1024


@dataclass(frozen=True)
class ModelCard:
    """What a model server runs: training seed, base latency and injected regressions."""

    seed: int = 1
    base_latency_ms: float = 20.0
    regressions: Regressions = field(default_factory=Regressions)

    def to_json(self) -> str:
        """The card as the canonical file text (sorted keys, one line and a newline)."""
        body = {
            "kind": KIND,
            "seed": self.seed,
            "baseLatencyMs": self.base_latency_ms,
            "regressions": self.regressions.to_dict(),
        }
        return json.dumps(body, sort_keys=True) + "\n"

    def write(self, path: Path) -> str:
        """Write the card to ``path``; its SHA-256 (hex)."""
        data = self.to_json().encode()
        path.write_bytes(data)
        return hashlib.sha256(data).hexdigest()


def compute_sha256(path: Path) -> str:
    """SHA-256 (hex) of the file at ``path``."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def resolve_model_path(uri: str, *, base: Path) -> Path:
    """The file a local release's ``model.uri`` names.

    ``file:///abs/path.json`` is an absolute path; ``local://rel/path.json`` is relative to
    ``base`` (the directory of the rollout file). Any other scheme is a ``ValueError``: the
    local platform reads model cards from disk only.
    """
    parts = urlsplit(uri)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"a file: URI must name a local file, got {uri!r}")
        return Path(unquote(parts.path))
    if parts.scheme == "local":
        relative = unquote(parts.netloc + parts.path)
        if not relative or Path(relative).is_absolute() or ".." in Path(relative).parts:
            raise ValueError(f"a local: URI names a path below the rollout's directory: {uri!r}")
        return base / relative
    raise ValueError(
        "the local platform loads models from files (file:///abs/path or local://rel/path), "
        f"got {uri!r}"
    )


def load_model_card(path: Path) -> ModelCard:
    """Read and check a model card; ``ValueError`` naming what is wrong."""
    data = path.read_bytes()
    if len(data) > MAX_CARD_BYTES:
        raise ValueError(f"{path}: a model card is at most {MAX_CARD_BYTES} bytes")
    try:
        body: Any = json.loads(data)
    except ValueError as exc:
        raise ValueError(f"{path}: not JSON: {exc}") from None
    if not isinstance(body, dict) or body.get("kind") != KIND:
        raise ValueError(f'{path}: expected a JSON object with "kind": "{KIND}"')
    unknown = sorted(set(body) - {"kind", "seed", "baseLatencyMs", "regressions"})
    if unknown:
        raise ValueError(f"{path}: unknown fields {unknown}")
    seed, latency = body.get("seed", 1), body.get("baseLatencyMs", 20.0)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise ValueError(f"{path}: seed must be an integer in [0, 2^32)")
    if not isinstance(latency, int | float) or not 0.1 <= float(latency) <= 10_000:
        raise ValueError(f"{path}: baseLatencyMs must be a number in [0.1, 10000]")
    changes = body.get("regressions") or {}
    if not isinstance(changes, dict):
        raise ValueError(f"{path}: regressions must be an object")
    try:
        regressions = Regressions().updated(changes)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: regressions: {exc}") from None
    return ModelCard(seed=seed, base_latency_ms=float(latency), regressions=regressions)
