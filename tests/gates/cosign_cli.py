"""Test support: the real cosign v3 CLI against the real docker-registry on loopback.

``cosign_binary`` builds cosign from its Go module once per version
(``tests/sigstore/build-cosign.sh``, cached under ``~/.cache/mlrollout/cosign/<version>``);
without Go the tests skip, but fail under CI. ``CosignWorld`` pushes test images, signs and
attests them with cosign in the legacy (``.sig``/``.att``) or the bundle (Sigstore bundle
v0.3 as an OCI referrer; tag schema on this registry) format, runs ``cosign verify`` /
``verify-attestation``, and forges what an attacker could: copied or altered signatures.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from .publish import OCI_MANIFEST, RegistryPusher, manifest_for, push_image, sha

BUILD_SCRIPT = Path(__file__).parent.parent / "sigstore" / "build-cosign.sh"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
REPO = "ml/fraud"
FORMAT_FLAGS = {
    "legacy": ["--new-bundle-format=false", "--use-signing-config=false", "--tlog-upload=false"],
    "bundle": ["--use-signing-config=false", "--tlog-upload=false"],
}
INSECURE = ["--allow-http-registry", "--allow-insecure-registry"]


def cosign_binary() -> str:
    """The cosign binary (built and cached by the build script); skip without Go."""
    if os.environ.get("MLROLLOUT_COSIGN"):
        return os.environ["MLROLLOUT_COSIGN"]
    if shutil.which("go") is None:
        message = "Go is not installed: cannot build cosign (tests/sigstore/build-cosign.sh)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run the cosign cross-check")
        pytest.skip(message)
    done = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=3600, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"building cosign failed: {done.stderr[-2000:]}")
    return done.stdout.strip().splitlines()[-1]


@dataclass
class CosignWorld:
    """One registry, one cosign binary, two key pairs (``trusted`` and ``stranger``)."""

    cosign: str
    host: str
    directory: Path
    repo: str = REPO

    def __post_init__(self) -> None:
        for name in ("trusted", "stranger"):
            if not (self.directory / f"{name}.key").exists():
                self._run(["generate-key-pair", "--output-key-prefix", name])
        self.http = httpx.Client(base_url=f"http://{self.host}", timeout=10)

    def _run(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "COSIGN_PASSWORD": "", "COSIGN_YES": "true"}
        env["HOME"] = str(self.directory)  # cosign's own cache and config stay in tmp
        return subprocess.run(
            [self.cosign, *args],
            cwd=self.directory,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def key(self, name: str) -> Path:
        """The public key file of ``name``."""
        return self.directory / f"{name}.pub"

    def image(self, content: bytes, *, tag: str | None = None, repo: str | None = None) -> str:
        """Push a one-layer image (and ``tag``) to ``repo``; its pinned reference."""
        repo = repo or self.repo
        with RegistryPusher(f"http://{self.host}") as pusher:
            digest = push_image(pusher, repo, content)
            if tag is not None:
                layer = ("application/vnd.oci.image.layer.v1.tar", content, None)
                pusher.put_manifest(repo, tag, manifest_for([layer]), OCI_MANIFEST)
        return f"{self.host}/{repo}@{digest}"

    def sign(
        self, ref: str, fmt: str, *, key: str = "trusted", annotations: dict[str, str] | None = None
    ) -> None:
        """``cosign sign --key [-a k=v]`` in format ``fmt`` (legacy or bundle)."""
        extra = [arg for k, v in (annotations or {}).items() for arg in ("-a", f"{k}={v}")]
        args = ["sign", "--key", f"{key}.key", *extra, *FORMAT_FLAGS[fmt], *INSECURE, ref]
        done = self._run(args)
        assert done.returncode == 0, done.stderr

    def attest(self, ref: str, fmt: str, predicate: dict[str, object]) -> None:
        """``cosign attest --type slsaprovenance1`` with ``predicate``."""
        path = self.directory / f"predicate-{hashlib.sha256(ref.encode()).hexdigest()[:8]}.json"
        path.write_text(json.dumps(predicate))
        args = ["attest", "--key", "trusted.key", "--type", "slsaprovenance1"]
        done = self._run([*args, "--predicate", str(path), *FORMAT_FLAGS[fmt], *INSECURE, ref])
        assert done.returncode == 0, done.stderr

    def verify(
        self, ref: str, *, key: str = "trusted", annotations: dict[str, str] | None = None
    ) -> int:
        """``cosign verify [-a k=v]``'s exit code."""
        extra = [arg for k, v in (annotations or {}).items() for arg in ("-a", f"{k}={v}")]
        args = ["verify", "--key", f"{key}.pub", *extra, "--insecure-ignore-tlog=true"]
        return self._run([*args, *INSECURE, ref]).returncode

    def sign_blob(self, artifact: Path, *, key: str = "trusted") -> Path:
        """``cosign sign-blob --bundle`` (a v0.3 bundle, no log); the bundle's path."""
        bundle = artifact.with_suffix(".sigstore.json")
        args = ["sign-blob", "--key", f"{key}.key", "--bundle", str(bundle)]
        done = self._run(
            [*args, "--tlog-upload=false", "--use-signing-config=false", str(artifact)]
        )
        assert done.returncode == 0, done.stderr
        return bundle

    def verify_blob(self, artifact: Path, bundle: Path, *, key: str = "trusted") -> int:
        """``cosign verify-blob --bundle``'s exit code."""
        args = ["verify-blob", "--key", f"{key}.pub", "--bundle", str(bundle)]
        return self._run([*args, "--insecure-ignore-tlog=true", str(artifact)]).returncode

    def verify_attestation(self, ref: str, policy: Path) -> int:
        """``cosign verify-attestation --type slsaprovenance1 --policy``'s exit code."""
        args = ["verify-attestation", "--key", "trusted.pub", "--type", "slsaprovenance1"]
        args += ["--policy", str(policy), "--insecure-ignore-tlog=true", *INSECURE, ref]
        return self._run(args).returncode

    # -- what an attacker with push access could do ------------------------------------

    def _get(self, path: str, accept: str) -> bytes:
        response = self.http.get(path, headers={"accept": accept})
        assert response.status_code == 200, (path, response.status_code)
        return response.content

    def _digest(self, ref: str) -> str:
        return ref.rsplit("@", 1)[1]

    def copy_signatures(self, source: str, target: str, fmt: str) -> None:
        """Attach ``source``'s signature manifest to ``target`` as is (a replay)."""
        src, dst = self._digest(source), self._digest(target)
        suffix = ".sig" if fmt == "legacy" else ""
        accept = OCI_MANIFEST if fmt == "legacy" else OCI_INDEX
        data = self._get(f"/v2/{self.repo}/manifests/{src.replace(':', '-')}{suffix}", accept)
        with RegistryPusher(f"http://{self.host}") as pusher:
            pusher.put_manifest(self.repo, f"{dst.replace(':', '-')}{suffix}", data, accept)

    def alter_signed_payload(self, ref: str, fmt: str) -> None:
        """Change one byte of what was signed, keep the signature (a forgery)."""
        digest = self._digest(ref)
        if fmt == "legacy":
            tag = f"{digest.replace(':', '-')}.sig"
            manifest = json.loads(self._get(f"/v2/{self.repo}/manifests/{tag}", OCI_MANIFEST))
            layer = manifest["layers"][0]
            blob = self._get(f"/v2/{self.repo}/blobs/{layer['digest']}", "*/*")
            forged = blob.replace(b'"optional":null', b'"optional":{"x":"y"}')
            assert forged != blob
            layer.update(digest=sha(forged), size=len(forged))
            self._push(forged, manifest, tag, OCI_MANIFEST)
            return
        tag = digest.replace(":", "-")
        index = json.loads(self._get(f"/v2/{self.repo}/manifests/{tag}", OCI_INDEX))
        entry = index["manifests"][0]
        manifest = json.loads(
            self._get(f"/v2/{self.repo}/manifests/{entry['digest']}", OCI_MANIFEST)
        )
        layer = manifest["layers"][0]
        bundle = json.loads(self._get(f"/v2/{self.repo}/blobs/{layer['digest']}", "*/*"))
        envelope = bundle["dsseEnvelope"]
        statement = json.loads(base64.b64decode(envelope["payload"]))
        statement["predicate"] = {"forged": True}
        envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
        forged = json.dumps(bundle).encode()
        layer.update(digest=sha(forged), size=len(forged))
        raw = json.dumps(manifest).encode()
        self._push(forged, manifest, sha(raw), OCI_MANIFEST)
        entry.update(digest=sha(raw), size=len(raw))
        with RegistryPusher(f"http://{self.host}") as pusher:
            pusher.put_manifest(self.repo, tag, json.dumps(index).encode(), OCI_INDEX)

    def _push(self, blob: bytes, manifest: dict[str, object], ref: str, media_type: str) -> None:
        with RegistryPusher(f"http://{self.host}") as pusher:
            pusher.put_blob(self.repo, blob)
            pusher.put_manifest(self.repo, ref, json.dumps(manifest).encode(), media_type)
