"""Logging: a correlation id on every record of a turn, and secrets kept out of every record."""

from __future__ import annotations

import contextvars
import logging
import random
from collections.abc import Iterable

_CORRELATION: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="-")
FORMAT = "%(asctime)s %(levelname)s [%(correlation_id)s] %(name)s: %(message)s"
REDACTED = "***"


def new_correlation_id() -> str:
    """Start a new correlation id for the work of this task (one request, one turn)."""
    value = f"{random.getrandbits(48):012x}"  # to tell turns apart in logs, not a secret: no urandom syscall
    _CORRELATION.set(value)
    return value


def correlation_id() -> str:
    return _CORRELATION.get()


class CorrelationFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = _CORRELATION.get()
        return True


class SecretFilter(logging.Filter):
    """Replaces the given secrets (client secret, bot password) wherever they would appear in a
    record: its message, its arguments, its traceback."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def _clean(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        if any(s in message for s in self._secrets):
            record.msg, record.args = self._clean(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        return True


def install(handler: logging.Handler, secrets: Iterable[str]) -> None:
    handler.addFilter(CorrelationFilter())
    handler.addFilter(SecretFilter(secrets))


def configure(secrets: Iterable[str], level: int = logging.INFO) -> None:
    """Root logging for `python app.py`: every line carries the turn's correlation id, no secret."""
    logging.basicConfig(level=level, format=FORMAT)
    for handler in logging.getLogger().handlers:
        install(handler, secrets)
