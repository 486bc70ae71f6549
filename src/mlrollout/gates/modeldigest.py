"""Model artifact digests: a file, or a directory bound by a SHA256SUMS manifest.

Used by ``mlrollout verify model`` (run as an init container before the model server) and
bound to the signed image through a required ``optional`` annotation (``model_sha256``,
see ``policy.SignaturePolicy``). For a directory, ``--sha256`` is the digest of its
``SHA256SUMS`` file (``sha256sum`` format), which lists every other file exactly once.
Files are streamed; symlinks anywhere and paths that escape the directory are refused.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from pathlib import Path, PurePosixPath

from mlrollout.errors import GateError
from mlrollout.gates.reasons import Reason
from mlrollout.gates.result import Check, VerificationResult, describe_refusal
from mlrollout.model import Sha256

__all__ = ["MANIFEST_NAME", "compute_file_sha256", "fetch_model_verification"]

MANIFEST_NAME = "SHA256SUMS"
_CHUNK = 1024 * 1024
_LINE = re.compile(r"(?P<hex>[0-9a-f]{64}) [ *](?P<path>.+)")


def compute_file_sha256(path: Path) -> Sha256:
    """Stream a regular file's SHA-256 without following a symlink at the last component."""
    # Non-blocking open: a FIFO is refused by the S_ISREG check instead of hanging the read.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise GateError(Reason.MODEL_PATH_UNSAFE.value, f"{path} is not a regular file")
        digest = hashlib.sha256()
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return Sha256(digest.hexdigest())


def _unsafe(message: str) -> GateError:
    return GateError(Reason.MODEL_PATH_UNSAFE.value, message)


def _expect(path: Path, expected: Sha256) -> None:
    actual = compute_file_sha256(path)
    if actual != expected:
        raise GateError(
            Reason.MODEL_DIGEST_MISMATCH.value, f"{path} has {actual}, expected {expected}"
        )


def _parse_manifest(text: str) -> dict[str, Sha256]:
    entries: dict[str, Sha256] = {}
    for number, line in enumerate(text.splitlines(), 1):
        match = _LINE.fullmatch(line)
        if not match:
            raise _unsafe(f"{MANIFEST_NAME} line {number} is not '<sha256>  <path>'")
        relative = PurePosixPath(match["path"])
        if relative.is_absolute() or ".." in relative.parts or "\\" in match["path"]:
            raise _unsafe(f"{MANIFEST_NAME} line {number} escapes the directory: {relative}")
        key = relative.as_posix()
        if key in entries or key == MANIFEST_NAME:
            raise _unsafe(f"{MANIFEST_NAME} line {number} repeats {key}")
        entries[key] = Sha256(match["hex"])
    return entries


def _walk_files(root: Path) -> set[str]:
    found: set[str] = set()
    for directory, dirs, files in os.walk(root, followlinks=False):
        for name in [*dirs, *files]:
            full = Path(directory, name)
            if full.is_symlink():
                raise _unsafe(f"{full} is a symlink")
        found.update(Path(directory, f).relative_to(root).as_posix() for f in files)
    found.discard(MANIFEST_NAME)
    return found


def _check_directory(root: Path, expected: Sha256) -> int:
    manifest = root / MANIFEST_NAME
    _expect(manifest, expected)
    try:
        text = manifest.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _unsafe(f"{MANIFEST_NAME} is not UTF-8 text (byte {exc.start})") from None
    entries = _parse_manifest(text)
    present = _walk_files(root)
    if present != entries.keys():
        extra, missing = sorted(present - entries.keys()), sorted(entries.keys() - present)
        raise GateError(
            Reason.MODEL_DIGEST_MISMATCH.value,
            f"files differ from {MANIFEST_NAME}: unlisted {extra[:5]}, missing {missing[:5]}",
        )
    for relative, digest in sorted(entries.items()):
        _expect(root / relative, digest)
    return len(entries)


def fetch_model_verification(path: Path, expected: Sha256) -> VerificationResult:
    """Verify a model file or directory against ``expected``; a refusal is a result."""
    try:
        if path.is_symlink():
            raise _unsafe(f"{path} is a symlink")
        if path.is_dir():
            count = _check_directory(path, expected)
            message = f"{count} file(s) match {MANIFEST_NAME} ({expected})"
        else:
            _expect(path, expected)
            message = f"{path.name} matches {expected}"
    except GateError as exc:
        check = Check("model", 0, Reason(exc.reason_code), describe_refusal(exc))
        return VerificationResult.refused(
            str(path), Reason(exc.reason_code), describe_refusal(exc), (check,)
        )
    except OSError as exc:
        reason = (
            Reason.MODEL_PATH_UNSAFE if _is_symlink_error(exc) else Reason.MODEL_DIGEST_MISMATCH
        )
        return VerificationResult.refused(str(path), reason, f"cannot read model: {exc}")
    return VerificationResult(str(path), None, message, (Check("model", 0, None, message),))


def _is_symlink_error(exc: OSError) -> bool:
    return exc.errno == errno.ELOOP
