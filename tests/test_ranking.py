"""The rank index gives a request's rooms in exactly today's order (every matching room sorted by
fit_key), without sorting the organisation per search; starred and recent rooms go first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.booking import SearchRequest, fit_key, matches
from domain.models import Room
from domain.ranking import RankIndex, elsewhere, ranked, skip

START = datetime(2026, 12, 3, 9, tzinfo=UTC)
FLOORS = {"f1": "b1", "f2": "b1", "f3": "b2", "f4": "b3"}

rooms_st = st.lists(st.builds(
    lambda i, name, capacity, floor, features: Room(email=f"r{i}@example.com", display_name=name,
                                                     building_id=FLOORS[floor], floor_id=floor, capacity=capacity,
                                                     features=features),
    st.integers(0, 10_000), st.sampled_from(["Aurora", "aurora", "Birch", "Cedar", "delta"]),
    st.sampled_from([1, 2, 4, 6, 10]), st.sampled_from(sorted(FLOORS)),
    st.lists(st.sampled_from(["video", "whiteboard", "display"]), max_size=2).map(tuple)),
    max_size=40, unique_by=lambda r: r.email)


def _request(capacity: int, features: tuple[str, ...], place: str) -> SearchRequest:
    floor = place if place.startswith("f") else ""
    building = FLOORS.get(place, place if place.startswith("b") else "")
    return SearchRequest(START, START + timedelta(hours=1), "UTC", min_capacity=capacity, features=features,
                         building_id=building, floor_id=floor)


requests_st = st.builds(_request, st.sampled_from([1, 2, 3, 6, 11]),
                        st.lists(st.sampled_from(["video", "whiteboard"]), max_size=2, unique=True).map(tuple),
                        st.sampled_from(["", "b1", "b2", "f1", "f3"]))


@settings(max_examples=300, deadline=None)
@given(rooms_st, requests_st, st.integers(-1, 39))
def test_the_ranking_is_todays_order(rooms: list[Room], request: SearchRequest, near_at: int) -> None:
    near = rooms[near_at] if 0 <= near_at < len(rooms) else None
    index = RankIndex.of(rooms)
    today = sorted((r for r in rooms if matches(r, request)), key=lambda r: fit_key(r, near))
    assert list(ranked(index, request, near)) == today


@settings(max_examples=300, deadline=None)
@given(rooms_st, requests_st, st.integers(-1, 39))
def test_elsewhere_is_todays_order(rooms: list[Room], request: SearchRequest, near_at: int) -> None:
    near = rooms[near_at] if 0 <= near_at < len(rooms) else None
    today = sorted((r for r in rooms if matches(r, request, place=False) and not matches(r, request)),
                   key=lambda r: fit_key(r, near))
    today.sort(key=lambda r: r.building_id != request.building_id)
    found = list(elsewhere(RankIndex.of(rooms), request, near))
    assert found == (today if request.building_id or request.floor_id else
                     [r for r in today if r.building_id != request.building_id])


@settings(max_examples=200, deadline=None)
@given(rooms_st, requests_st, st.lists(st.integers(0, 39), max_size=5), st.lists(st.integers(0, 39), max_size=5))
def test_starred_then_recent_then_the_rest_each_once(rooms: list[Room], request: SearchRequest, star: list[int],
                                                     recent: list[int]) -> None:
    starred = [rooms[i].email for i in star if i < len(rooms)]
    starred += [*starred[:1], "gone@example.com"]  # a repeat, and a room removed since
    recently = [rooms[i].email for i in recent if i < len(rooms)]
    found = list(ranked(RankIndex.of(rooms), request, None, starred, recently))
    fitting = [r for r in rooms if matches(r, request)]
    assert sorted(r.email for r in found) == sorted(r.email for r in fitting)  # each matching room, once
    first = sorted((r for r in fitting if r.email in starred), key=lambda r: fit_key(r, None))
    then = [r for e in dict.fromkeys(recently) for r in fitting if r.email == e and r not in first]
    assert found[:len(first) + len(then)] == first + then


def test_a_room_asked_for_by_name_is_the_only_one() -> None:
    rooms = [Room(email=f"r{i}@example.com", display_name=f"R{i}", building_id="b1", floor_id="f1", capacity=4)
             for i in range(3)]
    request = SearchRequest(START, START + timedelta(hours=1), "UTC", room_email="r1@example.com")
    assert list(ranked(RankIndex.of(rooms), request, None, ["r2@example.com"])) == [rooms[1]]
    assert list(ranked(RankIndex.of(rooms), SearchRequest(START, START + timedelta(hours=1), "UTC", min_capacity=5,
                                                          room_email="r1@example.com"))) == []


def test_the_index_knows_every_feature() -> None:
    rooms = [Room(email=f"r{i}@example.com", display_name=f"R{i}", building_id="b1", floor_id="f1", capacity=i,
                  features=f) for i, f in enumerate([("video",), (), ("whiteboard", "video"), ("display",)])]
    assert RankIndex.of(rooms).features == ["display", "video", "whiteboard"]


def test_skip_says_how_many_there_were() -> None:
    rooms = iter(range(3))
    assert skip(rooms, 2) == 2 and skip(rooms, 5) == 1
