"""The rooms phase: one search's cost as the organisation grows, side by side in one run.

Three RoomBot processes, each on its own organisation (200, 10,000 and 50,000 registered rooms in a
full run), one after another against the same sandbox (20 ms per Graph call). For each:

- the getSchedule calls of one search's first page ("4 seats, anywhere"), one search at a time, and
  of a Show more press on its card (reported, no target);
- search p95 with several users at once, each searching and booking (so calendars fill up);
- the bot's peak resident memory (VmHWM), from its start to its end (and the sandbox's, holding every
  room's mailbox).

Targets: a first page asks getSchedule at most 8 times (2 waves of 4) at the two bigger sizes, whose
search p95 stays within 1.5x of the smallest's; the biggest stays under 200 MB.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench.users import Chat, Timings, TurnFailed, User, _nodes

if TYPE_CHECKING:
    from bench.run import Bench

FIRST_PAGE_CALLS = 8  # getSchedule calls for a first page: 2 waves of 4 chunks of 20 rooms
P95_FACTOR = 1.5  # a bigger organisation's search p95, at most this times the smallest's
PEAK_RSS_MB = 200  # at the biggest size
SEATS = 4  # "4 seats, anywhere"
SETTLED_S = 0.5  # a search's Graph calls are all counted once the sandbox has seen none for this long
SETTLE_MAX_S = 120  # a search going on after its turn (Teams' 15 s) is counted for this long at most
FIRST_K = 600  # slots (bench.run.slot_for) apart from the other phases' bookings; each size has its own


@dataclass
class SizeResult:
    rooms: int
    first_page: int  # getSchedule calls
    more: int | None  # getSchedule calls of a Show more press; None: the card had no Show more
    timings: list[float]
    rss_mb: float
    seeded_s: float
    unbooked: list[str]  # searches whose card had no room to book (answered late, or nothing free)


def show_more(card: Any) -> dict[str, Any] | None:
    """The data of the card's Show more button (with its verb as `action`), if it has one: the button
    titled so, else one whose verb is `more` (not Previous, which has that verb too)."""
    buttons = [n for n in _nodes(card) if n.get("type") == "Action.Execute"]
    titled = [n for n in buttons if "show more" in str(n.get("title", "")).lower()]
    verbed = [n for n in buttons if n.get("verb") == "more" and not str(n.get("title", "")).startswith("Previous")]
    for node in (*titled, *verbed)[:1]:
        data = node.get("data") or {}
        return {**data, "action": data.get("action") or node.get("verb")}
    return None


async def settled_stats(bench: Bench) -> dict[str, int]:
    """The sandbox's counts once they stop changing: a search that goes on after its turn is counted whole."""
    loop = asyncio.get_running_loop()
    until = loop.time() + SETTLE_MAX_S
    stats = await bench.sandbox.stats()
    while loop.time() < until:
        await asyncio.sleep(SETTLED_S)
        later = await bench.sandbox.stats()
        if later == stats:
            break
        stats = later
    return stats


async def one_size(bench: Bench, rooms: int, first_k: int) -> SizeResult:
    from bench.run import graph_requests, search_data

    s = bench.sizes
    began = time.perf_counter()
    bot = await bench.roombot(f"rooms-{rooms}", rooms=rooms)
    seeded_s = time.perf_counter() - began
    try:
        probe = User(s.scale_users + 1)
        chat = Chat(bench.session, bot.url, bench.connector)
        await chat.say(probe, "help", "help")  # the roster lookup and the stored reference: not a search's cost
        before = await bench.sandbox.stats()
        card = await chat.press(probe, search_data(first_k, capacity=SEATS), "search")
        first_page = graph_requests(before, await settled_stats(bench)).get("POST get_schedule", 0)
        more = None
        button = show_more(card)
        if button is not None:
            before = await bench.sandbox.stats()
            await chat.press(probe, button, "more")
            more = graph_requests(before, await settled_stats(bench)).get("POST get_schedule", 0)
        timings = Timings()
        timed = Chat(bench.session, bot.url, bench.connector, timings)
        users = [User(n) for n in range(1, s.scale_users + 1)]
        unbooked: list[str] = []

        async def search_and_book(user: User, k: int) -> None:
            try:
                await bench.search_and_book(timed, user, k, capacity=SEATS)
            except TurnFailed as failed:  # its search was timed: reported, and the others go on
                unbooked.append(str(failed))

        await bench.in_parallel(users, search_and_book, s.scale_rounds, first_k=first_k + 1)
    finally:
        rss = await bench.stop_roombot(bot)
    return SizeResult(rooms, first_page, more, timings.by_kind["search"], rss, seeded_s, unbooked)


async def rooms_scale(bench: Bench) -> None:
    """Search cost, p95 and peak memory at each of `scale_rooms`, side by side."""
    from bench.run import Row, percentile

    s = bench.sizes
    await bench.sandbox.latency(s.storage_latency_ms)
    results = []
    for i, rooms in enumerate(s.scale_rooms):
        print(f"  {rooms:,} rooms", flush=True)
        results.append(await one_size(bench, rooms, FIRST_K + i * 100))
    report = bench.report
    for r in results:
        more = "no Show more on the card" if r.more is None else f"Show more {r.more}"
        report.rows.append(Row("search", "RoomBot", r.timings, str(r.first_page),
                               f"{r.rooms:,} rooms, {SEATS} seats, {s.scale_users} users at once, latency "
                               f"{s.storage_latency_ms:.0f} ms"))
        unbooked = f"; {len(r.unbooked)} searches with no room to book ({r.unbooked[0][:120]})" if r.unbooked else ""
        report.fact(f"{r.rooms:,} rooms", f"first page {r.first_page} getSchedule calls, {more}; peak RSS "
                                         f"{r.rss_mb:.0f} MB; seeded and started in {r.seeded_s:.0f} s{unbooked}")
    report.fact("sandbox", f"{max(s.rooms, *s.scale_rooms):,} rooms' mailboxes, peak RSS "
                           f"{bench.sandbox.process.peak_rss_mb():.0f} MB")
    small, *bigger = results
    small_p95 = percentile(small.timings, 95)
    for r in bigger:
        report.target(r.first_page <= FIRST_PAGE_CALLS,
                      f"getSchedule calls for a first page at {r.rooms:,} rooms at most {FIRST_PAGE_CALLS}: "
                      f"{r.first_page}")
    for r in bigger:
        p95 = percentile(r.timings, 95)
        report.target(p95 <= P95_FACTOR * small_p95,
                      f"search p95 at {r.rooms:,} rooms within {P95_FACTOR}x of {small.rooms:,} rooms: "
                      f"{p95:.0f} / {small_p95:.0f} ms = {p95 / small_p95:.2f}x")
    biggest = results[-1]
    report.target(biggest.rss_mb < PEAK_RSS_MB,
                  f"peak RSS at {biggest.rooms:,} rooms under {PEAK_RSS_MB} MB: {biggest.rss_mb:.0f} MB")
