"""Fair use and invitee rules in the services, against the sandbox: Book, change, move, extend and
people edits; two presses at once at the limit; the search rate kept in storage; rooms,
workspaces and outside addresses refused."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from domain.attendees import AttendeeRefused
from domain.booking import SearchRequest
from domain.calendar import TimeSlot
from domain.fair_use import LimitReached, SearchRateExceeded, check_search_rate
from domain.models import ROLE_BOOKING_ADMIN, Admin, Room
from domain.my_bookings import booking_version
from graph.calendar import RoomCalendarService
from services.booking import BookingService
from services.my_bookings import MyBookings
from services.resources import ResourceDirectory
from storage.backends import TinyDbBackend
from storage.repository import Repository
from tests.service_helpers import ALEX, MEGAN, ZONE, book, org_repo, slot_at


def _limited(**limits: Any) -> Repository:
    repo = org_repo()
    repo.save_settings(replace(repo.get_settings(), **limits))
    return repo


async def _room_events(calendar: RoomCalendarService, room: str, slot: TimeSlot) -> int:
    return len(await calendar.calendar_view(room, TimeSlot(slot.start - timedelta(hours=1),
                                                           slot.end + timedelta(hours=1))))


async def test_two_presses_at_once_at_the_limit_book_once(calendar: RoomCalendarService) -> None:
    repo = _limited(max_upcoming_bookings=2)
    service = BookingService(repo, calendar)
    await book(service, "hq-aurora@example.com", slot_at(hour=8), attempt="attempt-first")
    slot = slot_at(hour=11)
    rooms = ["hq-echo@example.com", "hq-delta@example.com"]
    outcomes = await asyncio.gather(*(book(service, room, slot, attempt=f"attempt-race-{i}")
                                      for i, room in enumerate(rooms)), return_exceptions=True)
    booked = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, LimitReached)]
    assert len(booked) == 1 and len(refused) == 1, outcomes
    assert "You already have 2 upcoming bookings, the most allowed" in refused[0].message
    assert sum([await _room_events(calendar, room, slot) for room in rooms]) == 1  # no event for the refused one
    assert len(repo.list_bookings_for_user(ALEX.key)) == 2


async def test_a_second_press_of_a_card_at_the_limit_still_answers_with_its_booking(
        calendar: RoomCalendarService) -> None:
    service = BookingService(_limited(max_upcoming_bookings=1), calendar)
    first = await book(service, "hq-echo@example.com", slot_at(hour=9), attempt="attempt-once")
    again = await book(service, "hq-echo@example.com", slot_at(hour=9), attempt="attempt-once")
    assert again.booking.id == first.booking.id and not again.created
    with pytest.raises(LimitReached):
        await book(service, "hq-echo@example.com", slot_at(hour=12), attempt="attempt-twice")


async def test_booking_limits_per_day_and_hours_and_the_booking_admin_exemption(
        calendar: RoomCalendarService) -> None:
    repo = _limited(max_bookings_per_day=2, max_hours_per_day=3)
    service = BookingService(repo, calendar)
    await book(service, "hq-echo@example.com", slot_at(hour=7, minutes=120), attempt="attempt-a")
    with pytest.raises(LimitReached, match="That would make 4 h booked on .*: book at most 1 h more that day"):
        await book(service, "hq-echo@example.com", slot_at(hour=10, minutes=120), attempt="attempt-b")
    await book(service, "hq-echo@example.com", slot_at(hour=10, minutes=60), attempt="attempt-c")
    with pytest.raises(LimitReached, match="You already have 2 bookings on"):
        await book(service, "hq-delta@example.com", slot_at(hour=12, minutes=15), attempt="attempt-d")
    await book(service, "hq-delta@example.com", slot_at(days=2, hour=12), attempt="attempt-e")  # another day

    repo.add_admin(Admin(key=ALEX.email, roles=(ROLE_BOOKING_ADMIN,)))  # known by address: matched on it too
    await book(service, "hq-delta@example.com", slot_at(hour=12, minutes=120), attempt="attempt-f")
    assert len([b for b in repo.list_bookings_for_user(ALEX.key)]) == 4


async def test_changes_that_lengthen_or_move_a_booking_respect_the_day(calendar: RoomCalendarService) -> None:
    repo = _limited(max_bookings_per_day=1, max_hours_per_day=2)
    service = BookingService(repo, calendar)
    mine = MyBookings(repo, calendar, service)
    today = (await book(service, "hq-echo@example.com", slot_at(hour=8, minutes=90), attempt="attempt-1")).booking
    other = (await book(service, "hq-echo@example.com", slot_at(days=2, hour=8), attempt="attempt-2")).booking

    with pytest.raises(LimitReached, match="That would make 2 h 30 min booked"):
        await mine.extend(ALEX.key, today.id, booking_version(today), 60)
    today = await mine.extend(ALEX.key, today.id, booking_version(today), 30)
    with pytest.raises(LimitReached, match="You already have 1 bookings on"):
        await mine.change(ALEX.key, other.id, booking_version(other), start=slot_at(hour=14).start,
                          end=slot_at(hour=14).end, subject="")
    with pytest.raises(LimitReached, match="You already have 1 bookings on"):
        await mine.move(ALEX.key, other.id, booking_version(other), room_email="hq-delta@example.com",
                        start=slot_at(hour=14).start, end=slot_at(hour=14).end, subject="")
    # Shorter, the same day: fine at the limit.
    shorter = slot_at(hour=8, minutes=60)
    changed = await mine.change(ALEX.key, today.id, booking_version(today), start=shorter.start, end=shorter.end,
                                subject="")
    assert (changed.start, changed.end) == (shorter.start, shorter.end)


async def test_the_search_rate_is_kept_in_storage_for_every_process_sharing_it(
        calendar: RoomCalendarService) -> None:
    repo = _limited(max_searches_per_minute=3)
    other = Repository(repo._backend)  # noqa: SLF001 - a second repository over the same store, as another process
    slot = slot_at()
    request = SearchRequest(slot.start, slot.end, ZONE)
    one, two = BookingService(repo, calendar), BookingService(other, calendar)
    await one.search(request, ALEX.key)
    await two.search(request, ALEX.key)
    await one.search(request, ALEX.key)
    with pytest.raises(SearchRateExceeded, match=r"^You've searched a lot in the last minute; try again in \d+ s\.$"):
        await two.search(request, ALEX.key)  # the 4th in a minute, whichever service is asked
    await two.search(request, MEGAN.key)  # per person
    later = BookingService(other, calendar, clock=lambda: one.now() + timedelta(seconds=61))
    await later.search(replace(request, start=request.start + timedelta(days=1), end=request.end + timedelta(days=1)),
                       ALEX.key)  # a minute on, the window has moved


@pytest.mark.parametrize(("participant", "why"), [
    ("hq-echo@example.com", "hq-echo@example.com is a room, not a person: book it on its own."),
    ("boardroom@example.com", "boardroom@example.com is a room, not a person"),  # in Places, not registered
    ("hq-desks2@example.com", "hq-desks2@example.com is a room, not a person"),  # a Places workspace
    ("hq-rooms@example.com", "hq-rooms@example.com is a room, not a person"),  # a room list
    ("sam@fabrikam.com", "sam@fabrikam.com is outside your organisation"),
])
async def test_rooms_resources_and_outside_addresses_are_never_invited(calendar: RoomCalendarService,
                                                                       participant: str, why: str) -> None:
    repo = org_repo()
    service = BookingService(repo, calendar, resources=ResourceDirectory(calendar))
    slot = slot_at(hour=9)
    with pytest.raises(AttendeeRefused) as refused:
        await book(service, "hq-aurora@example.com", slot, participants=f"meganb@example.com, {participant}")
    assert refused.value.message.startswith(why)
    assert await _room_events(calendar, "hq-aurora@example.com", slot) == 0 and not repo.list_bookings_for_user(
        ALEX.key)


async def test_guest_domains_let_outside_people_in(calendar: RoomCalendarService) -> None:
    repo = _limited(guest_domains=("fabrikam.com",))
    service = BookingService(repo, calendar, resources=ResourceDirectory(calendar))
    outcome = await book(service, "hq-aurora@example.com", slot_at(hour=9), participants="sam@fabrikam.com")
    assert outcome.booking.attendees == (ALEX.email, "sam@fabrikam.com")
    with pytest.raises(AttendeeRefused):
        await book(service, "hq-aurora@example.com", slot_at(hour=11), participants="kim@contoso.org",
                   attempt="attempt-0002")
    repo.save_settings(replace(repo.get_settings(), allow_any_guest=True))
    await book(service, "hq-aurora@example.com", slot_at(hour=11), participants="kim@contoso.org",
               attempt="attempt-0002")


async def test_people_edits_refuse_rooms_and_outsiders_but_keep_those_already_invited(
        calendar: RoomCalendarService) -> None:
    repo = _limited(guest_domains=("fabrikam.com",))
    service = BookingService(repo, calendar, resources=ResourceDirectory(calendar))
    mine = MyBookings(repo, calendar, service)
    booking = (await book(service, "hq-aurora@example.com", slot_at(hour=9), participants="sam@fabrikam.com")).booking
    repo.save_settings(replace(repo.get_settings(), guest_domains=()))  # no longer allowed: Sam stays
    for added in ("hq-echo@example.com", "boardroom@example.com", "kim@contoso.org"):
        with pytest.raises(AttendeeRefused, match=added):
            await mine.set_people(ALEX.key, booking.id, booking_version(booking), add=added, remove=[])
    changed = await mine.set_people(ALEX.key, booking.id, booking_version(booking), add="meganb@example.com",
                                    remove=[])
    assert set(changed.attendees) == {ALEX.email, "sam@fabrikam.com", "meganb@example.com"}


def test_search_counts_are_written_to_disk_not_kept_in_memory(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    repo = Repository(TinyDbBackend(tmp_path))
    for seconds in (30, 20, 10):
        repo.record_search(ALEX.key, lambda recent, s=seconds: check_search_rate(recent, now - timedelta(seconds=s), 3))
    repo.close()
    reopened = Repository(TinyDbBackend(tmp_path))  # a restart, or another process reading the same store
    with pytest.raises(SearchRateExceeded, match="try again in 30 s"):
        reopened.record_search(ALEX.key, lambda recent: check_search_rate(recent, now, 3))
    reopened.record_search(MEGAN.key, lambda recent: check_search_rate(recent, now, 3))
    reopened.close()


async def test_the_invitee_rules_follow_the_registry(calendar: RoomCalendarService) -> None:
    """The rooms' addresses and domains are kept per version of the registry (50,000 rooms were listed at each
    Book with guests): a room registered or removed since the last Book counts at the next."""
    repo = org_repo()
    service = BookingService(repo, calendar)
    await service.check_invitees(ALEX.email, ["meganb@example.com"])
    with pytest.raises(AttendeeRefused, match="outside your organisation"):
        await service.check_invitees(ALEX.email, ["kim@fabrikam.com"])
    floor = repo.list_rooms()[0].floor_id
    building = repo.list_rooms()[0].building_id
    repo.add_room(Room(email="harbour@fabrikam.com", display_name="Harbour", building_id=building, floor_id=floor,
                       capacity=4))
    await service.check_invitees(ALEX.email, ["kim@fabrikam.com"])  # a domain of the organisation's rooms now
    with pytest.raises(AttendeeRefused, match="is a room, not a person"):
        await service.check_invitees(ALEX.email, ["harbour@fabrikam.com"])
    repo.remove_room("harbour@fabrikam.com")
    with pytest.raises(AttendeeRefused, match="outside your organisation"):
        await service.check_invitees(ALEX.email, ["harbour@fabrikam.com"])
