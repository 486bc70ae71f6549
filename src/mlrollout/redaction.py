"""Keeping credentials out of every text mlrollout writes: logs, status, Events, errors.

Bottom layer (beside ``errors`` and ``clock``). Two defences, applied at the places text
leaves the process (the status write, the Event recorder, the log handlers, the CLI's error
line):

- *known values*: every secret read from a mounted file or the environment is registered
  with ``register_secret`` and replaced by ``***`` wherever it appears;
- *known shapes*: URL user-info (``https://user:pass@host``), the path of secret-bearing
  webhook URLs (Slack, Discord, Teams, Google Chat), ``Bearer``/``Basic`` credentials and
  ``token=``/``password=`` query parameters are masked even when never registered.

``summarise_body`` turns a response body into a short, redacted, one-line excerpt, so a
webhook that echoes its input cannot leak it into a status message in full.
"""

from __future__ import annotations

import logging
import re
import threading

__all__ = [
    "MASK",
    "RedactingFilter",
    "install_log_redaction",
    "redact",
    "register_secret",
    "summarise_body",
]

MASK = "***"
_MIN_SECRET = 4  # shorter values would mask ordinary words

_lock = threading.Lock()
_secrets: set[str] = set()

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # scheme://user:password@host  or scheme://token@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@"), r"\1" + MASK + "@"),
    # webhook URLs whose path is the credential
    (
        re.compile(
            r"(?i)(https?://(?:hooks\.slack\.com|discord(?:app)?\.com/api/webhooks|"
            r"[a-z0-9.-]*webhook\.office\.com|chat\.googleapis\.com)/?)[^\s\"'<>]*"
        ),
        r"\1" + MASK,
    ),
    (re.compile(r"(?i)\b(bearer|basic)\s+[a-z0-9._~+/=-]{4,}"), r"\1 " + MASK),
    (
        re.compile(
            r"(?i)([?&](?:access_token|token|password|passwd|secret|sig|signature|key)=)[^&\s]+"
        ),
        r"\1" + MASK,
    ),
)


def register_secret(value: str | bytes | None) -> None:
    """Remember a credential so ``redact`` masks it wherever it appears."""
    if value is None:
        return
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    candidates = {text, text.strip()}
    with _lock:
        _secrets.update(c for c in candidates if len(c) >= _MIN_SECRET)


def redact(text: str) -> str:
    """``text`` with registered secrets and credential-shaped substrings masked."""
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def summarise_body(body: bytes | str, *, limit: int = 200) -> str:
    """A short, one-line, redacted excerpt of a response body (never the whole body)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    flat = " ".join(text.split())
    excerpt = flat[:limit] + (f"… ({len(flat)} chars)" if len(flat) > limit else "")
    return redact(excerpt)


class RedactingFilter(logging.Filter):
    """A handler filter that masks secrets in the message and the formatted traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        message = redact(record.getMessage())
        record.msg, record.args = message, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Add a ``RedactingFilter`` to every handler of ``logger`` (default: the root, and the
    last-resort handler Python uses when logging is not configured)."""
    target = logger or logging.getLogger()
    handlers = list(target.handlers)
    if logger is None and logging.lastResort is not None:
        handlers.append(logging.lastResort)  # what prints warnings when nothing is configured
    for handler in handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
