"""Room booking rules in the services, against the sandbox: search leaves rooms out before getSchedule
and says why; Book, Change, Move and Extend are refused with the rule's message before any Graph
write; a change of subject only and End now are never refused for rules added later."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.booking import SearchRequest
from domain.calendar import TimeSlot
from domain.models import Booking
from domain.my_bookings import booking_version
from domain.rules import RoomRules, RuleBroken
from graph.calendar import RoomCalendarService
from services.booking import BookingService
from services.my_bookings import MyBookings
from storage.repository import Repository
from tests.service_helpers import ALEX, MEGAN, ZONE, book, org_repo

HQ = "b-contoso-hq"
AURORA, BOREALIS, CIRRUS = "hq-aurora@example.com", "hq-borealis@example.com", "hq-cirrus@example.com"


class Counting:
    """The sandbox's calendar, with the rooms each getSchedule asked about and every write counted."""

    def __init__(self, calendar: RoomCalendarService) -> None:
        self._calendar = calendar
        self.asked: list[str] = []
        self.writes = 0

    async def get_schedule(self, rooms: Any, window: Any, interval_minutes: int = 30) -> Any:
        self.asked += list(rooms)
        return await self._calendar.get_schedule(rooms, window, interval_minutes)

    async def create_event(self, *args: Any, **kwargs: Any) -> Any:
        self.writes += 1
        return await self._calendar.create_event(*args, **kwargs)

    async def update_event(self, *args: Any, **kwargs: Any) -> Any:
        self.writes += 1
        return await self._calendar.update_event(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._calendar, name)


def _local(days: int, hour: int, minute: int = 0) -> datetime:
    """`hour` o'clock in Helsinki, `days` from today."""
    from zoneinfo import ZoneInfo

    day = (datetime.now(ZoneInfo(ZONE)) + timedelta(days=days)).date()
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(ZONE)).astimezone(UTC)


def _slot(days: int, hour: int, minutes: int = 60) -> TimeSlot:
    start = _local(days, hour)
    return TimeSlot(start, start + timedelta(minutes=minutes))


def _setup(calendar: RoomCalendarService, **rules: RoomRules) -> tuple[Repository, BookingService, Counting]:
    """The demo organisation with HQ in Helsinki's zone (the default stays UTC) and `rules` per room."""
    repo = org_repo()
    repo.update_building(replace(repo.get_building(HQ), zone=ZONE))
    for email, room_rules in rules.items():
        repo.update_room(replace(repo.get_room(email), rules=room_rules))
    counting = Counting(calendar)
    return repo, BookingService(repo, counting, default_zone="UTC"), counting


def _request(slot: TimeSlot, **extra: Any) -> SearchRequest:
    return SearchRequest(start=slot.start, end=slot.end, zone=ZONE, **extra)


def _rules(**rules: RoomRules) -> dict[str, RoomRules]:
    return {f"hq-{name}@example.com": r for name, r in rules.items()}


async def test_search_leaves_out_rooms_before_getschedule(calendar: RoomCalendarService) -> None:
    _, service, counting = _setup(calendar, **_rules(aurora=RoomRules(window_days=0),
                                                     borealis=RoomRules(bookers=(MEGAN.email,)),
                                                     cirrus=RoomRules(max_minutes=30)))
    result = await service.search(_request(_slot(2, 11), building_id=HQ), ALEX.key, ALEX.email)
    assert not {AURORA, BOREALIS, CIRRUS} & set(counting.asked)
    assert len(counting.asked) == 5 and len(result.free) == 5  # the other HQ rooms, asked and free
    assert result.left_out == ()  # rooms were free: nothing to explain
    # Megan is listed for Borealis: she gets it.
    mine = await service.search(_request(_slot(2, 11), building_id=HQ), MEGAN.key, MEGAN.email)
    assert BOREALIS in {r.email for r in mine.free}


async def test_search_says_why_when_the_rules_leave_no_room(calendar: RoomCalendarService,
                                                           report: Callable[[str], None]) -> None:
    repo, service, counting = _setup(calendar)
    for room in repo.list_rooms(building_id=HQ):
        far = RoomRules(window_days=3) if room.capacity > 4 else RoomRules(hours_start="08:00", hours_end="10:00")
        repo.update_room(replace(room, rules=far))
    result = await service.search(_request(_slot(5, 11), building_id=HQ), ALEX.key, ALEX.email)
    assert result.free == () and result.considered == 0
    assert result.left_out == ("5 rooms are left out: they can't be booked that far ahead.",
                               "3 rooms are left out: they can't be booked at that time or on that day.")
    # Only the other building's rooms were asked about (free elsewhere at that time).
    assert counting.asked and all(email.startswith("hh-") for email in counting.asked)
    assert result.other_places and all(r.building_id != HQ for r in result.other_places)
    report(f"room rules, search: {8 - result.considered} of 8 HQ rooms left out by their rules before getSchedule "
           f"(0 schedules asked for them); {len(result.left_out)} lines say why")


async def test_the_room_asked_for_by_name_left_out_says_its_own_rule(calendar: RoomCalendarService) -> None:
    _, service, counting = _setup(calendar, **_rules(aurora=RoomRules(hours_start="08:00", hours_end="10:00")))
    result = await service.search(_request(_slot(1, 11), room_email=AURORA), ALEX.key, ALEX.email)
    assert result.free == () and AURORA not in counting.asked
    assert result.left_out == ("Aurora can be booked 08:00–10:00 every day (Europe/Helsinki).",)
    assert AURORA not in {r.email for r in result.other_places}


async def test_a_building_without_a_zone_reads_hours_in_the_configured_default(
        calendar: RoomCalendarService) -> None:
    repo = org_repo()  # Harbour House has no zone of its own
    iris = repo.get_room("hh-iris@example.com")
    repo.update_room(replace(iris, rules=RoomRules(hours_start="08:00", hours_end="18:00")))
    service = BookingService(repo, calendar, default_zone="Asia/Tokyo")
    # 12:00 for a booker in Helsinki is 19:00 (18:00 in summer) in Tokyo: too late there.
    with pytest.raises(RuleBroken, match=r"^Iris can be booked 08:00–18:00 every day \(Asia/Tokyo\)\.$"):
        service.check_rules(repo.get_room("hh-iris@example.com"), _slot(1, 12), ALEX.key, ALEX.email)
    service.check_rules(repo.get_room("hh-iris@example.com"), _slot(1, 9), ALEX.key, ALEX.email)  # 16:00 (15:00)


async def test_rooms_listing_bookers_by_email_ask_for_the_email_once(calendar: RoomCalendarService) -> None:
    asked: list[str] = []

    async def email() -> str:
        asked.append("x")
        return ALEX.email

    _, service, counting = _setup(calendar, **_rules(aurora=RoomRules(bookers=(ALEX.email,))))
    result = await service.search(_request(_slot(1, 11), room_email=AURORA), ALEX.key, email_of=email)
    assert [r.email for r in result.free] == [AURORA] and asked == ["x"]
    # Listed by object id: the email is not needed, so not asked for.
    _, service, _ = _setup(calendar, **_rules(aurora=RoomRules(bookers=(ALEX.key,))))
    result = await service.search(_request(_slot(1, 11), room_email=AURORA), ALEX.key, email_of=email)
    assert [r.email for r in result.free] == [AURORA] and asked == ["x"]
    # Not listed at all: left out.
    result = await service.search(_request(_slot(1, 11), room_email=AURORA), MEGAN.key, email_of=email)
    assert result.free == () and "Only some people may book Aurora" in result.left_out[0]


async def test_a_part_of_the_day_starts_within_the_rooms_hours(calendar: RoomCalendarService) -> None:
    _, service, _ = _setup(calendar, **_rules(aurora=RoomRules(hours_start="14:00", hours_end="18:00")))
    request = replace(_request(_slot(1, 9), room_email=AURORA), latest_end=_local(1, 17))
    result = await service.search(request, ALEX.key, ALEX.email)
    assert [r.email for r in result.free] == [AURORA]
    assert result.request.start == _local(1, 14)


async def test_other_times_offered_keep_to_the_rooms_hours(calendar: RoomCalendarService) -> None:
    _, service, _ = _setup(calendar, **_rules(aurora=RoomRules(hours_start="09:00", hours_end="12:00")))
    await book(service, AURORA, _slot(1, 10), attempt="attempt-taken")
    result = await service.search(_request(_slot(1, 10), room_email=AURORA), MEGAN.key, MEGAN.email)
    assert result.free == () and result.other_times
    assert all(_local(1, 9) <= slot.start and slot.end <= _local(1, 12) for _, slot in result.other_times)


async def test_book_is_refused_with_the_rule_before_any_graph_call(calendar: RoomCalendarService) -> None:
    repo, service, counting = _setup(calendar, **_rules(aurora=RoomRules(max_minutes=60)))
    with pytest.raises(RuleBroken, match=r"^Aurora can be booked for at most 1 hour\.$"):
        await book(service, AURORA, _slot(1, 11, 90))
    assert counting.writes == 0 and repo.list_bookings_for_user(ALEX.key) == []
    assert (await book(service, AURORA, _slot(1, 11, 60))).created


async def test_admins_follow_the_rules_too(calendar: RoomCalendarService) -> None:
    from domain.models import ROLE_ADMIN, Admin

    repo, service, _ = _setup(calendar, **_rules(aurora=RoomRules(bookers=(MEGAN.email,))))
    repo.add_admin(Admin(key=ALEX.key, roles=(ROLE_ADMIN,)))
    with pytest.raises(RuleBroken, match="Only some people may book Aurora"):
        await book(service, AURORA, _slot(1, 11))


async def test_a_second_press_of_a_booked_card_still_answers_after_rules_change(
        calendar: RoomCalendarService) -> None:
    repo, service, counting = _setup(calendar)
    first = await book(service, AURORA, _slot(1, 11), attempt="attempt-again")
    repo.update_room(replace(repo.get_room(AURORA), rules=RoomRules(max_minutes=30)))
    again = await book(service, AURORA, _slot(1, 11), attempt="attempt-again")
    assert again.booking == first.booking and not again.created
    with pytest.raises(RuleBroken):  # a new card is checked
        await book(service, AURORA, _slot(1, 13), attempt="attempt-other")


def _managing(repo: Repository, service: BookingService, counting: Counting) -> MyBookings:
    return MyBookings(repo, counting, service)  # type: ignore[arg-type]


async def _booked(service: BookingService, slot: TimeSlot, room: str = AURORA) -> Booking:
    return (await book(service, room, slot, attempt=f"attempt-{room[:8]}-{slot.start:%d%H%M}")).booking


async def test_change_extend_and_move_check_the_new_slot(calendar: RoomCalendarService) -> None:
    repo, service, counting = _setup(calendar, **_rules(aurora=RoomRules(max_minutes=60),
                                                        borealis=RoomRules(bookers=(MEGAN.email,))))
    managing = _managing(repo, service, counting)
    booking = await _booked(service, _slot(1, 11))
    writes = counting.writes
    version = booking_version(booking)
    with pytest.raises(RuleBroken, match="at most 1 hour"):
        await managing.extend(ALEX.key, booking.id, version, 30)
    with pytest.raises(RuleBroken, match="at most 1 hour"):
        await managing.change(ALEX.key, booking.id, version, start=booking.start, end=booking.end + timedelta(hours=1),
                              subject="")
    with pytest.raises(RuleBroken, match="Only some people may book Borealis"):
        await managing.move(ALEX.key, booking.id, version, room_email=BOREALIS, start=booking.start, end=booking.end,
                            subject="")
    assert counting.writes == writes  # nothing was written
    event = await calendar.get_event(AURORA, booking.event_id)
    assert (event.start, event.end) == (booking.start, booking.end)
    moved = await managing.change(ALEX.key, booking.id, version, start=booking.start + timedelta(minutes=30),
                                  end=booking.end + timedelta(minutes=30), subject="")
    assert moved.end == booking.end + timedelta(minutes=30)


async def test_rules_added_later_refuse_no_subject_change_and_no_end_now(calendar: RoomCalendarService) -> None:
    repo, service, counting = _setup(calendar)
    managing = _managing(repo, service, counting)
    now = service.now().replace(microsecond=0)
    running = await _booked(service, TimeSlot(now - timedelta(minutes=2), now + timedelta(minutes=60)))
    later = await _booked(service, _slot(3, 11), room=CIRRUS)
    repo.update_room(replace(repo.get_room(AURORA), rules=RoomRules(max_minutes=30)))
    repo.update_room(replace(repo.get_room(CIRRUS), rules=RoomRules(window_days=1)))
    renamed = await managing.change(ALEX.key, later.id, booking_version(later), start=later.start, end=later.end,
                                    subject="Renamed")
    assert renamed.subject == "Renamed"
    with pytest.raises(RuleBroken, match="at most 1 day ahead"):  # but a new time must follow the rules
        await managing.change(ALEX.key, later.id, booking_version(renamed), start=later.start + timedelta(hours=1),
                              end=later.end + timedelta(hours=1), subject="")
    ended = await managing.end_now(ALEX.key, running.id, booking_version(running))
    assert ended.end <= service.now() + timedelta(minutes=1)
