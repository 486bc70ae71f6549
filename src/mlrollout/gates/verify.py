"""The library entry point: fetch an image's signatures (and attestations) and judge them.

Called by ``cli/verify.py`` and by the controller's Verifying phase. Fetches through
``oci.RegistryClient`` and hands the bytes to the pure checks in ``cosign`` and
``attestations``. Fails closed: any registry failure is a refusal (``REGISTRY_UNAVAILABLE``),
never a pass; a missing legacy signature next to a Sigstore bundle says so.
"""

from __future__ import annotations

from datetime import datetime

from mlrollout.errors import GateError, RegistryError, SpecError
from mlrollout.gates.attestations import DSSE_MEDIA_TYPE, assess_attestations
from mlrollout.gates.cosign import SIMPLE_SIGNING_MEDIA_TYPE, BlobLayer, assess_signatures
from mlrollout.gates.manifest import Descriptor, Manifest
from mlrollout.gates.oci import RegistryClient
from mlrollout.gates.policy import GatePolicy
from mlrollout.gates.reasons import Reason
from mlrollout.gates.result import VerificationResult, describe_refusal
from mlrollout.model import ImageRef

__all__ = ["BUNDLE_MEDIA_PREFIX", "decide_image_reference", "fetch_verification"]

BUNDLE_MEDIA_PREFIX = "application/vnd.dev.sigstore.bundle"


def decide_image_reference(text: str) -> ImageRef:
    """Parse ``registry/repo[:tag]@sha256:<hex>``; a tag-only reference is a refusal."""
    if "@" not in text:
        raise GateError(
            Reason.UNPINNED_REFERENCE.value,
            f"{text!r} is not pinned by digest; only repo@sha256:<hex> can be verified",
        )
    try:
        return ImageRef.parse(text)
    except ValueError as exc:
        raise SpecError(str(exc), path="image") from exc


def fetch_verification(
    image: ImageRef, policy: GatePolicy, *, client: RegistryClient, now: datetime
) -> VerificationResult:
    """Verify ``image`` against ``policy``: signatures first, then required attestations."""
    try:
        result = _fetch_signatures(image, policy, client=client, now=now)
        if result.verified and policy.attestations.required:
            result = result.combine(_fetch_attestations(image, policy, client=client, now=now))
    except GateError as exc:
        return VerificationResult.refused(
            str(image), Reason(exc.reason_code), describe_refusal(exc)
        )
    except RegistryError as exc:
        return VerificationResult.refused(str(image), Reason.REGISTRY_UNAVAILABLE, str(exc))
    return result


def _fetch_signatures(
    image: ImageRef, policy: GatePolicy, *, client: RegistryClient, now: datetime
) -> VerificationResult:
    if client.fetch_manifest(image.path, str(image.digest)) is None:
        raise GateError(Reason.IMAGE_NOT_FOUND.value, f"{image} is not in the registry")
    signatures = client.fetch_manifest(image.path, f"sha256-{image.digest.hex}.sig")
    if signatures is None:
        raise _unsigned(image, client)
    layers = _fetch_layers(image, signatures, client=client, media_type=SIMPLE_SIGNING_MEDIA_TYPE)
    return assess_signatures(image=image, layers=layers, policy=policy.signature, now=now)


def _fetch_attestations(
    image: ImageRef, policy: GatePolicy, *, client: RegistryClient, now: datetime
) -> VerificationResult:
    manifest = client.fetch_manifest(image.path, f"sha256-{image.digest.hex}.att")
    layers = (
        []
        if manifest is None
        else _fetch_layers(image, manifest, client=client, media_type=DSSE_MEDIA_TYPE)
    )
    return assess_attestations(image=image, layers=layers, policy=policy, now=now)


MAX_LAYERS = 32
"""Signature or attestation layers read from one manifest (each blob is fetched and kept)."""


def _fetch_layers(
    image: ImageRef, manifest: Manifest, *, client: RegistryClient, media_type: str
) -> list[BlobLayer]:
    if manifest.is_index:
        raise GateError(Reason.MANIFEST_UNSUPPORTED.value, "signature manifest is an index")
    if len(manifest.descriptors) > MAX_LAYERS:
        raise GateError(
            Reason.MANIFEST_UNSUPPORTED.value,
            f"{len(manifest.descriptors)} signature/attestation layers; at most {MAX_LAYERS} "
            "are read",
        )
    return [_fetch_layer(image, d, client=client, wanted=media_type) for d in manifest.descriptors]


def _fetch_layer(
    image: ImageRef, descriptor: Descriptor, *, client: RegistryClient, wanted: str
) -> BlobLayer:
    blob = b""
    if descriptor.media_type == wanted:
        blob = client.fetch_blob(image.path, descriptor.digest, size=descriptor.size)
    return BlobLayer(
        media_type=descriptor.media_type,
        digest=descriptor.digest,
        size=descriptor.size,
        annotations=descriptor.annotations,
        blob=blob,
    )


def _unsigned(image: ImageRef, client: RegistryClient) -> GateError:
    bundle = client.fetch_manifest(image.path, f"sha256-{image.digest.hex}")
    kinds = [] if bundle is None else [d.artifact_type or d.media_type for d in bundle.descriptors]
    if bundle is not None and bundle.artifact_type:
        kinds.append(bundle.artifact_type)
    if any(k.startswith(BUNDLE_MEDIA_PREFIX) for k in kinds):
        return GateError(
            Reason.NEW_BUNDLE_FORMAT_FOUND.value,
            f"{image} has a Sigstore bundle (cosign v3 format) but no legacy .sig signature; "
            "sign with --new-bundle-format=false or upgrade the verifier",
        )
    return GateError(Reason.UNSIGNED.value, f"no signature at sha256-{image.digest.hex}.sig")
