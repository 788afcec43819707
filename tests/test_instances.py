"""What must hold when RoomBot runs as several instances behind a load balancer: two or three real
`python app.py` processes on ONE PostgreSQL database and ONE sandbox tenant, each turn sent to whichever
instance the test picks (as a round-robin balancer would). Every check reads the outcome back from the
database (a Repository of its own, as a fourth process would) and from the sandbox's room calendars,
not only from what the bot said.

- consent started on one instance completes on another, and its state works once only; an instance that
  met the consent before Entra applied it does not go on with its token without roles;
- a booking made on A is listed and extended on B and cancelled on C;
- two presses on one booking at once on two instances act once (Book twice, Cancel twice, Move and
  Cancel, Extend and End now);
- a question asked on A is answered on B;
- a room an admin registers on A can be booked on B a moment later."""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from domain.models import ROLE_ADMIN, Admin, Booking
from graph.client import UNPROVEN_TOKEN_RETRY_S
from sandbox.faults import Faults
from sandbox.seed import TENANT_ID, generated_rooms
from sandbox.server import RunningSandbox
from storage.postgres import PostgresBackend
from storage.repository import REGISTRY_RECHECK_S, Repository
from tests.booking_helpers import ZONE, buttons, card_text, elements, form, local, tomorrow
from tests.bot_process import BotProcess, prepare_data
from tests.card_schema import assert_valid_card
from tests.conftest import ALEX, MEGAN, Connector, teams_activity

# One understanding worker each (three processes share two cores), with time to read on a busy machine.
ENV = {"UNDERSTANDING_WORKERS": "1", "UNDERSTANDING_DEADLINE_S": "10"}
Person = tuple[str, str, str, str]


class Teams:
    """Sends turns to the instance a test names, as Teams would through a load balancer, and hands back
    the card each turn answered with."""

    def __init__(self, session: aiohttp.ClientSession, connector: Connector) -> None:
        self.session = session
        self.connector = connector

    async def say(self, bot: BotProcess, text: str, *, user: Person = ALEX) -> dict[str, Any]:
        """A typed message; the bot's reply to it (other messages, proactive ones, are left aside)."""
        activity = teams_activity(self.connector, text=text, user=user, conversation=_chat(user))
        await self._post(bot, activity)
        [reply] = [r["activity"] for r in self.connector.received
                   if r["method"] == "POST" and r["path"].endswith(f"/activities/{activity['id']}")]
        return _card(reply)

    async def submit(self, bot: BotProcess, value: dict[str, Any], *, user: Person = ALEX) -> dict[str, Any]:
        """An Action.Submit press; the card the bot put in place of the pressed one."""
        card_id = f"card-{uuid.uuid4().hex}"
        await self._post(bot, teams_activity(self.connector, value=value, user=user, conversation=_chat(user),
                                             replyToId=card_id))
        [update] = [r["activity"] for r in self.connector.received
                    if r["method"] == "PUT" and r["path"].endswith(f"/activities/{card_id}")]
        return _card(update)

    async def execute(self, bot: BotProcess, data: dict[str, Any], *, user: Person = ALEX) -> dict[str, Any]:
        """An Action.Execute press (an invoke); the card in its answer."""
        invoke = teams_activity(self.connector, activity_type="invoke", name="adaptiveCard/action", user=user,
                                conversation=_chat(user),
                                value={"action": {"type": "Action.Execute", "verb": data["action"], "data": data}})
        body = await self._post(bot, invoke)
        assert body["statusCode"] == 200 and body["type"] == "application/vnd.microsoft.card.adaptive", body
        assert_valid_card(body["value"])
        return body["value"]

    async def _post(self, bot: BotProcess, activity: dict[str, Any]) -> Any:
        async with self.session.post(f"{bot.url}/api/messages", json=activity) as response:
            assert response.status in (200, 201), await response.text()
            return await response.json() if response.status == 200 else None


def _chat(user: Person) -> str:
    return f"conv-{user[0]}"  # each person's personal chat with the bot


def _card(activity: dict[str, Any]) -> dict[str, Any]:
    return activity["attachments"][0]["content"]


Start = Callable[..., Awaitable[list[BotProcess]]]


@pytest.fixture
async def instances(tmp_path: Path, sandbox: RunningSandbox, pg_url: str) -> AsyncIterator[Start]:
    """Starts `n` bot processes on the test's database and sandbox, all at once; stops them after."""
    started: list[BotProcess] = []

    async def start(n: int, **env: str) -> list[BotProcess]:
        bots = [BotProcess(tmp_path / name, sandbox, database_url=pg_url, **{**ENV, **env}) for name in "abc"[:n]]
        started.extend(bots)
        await asyncio.gather(*(bot.start() for bot in bots))
        return bots

    yield start
    for bot in started:  # all asked to stop at once (each shuts down gracefully), then waited for
        if bot.process is not None and bot.process.poll() is None:
            bot.process.terminate()
    for bot in started:
        bot.stop()


@pytest.fixture
async def teams(connector: Connector) -> AsyncIterator[Teams]:
    async with aiohttp.ClientSession() as session:
        yield Teams(session, connector)


@pytest.fixture
def data(pg_url: str) -> Iterator[Repository]:
    """The shared database as the test reads it: a repository of its own, like another instance's."""
    repo = Repository(PostgresBackend(pg_url))
    yield repo
    repo.close()


# --- 1. consent: started on one instance, completed on another, used once --------------------------

def _open_url(card: dict[str, Any]) -> str:
    return next(a["url"] for a in card["actions"] if a["type"] == "Action.OpenUrl")


async def _grant(sandbox: RunningSandbox, consent_url: str) -> str:
    """The admin's browser on the consent page: Accept. Returns where Entra sends it back (path and query)."""
    context = ssl.create_default_context(cafile=str(sandbox.tls.ca_cert))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as http:
        async with http.get(consent_url) as page:
            assert page.status == 200 and "Permissions requested" in await page.text()
        query = dict(parse_qsl(urlsplit(consent_url).query))
        async with http.post(consent_url.split("?")[0], data={**query, "decision": "accept"},
                             allow_redirects=False) as answer:
            assert answer.status == 302
            back = urlsplit(answer.headers["Location"])
    assert back.path == "/api/consent"
    return f"{back.path}?{back.query}"


async def _land(teams: Teams, bot: BotProcess, redirect: str) -> tuple[int, str]:
    """The redirect reaching `bot` (the balancer's pick)."""
    async with teams.session.get(f"{bot.url}{redirect}") as response:
        return response.status, await response.text()


async def test_consent_started_on_one_instance_completes_on_another_and_works_once(
        instances: Start, teams: Teams, data: Repository, sandbox: RunningSandbox, connector: Connector) -> None:
    data.add_admin(Admin(key=ALEX[0], roles=(ROLE_ADMIN,), added_by="test"))  # a new organisation: not connected
    sandbox.state.consents.clear()  # nor has the tenant consented yet
    a, b, c = await instances(3)
    assert data.get_settings().connected is False

    link = _open_url(await teams.say(a, "connect"))
    redirect = await _grant(sandbox, link)
    assert sandbox.state.consents  # the page granted it
    told_before = len(connector.cards())
    status, page = await _land(teams, b, redirect)
    assert status == 200 and "RoomBot is connected" in page, page
    settings = data.get_settings()
    assert settings.connected and settings.tenant_id == TENANT_ID
    # B found the admin's chat (A stored it) and told them there.
    assert [card_text(card) for card in connector.cards()[told_before:]
            if "Connected to Microsoft 365" in card_text(card)], connector.cards()[told_before:]

    for other in (a, c, b):  # the same state again, wherever it lands: refused, nothing done again
        status, page = await _land(teams, other, redirect)
        assert status == 400 and "not valid or was used already" in page, (other.url, page)
    assert [e["actor"] for e in data.list_audit(100) if e["action"] == "connect"] == [ALEX[0]]

    # A fresh link whose redirect reaches two instances at the same moment is taken by one of them only.
    redirect = await _grant(sandbox, _open_url(await teams.say(c, "connect")))
    answers = await asyncio.gather(_land(teams, a, redirect), _land(teams, b, redirect))
    assert sorted(status for status, _ in answers) == [200, 400], answers
    assert [e["actor"] for e in data.list_audit(100) if e["action"] == "connect"] == [ALEX[0], ALEX[0]]



async def test_after_a_consent_completed_on_another_instance_every_instance_can_use_graph(
        instances: Start, teams: Teams, data: Repository, sandbox: RunningSandbox, tmp_path: Path,
        pg_url: str) -> None:
    """Entra had not applied the consent yet when its first redirect reached A: A's token carries no roles
    (and tokens live an hour). The admin tries again and that redirect reaches B. A must not go on using
    its token without roles: people booking through A would be refused for up to an hour."""
    prepare_data(tmp_path, pg_url)  # rooms registered and booking on, but not connected yet
    data.save_settings(replace(data.get_settings(), connected=False))
    data.add_admin(Admin(key=ALEX[0], roles=(ROLE_ADMIN,), added_by="test"))
    sandbox.state.consents.clear()
    a, b = await instances(2)

    state = dict(parse_qsl(urlsplit(_open_url(await teams.say(a, "connect"))).query))["state"]
    status, page = await _land(teams, a, f"/api/consent?state={state}&tenant={TENANT_ID}&admin_consent=True")
    assert status == 400 and "neither of its application permissions" in page, page  # not applied yet
    await asyncio.sleep(UNPROVEN_TOKEN_RETRY_S)  # the admin reads that and runs connect again
    status, page = await _land(teams, b, await _grant(sandbox, _open_url(await teams.say(a, "connect"))))
    assert status == 200 and "RoomBot is connected" in page, page

    for bot in (a, b):
        results = await teams.submit(bot, form(tomorrow(), "10:00"), user=MEGAN)
        assert buttons(results, "book"), card_text(results)[:1500]
    booked = await teams.submit(a, buttons(results, "book")[0], user=MEGAN)
    assert "Booked:" in card_text(booked), card_text(booked)[:1500]
    [booking] = data.list_bookings_for_user(MEGAN[0])
    assert booking.event_id in sandbox.state.graph.events[booking.room_email]

# --- 2. one booking, three instances ----------------------------------------------------------

def _events(sandbox: RunningSandbox, room: str) -> list[tuple[datetime, datetime, str]]:
    """The room's calendar in the sandbox, as (start, end, subject), cancelled events left out."""
    return sorted((e.start, e.end, e.doc.get("subject", "")) for e in sandbox.state.graph.events.get(room, {}).values()
                  if not e.cancelled)


def _hhmm(value: datetime) -> str:
    return value.astimezone(ZoneInfo(ZONE)).strftime("%H:%M")


def _only(card: dict[str, Any], verb: str, **match: Any) -> dict[str, Any]:
    [found] = [b for b in buttons(card, verb) if all(b.get(k) == v for k, v in match.items())]
    return found


async def _book(teams: Teams, bot: BotProcess, data: Repository, start: datetime, *, user: Person = ALEX,
                minutes: int = 30, subject: str = "Sync") -> Booking:
    """Find a room and press its Book button, both on `bot`; the booking as recorded."""
    day, hhmm = start.astimezone(ZoneInfo(ZONE)).date(), _hhmm(start)
    results = await teams.submit(bot, form(day, hhmm, duration=minutes, subject=subject), user=user)
    booked = await teams.submit(bot, buttons(results, "book")[0], user=user)
    assert "Booked:" in card_text(booked), card_text(booked)[:2000]
    return max(data.list_bookings_for_user(user[0]), key=lambda b: b.created_at)


async def test_a_booking_made_on_a_is_listed_and_extended_on_b_and_cancelled_on_c(
        instances: Start, teams: Teams, data: Repository, sandbox: RunningSandbox, tmp_path: Path,
        pg_url: str) -> None:
    prepare_data(tmp_path, pg_url)  # connected, booking on, the demo rooms
    a, b, c = await instances(3)
    day = tomorrow()

    booking = await _book(teams, a, data, local(day, 10), subject="Planning")
    room = booking.room_email
    assert (booking.start, booking.end, booking.status) == (local(day, 10), local(day, 10, 30), "booked")
    assert _events(sandbox, room) == [(local(day, 10), local(day, 10, 30), "Planning")]

    listing = await teams.say(b, "my bookings")
    assert "Planning" in card_text(listing) and "10:00–10:30" in card_text(listing)
    assert [press["booking"] for press in buttons(listing, "cancel")] == [booking.id]

    extended = await teams.execute(b, _only(listing, "extend", minutes=30))
    assert "Extended:" in card_text(extended) and "10:00–11:00" in card_text(extended), card_text(extended)
    assert _events(sandbox, room) == [(local(day, 10), local(day, 11), "Planning")]
    after = data.get_booking(booking.id)
    assert (after.start, after.end, after.event_id, after.status) == (local(day, 10), local(day, 11),
                                                                      booking.event_id, "booked")

    stale = await teams.execute(c, _only(listing, "extend", minutes=30))  # B's old card, pressed on C
    assert "changed since this card was shown" in card_text(stale)
    assert _events(sandbox, room) == [(local(day, 10), local(day, 11), "Planning")]

    [cancel] = buttons(extended, "cancel")
    done = await teams.execute(c, {**cancel, f"reason-{booking.id}": "Plans changed"})
    assert "Cancelled:" in card_text(done) and "You have no upcoming bookings." in card_text(done)
    assert _events(sandbox, room) == []
    assert data.get_booking(booking.id).status == "cancelled"
    [mail] = [m for m in sandbox.state.graph.outbox if m["kind"] == "cancellation"]
    assert mail["event"] == booking.event_id and mail["comment"].endswith("Reason: Plans changed")
    assert "You have no upcoming bookings." in card_text(await teams.say(a, "my bookings"))


# --- 3. two presses on one booking at once, on two instances ------------------------------------

def _writes(sandbox: RunningSandbox, name: str) -> int:
    return sandbox.state.stats[name]


async def test_two_presses_on_one_booking_at_once_on_two_instances_act_once(
        instances: Start, teams: Teams, data: Repository, sandbox: RunningSandbox, tmp_path: Path,
        pg_url: str) -> None:
    prepare_data(tmp_path, pg_url)
    a, b = await instances(2)
    sandbox.state.faults = Faults(latency_ms=40)  # Graph answers as slowly as a tenant's: the presses overlap
    day = tomorrow()

    # One Book button pressed on A and on B at the same moment: one booking, one event.
    results = await teams.submit(a, form(day, "08:00"))
    press = buttons(results, "book")[0]
    creates_before = _writes(sandbox, "POST create_event")
    answers = await asyncio.gather(teams.submit(a, press), teams.submit(b, press))
    assert all("Booked:" in card_text(answer) for answer in answers), [card_text(x)[:500] for x in answers]
    [first] = data.list_bookings_for_user(ALEX[0])
    assert (first.room_email, first.start, first.status) == (press["room"], local(day, 8), "booked")
    assert [start for start, _, _ in _events(sandbox, press["room"])] == [local(day, 8)]
    assert _writes(sandbox, "POST create_event") - creates_before == 1

    # Cancel pressed on A and on B at the same moment, for each of three bookings.
    booked = [await _book(teams, a, data, local(day, 9 + k)) for k in range(3)]
    listing = await teams.say(a, "my bookings")
    assert len(buttons(listing, "cancel")) == 4
    cancels_before = _writes(sandbox, "POST cancel_event")
    for booking in booked:
        press = {**_only(listing, "cancel", booking=booking.id), f"reason-{booking.id}": ""}
        answers = await asyncio.gather(teams.execute(a, press), teams.execute(b, press))
        assert all("Cancelled:" in card_text(answer) for answer in answers), [card_text(x)[:500] for x in answers]
        assert data.get_booking(booking.id).status == "cancelled"
        assert booking.event_id not in sandbox.state.graph.events.get(booking.room_email, {})
    assert _writes(sandbox, "POST cancel_event") - cancels_before == len(booked)  # one each, not two
    mails = [m["event"] for m in sandbox.state.graph.outbox if m["kind"] == "cancellation"]
    assert sorted(mails) == sorted(b.event_id for b in booked)

    # Move to another room on A and Cancel on B, at once: whichever goes first, the booking ends up cancelled
    # and neither room keeps an event for it (a cancel that missed the move would leave the new one behind).
    moving = await _book(teams, a, data, local(day, 13))
    listing = await teams.say(a, "my bookings")
    change = await teams.submit(a, _only(listing, "change", booking=moving.id))
    inputs = {i["id"]: i.get("value") for i in elements(change, "Input.")}
    move = buttons(await teams.submit(a, {**_only(change, "change_rooms"), **inputs}), "move")[0]
    cancel = {**_only(listing, "cancel", booking=moving.id), f"reason-{moving.id}": ""}
    await asyncio.gather(teams.execute(a, move), teams.execute(b, cancel))
    assert data.get_booking(moving.id).status == "cancelled"
    for room in (moving.room_email, move["room"]):
        assert [e for e in _events(sandbox, room) if e[0] < local(day, 13, 30) and e[1] > local(day, 13)] == []

    # Extend on A and End now on B, at once, on a booking in progress: one acts, the other's card is out of date.
    now = datetime.now(UTC)
    running = await _book(teams, a, data, now.replace(second=0, microsecond=0) - timedelta(minutes=1), minutes=60)
    listing = await teams.say(b, "my bookings")
    assert "in progress" in card_text(listing)
    patches_before = _writes(sandbox, "PATCH update_event")
    extended, ended = await asyncio.gather(teams.execute(a, _only(listing, "extend", booking=running.id, minutes=15)),
                                           teams.execute(b, _only(listing, "end_now", booking=running.id)))
    acted = ["Extended:" in card_text(extended), "Ended at" in card_text(ended)]
    stale = ["changed since this card was shown" in card_text(x) for x in (extended, ended)]
    assert sorted(acted) == [False, True] and stale == [not done for done in acted], \
        [card_text(x)[:800] for x in (extended, ended)]
    assert _writes(sandbox, "PATCH update_event") - patches_before == 1
    after = data.get_booking(running.id)
    event = sandbox.state.graph.events[running.room_email][running.event_id]
    assert (event.start, event.end) == (after.start, after.end) == (running.start, after.end)
    if acted[0]:
        assert after.end == running.end + timedelta(minutes=15)
    else:
        assert now.replace(microsecond=0) <= after.end <= datetime.now(UTC)  # ended to the second


# --- 4. a question asked on one instance, answered on another -------------------------------------

async def test_a_question_asked_on_one_instance_is_answered_on_another(
        instances: Start, teams: Teams, data: Repository, sandbox: RunningSandbox, tmp_path: Path,
        pg_url: str) -> None:
    prepare_data(tmp_path, pg_url)
    a, b, c = await instances(3)
    day = tomorrow()

    question = await teams.say(a, "a room for 4 tomorrow please")
    assert "What time on" in card_text(question) and not buttons(question, "book")
    results = await teams.say(b, "3pm for an hour")  # the answer reaches B: it goes on with what A asked
    offers = buttons(results, "book")
    slots = {(datetime.fromisoformat(o["start"]), datetime.fromisoformat(o["end"])) for o in offers}
    assert offers and slots == {(local(day, 15), local(day, 16))}, offers
    assert {o["q"]["capacity"] for o in offers} == {4}  # kept by the question A asked
    rooms = {room.email: room for room in data.list_rooms()}
    assert all(rooms[o["room"]].capacity >= 4 for o in offers)

    booked = await teams.submit(c, offers[0])  # and the Book button is pressed on C
    assert "Booked:" in card_text(booked)
    [booking] = data.list_bookings_for_user(ALEX[0])
    assert (booking.room_email, booking.start, booking.end) == (offers[0]["room"], local(day, 15), local(day, 16))
    assert (local(day, 15), local(day, 16)) in [(s, e) for s, e, _ in _events(sandbox, booking.room_email)]

    again = await teams.say(a, "3pm for an hour")  # answered once, on B: A asks nothing any more
    assert "What time" not in card_text(again)
    assert {o["q"]["capacity"] for o in buttons(again, "book")} <= {1}


# --- 5. the room registry, changed on one instance, seen on another -------------------------------

async def _offered(teams: Teams, bot: BotProcess, floor_id: str) -> set[str]:
    """The rooms Megan is offered on that floor tomorrow at 10, asking `bot`."""
    results = await teams.submit(bot, form(tomorrow(), "10:00", place=f"f:{floor_id}"), user=MEGAN)
    return {offer["room"] for offer in buttons(results, "book")}


async def _until(check: Callable[[], Awaitable[bool]], within_s: float) -> float:
    """Seconds until `check` holds; fails past `within_s`."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    while not await check():
        assert loop.time() - began < within_s, f"not seen within {within_s} s"
        await asyncio.sleep(0.1)
    return loop.time() - began


async def test_a_room_registered_on_one_instance_is_bookable_on_another_a_moment_later(
        instances: Start, teams: Teams, data: Repository, sandbox: RunningSandbox, tmp_path: Path, pg_url: str,
        report: Callable[[str], None]) -> None:
    prepare_data(tmp_path, pg_url)
    data.add_admin(Admin(key=ALEX[0], roles=(ROLE_ADMIN,), added_by="test"))
    sandbox.state.add_mailboxes(generated_rooms(1))  # room00001: in Places, not registered yet
    new = "room00001@example.com"
    a, b = await instances(2)
    floor = data.get_floor(data.list_rooms()[0].floor_id)  # a floor with rooms on it
    before = await _offered(teams, b, floor.id)  # B has read the registry: it keeps it in memory
    assert before and new not in before

    opened = await teams.submit(a, _only(await teams.say(a, "rooms"), "floor_open", floor=floor.id))
    added = await teams.submit(a, {**_only(opened, "room_add"), "email": new, "name": "", "capacity": "",
                                   "features": "", "unlisted": "false"})
    assert f"Added Room 1 ({new})." in card_text(added), card_text(added)[:2000]
    assert data.get_room(new).floor_id == floor.id

    async def offered_on_b() -> bool:
        return new in await _offered(teams, b, floor.id)
    seen_after = await _until(offered_on_b, REGISTRY_RECHECK_S + 4)  # re-checked every REGISTRY_RECHECK_S
    results = await teams.submit(b, form(tomorrow(), "10:00", place=f"f:{floor.id}"), user=MEGAN)
    booked = await teams.submit(b, _only(results, "book", room=new), user=MEGAN)
    assert "Booked:" in card_text(booked), card_text(booked)[:2000]
    [booking] = data.list_bookings_for_user(MEGAN[0])
    assert booking.room_email == new and booking.start == local(tomorrow(), 10)
    assert _events(sandbox, new) == [(local(tomorrow(), 10), local(tomorrow(), 10, 30), booking.subject)]

    # Removed on A: B stops offering it, and a Book button for it shown before is refused.
    stale_offer = _only(await teams.submit(b, form(tomorrow(), "11:00", place=f"f:{floor.id}"), user=MEGAN),
                        "book", room=new)
    edited = await teams.submit(a, _only(await teams.say(a, "rooms"), "floor_open", floor=floor.id))
    ask = await teams.submit(a, _only(edited, "room_remove", room=new))
    assert f"Removed {new}." in card_text(await teams.submit(a, buttons(ask, "room_remove_confirm")[0]))

    async def gone_on_b() -> bool:
        return new not in await _offered(teams, b, floor.id)
    gone_after = await _until(gone_on_b, REGISTRY_RECHECK_S + 4)
    refused = await teams.submit(b, stale_offer, user=MEGAN)
    assert "not one I can book" in card_text(refused) and "Booked:" not in card_text(refused), card_text(refused)
    assert _events(sandbox, new) == [(local(tomorrow(), 10), local(tomorrow(), 10, 30), booking.subject)]
    report(f"instances: a room registered on one instance was offered on another after {seen_after:.1f} s, "
           f"and no longer offered {gone_after:.1f} s after its removal (registry re-checked every "
           f"{REGISTRY_RECHECK_S:g} s)")
