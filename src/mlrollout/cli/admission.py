"""``mlrollout admission``: serve the validating admission webhook in the foreground.

Part of the ``cli`` layer: loads the TLS certificate and key, connects to the cluster (for
ClusterReleasePolicies and namespace labels) and runs ``admission.AdmissionServer`` until
SIGTERM or SIGINT. Admission always fails closed; there is no fail-open switch.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType

import typer

from mlrollout.cli.cluster import CONTEXT, KUBECONFIG, ClusterOptions
from mlrollout.cli.logs import LOG_HELP, logging_to_stderr
from mlrollout.cli.output import OutputFormat
from mlrollout.errors import MlrolloutError

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``admission``."""

    @app.command("admission")
    def admission(
        tls_cert_file: Path = typer.Option(
            ..., "--tls-cert-file", help="PEM certificate (chain) the webhook serves."
        ),
        tls_private_key_file: Path = typer.Option(
            ..., "--tls-private-key-file", help="PEM private key of the certificate."
        ),
        port: int = typer.Option(8443, "--port", min=0, max=65535, help="HTTPS port."),
        host: str = typer.Option("0.0.0.0", "--host", help="Address to bind."),
        review_timeout: float = typer.Option(
            8.0,
            "--review-timeout",
            min=0.5,
            max=29.0,
            help="Seconds one review may take before it is denied; keep it below the "
            "webhook's timeoutSeconds.",
        ),
        cache_size: int = typer.Option(
            1024, "--cache-size", min=1, max=1_000_000, help="Verified digests kept."
        ),
        cache_ttl: float = typer.Option(
            300.0, "--cache-ttl", min=1.0, max=86400.0, help="Seconds a verified digest is kept."
        ),
        kubeconfig: str | None = KUBECONFIG,
        context: str | None = CONTEXT,
        output: OutputFormat = typer.Option(OutputFormat.TEXT, "--output", "-o", help=LOG_HELP),
    ) -> None:
        """Admission webhook: deny unpinned or unverified images where a policy governs.

        Serves AdmissionReview v1 over TLS for the namespaces a ClusterReleasePolicy
        governs, and fails closed.
        """
        from mlrollout.admission import (
            AdmissionServer,
            ImageChecker,
            KubePolicySource,
            VerifiedCache,
            load_tls_context,
        )

        with logging_to_stderr(output):
            tls = load_tls_context(tls_cert_file, tls_private_key_file)
            log = logging.getLogger("mlrollout.admission")
            with ClusterOptions(kubeconfig, context, None).client() as client:
                source = KubePolicySource(client)
                try:
                    source.warm_up()
                except MlrolloutError as exc:  # reviews will deny until the cluster answers
                    log.warning("cannot read ClusterReleasePolicies yet: %s", exc)
                checker = ImageChecker(
                    source,
                    cache=VerifiedCache(max_entries=cache_size, ttl=cache_ttl),
                )
                server = AdmissionServer(
                    checker, tls, host=host, port=port, review_timeout=review_timeout
                )

                def stop(signum: int, frame: FrameType | None) -> None:
                    threading.Thread(target=server.stop, daemon=True).start()

                signal.signal(signal.SIGTERM, stop)
                signal.signal(signal.SIGINT, stop)
                log.info("serving on %s:%d", host, server.port)
                server.serve_forever()
