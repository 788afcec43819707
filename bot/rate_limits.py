"""Teams' rate limits for the messages RoomBot sends on its own (reminders, "your room was released").

Microsoft's "Optimize your bot with rate limiting in Teams"
(https://learn.microsoft.com/en-us/microsoftteams/platform/bots/how-to/rate-limit) gives, for sending to a
conversation, limits per bot per conversation (7 sends in 1 s, 8 in 2 s, 60 in 30 s, 1,800 in 3,600 s) and a
global limit of 50 requests a second per app per tenant; going over them gets 429 Too Many Requests.

`SendLimiter` keeps every send inside those limits by handing out send times: a caller asks, is given the
earliest time at which its conversation's windows and the tenant's pace both allow a send, and sleeps until
then. Nothing is dropped. The time is chosen and taken without an await in between, so concurrent callers
queue in the order they asked and each wakes once. The clock and the sleep are injected: tests run on a fake
clock without sleeping.

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
TENANT_SENDS_PER_SECOND = 50.0  # per app per tenant (TEAMS_SENDS_PER_SECOND)


class SendLimiter:
    """Send times within per-conversation sliding windows and a per-tenant pace.

    The tenant's pace is a calendar of slots `1/rate` s long, one send each: a send that must wait for
    its conversation takes a later slot without holding back sends to other people, and no second (any
    second, not only whole ones) holds more than `rate` sends. Memory: a conversation keeps at most its
    largest window's count of send times (1,800) and is forgotten once its longest window (an hour) has
    passed since its last send; the calendar keeps only slots still to come.
    """

    def __init__(self, sends_per_second: float = TENANT_SENDS_PER_SECOND, *,
                 windows: tuple[Window, ...] = CONVERSATION_WINDOWS,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        if sends_per_second <= 0:
            raise ValueError("sends_per_second must be positive")
        self._rate = sends_per_second
        self._windows = windows
        self._longest = max((w.seconds for w in windows), default=0.0)
        self._kept = max((w.sends for w in windows), default=0)
        self._clock = clock
        self._sleep = sleep
        # conversation -> its send times (ascending), least recently given a time first
        self._sent: OrderedDict[str, list[float]] = OrderedDict()
        # taken slot -> a later slot that may be free (followed, and shortened, to find a free one)
        self._taken: dict[int, int] = {}
        self._swept_at = 0  # the calendar's size after its last clean-up

    async def acquire(self, conversation_key: str, *, not_after: float | None = None) -> float | None:
        """Wait until a send to `conversation_key` is allowed; returns the time it was allowed at (on the
        injected clock). With `not_after`, a send that could not start by then is not queued: None at once."""
        at = self.reserve(conversation_key, not_after=not_after)
        if at is None:
            return None
        delay = at - self._clock()
        if delay > 0:
            await self._sleep(delay)
        return at

    def reserve(self, conversation_key: str, *, not_after: float | None = None) -> float | None:
        """Take the earliest allowed send time for `conversation_key` (None, and nothing taken, when that
        is later than `not_after`). The caller sends at that time, not before."""
        now = self._clock()
        self._forget_idle(now)
        sent = self._sent.get(conversation_key)
        earliest = now
        if sent:
            earliest = max(earliest, sent[-1])  # a conversation's sends keep their order
            for window in self._windows:
                if len(sent) >= window.sends:
                    earliest = max(earliest, sent[-window.sends] + window.seconds)
        slot = self._free_slot(math.ceil(earliest * self._rate - 1e-9))  # the first free slot from then on
        at = max(slot / self._rate, earliest)
        if not_after is not None and at > not_after:
            return None
        self._taken[slot] = slot + 1
        if sent is None:
            sent = self._sent[conversation_key] = []
        else:
            self._sent.move_to_end(conversation_key)
        sent.append(at)
        if len(sent) > self._kept:
            del sent[:len(sent) - self._kept]
        self._sweep(now)
        return at

    @property
    def rate(self) -> float:
        """Sends a second for the tenant."""
        return self._rate

    @property
    def conversations(self) -> int:
        """How many conversations are remembered (for tests and the benchmark)."""
        return len(self._sent)

    @property
    def slots(self) -> int:
        """How many tenant slots are held (past ones are dropped as the calendar grows)."""
        return len(self._taken)

    def _free_slot(self, slot: int) -> int:
        path = []
        while slot in self._taken:
            path.append(slot)
            slot = self._taken[slot]
        for taken in path:  # shorten the way for the next caller
            self._taken[taken] = slot
        return slot

    def _forget_idle(self, now: float) -> None:
        """Drop conversations whose last send is older than the longest window: they no longer count.
        (Checked from the least recently used; one still counting stops the check.)"""
        horizon = now - self._longest
        while self._sent:
            key, sent = next(iter(self._sent.items()))
            if sent[-1] > horizon:
                return
            del self._sent[key]

    def _sweep(self, now: float) -> None:
        """Forget past slots, once the calendar has doubled since its last clean-up (amortised O(1))."""
        if len(self._taken) <= max(64, 2 * self._swept_at):
            return
        current = math.floor(now * self._rate)
        self._taken = {slot: nxt for slot, nxt in self._taken.items() if slot >= current}
        self._swept_at = len(self._taken)
