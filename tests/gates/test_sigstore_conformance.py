"""Every bundle-verification case of the Sigstore conformance suite, through ``verify blob``.

The cases (``tests/data/sigstore-conformance``, see its ORIGIN.md) are the ones every
Sigstore client is tested against: a name ending in ``_fail`` must be refused (exit 4 with
a reason code), any other must verify (exit 0). Each case runs the real CLI entry point
(``mlrollout.cli.app.main``) offline with the case's trusted root, or the public-good one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlrollout.cli.app import main
from mlrollout.gates.reasons import Reason

SUITE = Path(__file__).parent.parent / "data" / "sigstore-conformance"
PUBLIC_GOOD_ROOT = SUITE / "public-good-trusted_root.json"
DEFAULT_IDENTITY = (
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
    ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
)
DEFAULT_ISSUER = "https://token.actions.githubusercontent.com"
CASES = sorted(p.name for p in SUITE.iterdir() if (p / "bundle.sigstore.json").exists())


def _text(case: Path, name: str, default: str) -> str:
    path = case / name
    return path.read_text().strip() if path.exists() else default


def _arguments(case: Path) -> list[str]:
    artifact = case / "artifact" if (case / "artifact").exists() else SUITE / "a.txt"
    root = case / "trusted_root.json"
    args = ["verify", "blob", str(artifact), "--bundle", str(case / "bundle.sigstore.json")]
    args += ["--trusted-root", str(root if root.exists() else PUBLIC_GOOD_ROOT)]
    if (case / "key.pub").exists():
        return [*args, "--key", str(case / "key.pub"), "-o", "json"]
    identity = _text(case, "identity", DEFAULT_IDENTITY)
    issuer = _text(case, "issuer", DEFAULT_ISSUER)
    return [
        *args,
        "--certificate-identity",
        identity,
        "--certificate-oidc-issuer",
        issuer,
        "-o",
        "json",
    ]


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(args)
    captured = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 1), captured.out, captured.err


def test_the_suite_is_complete() -> None:
    assert len(CASES) == 58
    assert sum(c.endswith("_fail") for c in CASES) == 40


@pytest.mark.parametrize("name", CASES, ids=CASES)
def test_conformance_case(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(_arguments(SUITE / name), capsys)
    assert "Traceback" not in err
    if not name.endswith("_fail"):
        assert code == 0, out + err
        assert json.loads(out)["verified"] is True
        return
    assert code == 4, out + err
    verdict = json.loads(out)
    assert verdict["verified"] is False
    assert Reason(verdict["reason"])
