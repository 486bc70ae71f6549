"""The one error tree of mlrollout, and the exit code of each class.

Sits at the bottom of the package: every layer raises these, and only the CLI's single
handler turns them into an exit code and a one-line message. Library errors (pydantic,
kubernetes, httpx, yaml) are translated into this tree at exactly one boundary per
library and chained with ``raise ... from``.

An outcome is not an exception: a rolled-back canary is a verdict and a provider outage
during analysis is an errored measurement. Exceptions are for bad input and for the
program's own failures.

The whole tree::

    MlrolloutError                      exit 6   something went wrong that is not a verdict
    ├── SpecError                       exit 2   bad input: a file, field or reference is wrong
    │   └── QueryError                  exit 2   a metric query the provider refuses (HTTP 400/422)
    ├── GateError                       exit 4   a supply-chain or preflight gate refused it
    ├── KubeError                       exit 6   the Kubernetes API failed or refused a request
    │   ├── NotFoundError                         404
    │   ├── ConflictError     (transient)         409: re-read and recompute
    │   ├── ForbiddenError                        403
    │   ├── InvalidObjectError                    422
    │   ├── ThrottledError    (transient)         429, carries retry_after
    │   ├── ApiUnavailableError (transient)       5xx, resets, refused connections
    │   └── LeaseLostError                         fencing: this writer's Lease is no longer valid
    ├── ProviderError                   exit 6   a metrics provider could not answer
    │   └── ProviderUnavailableError (transient)
    ├── RouterError                     exit 6   a traffic router could not apply or read a split
    ├── WebhookError                    exit 6   a webhook failed or refused
    │   └── WebhookUnavailableError (transient)
    ├── RegistryError                   exit 6   an OCI registry could not be read
    │   └── RegistryUnavailableError (transient)
    └── DeadlineError                   exit 5   a wait ran past its deadline

``TransientError`` is a marker mixed into the classes above that a retry may retry; retry
policies test ``isinstance(exc, TransientError)`` and nothing else.
"""

from __future__ import annotations

from datetime import timedelta

__all__ = [
    "ApiUnavailableError",
    "ConflictError",
    "DeadlineError",
    "ExitCode",
    "ForbiddenError",
    "GateError",
    "InvalidObjectError",
    "KubeError",
    "LeaseLostError",
    "MlrolloutError",
    "NotFoundError",
    "ProviderError",
    "ProviderUnavailableError",
    "QueryError",
    "RegistryError",
    "RegistryUnavailableError",
    "RouterError",
    "SpecError",
    "ThrottledError",
    "TransientError",
    "WebhookError",
    "WebhookUnavailableError",
]


class ExitCode:
    """Process exit codes shared by every command (documented in the README)."""

    OK = 0
    ROLLED_BACK = 1  # also: analysis failed (`analyze`), checks failed
    BAD_INPUT = 2
    INCONCLUSIVE = 3  # paused or inconclusive
    REFUSED = 4  # refused by a gate
    TIMED_OUT = 5
    ERROR = 6  # the program could not do its work (API, provider, registry unavailable)


class TransientError(Exception):
    """Marker: the operation may succeed if retried unchanged. Retries retry only these."""


class MlrolloutError(Exception):
    """Base of every error mlrollout raises on purpose."""

    exit_code: int = ExitCode.ERROR


class SpecError(MlrolloutError):
    """Bad input: the message names the file, document, field path and what was expected.

    Rendered as ``file[#document]: field.path: reason``; ``document`` is 1-based and shown
    only for files holding more than one document.
    """

    exit_code = ExitCode.BAD_INPUT

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        document: int | None = None,
        path: str | None = None,
    ) -> None:
        self.reason = message
        self.source = source
        self.document = document
        self.path = path
        super().__init__(self._render())

    def _render(self) -> str:
        where = self.source or ""
        if self.source and self.document is not None:
            where += f"#{self.document}"
        parts = [p for p in (where, self.path) if p]
        text = ": ".join([*parts, self.reason])
        # One line, always: user-supplied keys and values may carry newlines.
        return text.replace("\r", "\\r").replace("\n", "\\n")


class QueryError(SpecError):
    """A metric query the provider rejected as malformed (HTTP 400/422): configuration."""


class GateError(MlrolloutError):
    """A gate refused the release; ``reason_code`` is machine-readable (e.g. UNSIGNED)."""

    exit_code = ExitCode.REFUSED

    def __init__(self, reason_code: str, message: str) -> None:
        self.reason_code = reason_code
        super().__init__(f"{reason_code}: {message}")


class KubeError(MlrolloutError):
    """The Kubernetes API failed or refused a request."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class NotFoundError(KubeError):
    """The object does not exist (404)."""


class ConflictError(KubeError, TransientError):
    """A write lost a race (409): re-read, recompute, retry."""


class ForbiddenError(KubeError):
    """RBAC or admission refused the request (403)."""


class InvalidObjectError(KubeError):
    """The API server rejected the object as invalid (422)."""


class ThrottledError(KubeError, TransientError):
    """Too many requests (429); ``retry_after`` is the server's hint when it gave one."""

    def __init__(
        self, message: str, *, status: int | None = 429, retry_after: timedelta | None = None
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, status=status)


class ApiUnavailableError(KubeError, TransientError):
    """The API server answered 5xx, reset the connection or could not be reached."""


class LeaseLostError(KubeError):
    """Fencing: the writer's Lease is no longer valid by its own clock; it must stop."""


class ProviderError(MlrolloutError):
    """A metrics provider could not answer a query."""


class ProviderUnavailableError(ProviderError, TransientError):
    """The provider is down, timed out or answered 5xx."""


class RouterError(MlrolloutError):
    """A traffic router could not apply or read a traffic split."""


class WebhookError(MlrolloutError):
    """A webhook failed or refused."""


class WebhookUnavailableError(WebhookError, TransientError):
    """A webhook timed out, was unreachable or answered 5xx."""


class RegistryError(MlrolloutError):
    """An OCI registry could not be read."""


class RegistryUnavailableError(RegistryError, TransientError):
    """The registry timed out, reset the connection or answered 5xx."""


class DeadlineError(MlrolloutError):
    """A wait ran past its deadline."""

    exit_code = ExitCode.TIMED_OUT
