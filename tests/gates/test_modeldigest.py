"""Model digests: a file, a directory bound by SHA256SUMS, traversal and symlinks refused."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from mlrollout.gates import Reason
from mlrollout.gates.modeldigest import MANIFEST_NAME, fetch_model_verification
from mlrollout.model import Sha256


def _sha(data: bytes) -> Sha256:
    return Sha256(hashlib.sha256(data).hexdigest())


def _model_dir(tmp_path: Path, files: dict[str, bytes], lines: list[str] | None = None) -> Sha256:
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    if lines is None:
        lines = [f"{_sha(d).hex}  {n}" for n, d in sorted(files.items())]
    manifest = ("\n".join(lines) + "\n").encode()
    (tmp_path / MANIFEST_NAME).write_bytes(manifest)
    return _sha(manifest)


def test_file_digest(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"weights" * 1000)
    assert fetch_model_verification(path, _sha(b"weights" * 1000)).verified
    assert fetch_model_verification(path, _sha(b"other")).reason is Reason.MODEL_DIGEST_MISMATCH


def test_directory_with_manifest(tmp_path: Path) -> None:
    expected = _model_dir(tmp_path, {"a.bin": b"a", "sub/b.bin": b"b"})
    result = fetch_model_verification(tmp_path, expected)
    assert result.verified, result.message


@pytest.mark.parametrize(
    ("files", "lines", "expected"),
    [
        ({"a.bin": b"a"}, ["{a}  ../a.bin"], Reason.MODEL_PATH_UNSAFE),
        ({"a.bin": b"a"}, ["{a}  /etc/passwd"], Reason.MODEL_PATH_UNSAFE),
        ({"a.bin": b"a"}, ["{a}  a.bin", "{a}  a.bin"], Reason.MODEL_PATH_UNSAFE),
        ({"a.bin": b"a"}, ["not a line"], Reason.MODEL_PATH_UNSAFE),
        ({"a.bin": b"a", "extra.py": b"x"}, ["{a}  a.bin"], Reason.MODEL_DIGEST_MISMATCH),
        ({"a.bin": b"a"}, ["{a}  a.bin", "{a}  gone.bin"], Reason.MODEL_DIGEST_MISMATCH),
        ({"a.bin": b"changed"}, ["{a}  a.bin"], Reason.MODEL_DIGEST_MISMATCH),
    ],
    ids=[
        "dotdot",
        "absolute",
        "duplicate",
        "malformed",
        "unlisted-file",
        "missing-file",
        "changed-file",
    ],
)
def test_directory_refusals(
    tmp_path: Path, files: dict[str, bytes], lines: list[str], expected: Reason
) -> None:
    a = _sha(b"a").hex
    manifest_digest = _model_dir(tmp_path, files, [line.format(a=a) for line in lines])
    assert fetch_model_verification(tmp_path, manifest_digest).reason is expected


def test_wrong_manifest_digest(tmp_path: Path) -> None:
    _model_dir(tmp_path, {"a.bin": b"a"})
    assert fetch_model_verification(tmp_path, _sha(b"x")).reason is Reason.MODEL_DIGEST_MISMATCH


def test_symlinks_are_refused(tmp_path: Path) -> None:
    outside = tmp_path / "secret"
    outside.write_bytes(b"a")
    model = tmp_path / "model"
    model.mkdir()
    os.symlink(outside, model / "a.bin")
    expected = _model_dir(model, {}, [f"{_sha(b'a').hex}  a.bin"])
    assert fetch_model_verification(model, expected).reason is Reason.MODEL_PATH_UNSAFE
    link = tmp_path / "link.bin"
    os.symlink(outside, link)
    assert fetch_model_verification(link, _sha(b"a")).reason is Reason.MODEL_PATH_UNSAFE


def test_symlinked_manifest_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real.txt"
    real.write_bytes(b"")
    model = tmp_path / "model"
    model.mkdir()
    os.symlink(real, model / MANIFEST_NAME)
    assert fetch_model_verification(model, _sha(b"")).reason is Reason.MODEL_PATH_UNSAFE
