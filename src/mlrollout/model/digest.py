"""Content digests and digest-pinned image references.

``Sha256`` is a lowercase 64-hex SHA-256; ``ImageRef`` is ``registry/repo[:tag]@sha256:<hex>``.
A reference without a digest is refused: mlrollout only ever deploys what it verified.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ImageRef", "Sha256"]

_HEX64 = re.compile(r"[0-9a-f]{64}")
# Registry host (with optional port), then lowercase path components (distribution grammar).
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_HOST = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_REPO = re.compile(rf"(?:(?P<host>{_HOST})/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
DIGEST_HINT = "repo@sha256:<64 hex>"


@dataclass(frozen=True, slots=True)
class Sha256:
    """A SHA-256 digest as 64 lowercase hex characters (no ``sha256:`` prefix)."""

    hex: str

    def __post_init__(self) -> None:
        if not isinstance(self.hex, str) or not _HEX64.fullmatch(self.hex):
            raise ValueError(f"must be 64 lowercase hex characters, got {_show(self.hex)}")

    @classmethod
    def parse(cls, text: str) -> Sha256:
        """Accept ``<hex>`` or ``sha256:<hex>``."""
        return cls(text.removeprefix("sha256:"))

    def __str__(self) -> str:
        return f"sha256:{self.hex}"


@dataclass(frozen=True, slots=True)
class ImageRef:
    """An image pinned by digest: ``repository`` (with registry host), optional tag, digest."""

    repository: str
    digest: Sha256
    tag: str | None = None

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        """Parse ``registry/repo[:tag]@sha256:<hex>``; a reference without digest is refused."""
        if not isinstance(text, str):
            raise ValueError(f"must be a string ({DIGEST_HINT}), got {type(text).__name__}")
        name, sep, digest = text.partition("@")
        if not sep:
            raise ValueError(f"must be pinned by digest ({DIGEST_HINT}), got {_show(text)}")
        if not digest.startswith("sha256:") or not _HEX64.fullmatch(digest[7:]):
            raise ValueError(
                f"digest must be sha256:<64 lowercase hex> ({DIGEST_HINT}), got {_show(text)}"
            )
        tag = None
        last = name.rsplit("/", 1)[-1]
        if ":" in last:
            name, tag = name.rsplit(":", 1)
            if not _TAG.fullmatch(tag):
                raise ValueError(f"invalid tag {tag!r} in {_show(text)}")
        if not _REPO.fullmatch(name):
            raise ValueError(f"invalid repository name in {_show(text)} ({DIGEST_HINT})")
        return cls(repository=name, digest=Sha256(digest[7:]), tag=tag)

    @property
    def registry(self) -> str:
        """The registry host; Docker Hub's when the name has no host part."""
        first, _, rest = self.repository.partition("/")
        if rest and ("." in first or ":" in first or first == "localhost"):
            return first
        return "docker.io"

    @property
    def path(self) -> str:
        """The repository path inside its registry."""
        if self.registry == "docker.io" and not self.repository.startswith("docker.io/"):
            return self.repository if "/" in self.repository else f"library/{self.repository}"
        return self.repository.partition("/")[2]

    def __str__(self) -> str:
        tag = f":{self.tag}" if self.tag else ""
        return f"{self.repository}{tag}@{self.digest}"


def _show(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "...'"
