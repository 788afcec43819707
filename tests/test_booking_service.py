"""The booking service against the sandbox: search in chunks, booking as the room, the race rule
between bot processes, unknown outcomes, and rules that never reach Graph."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.booking import (
    BookingDisabled,
    NotConnected,
    RoomNotRegistered,
    RoomTaken,
    SearchRequest,
    SearchResult,
)
from domain.calendar import TimeSlot
from domain.errors import GraphUnavailable, RoomAccessDenied, ValidationFailed
from domain.models import BOOKING_BOOKED, Booking
from graph.calendar import RoomCalendarService
from sandbox.graph_api import TickClock
from sandbox.seed import demo_mailboxes, generated_rooms
from sandbox.server import RunningSandbox
from services.booking import BookingService
from tests.service_helpers import ALEX, MEGAN, ZONE, book, floor_id, org_repo, slot_at


async def _search_over(count: int, sandbox: RunningSandbox, calendar: RoomCalendarService) -> SearchResult:
    """A search with no history over `count` generated rooms, the sandbox's counts cleared just before it."""
    rooms = generated_rooms(count)
    sandbox.state.add_mailboxes(rooms)
    service = BookingService(org_repo(rooms=rooms), calendar)
    sandbox.state.stats.clear()
    slot = slot_at()
    return await service.search(SearchRequest(slot.start, slot.end, ZONE), ALEX.key)


async def test_search_over_160_rooms_asks_one_wave_of_4_calls_when_it_fills_the_page(
        sandbox: RunningSandbox, calendar: RoomCalendarService) -> None:
    result = await _search_over(200, sandbox, calendar)
    assert sandbox.state.stats["POST get_schedule"] == 4  # 80 rooms, in chunks of 20, where 10 calls asked all 200
    assert len(result.free) == 80 and result.considered == 80 and not result.complete
    assert [r.capacity for r in result.free] == sorted(r.capacity for r in result.free)  # smallest first


async def test_search_over_160_rooms_or_fewer_asks_them_all_in_chunks_of_20(sandbox: RunningSandbox,
                                                                           calendar: RoomCalendarService) -> None:
    result = await _search_over(160, sandbox, calendar)
    assert sandbox.state.stats["POST get_schedule"] == 8
    assert len(result.free) == 160 and result.considered == 160 and result.complete


async def test_search_filters_and_ranks_near_the_last_booking(calendar: RoomCalendarService) -> None:
    repo = org_repo()
    service = BookingService(repo, calendar)
    slot = slot_at()
    iris = repo.get_room("hh-iris@example.com")
    repo.add_booking(Booking(id="old", room_email=iris.email, event_id="e", ical_uid="i", booker_aad_id=ALEX.key,
                             booker_email=ALEX.email, start=slot.start - timedelta(days=2),
                             end=slot.end - timedelta(days=2), status=BOOKING_BOOKED,
                             created_at=slot.start - timedelta(days=3)))
    result = await service.search(SearchRequest(slot.start, slot.end, ZONE, min_capacity=4), ALEX.key)
    # capacity 4 first (Iris before Aurora and Harbor: Iris is where Alex booked last), then 6, ...
    assert [r.email for r in result.free[:3]] == ["hh-iris@example.com", "hq-aurora@example.com",
                                                  "hq-harbor@example.com"]
    video = await service.search(SearchRequest(slot.start, slot.end, ZONE, features=("video",)), MEGAN.key)
    assert video.free and all("video" in r.features for r in video.free)


async def test_nothing_free_offers_other_times_and_other_floors(sandbox: RunningSandbox,
                                                                calendar: RoomCalendarService) -> None:
    repo = org_repo()
    service = BookingService(repo, calendar)
    slot = slot_at(hour=10)
    ground = floor_id(repo, "Contoso HQ", "Ground floor")
    busy = TimeSlot(slot.start - timedelta(hours=1), slot.end)  # 09:00-11:00 UTC on the whole ground floor
    for room in repo.list_rooms(floor_id=ground):
        await calendar.create_event(room.email, subject="Busy", slot=busy, attendees=[], transaction_id=room.email)
    request = SearchRequest(slot.start, slot.end, "UTC", floor_id=ground,
                            building_id=repo.get_floor(ground).building_id)
    result = await service.search(request, ALEX.key)
    assert result.free == () and result.considered == 4
    # The nearest earlier time (08:00-09:00), the nearest later one (11:00), then the next nearest.
    assert [s.start for _, s in result.other_times] == [busy.start - timedelta(hours=1), busy.end,
                                                         busy.end + timedelta(minutes=15)]
    assert all(r.floor_id == ground and r.capacity == 2 for r, _ in result.other_times)  # Cirrus fits best
    assert result.other_places and all(r.floor_id != ground for r in result.other_places)
    assert result.other_places[0].building_id == request.building_id  # same building first


async def test_book_creates_the_event_as_the_room_and_invites_everyone(sandbox: RunningSandbox,
                                                                       calendar: RoomCalendarService) -> None:
    repo = org_repo()
    service = BookingService(repo, calendar)
    slot = slot_at()
    outcome = await book(service, "hq-delta@example.com", slot, participants="Megan@Example.com; adelev@example.com")
    assert outcome.created
    [event] = await calendar.calendar_view("hq-delta@example.com", slot)
    assert event.organizer_email == "hq-delta@example.com" and event.subject == "Sync"
    assert event.attendees == ("alexw@example.com", "megan@example.com", "adelev@example.com")
    assert outcome.booking.event_id == event.id and outcome.booking.status == BOOKING_BOOKED
    [mail] = sandbox.state.graph.outbox
    assert mail["kind"] == "invitation" and mail["from"] == "hq-delta@example.com"

    again = await book(service, "hq-delta@example.com", slot)  # the same card pressed again
    assert not again.created and again.booking.id == outcome.booking.id
    assert len(await calendar.calendar_view("hq-delta@example.com", slot)) == 1


class _Gate:
    """A calendar that holds every create until `parties` bookings have passed their pre-check,
    so they all create, then all read back: the worst interleaving of separate bot processes."""

    def __init__(self, calendar: RoomCalendarService, barrier: asyncio.Barrier) -> None:
        self._calendar = calendar
        self._barrier = barrier

    def __getattr__(self, name: str) -> Any:
        return getattr(self._calendar, name)

    async def create_event(self, room: str, **kwargs: Any):
        await self._barrier.wait()
        return await self._calendar.create_event(room, **kwargs)


async def test_two_processes_racing_keep_the_earliest_booking(sandbox: RunningSandbox,
                                                              calendar: RoomCalendarService) -> None:
    barrier = asyncio.Barrier(3)
    # Two bot processes: their own storage, no shared lock, the same room calendar.
    first, second = (BookingService(org_repo(), _Gate(calendar, barrier)) for _ in range(2))
    slot = slot_at()
    results = await asyncio.gather(book(first, "hq-aurora@example.com", slot, ALEX),
                                   book(second, "hq-aurora@example.com", slot, MEGAN),
                                   barrier.wait(), return_exceptions=True)
    outcomes = [r for r in results[:2] if not isinstance(r, BaseException)]
    failures = [r for r in results[:2] if isinstance(r, BaseException)]
    assert len(outcomes) == 1 and len(failures) == 1 and isinstance(failures[0], RoomTaken)
    [event] = await calendar.calendar_view("hq-aurora@example.com", slot)
    assert event.id == outcomes[0].booking.event_id
    kinds = [m["kind"] for m in sandbox.state.graph.outbox]
    assert sorted(kinds) == ["cancellation", "invitation", "invitation"]  # the loser's invitee is told


async def test_a_booking_made_after_the_winner_looked_loses_though_its_time_differs_by_100_ns(
        sandbox: RunningSandbox, calendar: RoomCalendarService) -> None:
    """Graph writes createdDateTime to 100 ns (7 digits); a datetime keeps 1 us. Two events 100 ns
    apart were read as made at the same instant, and the smaller id won the tie: a booking created
    after the winner had read its slot back (and told its person "Booked") could win too."""
    graph = sandbox.state.graph
    graph.clock = TickClock(now=lambda: datetime(2026, 12, 1, 8, tzinfo=UTC))  # Exchange's clock, held still
    for _ in range(7):  # the next two events are written ...:01.1101Z and ...:01.1101001Z
        graph.clock.tick()
    ids = iter(["AAMkAD-z-alex", "AAMkAD-a-megan"])  # the event made later has the smaller id
    graph._new_id = lambda mailbox: next(ids)  # type: ignore[method-assign]

    checked, go = asyncio.Event(), asyncio.Event()

    class Late:
        """Megan's press: it finds the room free, then its POST lands only after Alex's is done."""

        def __getattr__(self, name: str) -> Any:
            return getattr(calendar, name)

        async def create_event(self, room: str, **kwargs: Any):
            checked.set()
            await go.wait()
            return await calendar.create_event(room, **kwargs)

    slot = slot_at()
    room = "hq-cirrus@example.com"
    late = asyncio.create_task(book(BookingService(org_repo(), Late()), room, slot, MEGAN))
    await checked.wait()
    first = await book(BookingService(org_repo(), calendar), room, slot, ALEX)  # alone: booked
    go.set()
    with pytest.raises(RoomTaken):
        await late
    [event] = await calendar.calendar_view(room, slot)
    assert event.id == first.booking.event_id == "AAMkAD-z-alex"


async def test_a_lost_answer_is_read_back_from_the_calendar_without_a_second_event(
        calendar: RoomCalendarService) -> None:
    class LostAnswer:
        def __init__(self) -> None:
            self.lost = 0

        def __getattr__(self, name: str) -> Any:
            return getattr(calendar, name)

        async def create_event(self, room: str, **kwargs: Any):
            await calendar.create_event(room, **kwargs)  # done, but the answer never arrives
            self.lost += 1
            raise GraphUnavailable("the answer was lost")

    repo = org_repo()
    lossy = LostAnswer()
    service = BookingService(repo, lossy)  # no patience: no retry, straight to reading the calendar back
    slot = slot_at()
    outcome = await book(service, "hq-echo@example.com", slot)
    [event] = await calendar.calendar_view("hq-echo@example.com", slot)
    assert lossy.lost == 1 and outcome.created
    assert (outcome.booking.event_id, outcome.booking.status) == (event.id, "booked")
    again = await book(service, "hq-echo@example.com", slot)  # a second press of the card
    assert not again.created and again.booking.id == outcome.booking.id and lossy.lost == 1


async def test_patience_retries_with_the_same_transaction_id(calendar: RoomCalendarService) -> None:
    class LostTwice:
        def __init__(self) -> None:
            self.calls = 0

        def __getattr__(self, name: str) -> Any:
            return getattr(calendar, name)

        async def create_event(self, room: str, **kwargs: Any):
            self.calls += 1
            event = await calendar.create_event(room, **kwargs)
            if self.calls <= 2:
                raise GraphUnavailable("the answer was lost")
            return event

    repo = org_repo()
    lossy = LostTwice()
    service = BookingService(repo, lossy, patience_s=10)
    slot = slot_at()
    outcome = await book(service, "hq-echo@example.com", slot)
    [event] = await calendar.calendar_view("hq-echo@example.com", slot)  # Graph kept one (transactionId)
    assert lossy.calls == 3 and (outcome.booking.event_id, outcome.booking.status) == (event.id, "booked")


async def test_when_even_the_read_back_fails_the_booking_is_unconfirmed_and_kept_pending(
        calendar: RoomCalendarService) -> None:
    from domain.booking import BookingUnconfirmed

    class Down:
        """Graph goes down just as the event is created: its answer and every read after it are lost."""

        def __init__(self) -> None:
            self.down = False
            self.recovered = False

        def __getattr__(self, name: str) -> Any:
            return getattr(calendar, name)

        async def create_event(self, room: str, **kwargs: Any):
            event = await calendar.create_event(room, **kwargs)
            if self.recovered:
                return event
            self.down = True
            raise GraphUnavailable("the answer was lost")

        async def calendar_view(self, room: str, window: Any):
            if self.down:
                raise GraphUnavailable("no answer")
            return await calendar.calendar_view(room, window)

    repo = org_repo()
    flaky = Down()
    service = BookingService(repo, flaky)
    slot = slot_at()
    with pytest.raises(BookingUnconfirmed):
        await book(service, "hq-echo@example.com", slot)
    [pending] = repo.list_bookings_for_user(ALEX.key)
    assert pending.status == "pending"  # kept, with its transactionId, for "Try again" or settling
    flaky.down, flaky.recovered = False, True
    outcome = await book(service, "hq-echo@example.com", slot)  # "Try again"
    [event] = await calendar.calendar_view("hq-echo@example.com", slot)
    assert outcome.booking.id == pending.id and (outcome.booking.event_id, outcome.booking.status) == \
        (event.id, "booked")


async def test_a_room_the_app_may_not_use_is_a_clear_error_and_leaves_nothing(calendar: RoomCalendarService) -> None:
    repo = org_repo(rooms=[b for b in demo_mailboxes() if b.email == "boardroom@example.com"])
    service = BookingService(repo, calendar)
    with pytest.raises(RoomAccessDenied) as caught:
        await book(service, "boardroom@example.com", slot_at())
    assert caught.value.user_message == "The app is not allowed to use this room's calendar."
    assert repo.list_bookings_for_user(ALEX.key) == []


@pytest.mark.parametrize(("change", "error", "message"), [
    ({"connected": False}, NotConnected, "not connected"),
    ({"booking_enabled": False}, BookingDisabled, "switched off"),
])
async def test_closed_booking_never_reaches_graph(sandbox: RunningSandbox, calendar: RoomCalendarService,
                                                  change: dict, error: type, message: str) -> None:
    repo = org_repo()
    repo.save_settings(replace(repo.get_settings(), **change))
    service = BookingService(repo, calendar)
    sandbox.state.stats.clear()
    slot = slot_at()
    with pytest.raises(error) as caught:
        await book(service, "hq-echo@example.com", slot)
    assert message in caught.value.detail
    with pytest.raises(error):
        await service.search(SearchRequest(slot.start, slot.end, ZONE), ALEX.key)
    assert sum(sandbox.state.stats.values()) == 0


@pytest.mark.parametrize(("room", "start", "end", "participants", "message"), [
    ("nope@example.com", 1, 2, "", "not one I can book"),
    ("boardroom@example.com", 1, 2, "", "not one I can book"),  # in the tenant, not registered
    ("hq-echo@example.com", -48, -47, "", "in the past"),
    ("hq-echo@example.com", 2, 1, "", "end must be after the start"),
    ("hq-echo@example.com", 1, 10, "", "at most 8 hours"),
    ("hq-echo@example.com", 24 * 200, 24 * 200 + 1, "", "180 days ahead"),
    ("hq-echo@example.com", 1, 2, "megan@example.com, not-an-email", "'not-an-email' is not a valid email"),
])
async def test_rules_refuse_before_graph(sandbox: RunningSandbox, calendar: RoomCalendarService, room: str,
                                         start: int, end: int, participants: str, message: str) -> None:
    repo = org_repo()
    service = BookingService(repo, calendar)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    sandbox.state.stats.clear()
    with pytest.raises((ValidationFailed, RoomNotRegistered)) as caught:
        await service.book(ALEX, room_email=room, start=now + timedelta(hours=start),
                           end=now + timedelta(hours=end), zone=ZONE, subject="", participants=participants,
                           attempt="attempt-0001")
    assert message in caught.value.detail
    assert sum(sandbox.state.stats.values()) == 0 and repo.list_bookings_for_user(ALEX.key) == []


async def test_a_room_asked_for_by_name_is_the_only_one_searched_and_others_are_offered_when_busy(
        calendar: RoomCalendarService) -> None:
    repo = org_repo()
    service = BookingService(repo, calendar)
    slot = slot_at(hour=10)
    asked = SearchRequest(slot.start, slot.end, ZONE, room_email="hq-aurora@example.com")
    result = await service.search(asked, ALEX.key)
    assert [r.email for r in result.free] == ["hq-aurora@example.com"] and result.considered == 1
    await calendar.create_event("hq-aurora@example.com", subject="Busy", slot=slot, attendees=[],
                                transaction_id="busy-aurora")
    busy = await service.search(asked, MEGAN.key)
    assert busy.free == ()
    assert busy.other_times and all(r.email == "hq-aurora@example.com" for r, _ in busy.other_times)
    assert busy.other_places and "hq-aurora@example.com" not in {r.email for r in busy.other_places}


async def test_a_part_of_the_day_finds_its_first_free_slot(calendar: RoomCalendarService) -> None:
    repo = org_repo()
    service = BookingService(repo, calendar)
    morning = slot_at(hour=8, minutes=4 * 60)  # 08:00-12:00 UTC
    aurora = "hq-aurora@example.com"
    await calendar.create_event(aurora, subject="Busy", slot=TimeSlot(morning.start, morning.start + timedelta(
        minutes=90)), attendees=[], transaction_id="busy-morning")
    hour = timedelta(hours=1)
    request = SearchRequest(morning.start, morning.start + hour, ZONE, room_email=aurora, latest_end=morning.end)
    result = await service.search(request, ALEX.key)
    first = morning.start + timedelta(minutes=90)  # the first quarter hour at which Aurora is free for an hour
    assert (result.request.start, result.request.end, result.request.latest_end) == (first, first + hour, None)
    assert [r.email for r in result.free] == [aurora]
    await calendar.create_event(aurora, subject="Busy", slot=TimeSlot(first, morning.end), attendees=[],
                                transaction_id="busy-rest")
    none = await service.search(request, MEGAN.key)  # no free hour in the morning: the asked start, nothing free
    assert none.free == () and none.request.start == morning.start
