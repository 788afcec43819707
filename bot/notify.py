"""Proactive messages: reach a user in Teams outside a turn of theirs (a reminder, "your room was
released", a consent finished in the browser, a booking admin cancelled their booking), through the
conversation reference stored when they last chatted with the bot.

Sends keep within Teams' rate limits (bot.rate_limits) and follow Microsoft's "Optimize your bot with rate
limiting in Teams" (https://learn.microsoft.com/en-us/microsoftteams/platform/bots/how-to/rate-limit) and the
table "Status codes from bot conversational APIs" of "Send and receive messages"
(https://learn.microsoft.com/en-us/microsoftteams/platform/bots/how-to/conversations/conversation-messages):
- 429 (after its Retry-After), 412, 502, 503 and 504 are retried with exponential backoff and jitter, and so
  is a try that got no answer (a timeout, a failed connection); no other status is (the page says not to
  retry the ones it does not list).
- 403 (ConversationBlockedByUser, BotNotInConversationRoster, BotDisabledByAdmin, ForbiddenOperationException,
  or none named) and 404 ConversationNotFound mean the person cannot be reached until they chat with the bot
  again: they are marked unreachable and nothing more is sent to them, so a blocked bot causes no retry storm.
  The refusals that are about the bot's request (403 InvalidBotApiHost, 403 NotEnoughPermissions, 404
  ActivityNotFoundInConversation) mark nobody.

The card is posted by bot.connector's lean sender (the REST API's JSON, one shared HTTP session), not
through botbuilder's adapter, whose per-send connector client and msrest serialization cost the event loop
about 6 ms per send.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Protocol

import aiohttp
from botbuilder.core import BotAdapter
from cachetools import TTLCache
from msrest.exceptions import ClientRequestError, DeserializationError, HttpOperationError

from bot.connector import BotTokens, ConnectorError, ConnectorSender
from bot.rate_limits import SendLimiter
from cards.base import Card
from storage.repository import Repository

log = logging.getLogger(__name__)

RETRIED_STATUSES = frozenset({412, 429, 502, 503, 504})
UNREACHABLE_STATUSES = frozenset({403, 404})
# 403s and 404s that are about the bot's request, not the person (the 404: a reply to a message id not found)
OWN_FAULT_CODES = frozenset({"InvalidBotApiHost", "NotEnoughPermissions", "ActivityNotFoundInConversation"})
MANY_IN_FLIGHT = 32  # deliver_many's sends at once: 50/s with up to 0.6 s per send
# People this process saw refused, remembered this long and at most this many (the least recently used go first):
# a send queued before the refusal stops without a request. One that falls out costs one more refused send.
REFUSED_FOR_S = 3600.0
REFUSED_KEPT = 10_000


class Delivery(Enum):
    SENT = "sent"
    UNREACHABLE = "unreachable"  # no conversation with them, or Teams says they blocked/removed the bot
    FAILED = "failed"  # Teams did not take it, even after the retries the policy allows


@dataclass(frozen=True)
class RetryPolicy:
    """How long a delivery keeps trying. `within_s` bounds it all, from the call: waiting for a send
    slot, the tries and the waits between them (a try already started may end up to `try_timeout_s`
    later). The defaults suit a reminder, which must land within 60 s of its time."""

    tries: int = 5
    within_s: float = 45.0
    try_timeout_s: float = 10.0
    backoff_s: float = 0.5  # the first retry waits up to this, each next one up to twice as long ...
    max_backoff_s: float = 8.0  # ... up to this


# `tell` runs inside a person's turn or a browser's request: a short try, or "could not reach them".
TELL_POLICY = RetryPolicy(tries=2, within_s=6.0, try_timeout_s=5.0, backoff_s=0.5, max_backoff_s=1.0)


@dataclass(frozen=True)
class _Refusal:
    """Why one try did not deliver."""

    retry: bool = False
    gone: bool = False
    status: int | None = None
    code: str = ""
    retry_after_s: float | None = None

    @property
    def reason(self) -> str:
        return " ".join(part for part in (str(self.status) if self.status else "", self.code) if part)


NO_SLOT = _Refusal(code="no send slot in time")  # the limiter's queue is longer than the policy allows
MARKED = _Refusal(gone=True, code="marked unreachable meanwhile")


def refusal_of(exc: BaseException, now: datetime | None = None) -> _Refusal:
    """What a failed send means, from the exception it raised: the lean sender's ConnectorError (the
    status, the error body's code, Retry-After), or msrest's HttpOperationError (botbuilder's
    ErrorResponseException, with the `requests` response) for a send through botbuilder."""
    if isinstance(exc, ConnectorError):
        return _refusal(exc.status, exc.code, exc.headers, now)
    if isinstance(exc, HttpOperationError) and exc.response is not None:
        status = int(getattr(exc.response, "status_code", 0) or 0)
        return _refusal(status, _error_code(exc), getattr(exc.response, "headers", None) or {}, now)
    if isinstance(exc, DeserializationError):
        # msrest cannot read a body that is neither JSON nor XML, whatever the status, and says no more:
        # a gateway's error page (502/504). Teams answers a delivered message with JSON.
        return _Refusal(retry=True, code="unreadable answer")
    if isinstance(exc, (ClientRequestError, TimeoutError, ConnectionError, aiohttp.ClientConnectionError,
                        aiohttp.ClientPayloadError)):
        return _Refusal(retry=True, code=type(exc).__name__)
    return _Refusal(code=type(exc).__name__)


def _refusal(status: int, code: str, headers: Any, now: datetime | None) -> _Refusal:
    retry_after = _retry_after_s(headers.get("Retry-After"), now) if status in RETRIED_STATUSES else None
    gone = status in UNREACHABLE_STATUSES and code not in OWN_FAULT_CODES
    return _Refusal(retry=status in RETRIED_STATUSES, gone=gone, status=status, code=code, retry_after_s=retry_after)


def _error_code(exc: HttpOperationError) -> str:
    error = getattr(getattr(exc, "error", None), "error", None)  # botbuilder's ErrorResponse.error
    code = getattr(error, "code", None)
    return code if isinstance(code, str) else ""


def _retry_after_s(value: Any, now: datetime | None = None) -> float | None:
    """Retry-After in seconds: a number of seconds or an HTTP date (RFC 9110)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class ProactiveSender(Protocol):
    async def send(self, reference: dict[str, Any], content: Card) -> None:
        """Deliver `content` to the person of a stored conversation reference, or raise (see refusal_of)."""
        ...


class Notifier:
    def __init__(self, adapter: BotAdapter | None, repo: Repository, app_id: str | None, *,
                 sender: ProactiveSender | None = None,
                 limiter: SendLimiter | None = None, policy: RetryPolicy = RetryPolicy(),
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
                 jitter: Callable[[], float] = random.random,
                 utc_now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        """`adapter` and `app_id` give the bot's credentials (a token only when there is an app id);
        `sender` replaces the lean connector sender (tests). `clock` and `sleep` must be the limiter's own
        (tests give both a fake clock)."""
        if sender is None:
            tokens = BotTokens.of_adapter(adapter, app_id) if app_id and adapter is not None else None
            sender = ConnectorSender(tokens)
        self._sender = sender
        self._repo = repo
        self._limiter = limiter or SendLimiter(clock=clock, sleep=sleep)
        self._policy = policy
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        self._utc_now = utc_now
        # People this process found unreachable, and when (its clock): a send to them already queued
        # stops without a request or a repository read. Forgotten after REFUSED_FOR_S.
        self._refused: TTLCache[str, float] = TTLCache(maxsize=REFUSED_KEPT, ttl=REFUSED_FOR_S, timer=clock)

    def use_session(self, session: aiohttp.ClientSession) -> None:
        """The app's HTTP session for the connector (app startup; the app closes it at shutdown)."""
        if isinstance(self._sender, ConnectorSender):
            self._sender.use_session(session)

    @property
    def limiter(self) -> SendLimiter:
        return self._limiter

    @property
    def refused_remembered(self) -> int:
        """How many people's refusals this process remembers now (for tests and the benchmark)."""
        return len(self._refused)

    async def tell(self, user_key: str, content: Card) -> bool:
        """Send `content` to the user's personal chat, briefly (TELL_POLICY). False when they cannot be
        reached (never chatted with the bot, blocked or removed it) or Teams did not take it: the caller
        says so, nothing breaks."""
        return await self.deliver(user_key, content, policy=TELL_POLICY) is Delivery.SENT

    async def deliver(self, user_key: str, content: Card, *, policy: RetryPolicy | None = None) -> Delivery:
        """Send `content` to the user's personal chat within Teams' rate limits, retrying what Teams says
        to retry. A person marked unreachable costs no request at all."""
        policy = policy or self._policy
        stored = self._repo.reachable_reference(user_key)  # one read; a person marked costs not even a send slot
        if stored is None:
            log.info("no conversation with %s to send a proactive message to, or they cannot be reached", user_key)
            return Delivery.UNREACHABLE
        conversation = (stored.get("conversation") or {}).get("id") or user_key
        give_up_at = self._clock() + policy.within_s
        for attempt in range(policy.tries):
            refusal = await self._try(user_key, stored, content, conversation, give_up_at, policy.try_timeout_s)
            if refusal is None:
                return Delivery.SENT
            if refusal.gone:
                self._unreachable(user_key, refusal.reason)
                return Delivery.UNREACHABLE
            wait = self._backoff(attempt, refusal, policy)
            if not refusal.retry or attempt + 1 >= policy.tries or self._clock() + wait > give_up_at:
                log.warning("could not message %s in Teams (%s) after %d tries", user_key,
                            refusal.reason or "no reason given", attempt + 1)
                return Delivery.FAILED
            await self._sleep(wait)
        return Delivery.FAILED  # tries < 1

    async def deliver_many(self, items: Sequence[tuple[str, Card]], *,
                           in_flight: int = MANY_IN_FLIGHT) -> list[Delivery]:
        """Deliver each (user key, card) concurrently, at most `in_flight` at once, within the limits;
        results in the order given. No repository write per send (only unreachable marks)."""
        gate = asyncio.Semaphore(max(1, in_flight))

        async def one(user_key: str, content: Card) -> Delivery:
            async with gate:
                return await self.deliver(user_key, content)

        return list(await asyncio.gather(*(one(key, content) for key, content in items)))

    async def send_many(self, items: Sequence[tuple[str, Card]]) -> list[bool]:
        """`deliver_many`, as the scheduler's jobs need it: True for each card that is done with
        (sent, or its person cannot be reached: trying again would not help), False for each worth
        trying again later (Teams kept failing)."""
        return [d is not Delivery.FAILED for d in await self.deliver_many(items)]

    async def _try(self, user_key: str, reference: dict[str, Any], content: Card, conversation: str,
                   give_up_at: float, timeout_s: float) -> _Refusal | None:
        """One send; None when Teams took it. The send slot is taken right before the card leaves."""
        queued_at = self._clock()
        if await self._limiter.acquire(conversation, not_after=give_up_at) is None:
            return NO_SLOT
        if self._refused.get(user_key, -1.0) >= queued_at:  # a send to them that went first was refused meanwhile
            return MARKED
        try:
            await asyncio.wait_for(self._sender.send(reference, content), timeout_s)
        except Exception as exc:  # noqa: BLE001 - classified by refusal_of
            return refusal_of(exc, self._utc_now())
        return None

    def _backoff(self, attempt: int, refusal: _Refusal, policy: RetryPolicy) -> float:
        """Full jitter (a random wait up to the exponential bound), so that many sends throttled together
        do not come back together; Retry-After, when given, is the least wait."""
        bound = min(policy.max_backoff_s, policy.backoff_s * 2 ** attempt)
        wait = self._jitter() * bound
        if refusal.retry_after_s is not None:
            wait += refusal.retry_after_s
        return wait

    def _unreachable(self, user_key: str, reason: str) -> None:
        self._refused[user_key] = self._clock()
        if self._repo.mark_unreachable(user_key, reason, self._utc_now()):
            log.info("%s cannot be reached in Teams (%s): nothing more is sent until they chat again",
                     user_key, reason)
            self._repo.add_audit("roombot", "person unreachable in Teams", f"{user_key}: {reason}")
