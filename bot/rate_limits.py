"""Teams' rate limits for the messages RoomBot sends on its own (reminders, "your room was released").

Microsoft's "Optimize your bot with rate limiting in Teams"
(https://learn.microsoft.com/en-us/microsoftteams/platform/bots/how-to/rate-limit) gives, for sending to a
conversation, limits per bot per conversation (7 sends in 1 s, 8 in 2 s, 60 in 30 s, 1,800 in 3,600 s) and a
global limit of 50 requests a second per app per tenant; going over them gets 429 Too Many Requests.

`SendLimiter` keeps every send inside those limits; nothing is dropped, a send waits. Two steps:
1. its conversation's windows, planned from the times that conversation's earlier sends really went (a
   conversation's sends go one after the other, in the order they were asked for);
2. the tenant's pace, taken when the send is about to go: at least 1/rate s after the previous send of
   any conversation. Taken then, not planned ahead, because an event loop busy with other work wakes
   sleepers late and together: planned times would go out in a bunch.
A send that waits for its conversation holds back no other person's. The clock and the sleep are injected:
tests run on a fake clock without sleeping.

It counts the sends of this process only. With several instances, the next step shares the counts (in the
repository); until then, each instance should be given its share of the tenant's rate.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    """At most `sends` in any `seconds` (a sliding window)."""

    sends: int
    seconds: float


# Per bot per conversation, for sending to a conversation (Microsoft's table, see the module docstring).
CONVERSATION_WINDOWS = (Window(7, 1), Window(8, 2), Window(60, 30), Window(1800, 3600))
TENANT_SENDS_PER_SECOND = 45.0  # per app per tenant (TEAMS_SENDS_PER_SECOND): Teams' 50, less room for turn replies
PACE_TOLERANCE = 0.9  # two sends go at least this much of 1/rate apart (a timer may fire a little early)


class SendLimiter:
    """Send times within per-conversation sliding windows and a per-tenant pace.

    Memory: a conversation keeps at most its largest window's count of send times (1,800) and is forgotten
    once its longest window (an hour) has passed since its last send, so at most an hour of the tenant's
    pace (45 a second: 162,000 conversations, a few tens of MB) is remembered. No size limit on top: a
    conversation forgotten early could be sent more than Teams allows. A conversation's queue lives only
    while a send to it waits.
    """

    def __init__(self, sends_per_second: float = TENANT_SENDS_PER_SECOND, *,
                 windows: tuple[Window, ...] = CONVERSATION_WINDOWS,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        if sends_per_second <= 0:
            raise ValueError("sends_per_second must be positive")
        self._rate = sends_per_second
        self._interval = 1 / sends_per_second
        self._windows = windows
        self._longest = max((w.seconds for w in windows), default=0.0)
        self._kept = max((w.sends for w in windows), default=0)
        self._clock = clock
        self._sleep = sleep
        # conversation -> the times its sends went (ascending), least recently used first
        self._sent: OrderedDict[str, list[float]] = OrderedDict()
        self._queues: dict[str, asyncio.Future[None]] = {}  # conversation -> its last send still waiting
        self._next = -math.inf  # the earliest time the tenant's next send may go
        self._last_went = -math.inf  # when the tenant's last send went

    @property
    def rate(self) -> float:
        """Sends a second for the tenant."""
        return self._rate

    @property
    def conversations(self) -> int:
        """How many conversations are remembered (for tests and the benchmark)."""
        return len(self._sent)

    @property
    def waiting(self) -> int:
        """How many conversations have a send waiting (a queue lives only while one does)."""
        return len(self._queues)

    def earliest(self, conversation_key: str) -> float:
        """The earliest time a send to `conversation_key` could go if asked for now (sends already waiting
        for the tenant's pace or for that conversation may make it later)."""
        return max(self._conversation_allows(conversation_key), self._next, self._clock())

    async def acquire(self, conversation_key: str, *, not_after: float | None = None) -> float | None:
        """Wait until a send to `conversation_key` may go; returns the time it may go at (on the injected
        clock). With `not_after`, a send that could not go by then takes nothing and gets None: at once
        when that is already known, else when it is."""
        if not_after is not None and self.earliest(conversation_key) > not_after:
            return None
        ahead = self._queues.get(conversation_key)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queues[conversation_key] = mine
        try:
            if ahead is not None:
                await asyncio.shield(ahead)
            planned = self._conversation_allows(conversation_key)
            if not_after is not None and planned > not_after:
                return None
            await self._until(planned)
            while True:
                now = self._clock()
                at = now if self._next <= now + 1e-9 else self._next
                if not_after is not None and at > not_after:
                    return None
                self._next = at + self._interval
                await self._until(at)
                went = self._clock()
                if went >= self._last_went + self._interval * PACE_TOLERANCE:
                    break
                # Woken late, after a send that took a later time: take the pace again, not go in a bunch.
            self._last_went = went
            self._went(conversation_key, went)
            return went
        finally:
            if ahead is not None and not ahead.done():  # cancelled while waiting: the next waits for the one ahead
                ahead.add_done_callback(lambda _: mine.set_result(None))
            else:
                mine.set_result(None)
            if self._queues.get(conversation_key) is mine:
                del self._queues[conversation_key]

    async def _until(self, when: float) -> None:
        delay = when - self._clock()
        if delay > 0:
            await self._sleep(delay)

    def _conversation_allows(self, conversation_key: str) -> float:
        sent = self._sent.get(conversation_key)
        earliest = self._clock()
        if sent:
            for window in self._windows:
                if len(sent) >= window.sends:
                    earliest = max(earliest, sent[-window.sends] + window.seconds)
        return earliest

    def _went(self, conversation_key: str, at: float) -> None:
        self._forget_idle(at)
        sent = self._sent.get(conversation_key)
        if sent is None:
            sent = self._sent[conversation_key] = []
        else:
            self._sent.move_to_end(conversation_key)
        sent.append(at)
        if len(sent) > self._kept:
            del sent[:len(sent) - self._kept]

    def _forget_idle(self, now: float) -> None:
        """Drop conversations whose last send is older than the longest window: they no longer count.
        (Checked from the least recently used; one still counting stops the check.)"""
        horizon = now - self._longest
        while self._sent:
            key, sent = next(iter(self._sent.items()))
            if sent[-1] > horizon:
                return
            del self._sent[key]
