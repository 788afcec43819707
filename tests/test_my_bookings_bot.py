"""`my bookings` and `all bookings` through the bot's HTTP edge: every change lands in the sandbox's
room calendar exactly as expected, stale and forged presses change nothing, a booking admin's
cancel reaches the booker proactively."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestClient

from app import CALENDAR_KEY
from domain.calendar import TimeSlot
from domain.models import ROLE_BOOKING_ADMIN, Admin, Booking
from tests.booking_helpers import (
    ZONE,
    buttons,
    card_text,
    day_label,
    elements,
    execute,
    form,
    local,
    repo,
    room_events,
    sandbox,
    say,
    submit,
    tomorrow,
)
from tests.conftest import ALEX, MEGAN, PEOPLE, Connector

ADELE = PEOPLE[2]


async def _book(bot: TestClient, connector: Connector, start: str = "10:00", *, user=ALEX, **form_args: Any
                ) -> Booking:
    results = await submit(bot, connector, form(tomorrow(), start, **form_args), user=user)
    await submit(bot, connector, buttons(results, "book")[0], user=user)
    return max(repo(bot).list_bookings_for_user(user[0]), key=lambda b: b.created_at)


async def _times(bot: TestClient, room: str) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """The room's events tomorrow as (start, end, subject, attendees), local HH:MM."""
    def hhmm(value: datetime) -> str:
        return value.astimezone(ZoneInfo(ZONE)).strftime("%H:%M")
    return [(hhmm(e.start), hhmm(e.end), e.subject, e.attendees) for e in await room_events(bot, room, tomorrow())]


WRITES = ("POST create_event", "PATCH update_event", "DELETE delete_event", "POST cancel_event")


def _graph_writes(bot: TestClient) -> int:
    return sum(sandbox(bot).state.stats[name] for name in WRITES)


def _note(card: dict[str, Any]) -> str:
    """What a change reports on top of the list (its good note)."""
    [note] = [e["text"] for e in elements(card, "TextBlock") if e.get("color") == "Good"]
    return note


def _one(card: dict[str, Any], verb: str, **match: Any) -> dict[str, Any]:
    [found] = [b for b in buttons(card, verb) if all(b.get(k) == v for k, v in match.items())]
    return found


async def test_list_extend_change_people_and_cancel(bot: TestClient, connector: Connector) -> None:
    booking = await _book(bot, connector, "10:00", subject="Sync")
    room = booking.room_email
    listing = await say(bot, connector, "my bookings")
    text = card_text(listing)
    assert "My bookings" in text and "10:00–10:30" in text and "Sync" in text
    assert {b["minutes"] for b in buttons(listing, "extend")} == {15, 30, 60}
    assert buttons(listing, "end_now") == []  # not in progress
    assert len(buttons(listing, "change")) == len(buttons(listing, "people")) == len(buttons(listing, "cancel")) == 1

    extended = await execute(bot, connector, _one(listing, "extend", minutes=30))
    name = repo(bot).get_room(room).display_name
    assert _note(extended) == f"Extended: {name}, now {day_label(tomorrow())}, 10:00–11:00."
    assert await _times(bot, room) == [("10:00", "11:00", "Sync", (ALEX[3],))]
    again = await execute(bot, connector, _one(listing, "extend", minutes=30))  # the old card, pressed again
    assert "changed since this card was shown" in card_text(again)
    assert await _times(bot, room) == [("10:00", "11:00", "Sync", (ALEX[3],))]

    change = await submit(bot, connector, buttons(extended, "change")[0])
    inputs = {i["id"]: i.get("value") for i in elements(change, "Input.")}
    assert inputs == {"date": tomorrow().isoformat(), "start": "10:00", "duration": "60", "subject": "Sync"}
    changed = await submit(bot, connector, {**buttons(change, "change_save")[0], **inputs, "subject": "Planning"})
    assert _note(changed) == f"Changed: {name}, subject now “Planning”."  # the time did not change
    assert await _times(bot, room) == [("10:00", "11:00", "Planning", (ALEX[3],))]

    people = await execute(bot, connector, buttons(changed, "people")[0])
    added = await execute(bot, connector, {**buttons(people, "people_save")[0], "add": "MeganB@example.com"})
    assert "With meganb@example.com" in card_text(added)
    assert _note(added) == f"People saved: {name}, added meganb@example.com."
    assert await _times(bot, room) == [("10:00", "11:00", "Planning", (ALEX[3], MEGAN[3]))]
    assert sandbox(bot).state.graph.outbox[-1]["to"] == [MEGAN[3]]  # only Megan was told

    [cancel] = buttons(added, "cancel")
    done = await submit(bot, connector, {**cancel, f"reason-{booking.id}": "Plans changed"})
    assert "You have no upcoming bookings." in card_text(done)
    assert _note(done) == f"Cancelled: {name}, {day_label(tomorrow())}, 10:00–11:00."
    assert await _times(bot, room) == []
    mail = sandbox(bot).state.graph.outbox[-1]
    assert mail["kind"] == "cancellation" and mail["to"] == [ALEX[3], MEGAN[3]]
    assert mail["comment"] == "Cancelled by Alex Wilber in RoomBot. Reason: Plans changed"


async def test_a_change_into_another_booking_is_refused(bot: TestClient, connector: Connector) -> None:
    booking = await _book(bot, connector, "10:00", subject="Sync")
    room = booking.room_email
    await bot.server.app[CALENDAR_KEY].create_event(
        room, subject="Board", slot=TimeSlot(local(tomorrow(), 11), local(tomorrow(), 12)),
        attendees=[(MEGAN[3], MEGAN[1])], transaction_id="board-meeting-1")
    listing = await say(bot, connector, "my bookings")
    change = await submit(bot, connector, buttons(listing, "change")[0])
    refused = await submit(bot, connector, {**buttons(change, "change_save")[0], "date": tomorrow().isoformat(),
                                            "start": "10:30", "duration": "60", "subject": "Longer"})
    assert "is not free then. Nothing was changed." in card_text(refused)
    assert {i["id"]: i.get("value") for i in elements(refused, "Input.")}["start"] == "10:30"  # as typed
    too_long = await execute(bot, connector, _one(listing, "extend", minutes=60))
    assert "booked right after" in card_text(too_long)
    assert await _times(bot, room) == [("10:00", "10:30", "Sync", (ALEX[3],)), ("11:00", "12:00", "Board",
                                                                               (MEGAN[3],))]
    assert repo(bot).get_booking(booking.id) == booking


async def test_forged_actions_on_someone_elses_booking_change_nothing(bot: TestClient,
                                                                     connector: Connector) -> None:
    booking = await _book(bot, connector, "10:00", subject="Sync")
    listing = await say(bot, connector, "my bookings")
    sandbox(bot).state.stats.clear()
    presses = [*buttons(listing, "extend"), *buttons(listing, "change"), *buttons(listing, "people"),
               {**buttons(listing, "people")[0], "action": "people_save", "add": MEGAN[3]},
               {**buttons(listing, "change")[0], "action": "change_save", "date": tomorrow().isoformat(),
                "start": "12:00", "duration": "30", "subject": "Megan's now"},
               {**buttons(listing, "change")[0], "action": "change_rooms", "date": tomorrow().isoformat(),
                "start": "12:00", "duration": "30"},
               {**buttons(listing, "change")[0], "action": "move", "room": "hh-iris@example.com",
                "start": local(tomorrow(), 12).isoformat(), "end": local(tomorrow(), 13).isoformat()},
               {**buttons(listing, "change")[0], "action": "end_now"},
               *buttons(listing, "cancel")]
    for press in presses:  # Megan replays Alex's buttons, as Submit and as Execute
        for answer in (await submit(bot, connector, press, user=MEGAN), await execute(bot, connector, press,
                                                                                        user=MEGAN)):
            assert "Only the person who made a booking can change or cancel it." in card_text(answer), press
            assert "Sync" not in card_text(answer)  # nothing of Alex's booking is shown to her
    for forged_id in ("not-a-booking", 12, None, ["x"]):
        answer = await submit(bot, connector, {"action": "extend", "booking": forged_id, "v": "x", "minutes": 30})
        assert "I can't find that booking." in card_text(answer)
    assert _graph_writes(bot) == 0
    assert repo(bot).get_booking(booking.id) == booking
    assert await _times(bot, booking.room_email) == [("10:00", "10:30", "Sync", (ALEX[3],))]
    # Alex himself cannot move it to a mailbox that is not registered.
    forged_move = {**buttons(listing, "change")[0], "action": "move", "room": "boardroom@example.com",
                   "start": booking.start.isoformat(), "end": booking.end.isoformat()}
    assert "not one I can book" in card_text(await submit(bot, connector, forged_move))
    assert _graph_writes(bot) == 0


async def test_events_deleted_in_exchange_leave_the_list(bot: TestClient, connector: Connector) -> None:
    kept = await _book(bot, connector, "09:00")
    gone = await _book(bot, connector, "14:00")
    assert len(buttons(await say(bot, connector, "my bookings"), "people")) == 2
    await bot.server.app[CALENDAR_KEY].delete_event(gone.room_email, gone.event_id)  # a room admin in Outlook
    listing = await say(bot, connector, "my bookings")
    assert [b["booking"] for b in buttons(listing, "people")] == [kept.id]
    assert "1 booking was deleted from the room calendars outside RoomBot" in card_text(listing)
    assert repo(bot).get_booking(gone.id).status == "cancelled"
    stale = await submit(bot, connector, {"action": "people", "booking": gone.id, "v": "whatever"})
    assert "That booking no longer exists" in card_text(stale)


async def test_move_to_another_room_then_end_now(bot: TestClient, connector: Connector) -> None:
    booking = await _book(bot, connector, "10:00", subject="Sync")
    listing = await say(bot, connector, "my bookings")
    change = await submit(bot, connector, buttons(listing, "change")[0])
    inputs = {i["id"]: i.get("value") for i in elements(change, "Input.")}
    rooms = await submit(bot, connector, {**buttons(change, "change_rooms")[0], **inputs})
    moves = buttons(rooms, "move")
    assert moves and booking.room_email not in {m["room"] for m in moves}
    moved = await submit(bot, connector, moves[0])
    assert "Moved:" in card_text(moved)
    assert await _times(bot, booking.room_email) == []
    assert await _times(bot, moves[0]["room"]) == [("10:00", "10:30", "Sync", (ALEX[3],))]
    assert repo(bot).get_booking(booking.id).room_email == moves[0]["room"]

    # A booking that started a minute ago can be ended now.
    now = datetime.now(UTC)
    start = now.astimezone(ZoneInfo(ZONE)).replace(second=0, microsecond=0) - timedelta(minutes=1)
    results = await submit(bot, connector, form(start.date(), start.strftime("%H:%M"), duration=60))
    await submit(bot, connector, buttons(results, "book")[0])
    listing = await say(bot, connector, "my bookings")
    assert "in progress" in card_text(listing)
    ended = await submit(bot, connector, buttons(listing, "end_now")[0])
    [current] = [b for b in repo(bot).list_bookings_for_user(ALEX[0]) if b.start <= now]
    event = await bot.server.app[CALENDAR_KEY].get_event(current.room_email, current.event_id)
    assert now - timedelta(seconds=1) <= event.end <= datetime.now(UTC) and event.end == current.end
    # Said as the real end, in the user's zone.
    room = repo(bot).get_room(current.room_email).display_name
    assert f"Ended at {event.end.astimezone(ZoneInfo(ZONE)):%H:%M}; {room} is free now." in card_text(ended)


async def test_a_booking_admin_cancels_and_the_booker_is_told(bot: TestClient, connector: Connector) -> None:
    booking = await _book(bot, connector, "10:00", subject="Sync")
    refused = await say(bot, connector, "all bookings", user=ADELE)  # not a booking admin
    assert "only booking admins" in card_text(refused) and "Sync" not in card_text(refused)
    assert repo(bot).list_audit()[0]["outcome"] == "refused"

    repo(bot).add_admin(Admin(key=MEGAN[0], roles=(ROLE_BOOKING_ADMIN,), added_by="test"))
    everyone = await say(bot, connector, "all bookings", user=MEGAN)
    assert "All bookings" in card_text(everyone) and "Booked by alexw@example.com" in card_text(everyone)
    assert buttons(everyone, "extend") == [] and buttons(everyone, "change") == []  # cancel only
    [cancel] = buttons(everyone, "cancel")
    told: list[dict[str, Any]] = []
    done = await submit(bot, connector, {**cancel, f"reason-{booking.id}": "CEO visit"}, user=MEGAN, others=told)
    assert "alexw@example.com was told in Teams." in card_text(done) and "No upcoming bookings." in card_text(done)
    [notice] = told
    assert notice["activity"]["recipient"]["id"] == f"user-{ALEX[0]}"
    assert "Megan Bowen cancelled it: CEO visit" in card_text(notice["activity"])
    assert await _times(bot, booking.room_email) == []
    assert sandbox(bot).state.graph.outbox[-1]["comment"] == "Cancelled by Megan Bowen in RoomBot. Reason: CEO visit"
    again = await submit(bot, connector, {**cancel, f"reason-{booking.id}": "CEO visit"}, user=MEGAN, others=told)
    assert "Cancelled:" in card_text(again) and len(told) == 1  # a second press tells no one again
    help_text = card_text(await say(bot, connector, "help", user=MEGAN))
    assert "all bookings" in help_text and "connect" not in help_text  # a booking admin, not an admin


async def test_find_another_room_for_a_booking_in_progress_offers_only_what_it_moves(
        bot: TestClient, connector: Connector) -> None:
    """Started 4 minutes ago: the rooms offered are those free from now, and Move here moves the
    rest of the meeting there (the part used stays in the old room, ended now)."""
    now = datetime.now(UTC)
    start = now.astimezone(ZoneInfo(ZONE)).replace(second=0, microsecond=0) - timedelta(minutes=4)
    results = await submit(bot, connector, form(start.date(), start.strftime("%H:%M"), duration=60, subject="Sync"))
    await submit(bot, connector, buttons(results, "book")[0])
    [booking] = repo(bot).list_bookings_for_user(ALEX[0])
    listing = await say(bot, connector, "my bookings")
    change = await submit(bot, connector, buttons(listing, "change")[0])
    inputs = {i["id"]: i.get("value") for i in elements(change, "Input.")}
    rooms = await submit(bot, connector, {**buttons(change, "change_rooms")[0], **inputs})
    moves = buttons(rooms, "move")
    assert moves and all(now - timedelta(seconds=1) <= datetime.fromisoformat(m["start"]) <= datetime.now(UTC)
                         and datetime.fromisoformat(m["end"]) == booking.end for m in moves)
    moved = await submit(bot, connector, moves[-1])
    assert "Moved: now in" in card_text(moved) and "Sorry" not in card_text(moved)
    after = repo(bot).get_booking(booking.id)
    assert after.room_email == moves[-1]["room"] and after.end == booking.end and after.start > booking.start
    calendar = bot.server.app[CALENDAR_KEY]
    new = await calendar.get_event(after.room_email, after.event_id)
    old = await calendar.get_event(booking.room_email, booking.event_id)
    assert (new.start, new.end) == (after.start, booking.end)
    assert old.start == booking.start and now - timedelta(seconds=1) <= old.end <= datetime.now(UTC)
