"""The admission webhook: AdmissionReview v1 for pods and workload templates.

Layer between ``cli`` and ``controller`` (it reuses the controller's mapping of gates onto
the ``gates`` layer). ``review`` parses reviews and builds answers (pure), ``cache`` keeps
verified digests, ``checker`` decides under the ClusterReleasePolicies governing the
namespace, ``server`` serves HTTPS with the standard library.
"""

from __future__ import annotations

from mlrollout.admission.cache import VerifiedCache
from mlrollout.admission.checker import AdmissionVerdict, ImageChecker, KubePolicySource
from mlrollout.admission.review import ImageUse, ReviewRequest, build_response, parse_review
from mlrollout.admission.server import AdmissionServer, load_tls_context

__all__ = [
    "AdmissionServer",
    "AdmissionVerdict",
    "ImageChecker",
    "ImageUse",
    "KubePolicySource",
    "ReviewRequest",
    "VerifiedCache",
    "build_response",
    "load_tls_context",
    "parse_review",
]
