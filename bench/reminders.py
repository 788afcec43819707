"""Phase `reminders` (issue 17's target): `n` bookings by `n` people, one room each, all starting at the
same moment, with a one-minute reminder. Every reminder must reach the connector within 60 s of its due
time, inside Teams' rate limits (about 50 sends a second per app, 7 a second per conversation), while
the bot goes on answering other people: their `help` p95 during the burst within 2x of idle.

The bookings are seeded as an import would write them (records, their reminder jobs planned as the bot
plans them) with their events created in the sandbox's room calendars, so that each reminder's read-back
finds its event. The connector notes when each card arrives."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from bench.org import prepare_org
from bench.processes import roombot_process
from bench.users import CARD, Chat, Connector, Timings, User
from domain.attendance import plan_jobs
from domain.jobs import JOB_REMIND
from domain.models import BOOKING_BOOKED, Booking
from graph.calendar import to_graph_time
from graph.client import GraphClient
from graph.tokens import MsalTokenProvider
from sandbox.seed import APP_CLIENT_ID, APP_CLIENT_SECRET, TENANT_ID, bench_person
from storage.backends import TinyDbBackend
from storage.repository import Repository

if TYPE_CHECKING:
    from bench.run import Bench

REMINDER = "Your room booking starts"  # the reminder card's heading
LEAD = timedelta(minutes=1)  # the reminder comes this long before the start (REMINDER_MIN=1)
DEADLINE_S = 60  # every reminder within this of its due time
APP_PER_S = 50  # Teams: about 50 requests a second per app per tenant
CONVERSATION_PER_S = 7  # Teams: 7 sends a second per conversation
SET_UP_PER_BOOKING_S = 0.02  # from choosing the start to the bot answering: events created, records written,
SET_UP_S = 20  # the bot started (about 10 s for 2,000 bookings on two cores), with room to spare
AFTER_START_S = 10  # a reminder is dropped once its booking has started: none comes after this
SENDS_PER_S = 45  # the bot's TEAMS_SENDS_PER_SECOND default: a burst starts about n / this before its due time


class StampedConnector(Connector):
    """The connector, noting when each activity arrived (wall clock), in which conversation, and
    the heading of its card."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[tuple[float, str, str]] = []
        self.expected = 0  # reminders: when that many have come, `all_came` is set
        self._came = 0
        self.first_came = asyncio.Event()  # the burst has begun
        self.all_came = asyncio.Event()

    async def _activity(self, request: web.Request) -> web.Response:
        arrived = time.time()
        body = await request.json()  # aiohttp keeps the body: the base class reads it again
        heading = next((str(a["content"].get("body", [{}])[0].get("text", "")) for a in body.get("attachments") or []
                        if a.get("contentType") == CARD), "")
        self.arrivals.append((arrived, request.match_info["cid"], heading))
        if heading.startswith(REMINDER):
            self._came += 1
            self.first_came.set()
            if self._came >= self.expected:
                self.all_came.set()
        return await super()._activity(request)

    def reminders(self) -> list[tuple[float, str]]:
        return [(at, cid) for at, cid, heading in self.arrivals if heading.startswith(REMINDER)]


def rooms_for(bench: Bench) -> int:
    """One room per booking, as far as the sandbox has rooms (run() sizes it for the biggest phase)."""
    s = bench.sizes
    return min(s.reminder_bookings, max(s.rooms, *s.scale_rooms))


async def create_events(graph_url: str, ca_file: str, start: datetime, n: int, rooms: int) -> list[dict[str, Any]]:
    """Booking k's event in room 1 + k % rooms, organised by the room, through Graph's $batch (20 a
    call, all calls at once): the created events' JSON, in order."""
    tokens = MsalTokenProvider(tenant_id=TENANT_ID, client_id=APP_CLIENT_ID, client_secret=APP_CLIENT_SECRET,
                               authority_host=graph_url, scope=f"{graph_url}/.default", ca_file=ca_file,
                               public_authority=False)
    prefer = {"Prefer": 'outlook.timezone="UTC", IdType="ImmutableId"'}
    try:
        connector = aiohttp.TCPConnector(ssl=ssl.create_default_context(cafile=ca_file))
        async with aiohttp.ClientSession(connector=connector) as session:
            client = GraphClient(session, tokens, graph_url)
            answers = await client.batch(
                {"method": "POST", "url": f"/users/{_room(k, rooms)}/events", "headers": prefer,
                 "body": {"subject": "Stand-up", "start": to_graph_time(start),
                          "end": to_graph_time(start + timedelta(minutes=30)),
                          "location": {"displayName": f"Room {1 + k % rooms}"},
                          "attendees": [{"emailAddress": {"address": bench_person(k + 1)[3],
                                                          "name": bench_person(k + 1)[1]}, "type": "required"}],
                          "transactionId": f"reminders-{k}", "isOnlineMeeting": False}}
                for k in range(n))
    finally:
        tokens.close()
    bad = [a for a in answers if a.status != 201]
    if bad:
        raise RuntimeError(f"{len(bad)} events not created, e.g. {bad[0].status} {str(bad[0].body)[:200]}")
    return [a.body or {} for a in answers]


def _room(k: int, rooms: int) -> str:
    return f"room{1 + k % rooms:05d}@example.com"


def seed_bookings(data_dir: Path, events: list[dict[str, Any]], start: datetime, rooms: int) -> int:
    """Record booking k (person k + 1's, in its event) with a one-minute reminder, check-in asked for,
    and its jobs planned as the bot plans them; returns the reminders planned."""
    repo = Repository(TinyDbBackend(data_dir, durable=False))
    try:
        return record_soon_bookings(repo, events, start, rooms, check_in=True)
    finally:
        repo.close()


def record_soon_bookings(repo: Repository, events: list[dict[str, Any]], start: datetime, rooms: int, *,
                         check_in: bool) -> int:
    """Booking k (person k + 1's, in its event, in room k of `rooms`) with a one-minute reminder (and
    check-in asked for, with `check_in`), its jobs planned as the bot plans them; the reminders planned."""
    settings = replace(repo.get_settings(), reminder_min=int(LEAD.total_seconds() // 60))
    if check_in:
        settings = replace(settings, checkin_opens_min=1,
                           default_rules=replace(settings.default_rules, checkin_required=True))
    repo.save_settings(settings)
    now = datetime.now(UTC)
    repo.plan_jobs_with(lambda b: plan_jobs(b, settings, repo.get_room(b.room_email), settings.reminder_min, now))
    bookings = []
    for k, event in enumerate(events):
        aad, _name, _upn, email = bench_person(k + 1)
        bookings.append(Booking(
            id=f"soon-{k:06d}", room_email=_room(k, rooms), event_id=event["id"],
            ical_uid=event.get("iCalUId", ""), booker_aad_id=aad, booker_email=email, start=start,
            end=start + timedelta(minutes=30), subject="Stand-up", attendees=(email,), status=BOOKING_BOOKED,
            created_at=now, zone="UTC", attempt_key=f"{aad}:soon-{k}", transaction_id=f"reminders-{k}"))
    repo.import_bookings(bookings)
    return sum(1 for b in bookings if repo.get_job(JOB_REMIND, b) is not None)


def most_in_a_second(times: list[float]) -> int:
    """The most of `times` (seconds) that fall within any one-second window."""
    ordered = sorted(times)
    most, first = 0, 0
    for last, at in enumerate(ordered):
        while at - ordered[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


async def helpers_meanwhile(chat: Chat, users: list[User], until: float, think_s: float) -> Timings:
    """Other people ask for help, one turn each per `think_s`, until `until` (loop time)."""
    loop = asyncio.get_running_loop()

    async def one(person: User) -> None:
        while loop.time() < until:
            await chat.say(person, "help", "help")
            await asyncio.sleep(think_s)

    await asyncio.gather(*(one(person) for person in users))
    return chat.timings


async def reminder_burst(bench: Bench) -> None:
    from bench.run import THINK_S, Row, graph_requests, percentile

    s = bench.sizes
    n, rooms = s.reminder_bookings, rooms_for(bench)
    report = bench.report
    connector = StampedConnector()
    await connector.start()
    try:
        data = bench.folder / "reminders" / "data"
        began = time.perf_counter()
        prepare_org(data, rooms=rooms, people=n, past_bookings=0, service_url=connector.url)
        # The start (the same second for all), with time to set up and to measure idle turns before the
        # reminders. Not rounded to the minute: that would only add waiting.
        set_up = SET_UP_S + SET_UP_PER_BOOKING_S * n + s.attack_s + n / SENDS_PER_S + 5
        start = (datetime.now(UTC) + LEAD + timedelta(seconds=set_up)).replace(microsecond=0)
        due = start - LEAD
        await bench.sandbox.latency(s.storage_latency_ms)
        events = await create_events(bench.sandbox.url, bench.sandbox.ca_file, start, n, rooms)
        planned = seed_bookings(data, events, start, rooms)
        connector.expected = planned
        print(f"  seeded {n} people and {n} bookings in {rooms} rooms starting {start:%H:%M:%S} UTC, {planned} "
              f"reminders due {due:%H:%M:%S} ({time.perf_counter() - began:.0f} s)", flush=True)
        bot = roombot_process(data, bench.sandbox.url, bench.sandbox.ca_file)
        await bot.start()
        try:
            others = [User(n + i) for i in range(1, s.others + 1)]
            await asyncio.gather(*(Chat(bench.session, bot.url, connector).say(u, "help", "help") for u in others))
            loop = asyncio.get_running_loop()
            to_due = due.timestamp() - time.time()
            if to_due < planned / SENDS_PER_S + 8:
                raise RuntimeError(f"setting up took too long: the reminders were due {-to_due:.0f} s ago")
            # Idle: until shortly before the burst may begin (the bot starts a burst of reminders early
            # enough to send them all by their due time at its rate), so no reminder is in it.
            early_s = planned / SENDS_PER_S + 5
            idle = await helpers_meanwhile(Chat(bench.session, bot.url, connector, Timings()), others,
                                           loop.time() + min(s.attack_s, to_due - early_s - 2), THINK_S)
            before = await bench.sandbox.stats()
            last = start.timestamp() + AFTER_START_S
            with contextlib.suppress(TimeoutError):  # during: from the first reminder to the last
                await asyncio.wait_for(connector.first_came.wait(), last - time.time())
            began_at = time.time()
            burst = Chat(bench.session, bot.url, connector, Timings())
            helping = asyncio.create_task(helpers_meanwhile(burst, others, loop.time() + last - time.time(), THINK_S))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(connector.all_came.wait(), last - time.time())
            ended = time.time()
            helping.cancel()  # the turns under way when the last reminder came still count once done
            await asyncio.gather(helping, return_exceptions=True)
            calls = graph_requests(before, await bench.sandbox.stats())
        finally:
            rss = bot.peak_rss_mb()
            bot.stop()
        dropped = bot.log.read_text(errors="replace").count("dropped job remind:")  # its log says why
    finally:
        await connector.stop()

    sent = connector.reminders()
    late = [at - due.timestamp() for at, _ in sent]
    per_conversation: dict[str, list[float]] = defaultdict(list)
    for at, cid in sent:
        per_conversation[cid].append(at)
    twice = sum(1 for times in per_conversation.values() if len(times) > 1)
    app_rate = most_in_a_second([at for at, _ in sent])
    conversation_rate = max((most_in_a_second(t) for t in per_conversation.values()), default=0)
    helped = burst.timings.by_kind["help"]
    note = f"{s.others} others asking every {THINK_S * 1000:.0f} ms"
    report.rows.append(Row("help", "RoomBot", idle.by_kind["help"], "0", f"{note}, before the reminders"))
    report.rows.append(Row("help", "RoomBot", helped, "0",
                           f"{note}, during {n:,} reminders ({ended - began_at:.0f} s)"))
    figures = (f"p50 {percentile(late, 50):.1f} s, p95 {percentile(late, 95):.1f} s, max {max(late):.1f} s"
               if late else "none arrived")
    span = max(at for at, _ in sent) - min(at for at, _ in sent) if len(sent) > 1 else 0.0
    report.fact("reminders", f"{len(sent):,} of {n:,} arrived ({len(per_conversation):,} people, {twice} twice), "
                             f"{dropped:,} dropped by the bot as too late; after their due time: {figures}; "
                             f"{len(sent) / span if span else 0:.0f} a second from the first to the last")
    report.fact("reminder sends", f"at most {app_rate} in one second for the app, {conversation_rate} in one "
                                  f"conversation; Graph: {', '.join(f'{v} {k}' for k, v in sorted(calls.items()))}")
    report.fact(f"peak RSS, {n:,} reminders", f"{rss:.0f} MB")
    worst = max(late, default=float("inf"))
    report.target(len(per_conversation) == n and worst <= DEADLINE_S and percentile(late or [worst], 95) <= DEADLINE_S,
                  f"{n:,} reminders due in the same minute, each within {DEADLINE_S} s of its due time: "
                  f"{len(per_conversation):,} arrived, the last {worst:.1f} s after")
    report.target(app_rate <= APP_PER_S and conversation_rate <= CONVERSATION_PER_S,
                  f"reminder sends within Teams' limits ({APP_PER_S}/s per app, {CONVERSATION_PER_S}/s per "
                  f"conversation): {app_rate}/s, {conversation_rate}/s")
    p95 = {"idle": percentile(idle.by_kind["help"], 95), "burst": percentile(helped, 95)}
    ratio = p95["burst"] / p95["idle"]
    report.fact("others' help during the burst", f"p95 {p95['idle']:.0f} ms idle, {p95['burst']:.0f} ms during "
                                                 f"the reminders: {ratio:.2f}x")
    report.target(ratio <= 2, f"others' help p95 during the reminders within 2x of idle: {p95['burst']:.0f} / "
                              f"{p95['idle']:.0f} ms = {ratio:.2f}x")
