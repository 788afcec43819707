"""Logging: a correlation id on every record of a turn, secrets kept out of every record, and
floods of identical records logged once a minute with a count."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import threading
import time
import weakref
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

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


REPEAT_INTERVAL_S = 60.0
_REPEAT_FILTERS: weakref.WeakSet[RepeatFilter] = weakref.WeakSet()


@dataclass
class _Window:
    started: float
    first: logging.LogRecord  # a copy without arguments or traceback: nothing kept alive for the interval
    repeats: int = 0
    # Warnings and errors counted under one template may still say different things (each failed turn
    # its own incident reference, which a user quotes to support): the first few are kept, shortened.
    others: list[str] = field(default_factory=list)


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format is the handler's to report, not the filter's to raise
        return str(record.msg)


MAX_WINDOWS = 10_000  # different lines remembered at once (each for one interval)
OTHERS_KEPT = 10  # different messages a repeat count names, at most, each cut to OTHER_CHARS
OTHER_CHARS = 200


class RepeatFilter(logging.Filter):
    """Lets the first of identical records through in each interval and counts the others; the count
    follows as one line ("... (repeated N times in the last 60 s)") once the interval is over. A
    client retrying a bad request, or accept() failing past the open-file limit, then costs two lines
    a minute instead of a line (or a traceback) per attempt.

    Warnings and errors are identical when their logger, level, message template and exception type
    are; lower levels only when their whole message is (so that "booked X for Y" lines all stay)."""

    def __init__(self, emit: Callable[[logging.LogRecord], object], interval_s: float = REPEAT_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._emit = emit
        self._interval = interval_s
        self._clock = clock
        self._windows: dict[Hashable, _Window] = {}  # in the order they started
        self._lock = threading.Lock()
        _REPEAT_FILTERS.add(self)

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "repeat_summary", False):
            return True
        now = self._clock()
        message = _message(record)
        error = record.exc_info[0] if record.exc_info else None
        text = str(record.msg) if record.levelno >= logging.WARNING else message
        key = (record.name, record.levelno, text, error)
        with self._lock:
            due = self._close_windows(now)
            window = self._windows.get(key)
            if window is None:
                if len(self._windows) < MAX_WINDOWS:  # else: so many different lines, logged as they come
                    first = logging.LogRecord(record.name, record.levelno, record.pathname, record.lineno,
                                              message, None, None)
                    self._windows[key] = _Window(now, first)
            else:
                window.repeats += 1
                other = message[:OTHER_CHARS]
                if (record.levelno >= logging.WARNING and len(window.others) < OTHERS_KEPT
                        and other != window.first.msg and other not in window.others):
                    window.others.append(other)
        self._report(due)
        return window is None

    def flush(self, *, everything: bool = False) -> None:
        """Log the counts of the intervals that are over (all of them with `everything`)."""
        with self._lock:
            due = self._close_windows(float("inf") if everything else self._clock())
        self._report(due)

    def _close_windows(self, now: float) -> list[_Window]:
        due = []
        while self._windows:
            key, window = next(iter(self._windows.items()))
            if window.started + self._interval > now:
                break  # the later ones started later still
            del self._windows[key]
            if window.repeats:
                due.append(window)
        return due

    def _report(self, windows: list[_Window]) -> None:
        for window in windows:
            first = window.first
            others = f"; among them: {' | '.join(window.others)}" if window.others else ""
            summary = logging.LogRecord(first.name, first.levelno, first.pathname, first.lineno,
                                        "%s (repeated %d times in the last %d s%s)",
                                        (first.msg, window.repeats, round(self._interval), others), None)
            summary.repeat_summary = True
            self._emit(summary)


def flush_repeats(*, everything: bool = False) -> None:
    """Log the pending repeat counts of every handler `install` set up (periodically, and at exit)."""
    for repeat_filter in list(_REPEAT_FILTERS):
        repeat_filter.flush(everything=everything)


def install(handler: logging.Handler, secrets: Iterable[str], repeat_interval_s: float = REPEAT_INTERVAL_S) -> None:
    handler.addFilter(CorrelationFilter())
    handler.addFilter(RepeatFilter(handler.handle, repeat_interval_s))  # before the secrets: no traceback formatted
    handler.addFilter(SecretFilter(secrets))


_loop_log = logging.getLogger("asyncio")


def loop_exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The event loop's errors (accept() past the open-file limit, a callback that failed), logged with
    asyncio's message as the template so that the repeat filter counts them; asyncio's own handler
    writes the socket or task into the message, a new line with a traceback each time."""
    message = str(context.get("message") or "Unhandled exception in the event loop").replace("%", "%%")
    details = ", ".join(f"{name}: {value!r}" for name, value in context.items() if name not in ("message", "exception"))
    error = context.get("exception")
    _loop_log.error(message + " (%s)", details[:500], exc_info=error if isinstance(error, BaseException) else None)


def configure(secrets: Iterable[str], level: int = logging.INFO) -> None:
    """Root logging for `python app.py`: every line carries the turn's correlation id, no secret."""
    logging.basicConfig(level=level, format=FORMAT)
    for handler in logging.getLogger().handlers:
        install(handler, secrets)
