"""Search costs what a page needs, not what the organisation has: Graph is asked about the best-ranked
rooms (starred, recent, then best fit) in waves of 4 getSchedule calls, until a page of free rooms is
full; Show more goes on from there. Small organisations get exactly today's answer. Counted with a
calendar that answers getSchedule without Graph."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

import services.booking
from cards.booking import MAX_BACK, Places, query_data, results_card
from domain.booking import CalendarsUnreadable, Page, SearchRequest, SearchResult, fit_key, matches
from domain.calendar import RoomSchedule, TimeSlot
from domain.errors import ValidationFailed
from domain.models import BOOKING_BOOKED, Booking, Room
from domain.ranking import MAX_SCAN, PAGE_SIZE, SCHEDULE_CHUNK, STALE_PAGE
from domain.rules import RoomRules
from graph.calendar import SCHEDULE_CHUNK as GRAPH_CHUNK
from sandbox.seed import generated_rooms
from services.booking import BookingService
from storage.repository import Repository
from tests.card_schema import assert_valid_card
from tests.service_helpers import ALEX, ZONE, org_repo, slot_at


class FakeCalendar:
    """getSchedule without Graph: the rooms in `busy` are busy during `busy_at`, those in `broken`
    cannot be read. Every call (at most 20 rooms) is counted, every room asked about kept."""

    def __init__(self, busy: Iterable[str] = (), busy_at: TimeSlot | None = None, broken: Iterable[str] = ()) -> None:
        self.busy, self.busy_at, self.broken = set(busy), busy_at, set(broken)
        self.calls = 0
        self.asked: list[str] = []

    async def get_schedule(self, rooms: Sequence[str], window: TimeSlot,
                           interval_minutes: int = 30) -> dict[str, RoomSchedule]:
        rooms = list(rooms)
        self.calls += -(-len(rooms) // SCHEDULE_CHUNK)
        self.asked += rooms
        return {r: RoomSchedule(r, error="ErrorAccessDenied") if r in self.broken else
                RoomSchedule(r, busy=(self.busy_at or window,) if r in self.busy else ()) for r in rooms}


def _org(count: int) -> Repository:
    repo = org_repo(rooms=generated_rooms(count))
    repo.save_settings(replace(repo.get_settings(), max_searches_per_minute=1000))
    return repo


@pytest.fixture(scope="module")
def rooms_1000() -> list[Room]:
    return _org(1000).list_rooms()


def _today_order(rooms: Iterable[Room], request: SearchRequest, near: Room | None = None) -> list[Room]:
    """Today's order over every room: all that match, best fit first."""
    return sorted((r for r in rooms if matches(r, request)), key=lambda r: fit_key(r, near))


def _request(slot: TimeSlot | None = None, **needs: Any) -> SearchRequest:
    slot = slot or slot_at()
    return SearchRequest(slot.start, slot.end, ZONE, **needs)


async def _pages(service: BookingService, request: SearchRequest, count: int,
                 calendar: FakeCalendar) -> list[tuple[SearchResult, int]]:
    """`count` pages, each reached by Show more as the card carries it; with each page's calls."""
    pages, page = [], Page()
    for _ in range(count):
        calendar.calls = 0
        result = await service.search(request, ALEX.key, page=page)
        pages.append((result, calendar.calls))
        if result.more_at is None:
            break
        page = page.next(result.more_at, min(len(result.free), PAGE_SIZE), 20)
    return pages


def test_the_wave_is_graphs_chunk() -> None:
    assert SCHEDULE_CHUNK == GRAPH_CHUNK == 20


async def test_at_1000_rooms_the_first_page_asks_one_wave_when_it_fills_the_page(rooms_1000: list[Room]) -> None:
    calendar = FakeCalendar()
    request = _request(min_capacity=4)
    result = await BookingService(_org(1000), calendar).search(request, ALEX.key)
    assert calendar.calls == 4 and len(calendar.asked) == 80  # where all 833 rooms of 4 seats or more were asked
    assert list(result.free) == _today_order(rooms_1000, request)[:80]
    assert not result.complete and result.more_at == PAGE_SIZE and result.considered == 80
    content = results_card(result, Places.of([], []), "attempt-1", slot_at().start)
    assert_valid_card(content)
    assert "At least 80 free, at least 4 seats." in str(content) and "Show more (at least 75 more)" in str(content)


async def test_a_second_wave_only_when_the_first_leaves_the_page_short(rooms_1000: list[Room]) -> None:
    request = _request(min_capacity=4)
    order = _today_order(rooms_1000, request)
    calendar = FakeCalendar(busy=[r.email for r in order[:78]])  # the first wave finds 2 free rooms
    result = await BookingService(_org(1000), calendar).search(request, ALEX.key)
    assert calendar.calls == 8 and calendar.asked == [r.email for r in order[:160]]
    assert list(result.free) == order[78:160] and result.more_at == order.index(result.free[4]) + 1


async def test_nothing_free_in_the_first_8_calls_says_so_and_offers_more_and_other_times(
        rooms_1000: list[Room]) -> None:
    slot = slot_at()
    request = _request(slot, min_capacity=4)
    order = _today_order(rooms_1000, request)
    calendar = FakeCalendar(busy=[r.email for r in order], busy_at=slot)
    result = await BookingService(_org(1000), calendar).search(request, ALEX.key)
    assert calendar.calls == 8 and result.free == () and result.considered == 160
    assert not result.complete and result.more_at == 160
    assert result.other_times and all(r in order[:160] for r, _ in result.other_times)  # from the rooms looked at
    content = results_card(result, Places.of([], []), "attempt-1", slot.start)
    assert_valid_card(content)
    text = str(content)
    assert "None of the 160 best-fitting rooms with at least 4 seats I checked is free then." in text
    [more] = [a for a in content["actions"] if a["title"] == "Look at more rooms"]
    assert (more["data"]["at"], more["data"]["shown"], more["data"]["back"]) == (160, 0, [[0, 0]])


async def test_show_more_goes_on_from_the_rank_and_never_shows_a_room_twice(rooms_1000: list[Room]) -> None:
    request = _request(min_capacity=4)
    order = _today_order(rooms_1000, request)
    busy = [r.email for i, r in enumerate(order) if i % 3]  # a third of the rooms free, spread out
    calendar = FakeCalendar(busy=busy)
    pages = await _pages(BookingService(_org(1000), calendar), request, 6, calendar)
    shown = [r for result, _ in pages for r in result.free[:PAGE_SIZE]]
    assert shown == [r for r in order if r.email not in busy][:30]  # rank order, page after page, no repeat
    assert all(calls <= 8 for _, calls in pages)
    counts = [result.page.shown + len(result.free) for result, _ in pages]
    assert counts == sorted(counts) and not pages[-1][0].complete  # "at least N", N counting earlier pages


async def test_previous_asks_the_page_before_again(rooms_1000: list[Room]) -> None:
    request = _request(min_capacity=4)
    calendar = FakeCalendar()
    service = BookingService(_org(1000), calendar)
    first = await service.search(request, ALEX.key)
    assert first.more_at is not None
    second_page = Page().next(first.more_at, PAGE_SIZE, 20)
    second = await service.search(request, ALEX.key, page=second_page)
    back = second_page.previous()
    assert back == Page()
    again = await service.search(request, ALEX.key, page=back)
    assert again.free[:PAGE_SIZE] == first.free[:PAGE_SIZE] and not set(first.free[:5]) & set(second.free[:5])


async def test_a_small_organisation_gets_todays_answer_from_every_room_at_once() -> None:
    repo = _org(150)
    request = _request(min_capacity=2)
    rooms = repo.list_rooms()
    busy = [r.email for r in rooms[::4]]
    calendar = FakeCalendar(busy=busy)
    result = await BookingService(repo, calendar).search(request, ALEX.key)
    today = [r for r in _today_order(rooms, request) if r.email not in busy]
    assert calendar.calls == 8 and len(calendar.asked) == 150  # every room, concurrently as today
    assert list(result.free) == today and result.complete and result.considered == 150
    assert result.more_at == PAGE_SIZE
    content = results_card(result, Places.of([], []), "attempt-1", slot_at().start)
    assert f"{len(today)} free, at least 2 seats." in str(content)
    assert f"Show more ({len(today) - PAGE_SIZE} more)" in str(content)


async def test_the_last_page_of_a_small_organisation_has_no_show_more() -> None:
    repo = _org(12)
    calendar = FakeCalendar()
    service = BookingService(repo, calendar)
    pages = await _pages(service, _request(), 5, calendar)
    assert [len(r.free) for r, _ in pages] == [12, 7, 2] and pages[-1][0].more_at is None
    assert all(r.complete for r, _ in pages)


async def test_starred_rooms_rank_first_then_recent_ones_then_the_best_fit(rooms_1000: list[Room]) -> None:
    repo = _org(1000)
    request = _request(min_capacity=4)
    order = _today_order(rooms_1000, request)
    big, small, too_small = order[-1], order[300], next(r for r in rooms_1000 if r.capacity < 4)
    for room in (big, small, too_small):
        repo.star_room(ALEX.key, room.email)
    slot = slot_at()
    for age, room in enumerate((order[500], order[400])):  # order[500] booked last
        repo.add_booking(Booking(id=f"b{age}", room_email=room.email, event_id="e", ical_uid="i",
                                 booker_aad_id=ALEX.key, booker_email=ALEX.email, start=slot.start - timedelta(days=2),
                                 end=slot.end - timedelta(days=2), status=BOOKING_BOOKED,
                                 created_at=slot.start - timedelta(days=3 + age)))
    calendar = FakeCalendar()
    result = await BookingService(repo, calendar).search(request, ALEX.key)
    near = order[500]
    rest = [r for r in _today_order(rooms_1000, request, near) if r not in (big, small, order[400], order[500])]
    # starred (best fit first; the too small one is not a candidate), recent (newest first), then fit near the last
    assert list(result.free[:4]) == [small, big, order[500], order[400]]
    assert list(result.free[4:]) == rest[:76] and calendar.calls == 4
    assert result.starred == {big.email, small.email, too_small.email}
    content = results_card(result, Places.of([], []), "attempt-1", slot.start)
    assert_valid_card(content)
    stars = [a["data"] for a in _actions(content) if a["data"]["action"] in ("star", "unstar")]
    back = {"q": query_data(result.request), "attempt": "attempt-1"}  # for the answer's Back to results
    assert stars == [{"action": "unstar", "room": small.email, **back}, {"action": "unstar", "room": big.email, **back},
                     *({"action": "star", "room": r.email, **back} for r in (order[500], order[400], rest[0]))]
    names = [b["text"] for b in _texts(content) if b.get("weight") == "Bolder" and "Room " in b["text"]]
    assert names[:3] == [f"\u2605 {small.display_name}", f"\u2605 {big.display_name}", order[500].display_name]


async def test_a_person_without_favourites_or_history_gets_todays_order(rooms_1000: list[Room]) -> None:
    request = _request(min_capacity=6, features=("whiteboard",))
    result = await BookingService(_org(1000), FakeCalendar()).search(request, ALEX.key)
    assert list(result.free) == _today_order(rooms_1000, request)[:80]


async def test_rules_are_checked_in_rank_order_only_as_far_as_the_page_needs(monkeypatch: pytest.MonkeyPatch,
                                                                            rooms_1000: list[Room]) -> None:
    looked_at: list[str] = []
    effective = services.booking.effective_rules

    def counting(defaults: RoomRules, rules: RoomRules | None) -> RoomRules:
        looked_at.append("x")
        return effective(defaults, rules)

    monkeypatch.setattr(services.booking, "effective_rules", counting)
    await BookingService(_org(1000), FakeCalendar()).search(_request(min_capacity=4), ALEX.key)
    assert 80 <= len(looked_at) <= 161 + 1  # a page's budget and one more (is there more?), not 833 rooms


async def test_rooms_the_rules_refuse_are_looked_past_boundedly(monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _org(1000)
    hours = RoomRules(hours_start="00:00", hours_end="00:15")  # no room can be booked at 9
    repo.save_settings(replace(repo.get_settings(), default_rules=hours))
    monkeypatch.setattr(services.booking, "MAX_SCAN", 300)
    calendar = FakeCalendar()
    result = await BookingService(repo, calendar).search(_request(min_capacity=4), ALEX.key)
    assert calendar.calls == 0 and result.considered == 0 and not result.complete and result.more_at == 300
    assert result.left_out == ("300 rooms are left out: they can't be booked at that time or on that day.",)
    content = results_card(result, Places.of([], []), "attempt-1", slot_at().start)
    assert "None of the best-fitting rooms with at least 4 seats I looked at can be booked then." in str(content)
    assert [a["title"] for a in content["actions"]][0] == "Look at more rooms"
    assert MAX_SCAN >= 2 * 80  # a page's budget fits in what a page looks at


async def test_the_email_is_asked_for_only_when_a_room_looked_at_lists_bookers_by_email() -> None:
    repo = _org(1000)
    last = repo.list_rooms()[-1]  # ranks far behind the first page for 1 seat
    repo.update_room(replace(last, rules=RoomRules(bookers=("alexw@example.com",))))
    asked: list[str] = []

    async def email_of() -> str:
        asked.append("email")
        return ALEX.email

    service = BookingService(repo, FakeCalendar())
    await service.search(_request(), ALEX.key, email_of=email_of)
    assert asked == []
    result = await service.search(_request(min_capacity=last.capacity, building_id=last.building_id,
                                           floor_id=last.floor_id), ALEX.key, email_of=email_of)
    assert asked == ["email"] and last.email in [r.email for r in result.free]


async def test_unreadable_only_when_none_of_the_rooms_asked_could_be_read(rooms_1000: list[Room]) -> None:
    request = _request(min_capacity=4)
    order = _today_order(rooms_1000, request)
    some = FakeCalendar(broken=[r.email for r in order[:3]])
    result = await BookingService(_org(1000), some).search(request, ALEX.key)
    assert [r for r, _ in result.unreadable] == order[:3] and result.free[0] == order[3]
    with pytest.raises(CalendarsUnreadable):
        await BookingService(_org(1000), FakeCalendar(broken=[r.email for r in order[:160]])).search(request, ALEX.key)


async def test_a_part_of_the_day_looks_at_the_rooms_of_one_page(rooms_1000: list[Room]) -> None:
    slot = slot_at(hour=8)
    request = replace(_request(slot, min_capacity=4), latest_end=slot.start + timedelta(hours=4))
    order = _today_order(rooms_1000, request)
    morning = TimeSlot(slot.start, slot.start + timedelta(hours=2))
    calendar = FakeCalendar(busy=[r.email for r in order], busy_at=morning)
    result = await BookingService(_org(1000), calendar).search(request, ALEX.key)
    assert calendar.calls == 4 and result.free == tuple(order[:80])  # 80 free at the first free time: page full
    assert result.request.start == slot.start + timedelta(hours=2) and result.request.latest_end is None


async def test_rooms_elsewhere_are_one_wave_of_the_best_ranked(rooms_1000: list[Room]) -> None:
    repo = _org(1000)
    floor = rooms_1000[0].floor_id
    building = rooms_1000[0].building_id
    slot = slot_at()
    request = _request(slot, floor_id=floor, building_id=building)
    on_floor = [r.email for r in rooms_1000 if r.floor_id == floor]
    calendar = FakeCalendar(busy=on_floor, busy_at=slot)
    result = await BookingService(repo, calendar).search(request, ALEX.key)
    assert result.free == () and result.complete and calendar.asked[:len(on_floor)] == sorted(
        on_floor, key=lambda e: fit_key(repo.get_room(e), None))
    elsewhere = calendar.asked[len(on_floor):]
    assert len(elsewhere) == 80 and calendar.calls == 1 + 4
    today = sorted((r for r in rooms_1000 if r.floor_id != floor), key=lambda r: fit_key(r, None))
    today.sort(key=lambda r: r.building_id != building)  # this building's other floors first, as today
    assert elsewhere == [r.email for r in today[:80]]
    assert list(result.other_places) == today[:3]


async def test_a_page_the_ranking_does_not_have_is_refused(rooms_1000: list[Room]) -> None:
    service = BookingService(_org(1000), FakeCalendar())
    count = len(_today_order(rooms_1000, _request(min_capacity=4)))
    for at in (count, 5000):
        with pytest.raises(ValidationFailed, match=STALE_PAGE):
            await service.search(_request(min_capacity=4), ALEX.key, page=Page(at, 0, ((0, 0),)))
    result = await service.search(_request(min_capacity=4), ALEX.key, page=Page(count - 1, 5, ((0, 0),)))
    assert len(result.free) == 1 and result.complete and result.more_at is None


async def test_the_rank_index_is_built_once_per_version_of_the_registry() -> None:
    repo = _org(30)
    service = BookingService(repo, FakeCalendar())
    index = service.rank_index()
    await service.search(_request(), ALEX.key)
    assert service.rank_index() is index
    first = repo.list_rooms()[0]
    repo.add_room(replace(first, email="new-room@example.com", display_name="New", capacity=1))
    assert service.rank_index() is not index and "new-room@example.com" in service.rank_index().rooms
    result = await service.search(_request(), ALEX.key)
    assert result.free[0].email == "new-room@example.com"  # the smallest room now


def test_a_full_page_with_stars_and_paging_stays_under_teams_card_limit() -> None:
    """Every button carries the search (Book needs its subject and participants): a long subject, ten
    people invited, long names, three rooms starred and the most pages Previous remembers."""
    slot = slot_at()
    rooms = [Room(email=f"room-{i:05d}.building-42@contoso.example.com", display_name=f"{'N' * 50} {i}",
                  building_id="b", floor_id="f", capacity=4, features=("display", "video", "whiteboard"))
             for i in range(80)]
    request = SearchRequest(slot.start, slot.end, ZONE, subject="S" * 255, features=("video",),
                            participants=tuple(f"first.last{i:02d}@contoso.example.com" for i in range(10)))
    page = Page(100, 20, tuple((i * 5, i * 5) for i in range(MAX_BACK)))
    result = SearchResult(request, free=tuple(rooms), considered=160, complete=False, more_at=200, page=page,
                          starred=frozenset(r.email for r in rooms[:3]))
    content = results_card(result, Places.of([], []), "attempt-1", slot.start,
                           note="Sorry, " + "N" * 50 + " was just taken for that time. Here is what is still free.")
    assert_valid_card(content)
    assert len(json.dumps(content)) < 28_000  # Teams' limit for a message with a card
    stars = [a["data"] for a in _actions(content) if a["data"]["action"] in ("star", "unstar")]
    assert len(stars) == 5 and all(set(s) == {"action", "room"} for s in stars)  # no search: no Back to results


def _actions(node: Any) -> list[dict[str, Any]]:
    return [n for n in _walk(node) if n.get("type") == "Action.Execute"]


def _texts(node: Any) -> list[dict[str, Any]]:
    return [n for n in _walk(node) if n.get("type") == "TextBlock"]


def _walk(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        found.append(node)
        for key, value in node.items():
            if key != "fallback":
                found += _walk(value)
    elif isinstance(node, list):
        for item in node:
            found += _walk(item)
    return found
