"""Digest, image reference and duration value types."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mlrollout.model import ImageRef, Sha256, format_duration, parse_duration

HEX = "a" * 64


@pytest.mark.parametrize(
    ("text", "repository", "tag", "registry", "path"),
    [
        (
            f"registry.example.com/ml/fraud@sha256:{HEX}",
            "registry.example.com/ml/fraud",
            None,
            "registry.example.com",
            "ml/fraud",
        ),
        (
            f"localhost:5000/fraud:v1@sha256:{HEX}",
            "localhost:5000/fraud",
            "v1",
            "localhost:5000",
            "fraud",
        ),
        (f"fraud@sha256:{HEX}", "fraud", None, "docker.io", "library/fraud"),
        (f"team/fraud@sha256:{HEX}", "team/fraud", None, "docker.io", "team/fraud"),
        (
            f"127.0.0.1:5000/a/b-c_d.e@sha256:{HEX}",
            "127.0.0.1:5000/a/b-c_d.e",
            None,
            "127.0.0.1:5000",
            "a/b-c_d.e",
        ),
    ],
    ids=["registry-host", "port-and-tag", "docker-hub-library", "docker-hub-user", "ip-host"],
)
def test_image_ref_parses_digest_pinned_references(
    text: str, repository: str, tag: str | None, registry: str, path: str
) -> None:
    ref = ImageRef.parse(text)
    assert (ref.repository, ref.tag, ref.registry, ref.path) == (repository, tag, registry, path)
    assert ref.digest == Sha256(HEX)
    assert str(ref) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fraud:latest", "must be pinned by digest"),
        ("fraud", "must be pinned by digest"),
        (f"fraud@sha512:{HEX}", "digest must be sha256"),
        (f"fraud@sha256:{HEX.upper()}", "digest must be sha256"),
        ("fraud@sha256:abc", "digest must be sha256"),
        (f"Fraud@sha256:{HEX}", "invalid repository name"),
        (f"fraud:bad tag@sha256:{HEX}", "invalid tag"),
        (f"@sha256:{HEX}", "invalid repository name"),
    ],
    ids=[
        "tag-only",
        "bare-name",
        "sha512",
        "uppercase-hex",
        "short-hex",
        "uppercase-repo",
        "bad-tag",
        "empty-repo",
    ],
)
def test_image_ref_refuses_what_is_not_pinned(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ImageRef.parse(text)


def test_sha256_accepts_prefix_and_refuses_bad_hex() -> None:
    assert Sha256.parse(f"sha256:{HEX}").hex == HEX
    assert str(Sha256(HEX)) == f"sha256:{HEX}"
    with pytest.raises(ValueError, match="64 lowercase hex"):
        Sha256("xyz")


@pytest.mark.parametrize(
    ("text", "seconds", "canonical"),
    [
        ("30s", 30, "30s"),
        ("10m", 600, "10m"),
        ("1h", 3600, "1h"),
        ("1h30m", 5400, "1h30m"),
        ("90s", 90, "1m30s"),
        ("500ms", 0.5, "500ms"),
        ("1.5h", 5400, "1h30m"),
        ("0s", 0, "0s"),
    ],
)
def test_durations_round_trip(text: str, seconds: float, canonical: str) -> None:
    value = parse_duration(text)
    assert value == timedelta(seconds=seconds)
    assert format_duration(value) == canonical


@pytest.mark.parametrize("text", ["30", "10 m", "1d", "-5s", "", "1h 30m", "s", "9999999h"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|at most one year"):
        parse_duration(text)


def test_durations_must_be_strings() -> None:
    with pytest.raises(ValueError, match="a string"):
        parse_duration(30)  # type: ignore[arg-type]
