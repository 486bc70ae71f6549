"""The library entry point: fetch an image's signatures (and attestations) and judge them.

Called by ``cli/verify.py`` and by the controller's Verifying phase. Fetches through
``oci.RegistryClient`` -- the legacy ``sha256-<hex>.sig``/``.att`` tags and the Sigstore
bundles (cosign v3) found as OCI referrers -- and hands the bytes to the pure checks in
``cosign``, ``referrers`` and ``attestations``. Fails closed: any registry failure is a
refusal (``REGISTRY_UNAVAILABLE``), never a pass.
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
from mlrollout.gates.referrers import (
    BUNDLE_MEDIA_PREFIX,
    assess_bundles,
    decide_bundle_referrer,
)
from mlrollout.gates.result import VerificationResult, describe_refusal
from mlrollout.model import ImageRef

__all__ = ["decide_image_reference", "fetch_bundle_layers", "fetch_verification"]


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
        if client.fetch_manifest(image.path, str(image.digest)) is None:
            raise GateError(Reason.IMAGE_NOT_FOUND.value, f"{image} is not in the registry")
        bundles = assess_bundles(
            image=image,
            layers=fetch_bundle_layers(image, client=client),
            policy=policy.signature,
            now=now,
        )
        signatures = _fetch_tagged(
            image, "sig", client=client, media_type=SIMPLE_SIGNING_MEDIA_TYPE
        )
        if signatures is None and not bundles.signature_checks:
            raise GateError(
                Reason.UNSIGNED.value,
                f"no signature at sha256-{image.digest.hex}.sig and no Sigstore bundle referrer",
            )
        result = assess_signatures(
            image=image,
            layers=signatures or [],
            policy=policy.signature,
            now=now,
            bundled=(bundles.signature_checks, bundles.signers),
        )
        if result.verified and policy.attestations.required:
            attestations = _fetch_tagged(image, "att", client=client, media_type=DSSE_MEDIA_TYPE)
            judged = assess_attestations(
                image=image,
                layers=attestations or [],
                policy=policy,
                now=now,
                bundled=bundles.attestations,
            )
            result = result.combine(judged)
    except GateError as exc:
        return VerificationResult.refused(
            str(image), Reason(exc.reason_code), describe_refusal(exc)
        )
    except RegistryError as exc:
        return VerificationResult.refused(str(image), Reason.REGISTRY_UNAVAILABLE, str(exc))
    return result


def fetch_bundle_layers(image: ImageRef, *, client: RegistryClient) -> list[BlobLayer]:
    """The Sigstore bundle layers of the manifests that refer to ``image`` (capped)."""
    layers: list[BlobLayer] = []
    for referrer in client.fetch_referrers(image.path, image.digest):
        if not decide_bundle_referrer(referrer.artifact_type):
            continue
        manifest = client.fetch_manifest(image.path, referrer.digest)
        if manifest is None or manifest.is_index:
            continue
        _check_layer_count(manifest, client)
        layers += [
            _fetch_layer(image, d, client=client, wanted=d.media_type)
            for d in manifest.descriptors
            if d.media_type.startswith(BUNDLE_MEDIA_PREFIX)
        ]
        if len(layers) > client.limits.max_referrers:
            raise GateError(Reason.TOO_MANY_REFERRERS.value, f"{image} has too many bundles")
    return layers


def _check_layer_count(manifest: Manifest, client: RegistryClient) -> None:
    if len(manifest.descriptors) > client.limits.max_layers:
        raise GateError(
            Reason.TOO_MANY_REFERRERS.value,
            f"manifest {manifest.digest} has more than {client.limits.max_layers} layers",
        )


def _fetch_tagged(
    image: ImageRef, suffix: str, *, client: RegistryClient, media_type: str
) -> list[BlobLayer] | None:
    """The layers of cosign's ``sha256-<hex>.<suffix>`` manifest; None when there is none."""
    manifest = client.fetch_manifest(image.path, f"sha256-{image.digest.hex}.{suffix}")
    if manifest is None:
        return None
    return _fetch_layers(image, manifest, client=client, media_type=media_type)


def _fetch_layers(
    image: ImageRef, manifest: Manifest, *, client: RegistryClient, media_type: str
) -> list[BlobLayer]:
    if manifest.is_index:
        raise GateError(Reason.MANIFEST_UNSUPPORTED.value, "signature manifest is an index")
    _check_layer_count(manifest, client)
    return [_fetch_layer(image, d, client=client, wanted=media_type) for d in manifest.descriptors]


def _fetch_layer(
    image: ImageRef, descriptor: Descriptor, *, client: RegistryClient, wanted: str
) -> BlobLayer:
    blob = b""
    if descriptor.media_type == wanted:
        blob = client.fetch_blob(image.path, descriptor.digest, size=descriptor.size)
    return BlobLayer(**vars(descriptor), blob=blob)
