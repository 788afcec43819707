"""The "Where" typeahead through the bot's HTTP edge: Teams' `application/search` invoke on /api/messages,
under the same tenant and sender checks as every activity, and a place picked there searched like a
listed one."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from dialogs.places import SEARCH_RESPONSE
from sandbox.bootstrap import register_rooms
from sandbox.seed import generated_rooms
from tests.booking_helpers import buttons, card_text, elements, form, repo, sandbox, say, submit, tomorrow
from tests.conftest import ALEX, Connector, teams_activity

ROOMS = 2_200  # 11 more buildings, 110 more floors: past what the form lists


@pytest.fixture
async def many_places(bot: TestClient) -> TestClient:
    boxes = generated_rooms(ROOMS)
    register_rooms(repo(bot), boxes)
    sandbox(bot).state.add_mailboxes(boxes)  # their calendars, for the searches
    return bot


def place_input(card: dict[str, Any]) -> dict[str, Any]:
    [found] = [i for i in elements(card, "Input.") if i["id"] == "place"]
    return found


def floor_id(bot: TestClient, building: str, floor: str) -> str:
    [found] = [f.id for b in repo(bot).list_buildings() if b.name == building
               for f in repo(bot).list_floors(b.id) if f.name == floor]
    return found


async def post_search(bot: TestClient, connector: Connector, value: Any, **extra: Any) -> tuple[int, Any]:
    invoke = teams_activity(connector, activity_type="invoke", name="application/search", value=value, **extra)
    response = await bot.post("/api/messages", json=invoke)
    return response.status, (await response.json() if response.content_type == "application/json" else None)


def query(text: str, skip: int = 0, top: int = 15, dataset: str = "roombot.places") -> dict[str, Any]:
    """What Teams sends as the person types (Microsoft's "Typeahead search in Adaptive Cards")."""
    return {"queryText": text, "queryOptions": {"skip": skip, "top": top}, "dataset": dataset}


async def test_book_gives_the_form_with_the_typeahead(many_places: TestClient, connector: Connector) -> None:
    where = place_input(await say(many_places, connector, "book"))  # the connector validated the card
    assert where["choices.data"] == {"type": "Data.Query", "dataset": "roombot.places"}
    assert where["choices"] == [{"title": "Anywhere", "value": "any"}] and where["value"] == "any"


async def test_the_search_invoke_answers_matching_places_page_by_page(many_places: TestClient,
                                                                     connector: Connector) -> None:
    status, body = await post_search(many_places, connector, query("building 11 FLOOR 3"))
    assert status == 200 and body["type"] == SEARCH_RESPONSE and set(body) == {"type", "value"}
    assert body["value"]["results"][0] == {"title": "Building 11 · Floor 3",
                                           "value": f"f:{floor_id(many_places, 'Building 11', 'Floor 3')}"}
    _, whole = await post_search(many_places, connector, query("building 1", top=10))
    _, first = await post_search(many_places, connector, query("building 1", top=4))
    _, rest = await post_search(many_places, connector, query("building 1", skip=4, top=6))
    assert len(whole["value"]["results"]) == 10
    assert first["value"]["results"] + rest["value"]["results"] == whole["value"]["results"]
    assert connector.received == []  # answered in the invoke's response, nothing sent


@pytest.mark.parametrize("value", [query("building 1", dataset="npm"), {"queryText": "building 1"}, "building 1"])
async def test_another_dataset_gets_no_results(many_places: TestClient, connector: Connector, value: Any) -> None:
    assert await post_search(many_places, connector, value) == (
        200, {"type": SEARCH_RESPONSE, "value": {"results": []}})


async def test_the_search_is_refused_to_other_tenants_and_unknown_senders(many_places: TestClient,
                                                                          connector: Connector) -> None:
    assert (await post_search(many_places, connector, query("building"), tenant="another-tenant"))[0] == 403
    no_aad = {"from": {"id": "29:someone", "name": "Someone"}}
    assert (await post_search(many_places, connector, query("building"), **no_aad))[0] == 403
    assert (await post_search(many_places, connector, query("building"), channelId="webchat"))[0] == 403


async def test_a_picked_floor_is_searched(many_places: TestClient, connector: Connector) -> None:
    picked = floor_id(many_places, "Building 11", "Floor 3")
    results = await submit(many_places, connector, form(tomorrow(), "10:00", place=f"f:{picked}"))
    rooms = [repo(many_places).get_room(b["room"]) for b in buttons(results, "book")]
    assert rooms and all(room.floor_id == picked for room in rooms)
    again = await submit(many_places, connector, buttons(results, "form")[0])  # Change search: the form, filled
    assert place_input(again)["value"] == f"f:{picked}"
    assert {"title": "Building 11 · Floor 3", "value": f"f:{picked}"} in place_input(again)["choices"]


async def test_a_place_that_is_none_is_refused(many_places: TestClient, connector: Connector) -> None:
    card = await submit(many_places, connector, form(tomorrow(), "10:00", place="f:../rooms"))
    assert "That building or floor no longer exists" in card_text(card)
    assert place_input(card)["value"] == "f:../rooms" and "choices.data" in place_input(card)


async def test_the_form_offers_the_places_of_the_persons_rooms(many_places: TestClient,
                                                               connector: Connector) -> None:
    starred = generated_rooms(1, start=2 * 200 + 5 * 20 + 1)[0]  # Building 3, Floor 6
    repo(many_places).star_room(ALEX[0], starred.email)
    where = place_input(await say(many_places, connector, "book"))
    building = next(b.id for b in repo(many_places).list_buildings() if b.name == "Building 3")
    assert where["choices"] == [
        {"title": "Anywhere", "value": "any"},
        {"title": "Building 3 · Floor 6", "value": f"f:{floor_id(many_places, 'Building 3', 'Floor 6')}"},
        {"title": "Building 3 (any floor)", "value": f"b:{building}"}]
