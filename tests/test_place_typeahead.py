"""Issue 19: the booking form's "Where" at 50,000 rooms. A small organisation's form lists every building
and floor as it always did; past what a Teams message holds, "Where" becomes Teams' dynamic typeahead
(Data.Query over the dataset roombot.places), answered by the bot's `application/search` invoke from the
buildings and floors alone, and a place picked there is searched like a listed one."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cards.booking import (
    MAX_LISTED_PLACES,
    PLACES_DATASET,
    FormValues,
    Places,
    booking_form_card,
    listed_places,
)
from dialogs.common import places
from dialogs.places import SEARCH_RESPONSE, PlaceSearch, suggested_places
from domain.models import Booking, Building, Floor
from sandbox.bootstrap import register_rooms
from sandbox.seed import generated_rooms
from storage.backends import MemoryBackend
from storage.repository import Repository
from tests.booking_helpers import elements
from tests.card_schema import assert_valid_card

# Microsoft documents about 28 KB for a message posted in a Teams chat (the Teams connector's known
# limits) and measures a bot message's size in UTF-16: the form is held to 28 KB of UTF-16.
TEAMS_MESSAGE_BYTES = 28 * 1024
DAY, START = "2030-01-02", "10:00"


def utf16_size(card: dict[str, Any]) -> int:
    return len(json.dumps(card, ensure_ascii=False).encode("utf-16-le"))


def place_input(card: dict[str, Any]) -> dict[str, Any]:
    [found] = [i for i in elements(card, "Input.") if i["id"] == "place"]
    return found


def org(rooms: int) -> Repository:
    """`rooms` generated rooms (200 a building, 20 a floor, 10 floors a building) in a memory repository."""
    repo = Repository(MemoryBackend())
    register_rooms(repo, generated_rooms(rooms))
    return repo


@pytest.fixture(scope="module")
def big() -> Repository:
    """50,000 rooms: 250 buildings, 2,500 floors."""
    return org(50_000)


def floor_id(repo: Repository, building: str, floor: str) -> str:
    [found] = [f.id for f in repo.list_floors() for b in repo.list_buildings()
               if f.building_id == b.id and (b.name, f.name) == (building, floor)]
    return found


def search(places: PlaceSearch, text: Any, *, dataset: str = PLACES_DATASET, **options: Any) -> list[dict[str, str]]:
    body = places.answer({"queryText": text, "dataset": dataset, "queryOptions": options})
    assert body["type"] == SEARCH_RESPONSE and set(body) == {"type", "value"}
    return body["value"]["results"]


def titles(results: list[dict[str, str]]) -> list[str]:
    return [r["title"] for r in results]


# --- the form: listed as before while it fits, searched past that --------------------------------

def test_a_small_organisation_lists_every_place_as_before() -> None:
    repo = org(200)  # one building, ten floors
    [building] = repo.list_buildings()
    card = booking_form_card(FormValues(day=DAY, start=START), places(repo), [])
    expected = [{"title": "Anywhere", "value": "any"}, {"title": "Building 1 (any floor)", "value": f"b:{building.id}"},
                *({"title": f"Building 1 · Floor {n}", "value": f"f:{floor_id(repo, 'Building 1', f'Floor {n}')}"}
                  for n in range(1, 11))]
    assert place_input(card) == {"type": "Input.ChoiceSet", "id": "place", "label": "Where", "value": "any",
                                 "choices": expected}
    # suggestions are for the searched input only: a listed form is the same with or without them
    assert booking_form_card(FormValues(day=DAY, start=START), places(repo), [],
                             suggested_places=[f"b:{building.id}"]) == card


def test_at_50000_rooms_the_form_searches_places_and_stays_small(big: Repository) -> None:
    where = places(big)
    assert len(where.buildings) == 250 and len(where.floors) == 2_500 and listed_places(where) is None
    picked = floor_id(big, "Building 7", "Floor 3")
    building_9 = next(b.id for b in big.list_buildings() if b.name == "Building 9")
    values = FormValues(day=DAY, start=START, place=f"f:{picked}", features=("whiteboard",))
    card = booking_form_card(values, where, big.room_features(), picker=True, note="Pick a time.",
                             suggested_places=[f"b:{building_9}", "f:gone", f"f:{picked}"])
    assert_valid_card(card)
    assert utf16_size(card) < TEAMS_MESSAGE_BYTES / 4  # listing every place: 2,751 choices, about 440 KB
    where_input = place_input(card)
    assert where_input["choices.data"] == {"type": "Data.Query", "dataset": "roombot.places"}
    assert where_input["value"] == f"f:{picked}"  # a filled form shows its place, then the person's
    assert where_input["choices"] == [{"title": "Anywhere", "value": "any"},
                                      {"title": "Building 7 · Floor 3", "value": f"f:{picked}"},
                                      {"title": "Building 9 (any floor)", "value": f"b:{building_9}"}]


def test_a_place_that_is_gone_stays_the_value_without_a_choice(big: Repository) -> None:
    card = booking_form_card(FormValues(day=DAY, start=START, place="b:gone"), places(big), [])
    assert place_input(card)["value"] == "b:gone" and place_input(card)["choices"] == [
        {"title": "Anywhere", "value": "any"}]


def _one_building(floors: int, name_length: int = 7) -> Places:
    name = "B" * name_length
    return Places.of([Building("b1", name)], [Floor(f"f{i}", "b1", f"{name} {i}", i) for i in range(floors)])


@pytest.mark.parametrize("floors", [MAX_LISTED_PLACES - 2, MAX_LISTED_PLACES - 1])
def test_the_list_gives_way_past_its_count(floors: int) -> None:
    card = booking_form_card(FormValues(day=DAY, start=START), _one_building(floors), [])
    listed = 1 + 1 + floors <= MAX_LISTED_PLACES
    assert ("choices.data" in place_input(card)) is not listed
    assert len(place_input(card)["choices"]) == (2 + floors if listed else 1)


@pytest.mark.parametrize("name_length", [5, 20, 30, 40, 80])
def test_the_form_fits_in_a_message_whatever_the_names(name_length: int) -> None:
    """At the most places a list holds, long names make it searched before the form outgrows a message."""
    card = booking_form_card(FormValues(day=DAY, start=START), _one_building(MAX_LISTED_PLACES - 2, name_length),
                             ["video"], picker=True, note="Pick a time.")
    assert_valid_card(card)
    assert utf16_size(card) < TEAMS_MESSAGE_BYTES
    assert ("choices.data" in place_input(card)) is (name_length >= 30)


# --- the search: buildings and floors by the words typed ------------------------------------------

def test_typed_words_find_buildings_and_floors_best_first(big: Repository) -> None:
    search_places = PlaceSearch(big)
    found = search(search_places, "Building 12 Floor 3")
    assert found[0] == {"title": "Building 12 · Floor 3", "value": f"f:{floor_id(big, 'Building 12', 'Floor 3')}"}
    assert len(found) == 15 and all(all(w in t.lower() for w in ("building", "12", "floor", "3"))
                                    for t in titles(found))
    assert titles(search(search_places, "building 12", top=11)) == [
        "Building 12 (any floor)", *(f"Building 12 · Floor {n}" for n in range(1, 11))]
    assert titles(search(search_places, "FLOOR 10 building 250"))[0] == "Building 250 · Floor 10"
    # a word said whole, then the start of a word, then a part of one
    assert titles(search(search_places, "ilding 25 oor 10"))[:3] == [
        "Building 25 · Floor 10", "Building 250 · Floor 10", "Building 125 · Floor 10"]
    assert titles(search(search_places, "any")) == ["Anywhere"]
    assert search(search_places, "building 12 basement") == []
    assert search(search_places, "nowhere") == []


def test_results_page_by_skip_and_top(big: Repository) -> None:
    search_places = PlaceSearch(big)
    first_ten = search(search_places, "floor 4", top=10)
    assert search(search_places, "floor 4", top=5) + search(search_places, "floor 4", skip=5, top=5) == first_ten
    assert len(search(search_places, "floor 4")) == 15 == len(search(search_places, "floor 4", top=500))
    assert search(search_places, "floor 4", skip=-3, top=0) == first_ten[:1]
    assert search(search_places, "floor 4", skip="5", top="5") == search(search_places, "floor 4")  # as if unset
    last = search(search_places, "building 250 floor")  # its ten floors (the building's own entry says no floor)
    assert titles(last) == [f"Building 250 · Floor {n}" for n in range(1, 11)]
    assert search(search_places, "building 250 floor", skip=9) == last[9:] and not search(
        search_places, "building 250 floor", skip=10)


def test_nothing_typed_lists_the_places_in_order(big: Repository) -> None:
    assert titles(search(PlaceSearch(big), "", top=4)) == [
        "Anywhere", "Building 1 (any floor)", "Building 1 · Floor 1", "Building 1 · Floor 2"]
    assert titles(search(PlaceSearch(big), "building", skip=1, top=1)) == ["Building 1 · Floor 1"]


@pytest.mark.parametrize("value", [
    {"queryText": "building 1", "dataset": "graph.microsoft.com/users"},
    {"queryText": "building 1"}, None, [], "building 1", {"dataset": ["roombot.places"]},
])
def test_other_datasets_and_shapes_get_no_results(big: Repository, value: Any) -> None:
    assert PlaceSearch(big).answer(value) == {"type": SEARCH_RESPONSE, "value": {"results": []}}


@pytest.mark.parametrize("text", [None, 5, {"$ne": ""}, "x" * 100_000, "\u202e\u200b", "building " * 1000])
def test_odd_query_texts_are_read_as_words(big: Repository, text: Any) -> None:
    results = search(PlaceSearch(big), text)
    assert len(results) <= 15
    assert all(set(r) == {"title", "value"} for r in results)


def test_a_search_looks_at_places_never_rooms(big: Repository, monkeypatch: pytest.MonkeyPatch) -> None:
    search_places = PlaceSearch(big)

    def no_rooms(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a place search read the rooms")

    for name in ("list_rooms", "get_room", "rooms_fitting", "room_features"):
        monkeypatch.setattr(big, name, no_rooms)
    assert len(search_places.index()) == 1 + 250 + 2_500
    assert titles(search(search_places, "building 250 floor 10"))[0] == "Building 250 · Floor 10"


def test_the_index_is_kept_until_the_places_change() -> None:
    repo = org(400)
    search_places = PlaceSearch(repo)
    index = search_places.index()
    assert search_places.index() is index  # nothing changed: not made again
    annex = repo.add_building("Annex")
    ground = repo.add_floor(annex.id, "Ground", 0)
    assert search(search_places, "annex") == [{"title": "Annex (any floor)", "value": f"b:{annex.id}"},
                                              {"title": "Annex · Ground", "value": f"f:{ground.id}"}]
    repo.rename_floor(ground.id, "Lobby")
    assert titles(search(search_places, "annex")) == ["Annex (any floor)", "Annex · Lobby"]
    assert search(search_places, "ground") == []


def test_the_persons_places_come_from_their_starred_rooms_first_and_few() -> None:
    repo = org(2_000)  # 10 buildings, 100 floors
    rooms = generated_rooms(2_000)
    for number in (1_999, 1, 21, 401, 801, 1_201):  # Building 10 Floor 10, then Building 1 Floors 1 and 2, ...
        repo.star_room("alex", rooms[number - 1].email)
    repo.remove_room(rooms[1_998].email)  # the first starred room is gone: its places are not offered
    registered = {room.email: room for room in repo.list_rooms()}
    first, second, third, fourth = (registered[rooms[n - 1].email] for n in (1, 21, 401, 801))
    assert first.building_id == second.building_id != third.building_id  # its building offered once
    assert suggested_places(repo, "alex") == [
        f"f:{first.floor_id}", f"b:{first.building_id}", f"f:{second.floor_id}",
        f"f:{third.floor_id}", f"b:{third.building_id}", f"f:{fourth.floor_id}"]  # six at most
    assert suggested_places(repo, "") == [] and suggested_places(repo, "nobody") == []


def test_the_persons_places_include_their_recent_rooms() -> None:
    repo = org(2_000)
    room = generated_rooms(1, start=1_201)[0]  # Building 7, Floor 1
    start = datetime.now(UTC) + timedelta(days=1)
    repo.import_bookings([Booking(id="bk1", room_email=room.email, event_id="e", ical_uid="i", booker_aad_id="alex",
                                  booker_email="alexw@example.com", start=start, end=start + timedelta(hours=1),
                                  subject="", attendees=("alexw@example.com",), created_at=start - timedelta(days=1))])
    registered = repo.get_room(room.email)
    assert suggested_places(repo, "alex") == [f"f:{registered.floor_id}", f"b:{registered.building_id}"]
