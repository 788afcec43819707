"""Teams' rate limits for proactive sends (bot.rate_limits), on a fake clock: nothing here sleeps.

The limits are Microsoft's: per bot per conversation 7 sends in 1 s, 8 in 2 s, 60 in 30 s, 1,800 in
3,600 s; about 50 a second per app per tenant."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

import pytest

from bot.notify import Delivery, Notifier
from bot.rate_limits import CONVERSATION_WINDOWS, SendLimiter, Window
from cards.base import card, text
from storage.backends import MemoryBackend
from storage.repository import Repository

T = TypeVar("T")
UNLIMITED = 1e6  # a tenant rate that never binds, to look at the conversation windows alone


class VirtualClock:
    """A fake monotonic clock whose `sleep` waits for virtual time: `run` lets every task go as far as it
    can, then moves the time to the earliest sleeper's wake-up, and so on until the work is done."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._changes = 0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self._changes += 1
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), next(self._seq), future))
        await future

    async def run(self, work: Awaitable[T]) -> T:
        task = asyncio.ensure_future(work)
        while True:
            await self._settle()
            if task.done():
                return task.result()
            assert self._sleepers, "stuck: nothing sleeps and the work is not done"
            self.now = max(self.now, self._sleepers[0][0])
            while self._sleepers and self._sleepers[0][0] <= self.now:
                _, _, future = heapq.heappop(self._sleepers)
                future.set_result(None)
                self._changes += 1

    async def _settle(self) -> None:
        quiet = 0
        while quiet < 20:  # 20 turns of the loop in which no task went to sleep: all are waiting
            before = self._changes
            await asyncio.sleep(0)
            quiet = quiet + 1 if self._changes == before else 0


def assert_within(times: Iterable[float], windows: Iterable[Window]) -> None:
    """No window (t - seconds, t] holds more than its sends."""
    times = sorted(times)
    for window in windows:
        for i in range(len(times) - window.sends):
            assert times[i + window.sends] - times[i] >= window.seconds - 1e-9, (window, i)


async def sends(keys: Iterable[str], *, rate: float = UNLIMITED, clock: VirtualClock | None = None,
                limiter: SendLimiter | None = None) -> list[float]:
    """The times sends to `keys` (asked for in that order, all at once) are allowed at."""
    clock = clock or VirtualClock()
    limiter = limiter or SendLimiter(rate, clock=clock, sleep=clock.sleep)
    return list(await clock.run(asyncio.gather(*(limiter.acquire(key) for key in keys))))


async def test_the_eighth_send_in_a_second_and_the_ninth_in_two_seconds_wait() -> None:
    times = await sends(["conv-a"] * 9)
    assert times[:7] == pytest.approx([0.0] * 7, abs=1e-4)
    assert times[7] == pytest.approx(1.0, abs=1e-4)  # 7 in 1 s
    assert times[8] == pytest.approx(2.0, abs=1e-4)  # 8 in 2 s (7 in 1 s alone would allow 1.0)


async def test_sixty_in_thirty_seconds_then_the_61st_waits_for_the_first_to_leave_the_window() -> None:
    times = await sends(["conv-a"] * 61)
    assert times[59] < 20  # 8 every 2 s: the first 60 go within 15 s
    assert times[60] == pytest.approx(30.0, abs=1e-4)
    assert_within(times, CONVERSATION_WINDOWS)


async def test_1800_an_hour_per_conversation() -> None:
    times = await sends(["conv-a"] * 1801)
    assert times[1799] < 1000  # 60 every 30 s
    assert times[1800] == pytest.approx(3600.0, abs=1e-3)
    assert_within(times, CONVERSATION_WINDOWS)


async def test_the_tenant_rate_paces_sends_to_different_people() -> None:
    times = await sends([f"conv-{n}" for n in range(200)], rate=50)
    assert times == sorted(times)
    assert times[-1] == pytest.approx(199 / 50, abs=1e-6)
    assert_within(times, [Window(50, 1)])
    assert await sends(["conv-1", "conv-2", "conv-3"], rate=10) == pytest.approx([0.0, 0.1, 0.2])


async def test_a_conversation_that_must_wait_does_not_hold_back_other_people() -> None:
    times = await sends(["conv-a"] * 8 + ["conv-b"] + [f"conv-{n}" for n in range(60)], rate=50)
    mine, other, late = times[:8], times[8], times[9:]
    assert mine[7] >= 1.0  # its eighth waits for its window ...
    assert other < 0.1  # ... the next person does not
    assert_within(mine + [other] + late, [Window(50, 1)])


async def test_a_loop_that_wakes_sleepers_late_still_sends_them_one_pace_apart() -> None:
    """A busy event loop wakes sleepers late and together; sends go at the tenant's pace from when they
    really wake, not in a bunch at the times they were planned for."""
    clock = VirtualClock()
    limiter = SendLimiter(50, clock=clock, sleep=clock.sleep)
    await clock.run(limiter.acquire("conv-0"))  # the pace is now taken until 0.02
    first = asyncio.ensure_future(limiter.acquire("conv-1"))  # sleeps until 0.02 ...
    await asyncio.sleep(0)
    clock.now = 0.5  # ... but the loop gets to it only at 0.5, with others asking meanwhile
    times = await clock.run(asyncio.gather(first, *(limiter.acquire(f"conv-{n}") for n in range(2, 6))))
    assert sorted(times) == pytest.approx([0.5, 0.52, 0.54, 0.56, 0.58])  # not two at 0.5


async def test_a_loop_that_is_always_a_little_late_keeps_the_pace() -> None:
    """Every sleeper woken 15 ms late (less than a pace, more than half of it): sends still go one pace
    apart and none is sent to the back again and again."""
    clock = VirtualClock()

    async def late_sleep(seconds: float) -> None:
        await clock.sleep(seconds + 0.015)

    limiter = SendLimiter(50, clock=clock, sleep=late_sleep)
    times = await clock.run(asyncio.gather(*(limiter.acquire(f"conv-{n}") for n in range(100))))
    assert sorted(times) == times
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.018
    assert times[-1] < 100 * 0.02 + 0.1
    assert len(clock.slept) <= 100


async def test_a_cancelled_waiter_does_not_let_the_next_one_overtake_the_send_ahead() -> None:
    clock = VirtualClock()
    limiter = SendLimiter(UNLIMITED, clock=clock, sleep=clock.sleep)
    await sends(["conv-a"] * 7, clock=clock, limiter=limiter)
    ahead = asyncio.ensure_future(limiter.acquire("conv-a"))  # waits for its window until 1.0
    cancelled = asyncio.ensure_future(limiter.acquire("conv-a"))
    after = asyncio.ensure_future(limiter.acquire("conv-a"))
    await asyncio.sleep(0)
    cancelled.cancel()
    assert await clock.run(asyncio.gather(ahead, after)) == pytest.approx([1.0, 2.0], abs=1e-4)


async def test_a_conversations_queue_lives_only_while_a_send_to_it_waits() -> None:
    clock = VirtualClock()
    limiter = SendLimiter(50, clock=clock, sleep=clock.sleep)
    keys = [f"conv-{n % 100}" for n in range(1000)]  # ten sends to each of 100 conversations
    asked = asyncio.ensure_future(asyncio.gather(*(limiter.acquire(key) for key in keys)))
    cancelled = asyncio.ensure_future(limiter.acquire("conv-0"))
    await asyncio.sleep(0)
    assert limiter.waiting == 100
    cancelled.cancel()
    went = await clock.run(asyncio.gather(asked, limiter.acquire("conv-late", not_after=0.1)))
    assert went[1] is None and limiter.waiting == 0
    for n in range(100):
        assert_within([at for key, at in zip(keys, went[0], strict=True) if key == f"conv-{n}"],
                      CONVERSATION_WINDOWS)


async def test_not_after_takes_nothing_it_cannot_use_in_time() -> None:
    clock = VirtualClock()
    limiter = SendLimiter(50, clock=clock, sleep=clock.sleep)
    await sends(["conv-a"] * 7, clock=clock, limiter=limiter)
    assert await clock.run(limiter.acquire("conv-a", not_after=0.5)) is None  # would be at 1.0
    assert await clock.run(limiter.acquire("conv-b")) == pytest.approx(0.14)  # nothing was taken for it
    assert await clock.run(limiter.acquire("conv-a")) == pytest.approx(1.0)
    crowd = [limiter.acquire(f"conv-{n}", not_after=1.51) for n in range(40)]  # the pace: 1.02, 1.04, ...
    assert sum(at is None for at in await clock.run(asyncio.gather(*crowd))) == 15


async def test_acquire_waits_through_the_injected_sleep_and_callers_go_in_the_order_they_asked() -> None:
    clock = VirtualClock()
    limiter = SendLimiter(50, clock=clock, sleep=clock.sleep)
    order: list[tuple[int, float]] = []

    async def send(n: int) -> None:
        at = await limiter.acquire("conv-a" if n % 2 else f"conv-{n}")
        assert at is not None and clock.now == pytest.approx(at)  # woke when allowed, not before
        order.append((n, at))

    await clock.run(asyncio.gather(*(send(n) for n in range(20))))
    allowed = dict(order)
    others = [allowed[n] for n in range(0, 20, 2)]
    mine = [allowed[n] for n in range(1, 20, 2)]
    assert others == sorted(others) and mine == sorted(mine)  # first asked, first allowed
    assert_within(mine, CONVERSATION_WINDOWS)
    assert max(others) < 1.0 <= max(mine)  # the ten to one conversation did not hold the others back
    assert clock.slept and min(clock.slept) > 0


async def test_idle_conversations_are_forgotten() -> None:
    clock = VirtualClock()
    limiter = SendLimiter(50, clock=clock, sleep=clock.sleep)
    for n in range(5000):
        clock.now = n * 0.5
        await clock.run(limiter.acquire(f"conv-{n}"))
    assert limiter.conversations <= 3600 / 0.5 + 1  # an hour of them, not all 5,000
    clock.now += 3601
    await clock.run(limiter.acquire("conv-new"))
    assert limiter.conversations == 1


# --- deliver_many on the fake clock ------------------------------------------------------------------

class FakeSender:
    """The connector sender, each send taking `latency_s` of virtual time."""

    def __init__(self, clock: VirtualClock, latency_s: float = 0.2) -> None:
        self.clock = clock
        self.latency_s = latency_s
        self.sent: list[tuple[float, str]] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def send(self, reference: dict[str, Any], content: Any) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.sent.append((self.clock.now, reference["conversation"]["id"]))
        await self.clock.sleep(self.latency_s)
        self.in_flight -= 1


def _repo_with(people: int) -> Repository:
    repo = Repository(MemoryBackend())
    for n in range(people):
        repo.save_conversation_reference(f"aad-{n}", {
            "conversation": {"id": f"a:conv-{n}", "conversationType": "personal"}, "channelId": "msteams",
            "serviceUrl": "https://smba.example/", "user": {"id": f"29:{n}"}, "bot": {"id": "28:roombot"}})
    return repo


async def test_deliver_many_keeps_the_tenant_rate_and_a_bounded_number_in_flight() -> None:
    clock = VirtualClock()
    adapter = FakeSender(clock)
    repo = _repo_with(200)
    notifier = Notifier(None, repo, None, sender=adapter,
                        limiter=SendLimiter(50, clock=clock, sleep=clock.sleep),
                        clock=clock, sleep=clock.sleep)
    items = [(f"aad-{n}", card([text(f"Reminder {n}")])) for n in range(200)]
    results = await clock.run(notifier.deliver_many(items, in_flight=16))
    assert results == [Delivery.SENT] * 200
    times = [at for at, _ in adapter.sent]
    assert sorted(conversation for _, conversation in adapter.sent) == sorted(f"a:conv-{n}" for n in range(200))
    assert_within(times, [Window(50, 1)])
    assert max(times) == pytest.approx(199 / 50, abs=0.05)  # as fast as the rate allows: 16 in flight suffice
    assert adapter.most_in_flight <= 16
    assert repo.list_audit() == []  # nothing written per send


async def test_deliver_many_has_at_most_in_flight_sends_at_once() -> None:
    clock = VirtualClock()
    adapter = FakeSender(clock, latency_s=0.2)
    notifier = Notifier(None, _repo_with(200), None, sender=adapter,
                        limiter=SendLimiter(UNLIMITED, clock=clock, sleep=clock.sleep),
                        clock=clock, sleep=clock.sleep)
    results = await clock.run(notifier.deliver_many([(f"aad-{n}", card([text("Hi")])) for n in range(200)],
                                                    in_flight=16))
    assert results == [Delivery.SENT] * 200
    assert adapter.most_in_flight == 16
    assert max(at for at, _ in adapter.sent) == pytest.approx(12 * 0.2, abs=0.01)  # 13 rounds of 16


async def test_deliver_many_to_one_person_keeps_their_conversation_windows() -> None:
    clock = VirtualClock()
    adapter = FakeSender(clock, latency_s=0.05)
    repo = _repo_with(2)
    notifier = Notifier(None, repo, None, sender=adapter,
                        limiter=SendLimiter(50, clock=clock, sleep=clock.sleep),
                        clock=clock, sleep=clock.sleep)
    items = [("aad-0", card([text(f"Note {n}")])) for n in range(20)] + [("aad-1", card([text("Other")]))]
    results = await clock.run(notifier.deliver_many(items))
    assert results == [Delivery.SENT] * 21
    mine = [at for at, conversation in adapter.sent if conversation == "a:conv-0"]
    assert_within(mine, CONVERSATION_WINDOWS)
    assert max(mine) >= 4.0  # 20 to one person: 8 every 2 s
    assert [at for at, conversation in adapter.sent if conversation == "a:conv-1"][0] < 1.0
