"""RoomBot against Microsoft 365 as Microsoft documents it: the bot's side of each behaviour the
sandbox's contract tests pin down (timestamps, $select, showAs, getSchedule errors, paging, enum case),
plus a booking whose answer cannot be read. Service level, against the sandbox over HTTPS."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.booking import BookingUnconfirmed, CalendarsUnreadable, RoomTaken, SearchRequest, fit_key
from domain.calendar import TimeSlot, makes_busy
from domain.errors import GraphBadAnswer
from graph.calendar import RoomCalendarService, _busy_times, _event_from, hundred_ns, parse_graph_datetime
from sandbox.graph_api import GraphRequest, GraphResponse, error_body, graph_timestamp
from sandbox.seed import generated_rooms
from sandbox.server import RunningSandbox
from services.booking import BookingService
from services.my_bookings import MyBookings
from storage.repository import Repository
from tests.service_helpers import ALEX, MEGAN, ZONE, book, org_repo, slot_at

# --- 1. timestamps ---------------------------------------------------------------------------


def _written(moment: datetime, seventh: int, digits: int, suffix: str) -> str:
    """`moment` (+ a 7th digit) written the way Graph may write it."""
    fraction = f"{moment.microsecond:06d}{seventh}"[:digits].rstrip("0")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + suffix


@settings(max_examples=400, deadline=None)
@given(moment=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)),
       seventh=st.integers(0, 9), digits=st.integers(0, 7),
       offset_minutes=st.one_of(st.none(), st.integers(-14 * 60, 14 * 60)),
       zulu=st.booleans())
def test_every_timestamp_form_graph_writes_is_read(moment: datetime, seventh: int, digits: int,
                                                   offset_minutes: int | None, zulu: bool) -> None:
    if offset_minutes is None:
        suffix, zone = ("Z", UTC) if zulu else ("", UTC)  # no offset: UTC, as RoomBot asks Graph for
    else:
        sign = "-" if offset_minutes < 0 else "+"
        suffix = f"{sign}{abs(offset_minutes) // 60:02d}:{abs(offset_minutes) % 60:02d}"
        zone = timezone(timedelta(minutes=offset_minutes))
    text = _written(moment, seventh, digits, suffix)
    kept = int(f"{moment.microsecond:06d}{seventh}"[:digits].ljust(7, "0")[:6])
    expected = moment.replace(microsecond=kept, tzinfo=zone).astimezone(UTC)
    assert parse_graph_datetime(text) == expected, text
    assert hundred_ns(text) == (seventh if digits == 7 else 0), text  # the digit a datetime drops


def test_what_is_no_graph_time_is_a_bad_answer_not_a_crash() -> None:
    start = {"dateTime": "2026-12-02T09:00:00.0000000", "timeZone": "UTC"}
    good = {"id": "e", "start": start, "end": start, "createdDateTime": "2026-12-01T10:00:00.1Z"}
    assert _event_from(good).created == datetime(2026, 12, 1, 10, 0, 0, 100000, tzinfo=UTC)
    later = _event_from({**good, "createdDateTime": "2026-12-01T10:00:00.1000001Z"})  # 100 ns later
    assert later.created == _event_from(good).created and later.created_order > _event_from(good).created_order
    assert _event_from({**good, "start": {**start, "timeZone": "Pacific Standard Time"}}).start == \
        datetime(2026, 12, 2, 17, tzinfo=UTC)
    for broken in ({**good, "createdDateTime": "yesterday"}, {**good, "start": {"dateTime": 5}},
                   {**good, "start": {**start, "timeZone": "Mars/Olympus"}}, {"id": "e"}, None, []):
        with pytest.raises(GraphBadAnswer):
            _event_from(broken)


async def test_bookings_and_my_bookings_survive_every_digit_count(sandbox: RunningSandbox,
                                                                  calendar: RoomCalendarService) -> None:
    repo = org_repo()
    repo.save_settings(replace(repo.get_settings(), max_bookings_per_day=9))  # nine on one day, by one person
    service = BookingService(repo, calendar)
    slots = [slot_at(hour=8 + i, minutes=30) for i in range(9)]
    for i, slot in enumerate(slots):
        await book(service, "hq-echo@example.com", slot, attempt=f"attempt-{i:04d}")
    shown = {len(graph_timestamp(e.created)[20:-1]) for e in sandbox.state.graph.events["hq-echo@example.com"].values()}
    assert shown == set(range(8))  # the sandbox wrote 0 to 7 digits
    listing = await MyBookings(repo, calendar, service).upcoming(ALEX.key)
    assert [(b.start, b.status) for b in listing.bookings] == [(s.start, "booked") for s in slots]
    assert listing.unreadable == ()


# --- 2. the race rule needs creation times, which $select never returns --------------------


@pytest.mark.parametrize("timestamps_in_select", [False, True])
async def test_an_outlook_booking_made_just_before_the_post_keeps_the_slot(
        sandbox: RunningSandbox, calendar: RoomCalendarService, timestamps_in_select: bool) -> None:
    graph = sandbox.state.graph
    graph.select_timestamps = timestamps_in_select  # Graph never does; RoomBot must not depend on either
    slot = slot_at()
    room = "hq-echo@example.com"

    def outlook_first(mailbox: str) -> None:  # Megan books the room in Outlook between RoomBot's check and POST
        graph.before_create = None
        graph.add_outlook_booking(room, "meganb@example.com", slot.start, slot.end)

    graph.before_create = outlook_first
    repo = org_repo()
    with pytest.raises(RoomTaken):
        await book(BookingService(repo, calendar), room, slot)
    [left] = await calendar.calendar_view(room, slot)
    assert left.organizer_email == "meganb@example.com" and not left.made_by_roombot(room)
    assert repo.list_bookings_for_user(ALEX.key) == []  # RoomBot's own event was cancelled, its record gone


async def test_an_outlook_booking_made_after_roombots_does_not_unseat_it(sandbox: RunningSandbox,
                                                                       calendar: RoomCalendarService) -> None:
    repo = org_repo()
    slot = slot_at()
    outcome = await book(BookingService(repo, calendar), "hq-echo@example.com", slot)
    sandbox.state.graph.add_outlook_booking("hq-echo@example.com", "meganb@example.com", slot.start, slot.end)
    listing = await MyBookings(repo, calendar, BookingService(repo, calendar)).upcoming(ALEX.key)
    assert [b.id for b in listing.bookings] == [outcome.booking.id]


# --- 3. showAs: an FYI hold leaves the room free, for search and for Book alike ------------


@pytest.mark.parametrize(("status", "free"), [("free", True), ("Free", True), ("tentative", False), ("busy", False),
                                              ("oof", False), ("workingElsewhere", False)])
async def test_search_and_book_agree_on_show_as(sandbox: RunningSandbox, calendar: RoomCalendarService,
                                               status: str, free: bool) -> None:
    room = "hq-cirrus@example.com"  # the smallest room: first in the results when it is free
    slot = slot_at()
    sandbox.state.graph.add_outlook_booking(room, "meganb@example.com", slot.start, slot.end,
                                            subject="FYI: offsite", show_as=status)
    service = BookingService(org_repo(), calendar)
    result = await service.search(SearchRequest(slot.start, slot.end, ZONE), ALEX.key)
    assert (room in [r.email for r in result.free]) is free
    if free:
        outcome = await book(service, room, slot)
        assert outcome.booking.status == "booked"
    else:
        with pytest.raises(RoomTaken):
            await book(service, room, slot)


def test_schedule_items_and_availability_view_use_the_same_rule() -> None:
    start = datetime(2026, 12, 2, 9, tzinfo=UTC)
    window = TimeSlot(start, start + timedelta(hours=2))

    def item(status: str, minutes: int) -> dict[str, Any]:
        at = start + timedelta(minutes=minutes)
        return {"status": status, "start": {"dateTime": at.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"},
                "end": {"dateTime": (at + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S.0000000"),
                        "timeZone": "UTC"}}

    busy = _busy_times({"scheduleItems": [item("FREE", 0), item("tentative", 30), item("oof", 60),
                                          item("workingElsewhere", 90)]}, window, 30)
    assert [b.start.minute for b in busy] == [30, 0, 30]
    assert [b.start.minute for b in _busy_times({"availabilityView": "0120"}, window, 30)] == [30, 0]
    assert not makes_busy("Free") and makes_busy("unknown") and makes_busy(None)


# --- 4. getSchedule: one bad mailbox hides nothing else --------------------------------------


def _in_rank_order(repo: Repository) -> list[str]:
    """The registered rooms as a search with no history asks about them: smallest first, then by name."""
    return [r.email for r in sorted(repo.list_rooms(), key=lambda r: fit_key(r, None))]


@pytest.mark.parametrize("trouble", ["denied", "deleted", "not in Exchange Online"])
async def test_a_room_that_cannot_be_read_is_reported_and_the_rest_of_its_chunk_searched(
        sandbox: RunningSandbox, calendar: RoomCalendarService, trouble: str) -> None:
    repo = org_repo()
    rooms = _in_rank_order(repo)
    anchor, middle = rooms[0], rooms[5]  # the chunk is asked through its first room
    for email in (anchor, middle):
        box = sandbox.state.graph.mailboxes[email]
        if trouble == "denied":
            box.app_access_denied = True
        elif trouble == "deleted":
            del sandbox.state.graph.mailboxes[email]
        else:
            box.exchange_online = False
    sandbox.state.stats.clear()
    slot = slot_at()
    result = await BookingService(repo, calendar).search(SearchRequest(slot.start, slot.end, ZONE), ALEX.key)
    assert {r.email for r in result.free} == set(rooms) - {anchor, middle}
    assert {r.email for r, _ in result.unreadable} == {anchor, middle}
    assert sandbox.state.stats["POST get_schedule"] == 2  # once through the bad room, once through the next


async def test_an_anchor_refused_in_other_words_is_passed_over_too(sandbox: RunningSandbox,
                                                                    calendar: RoomCalendarService) -> None:
    repo = org_repo()
    rooms = _in_rank_order(repo)

    def deleted_anchor(request: GraphRequest, answer: GraphResponse) -> GraphResponse:
        if request.path.lower().startswith(f"/users/{rooms[0]}/calendar/"):
            return GraphResponse(404, error_body("ResourceNotFound", "Resource could not be discovered."))
        return answer

    sandbox.state.graph.answer_filter = deleted_anchor
    slot = slot_at()
    result = await BookingService(repo, calendar).search(SearchRequest(slot.start, slot.end, ZONE), ALEX.key)
    assert {r.email for r in result.free} == set(rooms) - {rooms[0]}
    assert [r.email for r, _ in result.unreadable] == [rooms[0]]


async def test_when_no_room_can_be_read_search_says_so_instead_of_nothing_free(sandbox: RunningSandbox,
                                                                             calendar: RoomCalendarService) -> None:
    sandbox.state.consents.clear()  # consent withdrawn: the next token carries no roles
    sandbox.state.tokens.clear()
    slot = slot_at()
    with pytest.raises(CalendarsUnreadable) as caught:
        await BookingService(org_repo(), calendar).search(SearchRequest(slot.start, slot.end, ZONE), ALEX.key)
    assert "could not read any room's calendar" in caught.value.message


# --- 9. paging ------------------------------------------------------------------------------


async def test_every_room_in_places_is_listed_though_places_gives_no_next_link(sandbox: RunningSandbox,
                                                                             calendar: RoomCalendarService) -> None:
    sandbox.state.add_mailboxes(generated_rooms(250))
    expected = {b.email for b in sandbox.state.graph.mailboxes.values() if b.kind == "room" and b.in_places}
    sandbox.state.stats.clear()
    assert {r.email for r in await calendar.list_directory_rooms()} == expected
    assert sandbox.state.stats["GET list_places_rooms"] == -(-len(expected) // 100)


async def test_the_race_check_reads_every_page_of_the_calendar(sandbox: RunningSandbox,
                                                              calendar: RoomCalendarService) -> None:
    room = "hq-echo@example.com"
    slot = slot_at(minutes=60)
    graph = sandbox.state.graph
    for i in range(12):  # twelve FYI holds: more than a default page of ten
        graph.add_outlook_booking(room, "meganb@example.com", slot.start + timedelta(minutes=i),
                                  slot.end, show_as="free")
    graph.before_create = lambda _: graph.add_outlook_booking(room, "meganb@example.com", slot.start, slot.end)
    with pytest.raises(RoomTaken):  # the busy booking is the thirteenth event, on the second page
        await book(BookingService(org_repo(), calendar), room, slot)


# --- a booking whose answer cannot be read ---------------------------------------------------


def _garble(what: str):
    def answer_filter(request: GraphRequest, answer: GraphResponse) -> GraphResponse:
        if isinstance(answer.body, dict) and (what == "all" or request.method == "POST"):
            for doc in [answer.body, *(answer.body.get("value") or [])]:
                if isinstance(doc, dict) and "createdDateTime" in doc:
                    doc["createdDateTime"] = "2026-13-45T99:00:00Z"
        return answer
    return answer_filter


async def test_an_unreadable_answer_to_book_is_settled_from_the_calendar(sandbox: RunningSandbox,
                                                                        calendar: RoomCalendarService) -> None:
    sandbox.state.graph.answer_filter = _garble("create")
    repo = org_repo()
    slot = slot_at()
    outcome = await book(BookingService(repo, calendar, patience_s=30), "hq-echo@example.com", slot)
    [event] = await calendar.calendar_view("hq-echo@example.com", slot)
    assert (outcome.booking.event_id, outcome.booking.status) == (event.id, "booked")
    assert sandbox.state.stats["POST create_event"] == 1  # no retry loop on an answer that will not read better


async def test_when_no_answer_can_be_read_the_user_hears_the_truth_and_the_record_is_kept(
        sandbox: RunningSandbox, calendar: RoomCalendarService) -> None:
    sandbox.state.graph.answer_filter = _garble("all")
    repo = org_repo()
    service = BookingService(repo, calendar)
    slot = slot_at()
    with pytest.raises(BookingUnconfirmed) as caught:
        await book(service, "hq-echo@example.com", slot)
    assert "can't tell yet whether the room was booked" in caught.value.message
    [pending] = repo.list_bookings_for_user(ALEX.key)
    assert pending.status == "pending" and len(sandbox.state.graph.events["hq-echo@example.com"]) == 1
    sandbox.state.graph.answer_filter = None
    later = BookingService(repo, calendar, clock=lambda: datetime.now(UTC) + timedelta(minutes=5))
    listing = await MyBookings(repo, calendar, later).upcoming(ALEX.key)
    assert [(b.id, b.status) for b in listing.bookings] == [(pending.id, "booked")]


async def test_megan_and_alex_in_one_chunk_unaffected_by_show_as_case(sandbox: RunningSandbox,
                                                                     calendar: RoomCalendarService) -> None:
    """Enum values come back in any case from an implementation that echoes them: "Busy" still blocks."""
    slot = slot_at()
    room = "hq-aurora@example.com"
    event = sandbox.state.graph.add_outlook_booking(room, "meganb@example.com", slot.start, slot.end)
    event.doc["showAs"] = "Busy"
    with pytest.raises(RoomTaken):
        await book(BookingService(org_repo(), calendar), room, slot, MEGAN)


async def test_a_create_answer_without_created_time_is_judged_by_the_calendars_copy(
        sandbox: RunningSandbox, calendar: RoomCalendarService) -> None:
    slot = slot_at()
    graph = sandbox.state.graph

    def drop_created_then_outlook(request: GraphRequest, answer: GraphResponse) -> GraphResponse:
        if request.method == "POST" and isinstance(answer.body, dict):
            answer.body.pop("createdDateTime", None)
            # Megan books the room in Outlook right after RoomBot's event was made: RoomBot's stays.
            graph.add_outlook_booking("hq-echo@example.com", "meganb@example.com", slot.start, slot.end)
        return answer

    graph.answer_filter = drop_created_then_outlook
    outcome = await book(BookingService(org_repo(), calendar), "hq-echo@example.com", slot)
    assert outcome.booking.status == "booked"
