"""Managing bookings against the sandbox: the list as the room calendars have it, changes with the
race rule, moves that never leave the user with neither room, people, end now, cancel, and the
ownership and stale-card checks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.booking import NotYourBooking, RoomNotRegistered, RoomTaken
from domain.calendar import TimeSlot
from domain.errors import ValidationFailed
from domain.models import BOOKING_BOOKED, BOOKING_CANCELLED, BOOKING_PENDING, Booking
from domain.my_bookings import BookingGone, StaleCard, booking_version
from graph.calendar import RoomCalendarService
from sandbox.server import RunningSandbox
from services.booking import BookingService
from services.my_bookings import MyBookings
from storage.repository import Repository
from tests.service_helpers import ALEX, MEGAN, book, org_repo, slot_at

ROOM = "hq-delta@example.com"


def _services(calendar: Any) -> tuple[Repository, BookingService, MyBookings]:
    repo = org_repo()
    service = BookingService(repo, calendar)
    return repo, service, MyBookings(repo, calendar, service)


async def _booked(service: BookingService, slot: TimeSlot, room: str = ROOM, attempt: str = "attempt-0001",
                  **extra: Any) -> Booking:
    return (await book(service, room, slot, attempt=attempt, **extra)).booking


def _mails(sandbox: RunningSandbox) -> list[tuple[str, tuple[str, ...]]]:
    return [(m["kind"], tuple(m["to"])) for m in sandbox.state.graph.outbox]


async def _events(calendar: RoomCalendarService, room: str, day: TimeSlot) -> list[tuple[datetime, datetime, str]]:
    window = TimeSlot(day.start - timedelta(hours=6), day.end + timedelta(hours=6))
    return [(e.start, e.end, e.subject) for e in await calendar.calendar_view(room, window)]


async def test_the_list_follows_the_room_calendars(sandbox: RunningSandbox, calendar: RoomCalendarService) -> None:
    repo, service, mine = _services(calendar)
    early, late = slot_at(hour=9), slot_at(hour=13)
    first = await _booked(service, late, attempt="attempt-late")
    second = await _booked(service, early, room="hq-echo@example.com", attempt="attempt-early")
    await _booked(service, slot_at(hour=15), booker=MEGAN, attempt="attempt-megan")
    listing = await mine.upcoming(ALEX.key)
    assert [b.id for b in listing.bookings] == [second.id, first.id]  # soonest first, only Alex's

    # In Exchange, one is moved an hour later and the other is deleted.
    moved = TimeSlot(late.start + timedelta(hours=1), late.end + timedelta(hours=1))
    await calendar.update_event(ROOM, first.event_id, slot=moved, subject="Moved in Outlook")
    await calendar.delete_event("hq-echo@example.com", second.event_id)
    listing = await mine.upcoming(ALEX.key)
    [shown] = listing.bookings
    assert (shown.start, shown.end, shown.subject) == (moved.start, moved.end, "Moved in Outlook")
    assert listing.dropped == 1
    assert repo.get_booking(first.id) == shown  # the record was repaired
    assert repo.get_booking(second.id).status == BOOKING_CANCELLED


async def test_a_pending_record_is_settled_from_the_calendar(sandbox: RunningSandbox,
                                                             calendar: RoomCalendarService) -> None:
    repo, service, mine = _services(calendar)
    slot, lost = slot_at(hour=9), slot_at(hour=11)
    old = datetime.now(UTC) - timedelta(minutes=5)

    def pending(slot: TimeSlot, transaction_id: str) -> Booking:
        return repo.add_booking(Booking(
            id=uuid.uuid4().hex, room_email=ROOM, event_id="", ical_uid="", booker_aad_id=ALEX.key,
            booker_email=ALEX.email, start=slot.start, end=slot.end, subject="Sync", attendees=(ALEX.email,),
            status=BOOKING_PENDING, created_at=old, attempt_key=f"{ALEX.key}:{transaction_id}",
            transaction_id=transaction_id))

    made = pending(slot, "tx-made-000001")  # the POST went through, its answer was lost
    never = pending(lost, "tx-never-00001")  # the POST never reached Graph
    event = await calendar.create_event(ROOM, subject="Sync", slot=slot, attendees=[(ALEX.email, "Alex")],
                                        transaction_id="tx-made-000001")
    listing = await mine.upcoming(ALEX.key)
    [settled] = listing.bookings
    assert settled.id == made.id and settled.event_id == event.id and settled.status == BOOKING_BOOKED
    assert repo.get_booking(never.id) is None


async def test_extend_when_free_after_and_refuse_when_not(sandbox: RunningSandbox,
                                                          calendar: RoomCalendarService) -> None:
    repo, service, mine = _services(calendar)
    slot = slot_at(hour=9)
    booking = await _booked(service, slot)
    longer = await mine.extend(ALEX.key, booking.id, booking_version(booking), 30)
    assert longer.end == slot.end + timedelta(minutes=30)
    assert await _events(calendar, ROOM, slot) == [(slot.start, longer.end, "Sync")]

    # Megan books right after; Alex cannot extend into it, and nothing changes.
    after = TimeSlot(longer.end, longer.end + timedelta(minutes=30))
    await _booked(service, after, booker=MEGAN, attempt="attempt-megan")
    with pytest.raises(RoomTaken):
        await mine.extend(ALEX.key, booking.id, booking_version(longer), 15)
    events = await _events(calendar, ROOM, slot)
    assert events == [(slot.start, longer.end, "Sync"), (after.start, after.end, "Sync")]
    with pytest.raises(ValidationFailed):
        await mine.extend(ALEX.key, booking.id, booking_version(longer), 45)  # not a choice
    with pytest.raises(StaleCard):  # the card from before the first extension, pressed again
        await mine.extend(ALEX.key, booking.id, booking_version(booking), 30)
    assert repo.get_booking(booking.id).end == longer.end


async def test_a_change_into_another_booking_is_refused_and_leaves_the_original(
        sandbox: RunningSandbox, calendar: RoomCalendarService) -> None:
    repo, service, mine = _services(calendar)
    slot, megans = slot_at(hour=9), slot_at(hour=11)
    booking = await _booked(service, slot)
    await _booked(service, megans, booker=MEGAN, attempt="attempt-megan")
    with pytest.raises(RoomTaken):
        await mine.change(ALEX.key, booking.id, booking_version(booking), start=megans.start + timedelta(minutes=30),
                          end=megans.end + timedelta(minutes=30), subject="Moved")
    assert repo.get_booking(booking.id) == booking
    assert (await calendar.get_event(ROOM, booking.event_id)).start == slot.start

    later = TimeSlot(slot.start + timedelta(hours=4), slot.end + timedelta(hours=4))
    changed = await mine.change(ALEX.key, booking.id, booking_version(booking), start=later.start, end=later.end,
                                subject="")  # an empty subject keeps it
    assert (changed.start, changed.end, changed.subject) == (later.start, later.end, "Sync")
    renamed = await mine.change(ALEX.key, booking.id, booking_version(changed), start=later.start, end=later.end,
                                subject="Planning")
    event = await calendar.get_event(ROOM, booking.event_id)
    assert (event.start, event.end, event.subject) == (later.start, later.end, "Planning") == (
        renamed.start, renamed.end, renamed.subject)
    assert _mails(sandbox)[-1] == ("update", (ALEX.email,))


class _Intruder:
    """A calendar where someone books the target slot of a change in the instant after its PATCH."""

    def __init__(self, calendar: RoomCalendarService, room: str) -> None:
        self._calendar = calendar
        self._room = room
        self.intruder: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._calendar, name)

    async def update_event(self, room: str, event_id: str, **changes: Any) -> Any:
        event = await self._calendar.update_event(room, event_id, **changes)
        if self.intruder is None and changes.get("slot") is not None:
            self.intruder = await self._calendar.create_event(
                self._room, subject="Walk-in", slot=changes["slot"], attendees=[], transaction_id="intruder-000001")
        return event


async def test_a_change_that_meets_a_booking_made_the_same_moment_is_reverted(
        sandbox: RunningSandbox, calendar: RoomCalendarService) -> None:
    intruding = _Intruder(calendar, ROOM)
    repo, service, mine = _services(intruding)
    slot = slot_at(hour=9)
    booking = await _booked(service, slot)
    later = TimeSlot(slot.start + timedelta(hours=2), slot.end + timedelta(hours=2))
    with pytest.raises(RoomTaken):
        await mine.change(ALEX.key, booking.id, booking_version(booking), start=later.start, end=later.end,
                          subject="")
    assert repo.get_booking(booking.id) == booking
    events = await _events(calendar, ROOM, TimeSlot(slot.start, later.end))
    assert events == [(slot.start, slot.end, "Sync"), (later.start, later.end, "Walk-in")]


async def test_moving_rooms_makes_the_new_event_before_cancelling_the_old(
        sandbox: RunningSandbox, calendar: RoomCalendarService) -> None:
    repo, service, mine = _services(calendar)
    slot = slot_at(hour=9)
    booking = await _booked(service, slot, participants="meganb@example.com")
    await _booked(service, slot, room="hq-echo@example.com", booker=MEGAN, attempt="attempt-megan")
    with pytest.raises(RoomTaken):  # Echo is taken then: nothing changes
        await mine.move(ALEX.key, booking.id, booking_version(booking), room_email="hq-echo@example.com",
                        start=slot.start, end=slot.end, subject="")
    assert await _events(calendar, ROOM, slot) == [(slot.start, slot.end, "Sync")]
    with pytest.raises(RoomNotRegistered):
        await mine.move(ALEX.key, booking.id, booking_version(booking), room_email="boardroom@example.com",
                        start=slot.start, end=slot.end, subject="")

    sandbox.state.graph.outbox.clear()
    moved = await mine.move(ALEX.key, booking.id, booking_version(booking), room_email="hq-fjord@example.com",
                            start=slot.start, end=slot.end, subject="", booker_name="Alex Wilber")
    assert await _events(calendar, ROOM, slot) == []
    [event] = await calendar.calendar_view("hq-fjord@example.com", slot)
    assert event.organizer_email == "hq-fjord@example.com" and event.attendees == (ALEX.email, MEGAN.email)
    assert (moved.room_email, moved.event_id, moved.id) == ("hq-fjord@example.com", event.id, booking.id)
    kinds = [(m["kind"], m["from"]) for m in sandbox.state.graph.outbox]
    assert kinds == [("invitation", "hq-fjord@example.com"), ("cancellation", ROOM)]  # new first
    assert sandbox.state.graph.outbox[-1]["comment"] == "Moved to Fjord in RoomBot."


async def test_people_changes_patch_only_attendees(sandbox: RunningSandbox, calendar: RoomCalendarService) -> None:
    repo, service, mine = _services(calendar)
    slot = slot_at(hour=9)
    booking = await _booked(service, slot, participants="adelev@example.com")
    sandbox.state.graph.outbox.clear()
    added = await mine.set_people(ALEX.key, booking.id, booking_version(booking), add="MeganB@example.com",
                                  remove="")
    assert added.attendees == (ALEX.email, "adelev@example.com", MEGAN.email)
    removed = await mine.set_people(ALEX.key, booking.id, booking_version(added), add="",
                                    remove=["adelev@example.com"])
    assert (await calendar.get_event(ROOM, booking.event_id)).attendees == (ALEX.email, MEGAN.email)
    assert removed.attendees == (ALEX.email, MEGAN.email)
    # Only the people changed heard about it: no update to everyone.
    assert _mails(sandbox) == [("invitation", (MEGAN.email,)), ("cancellation", ("adelev@example.com",))]
    with pytest.raises(ValidationFailed, match="cannot remove yourself"):
        await mine.set_people(ALEX.key, booking.id, booking_version(removed), add="", remove=ALEX.email)
    with pytest.raises(ValidationFailed, match="not a valid email"):
        await mine.set_people(ALEX.key, booking.id, booking_version(removed), add="megan", remove="")


async def test_end_now_frees_the_room_from_now(sandbox: RunningSandbox, calendar: RoomCalendarService) -> None:
    repo, service, mine = _services(calendar)
    now = datetime.now(UTC).replace(microsecond=0)  # as a card gives it; Graph keeps seconds
    slot = TimeSlot(now - timedelta(minutes=4), now + timedelta(minutes=56))
    booking = await _booked(service, slot)
    upcoming = await _booked(service, slot_at(hour=9), room="hq-echo@example.com", attempt="attempt-later")
    with pytest.raises(ValidationFailed, match="in progress"):
        await mine.end_now(ALEX.key, upcoming.id, booking_version(upcoming))
    ended = await mine.end_now(ALEX.key, booking.id, booking_version(booking))
    event = await calendar.get_event(ROOM, booking.event_id)
    assert event.end == ended.end and now - timedelta(seconds=1) <= ended.end <= datetime.now(UTC)
    assert [b.id for b in (await mine.upcoming(ALEX.key)).bookings] == [upcoming.id]


async def test_cancel_with_a_reason_and_who_may(sandbox: RunningSandbox, calendar: RoomCalendarService) -> None:
    repo, service, mine = _services(calendar)
    slot = slot_at(hour=9)
    booking = await _booked(service, slot)
    with pytest.raises(NotYourBooking):
        await mine.cancel(MEGAN.key, booking.id)
    for forged in (
        lambda: mine.extend(MEGAN.key, booking.id, booking_version(booking), 30),
        lambda: mine.change(MEGAN.key, booking.id, booking_version(booking), start=slot.start, end=slot.end,
                            subject="Mine now"),
        lambda: mine.set_people(MEGAN.key, booking.id, booking_version(booking), add=MEGAN.email, remove=""),
        lambda: mine.move(MEGAN.key, booking.id, booking_version(booking), room_email="hq-echo@example.com",
                          start=slot.start, end=slot.end, subject=""),
    ):
        with pytest.raises(NotYourBooking):
            await forged()
    assert repo.get_booking(booking.id) == booking
    assert await _events(calendar, ROOM, slot) == [(slot.start, slot.end, "Sync")]

    done = await mine.cancel(MEGAN.key, booking.id, canceller_name="Megan Bowen", reason="Board visit",
                             as_booking_admin=True)
    assert done.for_someone_else and done.booking.status == BOOKING_CANCELLED
    assert await _events(calendar, ROOM, slot) == []
    mail = sandbox.state.graph.outbox[-1]
    assert mail["kind"] == "cancellation" and mail["comment"] == ("Cancelled by Megan Bowen in RoomBot. "
                                                                  "Reason: Board visit")
    assert repo.list_audit()[0]["action"] == "booking cancel for someone else"
    again = await mine.cancel(MEGAN.key, booking.id, as_booking_admin=True)  # a second press
    assert again.booking.status == BOOKING_CANCELLED
    with pytest.raises(BookingGone):
        await mine.extend(ALEX.key, booking.id, booking_version(booking), 15)


async def test_actions_on_a_booking_deleted_in_exchange_say_so(sandbox: RunningSandbox,
                                                               calendar: RoomCalendarService) -> None:
    repo, service, mine = _services(calendar)
    booking = await _booked(service, slot_at(hour=9))
    await calendar.delete_event(ROOM, booking.event_id)
    with pytest.raises(BookingGone):
        await mine.set_people(ALEX.key, booking.id, booking_version(booking), add=MEGAN.email, remove="")
    assert repo.get_booking(booking.id).status == BOOKING_CANCELLED
    with pytest.raises(BookingGone):
        await mine.extend(ALEX.key, booking.id, booking_version(booking), 15)
    assert (await mine.cancel(ALEX.key, booking.id)).booking.status == BOOKING_CANCELLED  # nothing left to do


async def test_all_bookings_reads_back_one_page_at_a_time(sandbox: RunningSandbox,
                                                          calendar: RoomCalendarService) -> None:
    repo, service, mine = _services(calendar)
    made = [await _booked(service, slot_at(hour=8 + i), booker=(ALEX, MEGAN)[i % 2], attempt=f"attempt-{i:04d}")
            for i in range(7)]
    sandbox.state.stats.clear()
    first = await mine.all_upcoming(0, 5)
    assert [b.id for b in first.bookings] == [b.id for b in made[:5]] and (first.offset, first.total) == (0, 7)
    assert sandbox.state.stats["GET get_event"] == 5  # the page, not every booking
    await calendar.delete_event(ROOM, made[6].event_id)
    last = await mine.all_upcoming(5, 5)
    assert [b.id for b in last.bookings] == [made[5].id] and (last.offset, last.total, last.dropped) == (5, 6, 1)


async def test_a_booking_in_progress_moves_from_now_on(sandbox: RunningSandbox,
                                                       calendar: RoomCalendarService) -> None:
    repo, service, mine = _services(calendar)
    now = datetime.now(UTC).replace(microsecond=0)
    booking = await _booked(service, TimeSlot(now - timedelta(minutes=4), now + timedelta(minutes=56)))
    other = "hq-echo@example.com"
    with pytest.raises(ValidationFailed, match="only move from now on"):  # its past cannot move
        await mine.move(ALEX.key, booking.id, booking_version(booking), room_email=other, start=booking.start,
                        end=booking.end, subject="")
    moved = await mine.move(ALEX.key, booking.id, booking_version(booking), room_email=other, start=now,
                            end=booking.end, subject="")
    assert (moved.room_email, moved.start, moved.end) == (other, now, booking.end)
    old = await calendar.get_event(ROOM, booking.event_id)  # kept for what was used, ended now
    assert not old.is_cancelled and old.start == booking.start and now <= old.end <= datetime.now(UTC)
    new = await calendar.get_event(other, moved.event_id)
    assert (new.start, new.end) == (now, booking.end)
